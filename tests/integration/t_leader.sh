# shellcheck shell=bash
# berth run replicas electing a leader on a blob lease in Azurite (the npm package, started here on
# a free port), writing to the ARM simulator: exactly one leader among two and three, followers
# naming it; the leader killed -9 and another leading within the lease plus one renew period; the
# lease broken by hand; Azurite restarted; the network to Azurite cut for longer than the lease,
# where no write of the cut-off leader may start after its lease expired. Leases last 15 s (the
# shortest the service allows), renewed every 5 s, with a margin of 5 s. The three credentials:
# the account key and a SAS over http, and a bearer token from the Azure credential chain (the ARM
# simulator's token endpoint) against Azurite over https with `--oauth basic`, where tokens for
# the wrong audience and a missing credential are refused.

# shellcheck source=azure_lib.sh
source "$(dirname "$T_FILE")/azure_lib.sh"
# shellcheck source=leader_lib.sh
source "$(dirname "$T_FILE")/leader_lib.sh"

RENEW_S=$((LEASE_S / 3))

test_two_replicas_elect_one_leader_and_the_follower_names_it() {
	leader_setup "$(unique_owner)"
	azurite_start
	replica_start a
	replica_start b
	wait_until 20 "exactly one of a, b leads and both name it" agree a b
	local l f
	l=$(leaders a b)
	if [ "$l" = a ]; then f=b; else f=a; fi
	assert_eq "$l" "$(leader_field "$f" "l['leader']")" "the follower names the leader"
	assert_eq False "$(leader_field "$f" "l['is_leader']")" "the follower does not lead"
	assert_eq 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(replica_port "$f")/readyz")" "a follower is not ready"
	assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(replica_port "$f")/healthz")" "a follower is alive"
	assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(replica_port "$l")/readyz")" "the leader is ready"
	local left
	left=$(leader_field "$f" "l['lease_expires_in_s']")
	/usr/bin/python3 -c "import sys; sys.exit(0 if 0 <= $left <= $LEASE_S else 1)" || t_fail "lease_expires_in_s $left out of 0..$LEASE_S"
	curl -fsS "http://127.0.0.1:$(replica_port "$l")/metrics" | grep -qx "berth_leader{instance=\"$l\"} 1" || t_fail "the leader's berth_leader is not 1"
	curl -fsS "http://127.0.0.1:$(replica_port "$f")/metrics" | grep -qx "berth_leader{instance=\"$f\"} 0" || t_fail "the follower's berth_leader is not 0"
	wait_until 20 "the leader applied capacity 3" bash -c "[ \"\$(curl -fsS $SIM/_sim/state | /usr/bin/python3 -c \"import json,sys; print(next(s['sku']['capacity'] for s in json.load(sys.stdin)['scale_sets'] if s['name']=='workers'))\")\" = 3 ]"
	# the follower never fetched, planned or applied
	assert_eq 0 "$(grep -c '"msg":"reconciling"' "$C_DIR/$f.log" || true)" "reconciles by the follower"
	/usr/bin/python3 "$LEADER_ROOT/tests/leader/blobctl.py" "$(lease_url)" "$AZ_KEYFILE" props >"$C_DIR/props"
	assert_contains "$(cat "$C_DIR/props")" "\"berthleader\": \"$l\"" "the blob's metadata names the leader"
	assert_contains "$(cat "$C_DIR/props")" '"lease_state": "leased"' "the blob is leased"
	# the storage key is never shown
	local n shown
	for n in a b; do
		shown=$(cat "$C_DIR/$n.log"; curl -fsS "http://127.0.0.1:$(replica_port "$n")/status"; curl -fsS "http://127.0.0.1:$(replica_port "$n")/metrics")
		assert_not_contains "$shown" "${AZ_KEY:0:24}" "the storage account key leaked ($n)"
	done
}

