# syntax=docker/dockerfile:1
# Base images are named in full (docker.io/library/…), so podman and buildah build this as Docker
# does, without a search list of registries.

# --- chef: the toolchain with cargo-chef -----------------------------------------------------------
# cargo-chef builds the dependency layer: `prepare` reduces the workspace to a recipe (manifests, the
# lockfile, target paths), `cook` builds the dependencies from it alone, so a source edit leaves that
# layer cached and only an edit to the manifests or the lockfile rebuilds it.
FROM docker.io/library/rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

# --- planner: the recipe ---------------------------------------------------------------------------
# `--bin wa-agent` leaves out the workspace members the binary does not need (the bench).
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin wa-agent

# --- builder: the dependencies from the recipe, then the binary from the real sources --------------
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin wa-agent
# The real sources (see .dockerignore for what is left out).
COPY . .
RUN cargo build --release --locked -p wa-agent --bin wa-agent \
    && mkdir -p migrations \
    && cp target/release/wa-agent /usr/local/bin/wa-agent

# --- run -------------------------------------------------------------------------------------------
# No curl: the health check is the binary's own `wa-agent healthcheck` (GET /health on loopback at
# LISTEN_ADDR's port). ca-certificates is for the TLS connections to Chatwoot, the gateways and the LLM.
# ca-certificates is left unpinned on purpose: it should be the release's latest, with its updates.
# The user has a fixed numeric id, so an orchestrator can check it is not root (runAsNonRoot).
FROM docker.io/library/debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin wa-agent
WORKDIR /app
COPY --from=builder /usr/local/bin/wa-agent /usr/local/bin/wa-agent
COPY --from=builder /app/migrations /app/migrations
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/wa-agent", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/wa-agent"]
