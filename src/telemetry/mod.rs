//! Logs and metrics set-up.
//!
//! Logs go through `tracing` (pretty or JSON by `LOG_FORMAT`, filtered by `RUST_LOG`), to stdout for the
//! server and to stderr for operator commands (whose stdout is their report). Metrics use the
//! `metrics` facade with one process-wide Prometheus recorder, rendered by `GET /metrics`. In JSON,
//! span fields are written by [`span_fields::JsonSpanFields`], which appends a recorded field instead
//! of parsing and rewriting the span's fields.

mod span_fields;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::LogFormat;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogWriter {
    /// Standard output: the server, whose only output is its log.
    Stdout,
    /// Standard error: operator commands, whose stdout is their report.
    Stderr,
}

/// Install the log subscriber (once per process; later calls are no-ops).
pub fn init_logging(format: LogFormat, writer: LogWriter) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(crate::config::DEFAULT_LOG_FILTER));
    let writer = match writer {
        LogWriter::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogWriter::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .fmt_fields(span_fields::JsonSpanFields)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("wa_agent_history_entries".into()),
                        &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    handle
                }
                // Another recorder is installed (embedding); render our own empty one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Every metric the service exports: (name, kind, help). The README's metrics table lists the same.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "wa_agent_webhooks_total",
        "counter",
        "Webhooks received, by route and outcome.",
    ),
    ("wa_agent_turns_total", "counter", "Turns run, by outcome."),
    (
        "wa_agent_history_loads_total",
        "counter",
        "History loads, by source (cache, chatwoot, store).",
    ),
    (
        "wa_agent_history_entries",
        "histogram",
        "History entries given to the agent per turn.",
    ),
    (
        "wa_agent_agent_duration_seconds",
        "histogram",
        "Time the agent took per turn, retries included.",
    ),
    (
        "wa_agent_gateway_send_duration_seconds",
        "histogram",
        "Time sending a reply took, by gateway.",
    ),
    (
        "wa_agent_possible_duplicate_replies_total",
        "counter",
        "Reply parts sent again after a worker died mid-send, without a way to check the customer had not already got them, by gateway.",
    ),
    (
        "wa_agent_turn_duration_seconds",
        "histogram",
        "Time a turn took, debounce excluded.",
    ),
    (
        "wa_agent_retries_total",
        "counter",
        "Retried external calls, by target (llm, gateway, chatwoot, store).",
    ),
    (
        "wa_agent_reclaimed_total",
        "counter",
        "Work reclaimed from a dead or stalled worker.",
    ),
    (
        "wa_agent_mirror_jobs_total",
        "counter",
        "Chatwoot mirror jobs, by outcome (done, deferred, refused).",
    ),
    (
        "wa_agent_gateway_statuses_total",
        "counter",
        "Delivery receipts from the Cloud API, by status (sent, delivered, read, failed).",
    ),
    (
        "wa_agent_human_replies_total",
        "counter",
        "Human replies from Chatwoot, by outcome (sent, failed).",
    ),
    (
        "wa_agent_tool_calls_total",
        "counter",
        "Tool calls, by tool and outcome (ok, error, timeout, unavailable, rejected, invalid, unknown).",
    ),
    (
        "wa_agent_tool_duration_seconds",
        "histogram",
        "Time a tool call took, by tool.",
    ),
    (
        "wa_agent_dead_letters_total",
        "counter",
        "Work moved to the dead letters.",
    ),
    (
        "wa_agent_dead_letters",
        "gauge",
        "Dead letters waiting for an operator.",
    ),
    (
        "wa_agent_queue_pending_signals",
        "gauge",
        "Work signals not yet acknowledged.",
    ),
    (
        "wa_agent_queue_oldest_age_seconds",
        "gauge",
        "Age of the oldest work not yet finished (0: none).",
    ),
    (
        "wa_agent_media_total",
        "counter",
        "Customer media, by kind and outcome (downloaded, too_large, failed, transcribed, transcription_failed).",
    ),
    (
        "wa_agent_media_bytes_total",
        "counter",
        "Bytes of customer media downloaded.",
    ),
    (
        "wa_agent_transcription_duration_seconds",
        "histogram",
        "Time transcribing one voice note or audio took, retries included.",
    ),
];

fn describe() {
    for (name, kind, help) in METRICS {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "gauge" => metrics::describe_gauge!(*name, *help),
            _ => metrics::describe_histogram!(*name, *help),
        }
    }
}
