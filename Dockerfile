# berth in a container: built on Debian 12, run on Debian 12 slim as an unprivileged user.
#
#   docker build -t berth .
#   docker run --rm berth --version
#   docker run --rm -v "$PWD:/work:ro" berth validate examples/quickstart
#   docker run --rm -v "$PWD:/work:ro" -v "$HOME/.ssh/berth:/ssh:ro" -e BERTH_SSH_CONFIG=/ssh/config \
#     -e DOCKER_HOST=ssh://azureuser@manager:2200 berth plan .     (the config names the key and known_hosts in /ssh)

# ---- build ----------------------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libyaml-dev libjansson-dev libcurl4-openssl-dev libgit2-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" \
 && make install PREFIX=/usr/local DESTDIR=/out

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-0-2 libjansson4 libcurl4 libgit2-1.5 libmicrohttpd12 libssl3 ca-certificates git \
      openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/bin/berth /usr/local/bin/berth
# The desired-state repository is usually a bind mount owned by another uid; git and libgit2
# refuse such a repository unless it is marked safe.
RUN groupadd --gid 10001 berth \
 && useradd --uid 10001 --gid berth --home-dir /work --no-create-home --shell /usr/sbin/nologin berth \
 && mkdir -p /work \
 && chown berth:berth /work \
 && git config --system --add safe.directory '*'
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["berth"]
CMD ["--help"]
