# shellcheck shell=bash
# The git source (controller/source/) against real servers: smart HTTP(S) through lighttpd and
# git http-backend, ssh through a private sshd (git_lib.sh, ssh_lib.sh), driven through
# tests/tools/berth-source-fetch (the C source, not the git CLI, talks to them). Credentials,
# host keys, refs, paths, force-pushes, signatures, cancellation and the checkouts' contents.

# shellcheck source=ssh_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/ssh_lib.sh"
# shellcheck source=git_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/git_lib.sh"

# The tool is built beside the berth binary under test (build/ or build/asan/) by `make unit`.
FETCH=$(dirname "$BERTH")/tests/tools/berth-source-fetch

fetch() {
	[ -x "$FETCH" ] || t_fail "$FETCH is not built (make unit builds it)"
	"$FETCH" --cache "$CACHE" "$@"
}

# The value of KEY= in the tool's output ($T_OUT).
field() { sed -n "s/^$1=//p" <<<"$T_OUT" | tail -n 1; }

setup_http() {
	git_http_start
	CACHE=$(mktemp -d "$GIT_TOP/cache.XXXXXX")
	URL=http://127.0.0.1:$GIT_HTTP_PORT
}

# The objects in the cache's pack files, one count per pack, newest last.
pack_objects() {
	local idx
	find "$CACHE"/repos/*.git/objects/pack -name '*.idx' -printf '%T@ %p\n' | sort -n | cut -d' ' -f2- |
		while read -r idx; do
			git verify-pack -v "$idx" | grep -cE '^[0-9a-f]{40} (commit|tree|blob|tag) '
		done
}

log_count() { grep -c "$1" "$GIT_HTTP_LOG" || true; }
# Succeeds once the access log has at least N lines with PATTERN (lighttpd writes it in batches).
log_has() { [ "$(log_count "$1")" -ge "$2" ]; }

test_http_basic_auth_clone_then_incremental_fetch() {
	setup_http
	git_repo_new app
	local i sha1 sha2 repo_dir
	for i in $(seq 1 20); do printf 'n: %s\n' "$i" >"$GIT_WORK/app/f$i.yaml"; done
	git -C "$GIT_WORK/app" add .
	sha1=$(git_commit app berth.yaml 'version: 1')
	BERTH_SOURCE_PASSWORD=$GIT_PASSWORD assert_exit 0 fetch --repo "$URL/git/app.git" --username "$GIT_USER"
	assert_eq "$sha1" "$(field revision)" "revision"
	assert_eq "$CACHE/checkouts/$sha1" "$(field spec_path)" "spec_path"
	assert_eq "$URL/git/app.git" "$(field repo)"
	assert_eq main "$(field ref)"
	assert_eq 'version: 1' "$(cat "$CACHE/checkouts/$sha1/berth.yaml")"
	repo_dir=$(ls -d "$CACHE"/repos/*.git)
	assert_eq 1 "$(pack_objects | wc -l)" "packs after the first fetch"
	# 21 blobs, a tree, a commit
	assert_eq 23 "$(pack_objects | head -n 1)" "objects in the first pack"

	# a new commit: the same cache repository, one more pack with only the new objects
	sha2=$(git_commit app berth.yaml 'version: 2')
	BERTH_SOURCE_PASSWORD=$GIT_PASSWORD assert_exit 0 fetch --repo "$URL/git/app.git" --username "$GIT_USER"
	assert_eq "$sha2" "$(field revision)"
	assert_eq 'version: 2' "$(cat "$CACHE/checkouts/$sha2/berth.yaml")"
	assert_eq "$repo_dir" "$(ls -d "$CACHE"/repos/*.git)" "the cache repository is reused"
	# the new commit, tree and blob, and maybe the base of a delta, which libgit2 appends to
	# complete the thin pack the server sends
	local counts
	counts=$(pack_objects | tr '\n' ' ')
	[[ $counts =~ ^23\ [34]\ $ ]] || t_fail "objects per pack: expected 23 and 3 or 4, got $counts"

	# nothing new: the refs are listed, nothing is downloaded (no upload-pack request)
	wait_until 10 "lighttpd to log the two fetches" log_has 'POST /git/app.git/git-upload-pack HTTP/1.1" 200' 2
	local gets
	gets=$(log_count 'alice "GET /git/app.git/info/refs')
	BERTH_SOURCE_PASSWORD=$GIT_PASSWORD assert_exit 0 fetch --repo "$URL/git/app.git" --username "$GIT_USER" --times 2
	assert_eq "$sha2" "$(field revision)"
	wait_until 10 "lighttpd to log the up-to-date fetches" log_has 'alice "GET /git/app.git/info/refs' $((gets + 2))
	assert_eq 2 "$(log_count 'POST /git/app.git/git-upload-pack')" "upload-pack requests (none when up to date)"

	# the password is nowhere in the cache, neither in a path nor in a file
	assert_eq "" "$(find "$CACHE" | grep -F "$GIT_PASSWORD" || true)" "password in a cache path"
	assert_eq "" "$(grep -rlF "$GIT_PASSWORD" "$CACHE" || true)" "password in a cache file"
}

test_http_credentials_refused_without_the_password_in_the_message() {
	setup_http
	git_repo_new app
	git_commit app berth.yaml 'version: 1' >/dev/null
	local wrong='Wr0ng-Secret-Value'
	BERTH_SOURCE_PASSWORD=$wrong assert_exit 1 fetch --repo "$URL/git/app.git" --username "$GIT_USER"
	assert_eq "error: EAUTH: authentication failed for $URL/git/app.git" "$T_ERR"
	# one try, not a loop: one request without credentials, one with them
	wait_until 10 "lighttpd to log the refusal" log_has '"GET /git/app.git/info/refs?service=git-upload-pack HTTP/1.1" 401' 2
	assert_eq 2 "$(log_count '"GET /git/app.git/info/refs?service=git-upload-pack HTTP/1.1" 401')" "requests refused"

	# in the URL: neither the password nor the user is shown
	assert_exit 1 fetch --repo "http://$GIT_USER:$wrong@127.0.0.1:$GIT_HTTP_PORT/git/app.git"
	assert_eq "error: EAUTH: authentication failed for $URL/git/app.git" "$T_ERR"
	assert_not_contains "$T_ERR$T_OUT" "$wrong"
	# the right password in the URL works, and is not in the cache's paths
	assert_exit 0 fetch --repo "http://$GIT_USER:$GIT_PASSWORD@127.0.0.1:$GIT_HTTP_PORT/git/app.git"
	assert_eq "$URL/git/app.git" "$(field repo)"
	assert_eq "" "$(find "$CACHE" | grep -F "$GIT_PASSWORD" || true)" "password in a cache path"

	# none configured
	assert_exit 1 fetch --repo "$URL/git/app.git"
	assert_eq "error: EAUTH: $URL/git/app.git requires authentication and no username or password is configured" "$T_ERR"
	# no such repository (anonymous, so the server answers 404)
	assert_exit 1 fetch --repo "$URL/pub/nope.git"
	assert_contains "$T_ERR" "error: EUNREACHABLE: cannot fetch from $URL/pub/nope.git: "
	# nothing listens
	assert_exit 1 fetch --repo "http://127.0.0.1:1/pub/app.git"
	assert_contains "$T_ERR" "error: EUNREACHABLE: cannot fetch from http://127.0.0.1:1/pub/app.git: "
}

test_https_verified_with_ca_file() {
	setup_http
	git_repo_new app
	local sha
	sha=$(git_commit app berth.yaml 'over tls')
	local url=https://localhost:$GIT_HTTPS_PORT/pub/app.git
	assert_exit 1 fetch --repo "$url"
	assert_contains "$T_ERR" "error: EAUTH: the TLS certificate of $url is not trusted: "
	assert_exit 0 fetch --repo "$url" --ca-file "$GIT_CA"
	assert_eq "$sha" "$(field revision)"
	# libgit2's CAs are process-wide: in one process, a source without ca_file must not trust
	# the CA another one brought, and that one must trust it again afterwards
	assert_exit 1 fetch --repo "$url" --ca-file "$GIT_CA" --then --repo "$url" --then --repo "$url" --ca-file "$GIT_CA"
	assert_eq 2 "$(grep -c "^revision=$sha\$" <<<"$T_OUT")" "fetches that trusted the CA"
	assert_eq 1 "$(grep -c '^error: ' <<<"$T_ERR")" "fetches refused"
	assert_contains "$T_ERR" "error: EAUTH: the TLS certificate of $url is not trusted: "
	# with basic auth over TLS too
	BERTH_SOURCE_PASSWORD=$GIT_PASSWORD assert_exit 0 fetch --repo "https://localhost:$GIT_HTTPS_PORT/git/app.git" \
		--username "$GIT_USER" --ca-file "$GIT_CA"
	assert_eq "$sha" "$(field revision)"
}

test_ssh_fetch_and_host_key_checks() {
	git_sshd_start
	git_repo_new app
	local sha url
	sha=$(git_commit app berth.yaml 'over ssh')
	CACHE=$(mktemp -d "$GIT_TOP/cache.XXXXXX")
	url=$(git_ssh_url app)
	assert_exit 0 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts"
	assert_eq "$sha" "$(field revision)"
	assert_eq "ssh://127.0.0.1:$SSHD_PORT$GIT_ROOT/app.git" "$(field repo)" "shown without the user"
	assert_eq 'over ssh' "$(cat "$(field spec_path)/berth.yaml")"

	# hashed known_hosts (ssh-keygen -H) is read too
	cp "$SSHD_DIR/known_hosts" "$SSHD_DIR/known_hosts.hashed"
	ssh-keygen -q -H -f "$SSHD_DIR/known_hosts.hashed" >/dev/null 2>&1
	assert_contains "$(cat "$SSHD_DIR/known_hosts.hashed")" "|1|"
	assert_exit 0 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts.hashed"

	# unknown: never accepted
	: >"$SSHD_DIR/known_hosts.empty"
	assert_exit 1 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts.empty"
	assert_contains "$T_ERR" "error: EAUTH: host key for [127.0.0.1]:$SSHD_PORT is not in $SSHD_DIR/known_hosts.empty (the server's key: ssh-ed25519 SHA256:"
	# only the default port's entry is not this host
	printf '127.0.0.1 %s\n' "$(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >"$SSHD_DIR/known_hosts.port22"
	assert_exit 1 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts.port22"
	assert_contains "$T_ERR" "is not in $SSHD_DIR/known_hosts.port22"

	# changed: another key of the type for this host
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/impostor"
	{
		echo '# other hosts first'
		printf 'example.com %s\n' "$(cut -d' ' -f1,2 "$SSHD_DIR/impostor.pub")"
		printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/impostor.pub")"
	} >"$SSHD_DIR/known_hosts.changed"
	assert_exit 1 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts.changed"
	assert_contains "$T_ERR" "error: EAUTH: host key for [127.0.0.1]:$SSHD_PORT has changed ($SSHD_DIR/known_hosts.changed:3; the server's key: ssh-ed25519 SHA256:"

	# revoked
	{ printf '@revoked * %s\n' "$(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")"; cat "$SSHD_DIR/known_hosts"; } >"$SSHD_DIR/known_hosts.revoked"
	assert_exit 1 fetch --repo "$url" --ssh-key "$SSHD_DIR/id" --known-hosts "$SSHD_DIR/known_hosts.revoked"
	assert_eq "error: EAUTH: host key for [127.0.0.1]:$SSHD_PORT is revoked ($SSHD_DIR/known_hosts.revoked:1)" "$T_ERR"

	# ssh-agent instead of a key file (in the foreground: a child of the case, reaped with it)
	local agent_pid
	export SSH_AUTH_SOCK=$GIT_TOP/agent.sock
	ssh-agent -D -a "$SSH_AUTH_SOCK" >/dev/null 2>&1 &
	agent_pid=$!
	git__on_exit "kill $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null || true"
	wait_until 10 "ssh-agent to listen" test -S "$SSH_AUTH_SOCK"
	ssh-add -q "$SSHD_DIR/id" 2>/dev/null
	assert_exit 0 fetch --repo "$url" --known-hosts "$SSHD_DIR/known_hosts"
	assert_eq "$sha" "$(field revision)" "with the key from ssh-agent"
	ssh-add -q -D 2>/dev/null
	assert_exit 1 fetch --repo "$url" --known-hosts "$SSHD_DIR/known_hosts"
	assert_eq "error: EAUTH: authentication failed for ssh://127.0.0.1:$SSHD_PORT$GIT_ROOT/app.git (the server refused the keys of ssh-agent for user root)" "$T_ERR"
	unset SSH_AUTH_SOCK

	# a key the server does not accept: refused once, not retried for ever
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/stranger"
	assert_exit 1 fetch --repo "$url" --ssh-key "$SSHD_DIR/stranger" --known-hosts "$SSHD_DIR/known_hosts"
	assert_eq "error: EAUTH: authentication failed for ssh://127.0.0.1:$SSHD_PORT$GIT_ROOT/app.git (the server refused the key $SSHD_DIR/stranger for user root)" "$T_ERR"
}

test_branch_tag_and_full_sha_refs() {
	setup_http
	git_repo_new app
	local old main rel
	old=$(git_commit app berth.yaml 'old')
	main=$(git_commit app berth.yaml 'main')
	git -C "$GIT_WORK/app" tag -a v1 -m 'release 1' "$old"
	git -C "$GIT_WORK/app" tag light "$old"
	git -C "$GIT_WORK/app" push -q origin v1 light 2>/dev/null
	rel=$(GIT_BRANCH=release git_commit app berth.yaml 'release')
	# the work clone is one line of history: main moves on past release, and $main is at no tip
	local newer
	newer=$(git_commit app berth.yaml 'newer')
	assert_exit 0 fetch --repo "$URL/pub/app.git"
	assert_eq "$newer" "$(field revision)" "main"
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref release
	assert_eq "$rel" "$(field revision)"
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref refs/heads/release
	assert_eq "$rel" "$(field revision)"
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref v1
	assert_eq "$old" "$(field revision)" "an annotated tag resolves to its commit"
	assert_eq v1 "$(field ref)"
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref refs/tags/light
	assert_eq "$old" "$(field revision)"
	# a SHA at no branch or tag tip: found by fetching every branch and tag
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref "$main"
	assert_eq "$main" "$(field revision)"
	assert_eq 'main' "$(cat "$(field spec_path)/berth.yaml")"
	# a fresh cache, and the SHA upper-case
	CACHE=$(mktemp -d "$GIT_TOP/cache.XXXXXX")
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref "${main^^}"
	assert_eq "$main" "$(field revision)"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --ref 0123456789abcdef0123456789abcdef01234567
	assert_eq "error: ENOTFOUND: commit 0123456789abcdef0123456789abcdef01234567 is not in $URL/pub/app.git (no branch or tag reaches it)" "$T_ERR"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --ref nope
	assert_eq "error: ENOTFOUND: no branch or tag nope in $URL/pub/app.git" "$T_ERR"
	# a name that is both
	git -C "$GIT_WORK/app" tag release "$old"
	git -C "$GIT_WORK/app" push -q origin refs/tags/release 2>/dev/null
	assert_exit 1 fetch --repo "$URL/pub/app.git" --ref release
	assert_eq "error: EINVALID: ref release is both a branch and a tag in $URL/pub/app.git: write refs/heads/release or refs/tags/release" "$T_ERR"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --ref 'bad..name'
	assert_contains "$T_ERR" "error: EINVALID: ref bad..name is not a valid branch or tag name"
	# a commit already in the cache needs no server
	git_http_stop
	assert_exit 0 fetch --repo "$URL/pub/app.git" --ref "$main"
	assert_eq "$main" "$(field revision)" "a cached commit, with the server gone"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --ref main
	assert_contains "$T_ERR" "error: EUNREACHABLE: cannot fetch from $URL/pub/app.git: "
}

test_path_inside_the_repository() {
	setup_http
	git_repo_new app
	local sha
	git_commit app deploy/prod/berth.yaml 'prod' >/dev/null
	sha=$(git_commit app deploy/staging.yaml 'staging')
	assert_exit 0 fetch --repo "$URL/pub/app.git" --path deploy/prod
	assert_eq "$CACHE/checkouts/$sha/deploy/prod" "$(field spec_path)"
	[ -d "$(field spec_path)" ] || t_fail "spec_path is not a directory"
	assert_exit 0 fetch --repo "$URL/pub/app.git" --path ./deploy//staging.yaml
	assert_eq "$CACHE/checkouts/$sha/deploy/staging.yaml" "$(field spec_path)"
	assert_eq staging "$(cat "$(field spec_path)")"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --path deploy/nope.yaml
	assert_eq "error: ENOTFOUND: deploy/nope.yaml is not in commit $sha of $URL/pub/app.git" "$T_ERR"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --path ../etc
	assert_eq "error: EINVALID: path ../etc must not contain '..'" "$T_ERR"
}

test_force_push_is_followed() {
	setup_http
	git_repo_new app
	local a b c
	a=$(git_commit app berth.yaml 'a')
	b=$(git_commit app berth.yaml 'b')
	assert_exit 0 fetch --repo "$URL/pub/app.git"
	assert_eq "$b" "$(field revision)"
	# history rewritten: b is gone from the branch, c replaces it
	git -C "$GIT_WORK/app" reset -q --hard "$a"
	c=$(git_commit app berth.yaml 'c')
	[ "$c" != "$b" ] || t_fail "the rewrite made the same commit"
	assert_exit 0 fetch --repo "$URL/pub/app.git"
	assert_eq "$c" "$(field revision)" "the force-pushed branch"
	assert_eq c "$(cat "$CACHE/checkouts/$c/berth.yaml")"
}

test_checkout_holds_exactly_the_commit() {
	setup_http
	git_repo_new app
	local one two sum
	git_commit app keep.yaml 'keep' >/dev/null
	mkdir -p "$GIT_WORK/app/bin"
	printf '#!/bin/sh\necho hi\n' >"$GIT_WORK/app/bin/run"
	chmod +x "$GIT_WORK/app/bin/run"
	ln -s keep.yaml "$GIT_WORK/app/link.yaml"
	git -C "$GIT_WORK/app" add bin link.yaml
	one=$(git_commit app gone.yaml 'gone later')
	assert_exit 0 fetch --repo "$URL/pub/app.git"
	assert_eq "$one" "$(field revision)"
	[ -x "$CACHE/checkouts/$one/bin/run" ] || t_fail "the executable bit is lost"
	assert_eq keep.yaml "$(readlink "$CACHE/checkouts/$one/link.yaml")" "a symlink inside the tree"
	sum=$(cd "$CACHE/checkouts/$one" && find . -type f -exec sha256sum {} + | sort)
	two=$(git_rm app gone.yaml)
	assert_exit 0 fetch --repo "$URL/pub/app.git"
	assert_eq "$two" "$(field revision)"
	[ ! -e "$CACHE/checkouts/$two/gone.yaml" ] || t_fail "a file deleted in the commit is in its checkout"
	assert_eq keep "$(cat "$CACHE/checkouts/$two/keep.yaml")"
	# the old checkout is untouched
	assert_eq "$sum" "$(cd "$CACHE/checkouts/$one" && find . -type f -exec sha256sum {} + | sort)" "the old checkout"
	# exactly the tree: the files git lists, nothing else (no .git)
	assert_eq "$(git -C "$GIT_WORK/app" ls-tree -r --name-only "$two" | sort)" \
		"$(cd "$CACHE/checkouts/$two" && find . ! -type d | sed 's|^\./||' | sort)" "files of the checkout"

	# a symlink out of the tree is refused, and nothing is checked out
	ln -s /etc/passwd "$GIT_WORK/app/evil.yaml"
	git -C "$GIT_WORK/app" add evil.yaml
	local three
	three=$(git_commit app keep.yaml 'with an evil link')
	assert_exit 1 fetch --repo "$URL/pub/app.git"
	assert_eq "error: EINVALID: evil.yaml is a symlink that points outside the repository" "$T_ERR"
	[ ! -e "$CACHE/checkouts/$three" ] || t_fail "a refused commit was checked out"
	assert_eq "" "$(find "$CACHE/checkouts" -mindepth 1 -maxdepth 1 -name '.tmp-*')" "temporary checkouts left"

	# old checkouts are pruned: the 5 most recent stay
	git -C "$GIT_WORK/app" rm -q evil.yaml
	local i
	for i in 1 2 3 4 5 6; do
		git_commit app keep.yaml "keep $i" >/dev/null
		assert_exit 0 fetch --repo "$URL/pub/app.git"
	done
	assert_eq 5 "$(find "$CACHE/checkouts" -mindepth 1 -maxdepth 1 | wc -l)" "checkouts kept"
	[ -d "$CACHE/checkouts/$(field revision)" ] || t_fail "the current checkout was pruned"
}

test_ssh_signatures_verified() {
	setup_http
	git_ssh_signer
	git_repo_new app
	local signed unsigned other
	signed=$(GIT_SIGN=ssh git_commit app berth.yaml 'signed')
	assert_exit 0 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_ALLOWED_SIGNERS"
	assert_eq "$signed" "$(field revision)"
	assert_eq berth-test@example.com "$(field signer)"
	unsigned=$(git_commit app berth.yaml 'unsigned')
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_ALLOWED_SIGNERS"
	assert_eq "error: EAUTH: commit $unsigned is not signed" "$T_ERR"
	[ ! -e "$CACHE/checkouts/$unsigned" ] || t_fail "an unsigned commit was checked out"
	# signed, but by a key that is not allowed
	local keep=$GIT_SSH_SIGNKEY
	GIT_SSH_SIGNKEY=$GIT_TOP/otherkey
	ssh-keygen -q -t ed25519 -N '' -f "$GIT_SSH_SIGNKEY"
	other=$(GIT_SIGN=ssh git_commit app berth.yaml 'signed by a stranger')
	GIT_SSH_SIGNKEY=$keep
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_ALLOWED_SIGNERS"
	assert_contains "$T_ERR" "error: EAUTH: commit $other: bad signature: "
	[ ! -e "$CACHE/checkouts/$other" ] || t_fail "a commit with a bad signature was checked out"
	# an SSH signature against a GPG keyring is refused for what it is
	git_gpg_signer
	signed=$(GIT_SIGN=ssh git_commit app berth.yaml 'signed again')
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_GPG_KEYRING"
	assert_eq "error: EAUTH: commit $signed: bad signature: it is an SSH signature and $GIT_GPG_KEYRING is a GPG keyring" "$T_ERR"
	# a file that is neither
	echo 'not keys' >"$GIT_TOP/junk"
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_TOP/junk"
	assert_contains "$T_ERR" "error: EINVALID: verify_keys $GIT_TOP/junk: line 1 is not an SSH allowed-signers line"
}

test_gpg_signatures_verified() {
	setup_http
	git_gpg_signer
	git_repo_new app
	local signed unsigned
	signed=$(GIT_SIGN=gpg git_commit app berth.yaml 'signed')
	assert_exit 0 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_GPG_KEYRING"
	assert_eq "$signed" "$(field revision)"
	assert_eq "$GIT_GPG_FPR" "$(field signer)"
	# the armored export, too
	CACHE=$(mktemp -d "$GIT_TOP/cache.XXXXXX")
	assert_exit 0 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_GPG_KEYRING_ASC"
	assert_eq "$GIT_GPG_FPR" "$(field signer)"
	unsigned=$(git_commit app berth.yaml 'unsigned')
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_GPG_KEYRING"
	assert_eq "error: EAUTH: commit $unsigned is not signed" "$T_ERR"
	[ ! -e "$CACHE/checkouts/$unsigned" ] || t_fail "an unsigned commit was checked out"
	# signed by a key the keyring does not have
	local other_home=$GIT_TOP/gnupg2 keep_home=$GIT_GPG_HOME keep_fpr=$GIT_GPG_FPR
	mkdir -m 0700 "$other_home"
	GNUPGHOME=$other_home gpg --batch --quiet --passphrase '' --quick-gen-key 'stranger <s@example.com>' ed25519 sign 1d 2>/dev/null
	GIT_GPG_HOME=$other_home GIT_GPG_FPR=$(GNUPGHOME=$other_home gpg --batch --with-colons --list-keys s@example.com | awk -F: '$1 == "fpr" { print $10; exit }')
	local other
	other=$(GIT_SIGN=gpg git_commit app berth.yaml 'signed by a stranger')
	GNUPGHOME=$other_home gpgconf --kill all 2>/dev/null || true
	GIT_GPG_HOME=$keep_home GIT_GPG_FPR=$keep_fpr
	assert_exit 1 fetch --repo "$URL/pub/app.git" --verify-keys "$GIT_GPG_KEYRING"
	assert_contains "$T_ERR" "error: EAUTH: commit $other: bad signature: "
	[ ! -e "$CACHE/checkouts/$other" ] || t_fail "a commit with a bad signature was checked out"
}

test_cancel_before_and_during_a_fetch() {
	setup_http
	git_repo_new big
	# about 3 MB that does not compress: at $GIT_SLOW_KBPS kB/s the fetch would take ~45 s
	head -c 3000000 /dev/urandom >"$GIT_WORK/big/blob.bin"
	git -C "$GIT_WORK/big" add blob.bin
	git_commit big berth.yaml 'big' >/dev/null

	# cancelled before it starts: nothing is done, not even the cache made
	assert_exit 1 fetch --repo "$URL/pub/big.git" --cancel-first
	assert_eq "error: ECANCELED: fetch of $URL/pub/big.git canceled" "$T_ERR"
	[ ! -e "$CACHE/repos" ] || t_fail "a cancelled fetch made the cache"
	# and no request reached the server: a later one is logged, that one is not
	curl -fsS -o /dev/null "$URL/pub/sentinel" || true
	wait_until 10 "lighttpd to log the sentinel request" grep -q 'GET /pub/sentinel' "$GIT_HTTP_LOG"
	assert_eq 0 "$(log_count 'big.git')" "requests for big.git"

	# cancelled in flight: SIGTERM fires the cancel, the transfer stops at once
	local pid rc start
	"$FETCH" --cache "$CACHE" --repo "$URL/slow/big.git" >"$GIT_TOP/out" 2>"$GIT_TOP/err" &
	pid=$!
	wait_until 30 "the slow download to be under way" partial_pack_over 100000
	start=$(t_now_ms)
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_eq 1 "$rc" "exit status of the cancelled fetch"
	local took=$(($(t_now_ms) - start))
	[ "$took" -lt 5000 ] || t_fail "the cancelled fetch took $took ms to stop"
	assert_eq "error: ECANCELED: fetch of $URL/slow/big.git canceled" "$(cat "$GIT_TOP/err")"
	assert_eq "" "$(ls -A "$CACHE/checkouts")" "checkouts after a cancelled fetch"
	! partial_pack_over -1 || t_fail "the cancelled fetch left its partial pack"
}

# Succeeds once a pack being received in the cache holds more than $1 bytes.
partial_pack_over() {
	local f size
	for f in "$CACHE"/repos/*.git/objects/pack/pack*; do
		[ -f "$f" ] || continue
		case "$f" in *.pack | *.idx) continue ;; esac
		size=$(stat -c %s "$f" 2>/dev/null || echo 0)
		[ "$size" -gt "$1" ] && return 0
	done
	return 1
}
