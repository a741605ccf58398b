# syntax=docker/dockerfile:1

# --- build -------------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /app

# Dependency layer: build the dependencies against stub sources, so source edits do not rebuild them.
# Test, bench and example targets are dropped from this copy of the manifest; every other target path
# it names gets an empty stub. The workspace member `bench/` (a load tool, never shipped) only needs
# its manifest and a stub for the workspace to resolve; only the `wa-agent` package is built.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
RUN cp Cargo.toml Cargo.toml.orig \
    && awk '/^\[\[(bench|test|example)\]\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' \
        Cargo.toml.orig > Cargo.toml \
    && for f in src/main.rs src/lib.rs bench/src/main.rs \
        $(sed -n 's/^path *= *"\(.*\.rs\)".*/\1/p' Cargo.toml); do \
        mkdir -p "$(dirname "$f")" && echo 'fn main() {}' > "$f"; \
    done \
    && cargo build --release --locked -p wa-agent \
    && rm -rf src bench/src Cargo.toml.orig

# The real sources (see .dockerignore for what is left out).
COPY . .
RUN find . -name '*.rs' -not -path './target/*' -exec touch {} + \
    && cargo build --release --locked -p wa-agent \
    && mkdir -p migrations \
    && cp target/release/wa-agent /usr/local/bin/wa-agent

# --- run ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin wa-agent
WORKDIR /app
COPY --from=builder /usr/local/bin/wa-agent /usr/local/bin/wa-agent
COPY --from=builder /app/migrations /app/migrations
USER wa-agent
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3000/health || exit 1
ENTRYPOINT ["/usr/local/bin/wa-agent"]
