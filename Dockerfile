# berth in a container: built on Debian 12, run on Debian 12 slim as an unprivileged user.
# `make image` builds it as berth:VERSION and berth:latest with no registry (scripts/build-image.sh
# makes the two Debian bases from Debian packages when they are missing); docs/image.md says how
# to run it.
#
#   docker run --rm berth:latest --version
#   docker run --rm -v "$PWD:/work:ro" berth:latest validate examples/quickstart
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v "$PWD/deploy:/spec:ro" berth:latest plan /spec

# ---- build ----------------------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libyaml-dev libjansson-dev libcurl4-openssl-dev libgit2-dev libmicrohttpd-dev libssl-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what `make` reads (.dockerignore lets in nothing else), so that editing the docs or the
# tests does not rebuild the image.
COPY Makefile ./
COPY spec/ spec/
COPY controller/ controller/
RUN make -j"$(nproc)" \
 && make install PREFIX=/usr/local DESTDIR=/out \
 && strip /out/usr/local/bin/berth

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim
# The libraries berth links, CA certificates for https (ARM, git), openssh-client (ssh for
# DOCKER_HOST=ssh://, ssh-keygen -Y verify for signed commits), gpgv (GPG-signed commits).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-0-2 libjansson4 libcurl4 libssl3 libgit2-1.5 libmicrohttpd12 \
      ca-certificates openssh-client gpgv \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# uid/gid 10001, no login. The engine's socket is not this user's: pass its group with
# `--group-add "$(stat -c %g /var/run/docker.sock)"`. A git repository mounted from the host
# belongs to another uid, and libgit2 refuses to open it unless it is marked safe in
# /etc/gitconfig (libgit2 reads it; git itself is not in the image). Bookworm's libgit2 1.5
# honours only exact paths there, not '*' (docs/image.md).
RUN groupadd --gid 10001 berth \
 && useradd --uid 10001 --gid berth --home-dir /home/berth --create-home --shell /usr/sbin/nologin berth \
 && install -d -o 10001 -g 10001 -m 0755 /work /var/lib/berth \
 && printf '[safe]\n\tdirectory = *\n' >/etc/gitconfig
COPY scripts/image-healthcheck.sh /usr/local/libexec/berth/healthcheck
COPY --from=build /out/usr/local/bin/berth /usr/local/bin/berth
# The cache (git fetches and checkouts): the default $XDG_CACHE_HOME/berth is /var/lib/berth.
ENV XDG_CACHE_HOME=/var/lib
VOLUME ["/var/lib/berth"]
USER 10001:10001
WORKDIR /work
EXPOSE 8080
# GET /healthz of `berth run`'s listener (the --listen it was given, default 0.0.0.0:8080), with
# bash's /dev/tcp: no HTTP client in the image. Healthy when no `berth run` runs in the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/libexec/berth/healthcheck"]
ENTRYPOINT ["berth"]
CMD ["run"]

ARG BERTH_VERSION=unknown
ARG BERTH_REVISION=unknown
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="Declarative reconciliation of Docker Swarm and Azure container services from a desired-state YAML file" \
      org.opencontainers.image.version="$BERTH_VERSION" \
      org.opencontainers.image.revision="$BERTH_REVISION" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
