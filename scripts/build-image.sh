#!/usr/bin/env bash
# Builds the container image berth:VERSION and berth:latest (VERSION: BERTH_VERSION in
# controller/core/version.h) from the Dockerfile, on this machine, with no registry:
#
#  1. bases: the Dockerfile starts from debian:bookworm (build stage) and debian:bookworm-slim
#     (runtime stage). When either is not present locally, both are made from Debian packages:
#     `mmdebstrap --variant=minbase bookworm` from the Debian repositories apt on this machine uses
#     (`apt-get indextargets`), imported with `docker import` as debian:bookworm; the same tarball
#     without documentation, man pages and translations (as Debian's official "slim" images are
#     made, with a dpkg.cfg.d file that keeps them out of later installs) as debian:bookworm-slim.
#     Base images that are present (made here earlier, or pulled elsewhere) are used as they are.
#  2. `docker build --network host` (apt inside the build reaches the same mirror), classic
#     builder unless DOCKER_BUILDKIT says otherwise. When nothing the build reads has changed
#     every step comes from the cache: a few seconds, the same image ID.
#
# Reports on stderr; exits non-zero with a reason when something cannot be made. Two runs at once
# take turns (a lock). See docs/image.md. Environment:
#   BERTH_IMAGE          the repository to tag (default berth)
#   BERTH_IMAGE_MIRRORS  apt source lines for mmdebstrap, one per line (default: the Debian
#                        repositories for bookworm, -updates and -security apt uses here)
#   BERTH_IMAGE_IIDFILE  a file to write the built image's ID to (docker build --iidfile): the
#                        image this run made, even if another build retags berth:latest after it
#   SOURCE_DATE_EPOCH    passed on to mmdebstrap (its tarball is then reproducible)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
IMAGE=${BERTH_IMAGE:-berth}
SUITE=bookworm
BASE=debian:$SUITE
SLIM=debian:$SUITE-slim

