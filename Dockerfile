# Base images are build arguments so the image builds from any registry mirror
# or from local images (see scripts/container-test.sh).
ARG BUILDER_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
# The image ships a stripped binary; line tables are for local profiling only.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
# Dependency layer: compiled against stub sources, cached until Cargo.toml or
# Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/catalog.rs \
 && cargo build --release --locked --bin cmg-feed-proxy \
 && rm -rf src benches
COPY src ./src
COPY assets ./assets
COPY migrations ./migrations
COPY benches ./benches
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin cmg-feed-proxy \
 && cp target/release/cmg-feed-proxy /cmg-feed-proxy

FROM ${RUNTIME_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/cmg-feed-proxy \
 && chown 10001:10001 /var/lib/cmg-feed-proxy
COPY --from=builder /cmg-feed-proxy /usr/local/bin/cmg-feed-proxy
# Numeric, non-root; the only writable path it needs is the snapshot volume.
USER 10001:10001
ENV LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/cmg-feed-proxy"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["cmg-feed-proxy", "healthcheck"]
ENTRYPOINT ["cmg-feed-proxy"]
