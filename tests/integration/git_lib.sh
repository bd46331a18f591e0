# shellcheck shell=bash
# Git servers for the git source tests (sourced by a test file, after lib.sh): smart HTTP(S)
# through `git http-backend` behind a private lighttpd on loopback ports, and git over ssh
# through ssh_lib.sh's private sshd (git-upload-pack runs as root there, with its throw-away key).
# Everything lives in a temporary directory; no system configuration is touched; lighttpd runs in
# the foreground (-D) as a child of the case and is stopped with it.
#
#   git_http_start   starts lighttpd; sets
#                      GIT_ROOT       the bare repositories it serves (git_repo_new makes them)
#                      GIT_HTTP_PORT  http://127.0.0.1:PORT
#                        /git/NAME.git   basic auth, user GIT_USER, password GIT_PASSWORD
#                        /pub/NAME.git   anonymous
#                        /slow/NAME.git  anonymous, sent at GIT_SLOW_KBPS kB/s (default 64)
#                      GIT_HTTPS_PORT https://localhost:PORT, the same paths, with a certificate
#                                     for "localhost" signed by the private CA GIT_CA (a PEM file)
#                      GIT_HTTP_LOG   lighttpd's access log ("%h %u \"%r\" %s %b" per request)
#   git_http_stop    stops it (idempotent) and removes its directory
#   git_repo_new NAME            a bare $GIT_ROOT/NAME.git with a work clone $GIT_WORK/NAME
#   git_commit NAME FILE TEXT    writes FILE (TEXT; FILE may have directories), commits and pushes
#                                (to main, or to $GIT_BRANCH); prints the new commit's SHA.
#                                GIT_SIGN=ssh|gpg signs it (git_ssh_signer / git_gpg_signer)
#   git_rm NAME FILE             removes FILE, commits, pushes; prints the SHA
#   git_sshd_start               ssh_lib.sh's sshd_start, keeping this file's cleanup in the EXIT trap
#   git_ssh_url NAME             ssh://root@127.0.0.1:$SSHD_PORT$GIT_ROOT/NAME.git (after git_sshd_start)
#   git_ssh_signer               an ssh signing key and allowed-signers file: sets GIT_SSH_SIGNKEY,
#                                GIT_ALLOWED_SIGNERS (principal berth-test@example.com)
#   git_gpg_signer               a GPG key without passphrase in a private GNUPGHOME: sets
#                                GIT_GPG_HOME, GIT_GPG_FPR, GIT_GPG_KEYRING (binary export) and
#                                GIT_GPG_KEYRING_ASC (armored export)

LIGHTTPD=/usr/sbin/lighttpd
GIT_USER=alice
GIT_PASSWORD='s3cret-Pa55word'
GIT_SLOW_KBPS=${GIT_SLOW_KBPS:-64}

