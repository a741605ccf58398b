#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, then every test (unit and integration).
# Integration tests start their own redis-server on a free port; this script only makes sure the binary
# is installed (and Chromium with its WebDriver for the browser test) and never starts or uses a Redis
# on 6379. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust first (https://rustup.rs)" >&2
    exit 1
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing redis-server (the tests start their own instances)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
fi

# The browser test (tests/it/browser.rs) drives headless Chromium through chromedriver; without them it
# is skipped locally and fails in CI.
if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then
    echo "==> installing chromium and chromium-driver (the browser test drives them)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi

if command -v rustup >/dev/null 2>&1; then
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        echo "==> adding the rustfmt and clippy components"
        rustup component add rustfmt clippy
    fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> cargo nextest run"
cargo nextest run --all-targets --no-fail-fast "$@"