# A bearer token of the sim (Entra-shaped JWT, tests/azure-sim/armsim.py) for SCOPE, on stdout.
sim_token() {
	curl -fsS "$SIM/$AZURE_TENANT_ID/oauth2/v2.0/token" -d grant_type=client_credentials \
		-d "client_id=$AZURE_CLIENT_ID" -d "client_secret=$AZURE_CLIENT_SECRET" -d "scope=$1" |
		/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

# The blob's x-ms-meta-berthleader as Azurite (https, --oauth basic) tells a bearer of a storage token.
blob_leader_meta() {
	curl -fsS -I --cacert "$AZ_CA" -H "Authorization: Bearer $(sim_token https://storage.azure.com/.default)" \
		-H "x-ms-version: 2021-12-02" "$(lease_url_https)" | tr -d '\r' | sed -n 's/^x-ms-meta-berthleader: //Ip'
}

test_a_bearer_token_from_the_credential_chain_over_https() {
	leader_setup "$(unique_owner)"
	azurite_start_https
	# Azurite refuses a token that is not Entra-shaped or not for storage: the check can fail
	assert_eq 403 "$(curl -s -o /dev/null -w '%{http_code}' -I --cacert "$AZ_CA" -H "x-ms-version: 2021-12-02" \
		-H "Authorization: Bearer $(sim_token https://management.azure.com/.default)" "$(lease_url_https)")" \
		"Azurite refuses an ARM token"
	NO_KEY=1 LEASE_CA=$AZ_CA replica_start a "$(lease_url_https)"
	# the CA through the environment this time
	BERTH_LEADER_LEASE_CA_FILE=$AZ_CA NO_KEY=1 replica_start b "$(lease_url_https)"
	wait_until 20 "exactly one of a, b leads and both name it" agree a b
	local l n shown
	l=$(leaders a b)
	assert_eq "$l" "$(blob_leader_meta)" "the blob's metadata names the leader (written with the token)"
	for n in a b; do
		shown=$(cat "$C_DIR/$n.log"; curl -fsS "http://127.0.0.1:$(replica_port "$n")/status"; curl -fsS "http://127.0.0.1:$(replica_port "$n")/metrics")
		# every JWT starts with eyJ (base64url of '{"')
		assert_not_contains "$shown" "eyJ" "a token leaked ($n)"
	done
}

# The log of NAME has a refused lease naming Azurite's error code (a function: wait_until reruns it).
refused_auth() {
	grep -qF "HTTP 403 AuthenticationFailed (the Azure credential's token for https://storage.azure.com/ was refused)" "$C_DIR/$1.log"
}

test_a_token_for_the_wrong_audience_or_no_credential_is_refused_without_showing_a_token() {
	leader_setup "$(unique_owner)"
	azurite_start_https
	sim_post /_sim/config '{"token_audience":"https://management.azure.com/"}'
	NO_KEY=1 LEASE_CA=$AZ_CA replica_start a "$(lease_url_https)"
	wait_until 20 "a is refused by Azurite" refused_auth a
	assert_eq False "$(leader_field a "l['is_leader']")" "a replica with a wrong token does not lead"
	assert_not_contains "$(cat "$C_DIR/a.log")" "eyJ" "a token leaked"
	# no credential at all: berth run stops at once, saying so
	local out rc=0
	out=$(env -u AZURE_CLIENT_SECRET -u AZURE_CLIENT_ID -u AZURE_TENANT_ID AZURE_IMDS_ENDPOINT=http://127.0.0.1:1 \
		timeout 20 "$BERTH" run "$SPEC_DIR" --once --leader-lease "$(lease_url_https)" --leader-lease-ca-file "$AZ_CA" 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit status without a credential"
	assert_contains "$out" "no credential for the leader lease" "the error"
	assert_not_contains "$out" "Sanitizer" "a sanitizer report"
	# a CA file that cannot be read is said at once too
	rc=0
	out=$(timeout 20 "$BERTH" run "$SPEC_DIR" --once --leader-lease "$(lease_url_https)" \
		--leader-lease-ca-file "$C_DIR/no-such-ca.pem" 2>&1) || rc=$?
	assert_eq 2 "$rc" "exit status with an unreadable CA file"
	assert_contains "$out" "cannot read the CA file $C_DIR/no-such-ca.pem" "the error"
}

test_a_sas_in_the_url_is_the_credential_and_never_shown() {
	leader_setup "$(unique_owner)"
	azurite_start
	local sas
	sas=$(/usr/bin/python3 "$LEADER_ROOT/tests/leader/blobctl.py" "$(lease_url)" "$AZ_KEYFILE" sas)
	NO_KEY=1 replica_start a "$(lease_url)?$sas"
	NO_KEY=1 replica_start b "$(lease_url)?$sas"
	wait_until 20 "exactly one of a, b leads and both name it" agree a b
	local l
	l=$(leaders a b)
	/usr/bin/python3 "$LEADER_ROOT/tests/leader/blobctl.py" "$(lease_url)" "$AZ_KEYFILE" props >"$C_DIR/props"
	assert_contains "$(cat "$C_DIR/props")" "\"berthleader\": \"$l\"" "the leader recorded itself through the SAS"
	local n shown sig
	sig=$(printf '%s' "$sas" | sed 's/.*sig=//')
	for n in a b; do
		shown=$(cat "$C_DIR/$n.log"; curl -fsS "http://127.0.0.1:$(replica_port "$n")/status")
		assert_not_contains "$shown" "$sig" "the SAS signature leaked ($n)"
		assert_not_contains "$shown" "sig=" "the SAS leaked ($n)"
	done
	# a wrong signature is refused: no leader, and the error says so without the SAS
	NO_KEY=1 replica_start c "$(lease_url)-other?${sas%%sig=*}sig=AAAA"
	wait_until 10 "c reports the refusal" bash -c "grep -q 'HTTP 403' '$C_DIR/c.log'"
	assert_not_contains "$(cat "$C_DIR/c.log")" "sig=" "the SAS leaked (c)"
}

test_three_replicas_then_the_leader_killed_another_leads_in_time() {
	leader_setup "$(unique_owner)"
	azurite_start
	replica_start a
	replica_start b
	replica_start c
	wait_until 20 "exactly one of a, b, c leads and all name it" agree a b c
	local l rest=() n t0 t1 took
	l=$(leaders a b c)
	for n in a b c; do [ "$n" = "$l" ] || rest+=("$n"); done
	t0=$(now_s)
	replica_kill "$l" 9
	wait_until $((LEASE_S + RENEW_S + 5)) "another replica leads" one_leader_among "${rest[@]}"
	t1=$(now_s)
	took=$(/usr/bin/python3 -c "print('%.1f' % ($t1 - $t0))")
	t_log "failover after kill -9: ${took}s (bound: lease ${LEASE_S}s + renew period ${RENEW_S}s)"
	/usr/bin/python3 -c "import sys; sys.exit(0 if $took <= $LEASE_S + $RENEW_S else 1)" || t_fail "failover took ${took}s"
	local nl
	nl=$(leaders "${rest[@]}")
	for n in "${rest[@]}"; do [ "$n" = "$nl" ] || wait_until 10 "$n names the new leader" names_leader "$n" "$nl"; done
	# the new leader resumes: it applies the drift the old one can no longer correct
	drifter_start
	wait_until 20 "the new leader corrects the drift" bash -c "grep -q '\"event\":\"step_started\"' '$C_DIR/$nl.log'"
}

test_lease_broken_by_hand_the_leader_stops_writing() {
	leader_setup "$(unique_owner)"
	azurite_start
	replica_start a
	wait_until 20 "a leads" one_leader_among a
	drifter_start
	wait_until 20 "a writes" bash -c "grep -q '\"event\":\"step_started\"' '$C_DIR/a.log'"
	local t_break out
	t_break=$(now_s)
	out=$(/usr/bin/python3 "$LEADER_ROOT/tests/leader/blobctl.py" "$(lease_url)" "$AZ_KEYFILE" break "$LEASE_S")
	assert_contains "$out" "202" "the break is accepted"
	wait_until $((RENEW_S + 3)) "a notices the broken lease" bash -c "grep -q 'lost leadership' '$C_DIR/a.log'"
	local lost
	lost=$(log_times a '^lost leadership' | awk 'NR == 1')
	/usr/bin/python3 -c "import sys; sys.exit(0 if $lost - $t_break <= $RENEW_S + 1 else 1)" || t_fail "noticed $lost, broken at $t_break"
	# while the lease is breaking nobody can lead: no step of a starts until it leads again
	wait_until $((LEASE_S + RENEW_S + 5)) "a leads again once the break period is over" bash -c "[ \$(grep -c 'leading: acquired' '$C_DIR/a.log') -ge 2 ]"
	local again bad
	again=$(log_times a '^leading: acquired' | sed -n 2p)
	/usr/bin/python3 -c "import sys; sys.exit(0 if $again - $t_break >= $LEASE_S - 1 else 1)" || t_fail "a led again $again before the break period ended ($t_break + $LEASE_S)"
	bad=$(log_times a . step_started | awk -v a="$lost" -v b="$again" '$1 > a && $1 < b' | wc -l)
	assert_eq 0 "$bad" "write steps started between losing the lease and leading again"
}

test_azurite_restarted_a_leader_again() {
	leader_setup "$(unique_owner)"
	azurite_start
	replica_start a
	replica_start b
	wait_until 20 "one of a, b leads" one_leader_among a b
	local port=$AZ_PORT
	azurite_stop
	sleep 2 # Azurite stays down a moment (no condition to poll for: this is the outage)
	azurite_start "$port"
	# one leads again, and both name it (Azurite, killed -9, may have lost the lease: the
	# leader's renew is refused and the election runs again)
	wait_until $((2 * (LEASE_S + RENEW_S))) "exactly one of a, b leads after the restart and both name it" agree a b
}

test_network_cut_longer_than_the_lease_no_write_after_it_expired() {
	leader_setup "$(unique_owner)"
	azurite_start
	PROXY_PID=
	/usr/bin/python3 "$LEADER_ROOT/tests/leader/tcpproxy.py" "$C_DIR/proxy.port" "$AZ_PORT" >"$C_DIR/proxy.log" 2>&1 &
	PROXY_PID=$!
	wait_until 10 "the proxy listens" test -s "$C_DIR/proxy.port"
	replica_start a "$(lease_url "$(cat "$C_DIR/proxy.port")")"
	wait_until 20 "a leads" one_leader_among a
	replica_start b
	drifter_start
	wait_until 20 "a writes" bash -c "grep -q '\"event\":\"step_started\"' '$C_DIR/a.log'"
	local t_cut
	t_cut=$(now_s)
	kill -USR1 "$PROXY_PID"
	wait_until $((LEASE_S + RENEW_S + 5)) "b leads" one_leader_among b
	wait_until 5 "a gave up leadership" bash -c "grep -q 'lost leadership' '$C_DIR/a.log'"
	sleep $((LEASE_S / 3)) # the cut lasts longer than the lease: b writes meanwhile
	kill -USR2 "$PROXY_PID"
	local b_leads lost last_a expiry bad
	b_leads=$(log_times b '^leading: acquired' | awk 'NR == 1')
	lost=$(log_times a '^lost leadership' | awk 'NR == 1')
	# a's lease expired at the latest LEASE_S after the cut (its last renew went out before it)
	expiry=$(/usr/bin/python3 -c "print('%.3f' % ($t_cut + $LEASE_S))")
	last_a=$(log_times a . step_started | awk -v c="$t_cut" '$1 >= c - 2' | tail -n 1)
	t_log "cut at $t_cut; a lost leadership at $lost; its lease expired by $expiry; b leads at $b_leads; a's last write start ${last_a:-none}"
	/usr/bin/python3 -c "import sys; sys.exit(0 if $lost < $expiry else 1)" || t_fail "a gave up at $lost, after its lease expired ($expiry)"
	bad=$(log_times a . step_started | awk -v e="$lost" '$1 > e' | wc -l)
	assert_eq 0 "$bad" "write steps a started after it gave up leadership"
	bad=$(log_times a . step_started | awk -v e="$expiry" '$1 > e' | wc -l)
	assert_eq 0 "$bad" "write steps a started after its lease expired"
	/usr/bin/python3 -c "import sys; sys.exit(0 if $b_leads >= $lost else 1)" || t_fail "b led ($b_leads) before a gave up ($lost)"
	wait_until 20 "b writes" bash -c "grep -q '\"event\":\"step_started\"' '$C_DIR/b.log'"
	# the simulator saw no scale-set write between a giving up and b leading
	bad=$(sim_get /_sim/log | /usr/bin/python3 -c "
import json, sys
log = json.load(sys.stdin)
print(sum(1 for e in log if e['method'] in ('PUT', 'PATCH') and 'virtualMachineScaleSets' in e['path'] and $lost < e['time'] < $b_leads))")
	assert_eq 0 "$bad" "ARM writes while nobody led"
	# healed: a follows, naming b
	wait_until $((LEASE_S + 5)) "a names b as the leader" names_leader a b
}