say() { echo "build-image: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
start_ms=$(now_ms)

VERSION=$(sed -n 's/^#define BERTH_VERSION "\([^"]*\)".*/\1/p' controller/core/version.h)
[ -n "$VERSION" ] || die "no BERTH_VERSION in controller/core/version.h"
# The commit, with -dirty when what the build reads (the Dockerfile and what .dockerignore lets
# in) differs from it, untracked files included.
REVISION=unknown
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	REVISION=$(git rev-parse HEAD)
	mapfile -t context < <(sed -n 's/^!//p' .dockerignore)
	[ -z "$(git status --porcelain -- Dockerfile .dockerignore "${context[@]}")" ] || REVISION=$REVISION-dirty
fi

command -v docker >/dev/null || die "no docker CLI on PATH (install docker.io: make deps)"
if ! docker info >/dev/null 2>&1; then
	say "no Docker engine answers: starting one (scripts/swarm-up.sh)"
	scripts/swarm-up.sh || die "no Docker engine (scripts/swarm-up.sh failed, see above)"
fi

exec 9>"${TMPDIR:-/tmp}/berth-build-image.lock"
flock -w 1800 9 || die "another build-image.sh held the lock for 30 minutes"

# --- 1. the Debian base images ------------------------------------------------------------------
have() { docker image inspect "$1" >/dev/null 2>&1; }

# "deb URI SUITE main" for SUITE, SUITE-updates and SUITE-security, from apt's own configuration.
mirror_lines() {
	if [ -n "${BERTH_IMAGE_MIRRORS:-}" ]; then
		printf '%s\n' "$BERTH_IMAGE_MIRRORS"
		return
	fi
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(ORIGIN)' \
		'Identifier: Packages' 2>/dev/null |
		awk -v s="$SUITE" '$3 == "main" && $4 == "Debian" &&
				($2 == s || $2 == s "-updates" || $2 == s "-security") && !seen[$1 " " $2]++ {
				o = ($2 == s) ? 0 : ($2 == s "-updates") ? 1 : 2
				print o, "deb", $1, $2, "main"
			}' | sort -n | cut -d' ' -f2-
}

# What Debian's slim images leave out (and keep out of later installs), in dpkg's syntax.
SLIM_FILTER=(
	path-exclude=/usr/share/doc/*
	path-include=/usr/share/doc/*/copyright
	path-exclude=/usr/share/groff/*
	path-exclude=/usr/share/info/*
	path-exclude=/usr/share/linda/*
	path-exclude=/usr/share/lintian/overrides/*
	path-exclude=/usr/share/locale/*
	path-include=/usr/share/locale/locale.alias
	path-exclude=/usr/share/man/*
)

build_bases() {
	command -v mmdebstrap >/dev/null || die "no mmdebstrap (install it: make deps)"
	local tmp lines=() t0 id
	mapfile -t lines < <(mirror_lines)
	if [ ${#lines[@]} -eq 0 ]; then
		say "warning: apt here has no Debian $SUITE repository; using mmdebstrap's default mirror"
	fi
	tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-image.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	t0=$(now_ms)
	say "making $BASE and $SLIM with mmdebstrap --variant=minbase $SUITE from:"
	printf '  %s\n' "${lines[@]:-(mmdebstrap default)}" >&2
	# merged-usr: /bin, /lib ... as symlinks through the usr-is-merged package, as Debian's images
	# are (without it mmdebstrap installs usrmerge, which pulls in perl: 45 MB more).
	# The host's resolv.conf and hostname, which mmdebstrap copies in, are emptied (the engine
	# mounts its own); dpkg skips fsync (a build layer is not a disk that loses power), apt
	# fetches no translations and keeps no downloaded .deb files.
	if ! mmdebstrap --variant=minbase --format=tar --quiet \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--customize-hook=': >"$1/etc/resolv.conf"; : >"$1/etc/hostname"' \
		--customize-hook='echo force-unsafe-io >"$1/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"' \
		--customize-hook='printf "%s\n" "Acquire::Languages \"none\";" "APT::Keep-Downloaded-Packages \"false\";" >"$1/etc/apt/apt.conf.d/docker-lean"' \
		"$SUITE" "$tmp/rootfs.tar" "${lines[@]}" 2>"$tmp/mmdebstrap.log"; then
		tail -n 30 "$tmp/mmdebstrap.log" | sed 's/^/  | /' >&2
		die "mmdebstrap failed"
	fi
	say "mmdebstrap done in $((($(now_ms) - t0) / 1000)) s ($(du -m "$tmp/rootfs.tar" | cut -f1) MB)"

	# mmtarfilter is Debian's (python3 from Debian, not whatever python3 PATH names first).
	local filter=(/usr/bin/python3 /usr/bin/mmtarfilter --path-exclude='/dev/*')
	"${filter[@]}" <"$tmp/rootfs.tar" >"$tmp/base.tar"
	local slim_args=() f
	for f in "${SLIM_FILTER[@]}"; do slim_args+=("--${f%%=*}=${f#*=}"); done
	"${filter[@]}" "${slim_args[@]}" <"$tmp/rootfs.tar" >"$tmp/slim.tar"
	mkdir -p "$tmp/slim-cfg/etc/dpkg/dpkg.cfg.d"
	{
		echo "# The \"slim\" variant (berth's scripts/build-image.sh): these stay out of installs too."
		printf '%s\n' "${SLIM_FILTER[@]}"
	} >"$tmp/slim-cfg/etc/dpkg/dpkg.cfg.d/docker"
	tar -C "$tmp/slim-cfg" --owner=0 --group=0 --numeric-owner --mode=0644 \
		${SOURCE_DATE_EPOCH:+--mtime=@$SOURCE_DATE_EPOCH} \
		-rf "$tmp/slim.tar" ./etc/dpkg/dpkg.cfg.d/docker

	local tag file
	for tag in "$BASE" "$SLIM"; do
		file=$tmp/base.tar
		[ "$tag" = "$SLIM" ] && file=$tmp/slim.tar
		if have "$tag"; then
			say "$tag is present: kept"
			continue
		fi
		# A complete tarball only: an interrupted mmdebstrap never becomes an image.
		id=$(docker import --change 'CMD ["bash"]' \
			--change "LABEL org.opencontainers.image.description=\"Debian $SUITE (mmdebstrap --variant=minbase$([ "$tag" = "$SLIM" ] && echo ', slim'))\"" \
			--message "berth scripts/build-image.sh: mmdebstrap --variant=minbase $SUITE" \
			"$file" "$tag")
		say "imported $tag (${id#sha256:}, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
	done
	rm -rf "$tmp"
	trap - EXIT
}

if have "$BASE" && have "$SLIM"; then
	say "$BASE and $SLIM are present: reusing them"
else
	build_bases
fi

# --- 2. berth's image ---------------------------------------------------------------------------
say "building $IMAGE:$VERSION ($REVISION)"
t0=$(now_ms)
log=$(mktemp)
if ! docker build --network host ${BERTH_IMAGE_IIDFILE:+--iidfile "$BERTH_IMAGE_IIDFILE"} \
	--build-arg "BERTH_VERSION=$VERSION" --build-arg "BERTH_REVISION=$REVISION" \
	--force-rm -t "$IMAGE:$VERSION" -t "$IMAGE:latest" -f Dockerfile . >"$log" 2>&1; then
	# From the first step on (the classic builder's deprecation notice before it says nothing).
	sed -n '/^Step 1\//,$p' "$log" | grep -v '^ *$' | tail -n 40 | sed 's/^/  | /' >&2
	rm -f "$log"
	die "docker build failed"
fi
# The classic builder's log: "Step N/M : INSTRUCTION", then " ---> Using cache" for a cached one
# (a FROM is never "cached").
cached=$(grep -c -- '---> Using cache' "$log" || true)
steps=$(grep -E '^Step [0-9]+/[0-9]+ : ' "$log" | grep -vc '^Step [0-9/]* : FROM ' || true)
rm -f "$log"
say "$IMAGE:$VERSION and $IMAGE:latest: $(docker image inspect -f '{{.Id}}' "$IMAGE:latest" | cut -c8-19)," \
	"$(docker image inspect -f '{{.Size}}' "$IMAGE:latest" | awk '{ printf "%.1f MB", $1 / 1e6 }')," \
	"built in $((($(now_ms) - t0) / 1000)) s ($cached of $steps steps from the cache); total $((($(now_ms) - start_ms) / 1000)) s"
