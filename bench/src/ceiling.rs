//! The HTTP ceiling: a bare axum server that reads the body and answers 200, so `ingest` against it
//! shows what this machine's HTTP stack and load generator can do without wa-agent's work.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

use crate::args::Args;

async fn accept(body: Bytes) -> ([(&'static str, &'static str); 1], &'static str) {
    std::hint::black_box(body.len());
    ([("content-type", "application/json")], r#"{"status":"accepted"}"#)
}

/// Serves until `--max-seconds` (default 900) have passed or the process is stopped.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let addr = args.optional("addr").unwrap_or_else(|| "127.0.0.1:0".into());
    let max = args.seconds("max-seconds", 900)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    let local = listener.local_addr()?;
    anyhow::ensure!(
        local.ip().is_loopback(),
        "the ceiling binds to a loopback address only"
    );
    println!("ceiling listening on http://{local}/webhooks/waha");
    let app = Router::new().route("/webhooks/waha", post(accept));
    let server = axum::serve(listener, app).with_graceful_shutdown(tokio::time::sleep(max));
    server.await.context("ceiling server")?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
