//! Latency histograms in microseconds and their summary.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A histogram of 1 µs to 60 s with 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Records `micros`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.clamp(1, 60_000_000));
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// p50, p90, p99 and max in milliseconds, as JSON fields.
pub fn summary(h: &Histogram<u64>) -> Value {
    json!({
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
    })
}

/// Prints the `RESULT {json}` line that run.sh collects.
pub fn print_result(v: &Value) {
    println!("RESULT {v}");
}
