# odeus-scim-gateway container image: Debian 12 slim, non-root, read-only root filesystem.
#
#   docker build -t odeus-scim-gateway .
#   docker run --read-only -v gateway-data:/data -e SCIM_TOKEN_FILE=/run/secrets/scim-tokens \
#     -e ODEUS_API_KEY_FILE=/run/secrets/odeus-api-key -p 8080:8080 --stop-timeout 30 odeus-scim-gateway
#
# (--stop-timeout: on SIGTERM the gateway lets in-flight work finish for GATEWAY_SHUTDOWN_GRACE_MS,
# 20 s by default; the engine's own default of 10 s would SIGKILL it before that.)
# scripts/container-smoke.sh builds this image and checks it with podman (CI runs it).
#
# Package versions: no exact pins. The base tag is the pin: debian:12 is Debian stable, whose
# packages change only through security updates and point releases, which keep the ABI and the
# behaviour. An exact pin (zlib1g=1:1.2.13.dfsg-1) breaks the build on the next such update: apt
# refuses to downgrade a package the base image already carries, and the mirror drops the old
# version. So:
#   - packages that come with debian:12-slim (libc6, zlib1g, ...) are not named: they are at the
#     base image's version, and the official image is republished for Debian's updates (build with
#     --pull to get them);
#   - the others are installed by name, which gives the current bookworm (+ security) version.
# A rebuild therefore picks up security fixes and never breaks on them. For a bit-for-bit
# reproducible build, pin the base by digest (FROM debian:12-slim@sha256:...) and point apt at
# snapshot.debian.org instead.

# ---- build ------------------------------------------------------------------------------------
FROM debian:12-slim AS build
# Build-time only (an ARG is not kept in the image): no debconf prompts or warnings.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential \
      cmake \
      pkg-config \
      libh2o-evloop-dev \
      libh2o-dev-common \
      libjansson-dev \
      libcurl4-openssl-dev \
      libssl-dev \
      libsqlite3-dev \
      libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY common/ common/
COPY scim/ scim/
COPY store/ store/
COPY upstream/ upstream/
COPY gateway/ gateway/
COPY cli/ cli/
# The image carries the gateway only: tests run in CI (scripts/test.sh), not in the image build.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEWAY_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && strip /build/odeus-scim-gateway

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# What the binary links that debian:12-slim lacks (libh2o-evloop0.13 brings libwslay1; libc6 and
# zlib1g are in the base), the CA bundle for the Odeus TLS connection, and tini.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 \
      libcurl4 \
      libssl3 \
      libjansson4 \
      libsqlite3-0 \
      libpq5 \
      ca-certificates \
      tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /data --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data \
 && chown gateway:gateway /data \
 && chmod 0700 /data
COPY --from=build /build/odeus-scim-gateway /usr/local/bin/odeus-scim-gateway

# The only writable place the gateway needs: the SQLite database (+ WAL) and the audit log.
# SQLite's temporary files (sorts that outgrow memory, large statement journals) go there too:
# with a read-only root filesystem and no tmpfs (docker run --read-only, Kubernetes'
# readOnlyRootFilesystem) it finds no writable /var/tmp or /tmp. It unlinks them when it opens them.
VOLUME ["/data"]
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_DATA_DIR=/data \
    SQLITE_TMPDIR=/data
USER 10001:10001
EXPOSE 8080
# tini forwards SIGTERM/SIGHUP to the gateway and reaps; the gateway handles both itself.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/odeus-scim-gateway"]
