//! Tool-loop overhead: what `wa_agent::agent::tool_loop::run` adds to a turn with an instant model and
//! instant tools, in process (no HTTP, no Redis).
//!
//! Scenarios, each run `--iterations` times over the same 20-entry history: `plain` (no tools offered,
//! the model answers at once: the old single call), `offered` (built-ins plus a `--rows` catalogue
//! offered, the model answers at once), `one round` (the model calls `search_catalogue`, then answers)
//! and `two concurrent` (two searches in one step, then the answer). The model is an in-process
//! [`Agent`] that answers from a script without I/O, so the figures are the loop's own work: prompt
//! building, tool schemas, running the calls concurrently, the `tool` messages. Over HTTP each extra
//! step also costs one model round trip (the `turns` bench measures one with the instant fake LLM).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use wa_agent::agent::tool_loop::{self, LoopSettings, TurnMemo};
use wa_agent::agent::tools::catalogue::CatalogueHandle;
use wa_agent::agent::tools::{BuiltinTools, ToolRegistry};
use wa_agent::agent::{Agent, AgentInput, ChatRequest, Completion, ToolCall};
use wa_agent::domain::{HistoryEntry, Role};
use wa_agent::outbound::OutboundError;

use crate::args::Args;

/// Calls `search_catalogue` `calls` times in its first step (when given), then answers.
struct Scripted {
    calls: usize,
}

#[async_trait::async_trait]
impl Agent for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn complete(&self, request: ChatRequest<'_>) -> Result<Completion, OutboundError> {
        let answered = request.messages.last().is_some_and(|m| m["role"] == "tool");
        if self.calls == 0 || answered {
            return Ok(Completion {
                text: "De BMW X5 staat er nog.".into(),
                tool_calls: Vec::new(),
            });
        }
        let tool_calls = (0..self.calls)
            .map(|n| ToolCall {
                id: format!("call_{n}"),
                name: "search_catalogue".into(),
                arguments: json!({"query": if n == 0 { "BMW X5" } else { "diesel automaat" }}).to_string(),
            })
            .collect();
        Ok(Completion {
            text: String::new(),
            tool_calls,
        })
    }
}

fn history() -> Vec<HistoryEntry> {
    (0..20)
        .map(|n| HistoryEntry {
            id: format!("m{n}"),
            role: if n % 2 == 0 { Role::Customer } else { Role::Agent },
            text: "Is de BMW X5 uit 2023 nog beschikbaar, en wat is de kilometerstand?".into(),
            at: n,
        })
        .collect()
}

/// Mean, p50, p99 and max in µs of `samples` (nanoseconds).
fn summary(label: &str, mut samples: Vec<u64>) -> Value {
    samples.sort_unstable();
    let us = |ns: u64| (ns as f64 / 10.0).round() / 100.0;
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    let mean = samples.iter().sum::<u64>() / samples.len().max(1) as u64;
    json!({"scenario": label, "mean_us": us(mean), "p50_us": us(at(0.5)), "p99_us": us(at(0.99)),
           "max_us": us(*samples.last().unwrap_or(&0))})
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let rows: usize = args.get("rows", 10_000)?;
    let iterations: usize = args.get("iterations", 2_000)?;
    let dir = std::env::temp_dir().join(format!("wa-agent-bench-toolloop-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("stock.csv");
    std::fs::write(&path, crate::catalogue::generate(rows))?;
    let catalogue = CatalogueHandle::open(&path).context("loading the generated catalogue")?;
    let builtins = BuiltinTools {
        humans: true,
        attributes: vec!["interest".into(), "budget".into(), "timeline".into()],
    };
    let full = ToolRegistry::new()
        .with(Arc::new(builtins))
        .with(Arc::new(catalogue));
    let none = ToolRegistry::new();
    let history = history();
    let new = vec!["Ik ben geïnteresseerd in een BMW X5. Wat heeft jullie op voorraad?".to_owned()];
    let input = AgentInput {
        system_prompt: wa_agent::config::DEFAULT_SYSTEM_PROMPT,
        history: &history,
        new_messages: &new,
        offer_handoff: true,
        new_images: &[],
        tail: None,
    };
    let mut results = Vec::new();
    for (label, registry, calls) in [
        ("plain (no tools offered)", &none, 0),
        ("offered, answered at once", &full, 0),
        ("one round: 1 search, then the answer", &full, 1),
        ("one round: 2 concurrent searches", &full, 2),
    ] {
        let agent = Scripted { calls };
        let settings = LoopSettings {
            registry,
            max_steps: 5,
            timeout: Duration::from_secs(15),
        };
        let mut samples = Vec::with_capacity(iterations);
        for i in 0..iterations + iterations / 10 {
            let mut memo = TurnMemo::default();
            let started = Instant::now();
            let out = tool_loop::run(&agent, input, settings, &mut memo).await;
            let took = started.elapsed().as_nanos() as u64;
            anyhow::ensure!(
                out.reply.is_ok() && out.calls.len() == calls,
                "scenario {label} failed"
            );
            if i >= iterations / 10 {
                samples.push(took);
            }
        }
        results.push(summary(label, samples));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let result = json!({"bench": "toolloop", "rows": rows, "iterations": iterations, "scenarios": results});
    crate::stats::print_result(&result);
    for s in &results {
        println!(
            "{}: mean {} µs, p50 {} µs, p99 {} µs, max {} µs",
            s["scenario"].as_str().unwrap_or(""),
            s["mean_us"],
            s["p50_us"],
            s["p99_us"],
            s["max_us"]
        );
    }
    Ok(())
}
