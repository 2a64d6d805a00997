# odeus-scim-gateway container image: Debian 12 slim, non-root, read-only root filesystem.
#
#   docker build -t odeus-scim-gateway .
#   docker run --read-only -v gateway-data:/data -e SCIM_TOKEN_FILE=/run/secrets/scim-tokens \
#     -e ODEUS_API_KEY_FILE=/run/secrets/odeus-api-key -p 8080:8080 odeus-scim-gateway
#
# Package versions are pinned to what Debian 12 ships (read with apt-cache policy); when a
# Debian security update replaces one, the build fails loudly: bump the pin to the new version.

# ---- build ------------------------------------------------------------------------------------
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential=12.9 \
      cmake=3.25.1-1 \
      pkg-config=1.8.1-1 \
      libh2o-evloop-dev=2.2.5+dfsg2-7 \
      libh2o-dev-common=2.2.5+dfsg2-7 \
      libjansson-dev=2.14-2 \
      libcurl4-openssl-dev=7.88.1-10+deb12u15 \
      libssl-dev=3.0.22-1~deb12u2 \
      libsqlite3-dev=3.40.1-2+deb12u2 \
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
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libh2o-evloop0.13=2.2.5+dfsg2-7 \
      libcurl4=7.88.1-10+deb12u15 \
      libssl3=3.0.22-1~deb12u2 \
      libjansson4=2.14-2 \
      libsqlite3-0=3.40.1-2+deb12u2 \
      libwslay1=1.1.1-3+b1 \
      zlib1g=1:1.2.13.dfsg-1 \
      ca-certificates=20250419~deb12u2 \
      tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /data --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data \
 && chown gateway:gateway /data \
 && chmod 0700 /data
COPY --from=build /build/odeus-scim-gateway /usr/local/bin/odeus-scim-gateway

# The only writable place the gateway needs: the SQLite database (+ WAL) and the audit log.
VOLUME ["/data"]
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_DATA_DIR=/data
USER 10001:10001
EXPOSE 8080
# tini forwards SIGTERM/SIGHUP to the gateway and reaps; the gateway handles both itself.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/odeus-scim-gateway"]
