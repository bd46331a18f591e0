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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
