# syntax=docker/dockerfile:1
# rotor container images, built from this workspace (no prebuilt binaries):
#
#   docker build -t ghcr.io/rotor-dev/rotor:0.1.0 .                                # `rotor` (default target)
#   docker build --target emulator -t ghcr.io/rotor-dev/rotor-emulator:0.1.0 .    # the OpenRouter emulator
#
# One builder stage compiles both binaries (rotor-cli depends on rotor-emulator, so the second
# costs little); each final stage is distroless (glibc, CA certificates, no shell, no package
# manager), runs as 65532:65532 and needs no writable path: run it with a read-only root file
# system (deploy/kubernetes does). Only `rotor demo` writes, to a temporary directory: give it a
# writable /tmp (docker run --read-only --tmpfs /tmp ...).
# The builder is Debian 12 (bookworm), the same glibc as distroless cc-debian12.
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK: the CLI image mostly runs one-shot commands, and distroless has no shell or curl to probe with; the daemon's /healthz is probed by Kubernetes (deploy/kubernetes/deployment.yaml).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The target directory and the registry are BuildKit caches; the binaries are copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p rotor-cli -p rotor-emulator \
    && mkdir -p /out \
    && cp target/release/rotor target/release/rotor-emulator /out/

# The OpenRouter emulator for local development and tests (deploy/localstack/compose.yaml).
# Pass the management key as OPENROUTER_MANAGEMENT_KEY (or let it generate one and print it).
FROM gcr.io/distroless/cc-debian12:nonroot AS emulator
LABEL org.opencontainers.image.title="rotor-emulator" \
      org.opencontainers.image.description="A local emulator of OpenRouter's API-key Management API (development and tests only)" \
      org.opencontainers.image.source="https://github.com/rotor-dev/rotor" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/rotor-emulator /usr/local/bin/rotor-emulator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rotor-emulator"]
CMD ["--listen", "0.0.0.0:8080"]

# `rotor`: the CLI and `rotor daemon` (deploy/kubernetes). The default target.
FROM gcr.io/distroless/cc-debian12:nonroot AS rotor
LABEL org.opencontainers.image.title="rotor" \
      org.opencontainers.image.description="Zero-downtime rotation of OpenRouter API keys in AWS Secrets Manager, Vault/OpenBao and local files" \
      org.opencontainers.image.source="https://github.com/rotor-dev/rotor" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/rotor /usr/local/bin/rotor
USER 65532:65532
# `rotor daemon` serves /healthz and /metrics here when its config says listen = "0.0.0.0:9464".
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/rotor"]
CMD ["--help"]
