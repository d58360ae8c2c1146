# syntax=docker/dockerfile:1
# studio-operator image: a glibc release build on Debian 12 (bookworm), on an empty base that holds
# only what the binary needs: the binary (its assets are compiled in), the glibc libraries it links,
# Debian's CA bundle and /etc/passwd and /etc/group with the non-root user 65532. The chart runs
# it read-only, non-root, with every capability dropped.
#
#   docker build -t ghcr.io/studio-operator/studio-operator:0.1.0 .
#
# `make image` builds the same image without Docker (hack/image/build.sh, with umoci); both take
# the root filesystem from hack/image/rootfs.sh, and hack/image/check.py (`make image-test`)
# checks that this file and the built image have the same files, user, entrypoint, cmd, ports
# and labels. Keep the final stage's instructions and hack/image/build.sh in step.
#
# glibc rather than musl: kube/rustls use aws-lc-rs, whose C build is the default, tested path
# on glibc; the builder and the runtime share Debian 12's glibc 2.36.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Only what the workspace manifest needs (the emulator is a workspace member; the e2e test and
# the scale bench targets must exist for the manifest to load; assets/ is embedded).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY benches ./benches
COPY tests ./tests
COPY hack/aws-emulator/Cargo.toml ./hack/aws-emulator/Cargo.toml
COPY hack/aws-emulator/src ./hack/aws-emulator/src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin studio-operator \
    && install -D -m 0755 target/release/studio-operator /out/studio-operator
COPY hack/image/rootfs.sh /usr/local/bin/rootfs.sh
RUN rootfs.sh /out/studio-operator /rootfs

FROM scratch
LABEL org.opencontainers.image.title="studio-operator" \
      org.opencontainers.image.description="Kubernetes operator for Amazon SageMaker AI Studio" \
      org.opencontainers.image.source="https://github.com/studio-operator/studio-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /rootfs/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/studio-operator"]
CMD ["run"]