# Adds a command to the case's EXIT trap without dropping what is there (sshd_start sets one).
git__on_exit() {
	local prev
	prev=$(trap -p EXIT)
	prev=${prev#trap -- \'}
	prev=${prev%\' EXIT}
	# shellcheck disable=SC2064
	trap "${prev:+$prev; }$1" EXIT
}

git__dirs() {
	[ -n "${GIT_TOP:-}" ] && return 0
	GIT_TOP=$(mktemp -d)
	GIT_ROOT=$GIT_TOP/repos GIT_WORK=$GIT_TOP/work
	mkdir -p "$GIT_ROOT" "$GIT_WORK"
	export GIT_TOP GIT_ROOT GIT_WORK
	git__on_exit 'git__cleanup'
}

git__cleanup() {
	git__gpg_stop
	git_http_stop
	if [ -n "${GIT_TOP:-}" ]; then
		rm -rf "$GIT_TOP"
		GIT_TOP=
	fi
}

# A private CA and a certificate for "localhost" (mbedTLS, libgit2's TLS on Debian, matches DNS
# names only, not IP addresses).
git__make_certs() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=berth test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null
}

git_http_start() {
	[ -x "$LIGHTTPD" ] || t_fail "git_http_start: $LIGHTTPD is missing (scripts/install-deps.sh installs lighttpd)"
	[ -x /usr/lib/git-core/git-http-backend ] || t_fail "git_http_start: git http-backend is missing (git)"
	git__dirs
	GIT_HTTP_DIR=$GIT_TOP/http
	mkdir -p "$GIT_HTTP_DIR/docroot"
	printf '%s:%s\n' "$GIT_USER" "$GIT_PASSWORD" >"$GIT_HTTP_DIR/users"
	git__make_certs "$GIT_HTTP_DIR"
	GIT_CA=$GIT_HTTP_DIR/ca.pem
	GIT_HTTP_LOG=$GIT_HTTP_DIR/access.log
	local tries
	for ((tries = 0; tries < 5; tries++)); do
		GIT_HTTP_PORT=$(free_port)
		GIT_HTTPS_PORT=$(free_port)
		[ "$GIT_HTTP_PORT" != "$GIT_HTTPS_PORT" ] || continue
		# mod_auth before mod_cgi, so a request is authenticated before the backend runs.
		cat >"$GIT_HTTP_DIR/lighttpd.conf" <<-EOF
			server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog", "mod_openssl")
			server.document-root = "$GIT_HTTP_DIR/docroot"
			server.bind = "127.0.0.1"
			server.port = $GIT_HTTP_PORT
			server.errorlog = "$GIT_HTTP_DIR/error.log"
			accesslog.filename = "$GIT_HTTP_LOG"
			accesslog.format = "%h %u \"%r\" %s %b"
			auth.backend = "plain"
			auth.backend.plain.userfile = "$GIT_HTTP_DIR/users"
			alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/",
			             "/pub/" => "/usr/lib/git-core/git-http-backend/",
			             "/slow/" => "/usr/lib/git-core/git-http-backend/")
			\$HTTP["url"] =~ "^/(git|pub|slow)/" {
			  cgi.assign = ("" => "")
			  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$GIT_ROOT", "GIT_HTTP_EXPORT_ALL" => "")
			}
			\$HTTP["url"] =~ "^/git/" {
			  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
			}
			\$HTTP["url"] =~ "^/slow/" {
			  connection.kbytes-per-second = $GIT_SLOW_KBPS
			}
			\$SERVER["socket"] == "127.0.0.1:$GIT_HTTPS_PORT" {
			  ssl.engine = "enable"
			  ssl.pemfile = "$GIT_HTTP_DIR/server.pem"
			  ssl.privkey = "$GIT_HTTP_DIR/server.key"
			}
		EOF
		"$LIGHTTPD" -D -f "$GIT_HTTP_DIR/lighttpd.conf" >"$GIT_HTTP_DIR/stdout.log" 2>&1 &
		GIT_HTTP_PID=$!
		wait_until 10 "lighttpd to listen on 127.0.0.1:$GIT_HTTP_PORT and :$GIT_HTTPS_PORT" git__http_ready
		kill -0 "$GIT_HTTP_PID" 2>/dev/null && break
		# Another process took a port between free_port and the bind: try others.
		wait "$GIT_HTTP_PID" 2>/dev/null || true
		grep -qs 'Address already in use' "$GIT_HTTP_DIR/error.log" "$GIT_HTTP_DIR/stdout.log" ||
			t_fail "lighttpd exited: $(cat "$GIT_HTTP_DIR/error.log" "$GIT_HTTP_DIR/stdout.log" 2>/dev/null | tr '\n' ' ')"
	done
	kill -0 "$GIT_HTTP_PID" 2>/dev/null || t_fail "git_http_start: no free port after $tries tries"
	export GIT_HTTP_DIR GIT_HTTP_PORT GIT_HTTPS_PORT GIT_HTTP_PID GIT_HTTP_LOG GIT_CA GIT_USER GIT_PASSWORD
	t_log "lighttpd $GIT_HTTP_PID on 127.0.0.1:$GIT_HTTP_PORT (https :$GIT_HTTPS_PORT), repositories in $GIT_ROOT"
}

# Succeeds once lighttpd listens on both ports, or once it has died (git_http_start looks at why).
git__http_ready() {
	kill -0 "$GIT_HTTP_PID" 2>/dev/null || return 0
	t__listening "$GIT_HTTP_PORT" && t__listening "$GIT_HTTPS_PORT"
}

git_http_stop() {
	if [ -n "${GIT_HTTP_PID:-}" ]; then
		kill "$GIT_HTTP_PID" 2>/dev/null || true
		wait "$GIT_HTTP_PID" 2>/dev/null || true
		GIT_HTTP_PID=
	fi
}

git__git() {
	git -c user.name='berth test' -c user.email=berth-test@example.com -c init.defaultBranch=main \
		-c protocol.file.allow=always "$@"
}

git_repo_new() {
	local name=$1
	git__dirs
	git__git init -q --bare "$GIT_ROOT/$name.git"
	git__git init -q "$GIT_WORK/$name"
	git -C "$GIT_WORK/$name" remote add origin "$GIT_ROOT/$name.git"
}

