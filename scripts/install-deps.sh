#!/usr/bin/env bash
# Installs berth's build and test dependencies from Debian 12 packages. Idempotent: when every
# package is present it only checks and exits.
set -euo pipefail

packages=(
	build-essential pkg-config
	libyaml-dev libjansson-dev libcurl4-openssl-dev libgit2-dev libmicrohttpd-dev libssl-dev
	libcmocka-dev
	clang libclang-rt-14-dev       # libFuzzer and the sanitizers
	python3 python3-jsonschema python3-yaml   # schema tests (Debian's /usr/bin/python3)
	python3-azure                            # ARM simulator fidelity tests (tests/azure-sim)
	docker.io busybox-static curl            # integration tests: a real engine (scripts/swarm-up.sh)
	openssh-client openssh-server            # DOCKER_HOST=ssh:// tests: a private loopback sshd (tests/integration/ssh_lib.sh)
	mmdebstrap                               # make image: the Debian base images, when missing (scripts/build-image.sh)
	git lighttpd lighttpd-mod-openssl openssl  # git source tests: git http-backend behind a private lighttpd (tests/integration/git_lib.sh)
	gnupg gpgv                               # commit signatures: gpg makes test keys, gpgv checks (ssh-keygen -Y is openssh-client's)
	chromium tidy                            # the status page: rendered in headless chromium, its HTML checked by tidy (tests/integration/t_page.sh)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Azurite (the leader-lease tests) runs on node: Debian's, unless the machine has its own.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Azurite, the Blob service emulator of tests/integration/t_leader.sh and bench/leader_bench.sh,
# from the npm registry into the project's build/tools (never global).
root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/build/tools
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
	echo "install-deps: installing azurite 3.35.0 (npm) into build/tools" >&2
	mkdir -p "$tools"
	npm install --silent --no-audit --no-fund --prefix "$tools" azurite@3.35.0 >&2
fi
