# shellcheck shell=bash
# berth validate as a pre-commit hook or a CI gate runs it: in a clean environment, where none of
# the secrets exist. Every example must validate there (unreadable secret references are
# warnings), --require-secrets must fail on the ones that have references with the precise
# errors, and plan must stay strict. validate and a failing load touch no engine; the plan case
# still gets its own owner id so that it cannot meet another engineer's objects.

# Runs from the repository root, whatever the caller's directory: the examples are named by
# their relative path in the messages.
t_root() { cd "$(dirname "$T_FILE")/../.."; }

# The warnings (or errors) a clean environment gives for the references of examples/$1, in the
# order berth prints them. Examples without a secret reference are not listed: they give none.
refs_of() {
	local lvl=$1 ex=$2 a=examples/aci-three-containers/berth.yaml s=examples/swarm-proxy-ui-app/berth.yaml
	local g=azure.container_groups.jobs.containers
	case $ex in
	aci-three-containers)
		printf '%s\n' \
			"$a:44:43: $lvl: $g.job-generator.secure_environment.SERVICEBUS_CONNECTION_STRING: environment variable 'SERVICEBUS_CONNECTION_STRING' is not set" \
			"$a:59:35: $lvl: $g.job-processor.secure_environment.ServiceBusConnection: environment variable 'SERVICEBUS_CONNECTION_STRING' is not set" \
			"$a:60:34: $lvl: $g.job-processor.secure_environment.AzureWebJobsStorage: environment variable 'JOBS_STORAGE_CONNECTION_STRING' is not set"
		;;
	swarm-proxy-ui-app)
		printf '%s\n' \
			"$s:27:14: $lvl: swarm.secrets.grafana-admin-password: environment variable 'GRAFANA_ADMIN_PASSWORD' is not set" \
			"$s:29:14: $lvl: swarm.secrets.grafana-db-password: environment variable 'GRAFANA_DB_PASSWORD' is not set" \
			"$s:31:14: $lvl: swarm.secrets.portainer-admin-password: environment variable 'PORTAINER_ADMIN_PASSWORD' is not set"
		;;
	esac
}

test_every_example_validates_without_secrets() {
	t_root
	local ex name n=0
	for ex in examples/*/; do
		ex=${ex%/} name=${ex#examples/}
		assert_exit 0 env -i PATH="$PATH" "$BERTH" validate "$ex"
		assert_contains "$T_OUT" "$ex: valid (owner " "example $ex"
		assert_eq "$(refs_of warning "$name")" "$T_ERR" "stderr of 'validate $ex' in a clean environment"
		# -q hides the "valid" line, never a warning.
		assert_exit 0 env -i PATH="$PATH" "$BERTH" validate -q "$ex"
		assert_eq "" "$T_OUT" "stdout of 'validate -q $ex'"
		assert_eq "$(refs_of warning "$name")" "$T_ERR" "stderr of 'validate -q $ex'"
		n=$((n + 1))
	done
	[ "$n" -ge 5 ] || t_fail "only $n examples found"
}

test_require_secrets_fails_without_them() {
	t_root
	local ex name
	for ex in examples/*/; do
		ex=${ex%/} name=${ex#examples/}
		if [ -z "$(refs_of error "$name")" ]; then
			assert_exit 0 env -i PATH="$PATH" "$BERTH" validate --require-secrets "$ex"
			continue
		fi
		assert_exit 1 env -i PATH="$PATH" "$BERTH" validate --require-secrets "$ex"
		assert_eq "" "$T_OUT" "stdout of 'validate --require-secrets $ex'"
		assert_eq "$(refs_of error "$name")" "$T_ERR" "stderr of 'validate --require-secrets $ex'"
	done
}

# With the stand-in values of example.env the strict check passes, and prints no value.
test_require_secrets_passes_with_them_and_echoes_nothing() {
	t_root
	local ex line val
	for ex in examples/*/; do
		ex=${ex%/}
		[ -f "$ex/example.env" ] || continue
		assert_exit 0 env -i PATH="$PATH" bash -c 'set -a; . "$1/example.env"; set +a; exec "$2" validate --require-secrets "$1"' \
			_ "$ex" "$BERTH"
		assert_eq "" "$T_ERR" "stderr of 'validate --require-secrets $ex' with example.env"
		while IFS= read -r line; do
			[[ $line == *=* && $line != \#* ]] || continue
			val=${line#*=}
			[ ${#val} -ge 4 ] || continue
			assert_not_contains "$T_OUT$T_ERR" "$val" "a secret value of $ex/example.env"
		done <"$ex/example.env"
	done
}

test_skip_and_require_contradict() {
	t_root
	assert_exit 2 "$BERTH" validate --require-secrets --skip-secret-refs examples/quickstart
	assert_contains "$T_ERR" "berth validate: --require-secrets and --skip-secret-refs contradict each other"
	# --skip-secret-refs still means: no look at the references, so not even a warning.
	assert_exit 0 env -i PATH="$PATH" "$BERTH" validate --skip-secret-refs examples/swarm-proxy-ui-app
	assert_eq "" "$T_ERR" "stderr of 'validate --skip-secret-refs'"
}

# plan (and so apply) still needs every secret: the same reference is an error there, reported
# before any engine is contacted.
test_plan_still_requires_secrets() {
	t_root
	local owner dir
	owner=$(unique_owner) dir=$(mktemp -d)
	cp -r examples/swarm-proxy-ui-app/. "$dir/"
	sed -i "s/^name: .*/name: $owner/" "$dir/berth.yaml"
	assert_exit 1 env -i PATH="$PATH" DOCKER_HOST="$BERTH_TEST_DOCKER_HOST" "$BERTH" plan --no-color "$dir"
	assert_contains "$T_ERR" "$dir/berth.yaml:27:14: error: swarm.secrets.grafana-admin-password: environment variable 'GRAFANA_ADMIN_PASSWORD' is not set"
	assert_not_contains "$T_ERR" "warning:" "plan reports unreadable secrets as errors"
	assert_eq "" "$(docker service ls -q --filter label=berth.owner="$owner")" "plan created nothing"
}