git__commit_push() {
	local name=$1 msg=$2 w=$GIT_WORK/$1
	case "${GIT_SIGN:-}" in
	'') git__git -C "$w" commit -q -m "$msg" ;;
	ssh) git__git -C "$w" -c gpg.format=ssh -c "user.signingkey=$GIT_SSH_SIGNKEY" commit -S -q -m "$msg" ;;
	gpg) GNUPGHOME=$GIT_GPG_HOME git__git -C "$w" -c gpg.format=openpgp -c "user.signingkey=$GIT_GPG_FPR" commit -S -q -m "$msg" ;;
	*) t_fail "GIT_SIGN=$GIT_SIGN: expected ssh or gpg" ;;
	esac
	git -C "$w" push -q --force origin "HEAD:refs/heads/${GIT_BRANCH:-main}" 2>/dev/null
	git -C "$w" rev-parse HEAD
}

git_commit() {
	local name=$1 file=$2 text=$3 w=$GIT_WORK/$1
	mkdir -p "$(dirname "$w/$file")"
	printf '%s\n' "$text" >"$w/$file"
	git -C "$w" add -- "$file"
	git__commit_push "$name" "${GIT_MSG:-change $file}"
}

git_rm() {
	local name=$1 file=$2
	git -C "$GIT_WORK/$name" rm -q -- "$file"
	git__commit_push "$name" "remove $file"
}

git_ssh_url() {
	[ -n "${SSHD_PORT:-}" ] || t_fail "git_ssh_url: call sshd_start first"
	echo "ssh://root@127.0.0.1:$SSHD_PORT$GIT_ROOT/$1.git"
}

git_ssh_signer() {
	git__dirs
	GIT_SSH_SIGNKEY=$GIT_TOP/signkey
	ssh-keygen -q -t ed25519 -N '' -C berth-test-signer -f "$GIT_SSH_SIGNKEY"
	GIT_ALLOWED_SIGNERS=$GIT_TOP/allowed_signers
	printf 'berth-test@example.com namespaces="git" %s\n' "$(cut -d' ' -f1,2 "$GIT_SSH_SIGNKEY.pub")" >"$GIT_ALLOWED_SIGNERS"
	export GIT_SSH_SIGNKEY GIT_ALLOWED_SIGNERS
}

git_gpg_signer() {
	command -v gpg >/dev/null || t_fail "git_gpg_signer: gpg is missing (scripts/install-deps.sh installs gnupg)"
	git__dirs
	GIT_GPG_HOME=$GIT_TOP/gnupg
	mkdir -m 0700 "$GIT_GPG_HOME"
	GNUPGHOME=$GIT_GPG_HOME gpg --batch --quiet --passphrase '' --quick-gen-key 'berth test <berth-test@example.com>' ed25519 sign 1d 2>/dev/null
	GIT_GPG_FPR=$(GNUPGHOME=$GIT_GPG_HOME gpg --batch --with-colons --list-keys berth-test@example.com | awk -F: '$1 == "fpr" { print $10; exit }')
	[ -n "$GIT_GPG_FPR" ] || t_fail "git_gpg_signer: no key was generated"
	GIT_GPG_KEYRING=$GIT_TOP/keyring.gpg GIT_GPG_KEYRING_ASC=$GIT_TOP/keyring.asc
	GNUPGHOME=$GIT_GPG_HOME gpg --batch --export "$GIT_GPG_FPR" >"$GIT_GPG_KEYRING"
	GNUPGHOME=$GIT_GPG_HOME gpg --batch --export --armor "$GIT_GPG_FPR" >"$GIT_GPG_KEYRING_ASC"
	export GIT_GPG_HOME GIT_GPG_FPR GIT_GPG_KEYRING GIT_GPG_KEYRING_ASC
}

# gpg starts an agent for the private GNUPGHOME; it is ended before the directory goes.
git__gpg_stop() {
	if [ -n "${GIT_GPG_HOME:-}" ] && [ -d "$GIT_GPG_HOME" ]; then
		GNUPGHOME=$GIT_GPG_HOME gpgconf --kill all 2>/dev/null || true
	fi
}

# sshd_start (ssh_lib.sh) replaces the case's EXIT trap: this starts it and puts the git
# servers' cleanup back.
git_sshd_start() {
	sshd_start
	[ -z "${GIT_TOP:-}" ] || git__on_exit 'git__cleanup'
}
