//! `window`: a 100-message conversation replayed through wa-agent's own prompt assembly
//! (`agent::build_messages`, `agent::prompt::changing_tail`, `history::block_drop`), comparing the
//! sliding window (the seed's: the last `HISTORY_WINDOW` entries, nothing beyond) with the block
//! window plus summary (behaviour 11), in the same run.
//!
//! Per turn it records the prompt's size (characters of the JSON `messages`, and tokens estimated as
//! characters / 4), whether the prompt begins with the previous turn's prompt minus its last
//! messages (the changing tail and the new customer message), and whether the first message's fact
//! (the car, `BMW X5`) is in the prompt. The summariser is a deterministic stand-in for the model
//! (the previous summary, then the block's customer messages, cut to 1,200 characters): it measures
//! that the pipeline carries the summary, not how well a real model condenses.

use serde_json::{Value, json};
use wa_agent::agent::prompt::{PromptContext, changing_tail};
use wa_agent::agent::summary::bound;
use wa_agent::agent::{AgentInput, build_messages};
use wa_agent::domain::{HistoryEntry, Role};
use wa_agent::history::block_drop;

use crate::args::Args;

const FACT: &str = "BMW X5";
const SYSTEM: &str = "You are the assistant of Autobedrijf Van Dijk, a car dealership. Answer briefly.";

#[derive(Default)]
struct Series {
    chars: Vec<usize>,
    /// Characters of each prompt beyond the messages it shares, from the start, with the previous
    /// prompt: what a provider's prefix cache cannot serve.
    uncached: Vec<usize>,
    reused: usize,
    compared: usize,
    fact_in_last: bool,
}

fn customer_text(n: usize) -> String {
    match n {
        0 => format!("Hi, I saw the {FACT} from 2021 on your website, is it still available?"),
        _ => format!("Question {n}: what about the service history, tyres and delivery options, part {n}?"),
    }
}

fn entry(id: String, role: Role, text: String) -> HistoryEntry {
    HistoryEntry {
        id,
        role,
        text,
        at: 0,
    }
}

fn prompt(history: &[HistoryEntry], tail: Option<&str>, new: &[String]) -> Vec<Value> {
    build_messages(&AgentInput {
        system_prompt: SYSTEM,
        history,
        new_messages: new,
        new_images: &[],
        offer_handoff: false,
        tail,
    })
}

/// Replays `messages` customer messages with `window`; `block`: the block window and summary.
fn replay(messages: usize, window: usize, block: bool) -> Series {
    let mut series = Series::default();
    let mut history: Vec<HistoryEntry> = Vec::new();
    let mut summary: Option<String> = None;
    let mut previous: Option<(Vec<Value>, usize)> = None;
    for n in 0..messages {
        let new = vec![customer_text(n)];
        let time = format!(
            "It is now Monday 2026-06-01 10:{:02} (Europe/Amsterdam). The team is working now, until Monday 18:00.",
            n % 60
        );
        let (shown, tail) = if block {
            let tail = changing_tail(&PromptContext {
                time: Some(time),
                summary: summary.clone(),
                profile: None,
            });
            (history.as_slice(), tail)
        } else {
            let from = history.len().saturating_sub(window);
            (&history[from..], None)
        };
        let p = prompt(shown, tail.as_deref(), &new);
        let changing = new.len() + usize::from(tail.is_some());
        series
            .chars
            .push(serde_json::to_string(&p).map(|s| s.len()).unwrap_or(0));
        let shared = previous.as_ref().map_or(0, |(prev, _)| {
            p.iter().zip(prev).take_while(|(a, b)| a == b).count()
        });
        let shared_chars: usize = p[..shared].iter().map(|m| m.to_string().len() + 1).sum();
        series
            .uncached
            .push(series.chars[series.chars.len() - 1].saturating_sub(shared_chars));
        if let Some((prev, prev_changing)) = &previous {
            series.compared += 1;
            let stable = &prev[..prev.len() - prev_changing];
            if p.len() >= stable.len() && p[..stable.len()] == *stable {
                series.reused += 1;
            }
        }
        series.fact_in_last = serde_json::to_string(&p).is_ok_and(|s| s.contains(FACT));
        previous = Some((p, changing));
        history.push(entry(format!("c{n}"), Role::Customer, new[0].clone()));
        history.push(entry(
            format!("r{n}"),
            Role::Agent,
            format!("Thanks, I have noted question {n}."),
        ));
        if block {
            let drop = block_drop(history.len(), window);
            if drop > 0 {
                let mut text = summary.take().unwrap_or_default();
                for e in history.drain(..drop).filter(|e| e.role == Role::Customer) {
                    text.push_str(&e.text);
                    text.push('\n');
                }
                summary = Some(bound(&text));
            }
        } else if history.len() > window {
            history.drain(..history.len() - window);
        }
    }
    series
}

fn figures(name: &str, s: &Series) -> Value {
    let total: usize = s.chars.iter().sum();
    let mut sorted = s.chars.clone();
    sorted.sort_unstable();
    let share = if s.compared == 0 {
        0.0
    } else {
        100.0 * s.reused as f64 / s.compared as f64
    };
    json!({
        "window": name,
        "turns": s.chars.len(),
        "prompt_chars_mean": total / s.chars.len().max(1),
        "prompt_chars_max": sorted.last().copied().unwrap_or(0),
        "prompt_tokens_est_mean": total / s.chars.len().max(1) / 4,
        "prompt_tokens_est_total": total / 4,
        "uncached_tokens_est_total": s.uncached.iter().sum::<usize>() / 4,
        "prefix_reuse_pct": (share * 10.0).round() / 10.0,
        "fact_in_last_prompt": s.fact_in_last,
    })
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let messages: usize = args.get("messages", 100)?;
    let window: usize = args.get("window", 20)?;
    let sliding = replay(messages, window, false);
    let block = replay(messages, window, true);
    let result = json!({
        "messages": messages,
        "history_window": window,
        "sliding": figures("sliding", &sliding),
        "block": figures("block+summary", &block),
        "per_turn_chars": { "sliding": sliding.chars, "block": block.chars },
        "per_turn_uncached_chars": { "sliding": sliding.uncached, "block": block.uncached },
    });
    println!("RESULT {result}");
    for (name, s) in [("sliding", &sliding), ("block+summary", &block)] {
        let f = figures(name, s);
        println!(
            "{name:>14}: mean prompt {} chars (~{} tokens), max {} chars, total ~{} tokens (~{} beyond a cached prefix), prefix reused {}% of turns, first message's car in the last prompt: {}",
            f["prompt_chars_mean"],
            f["prompt_tokens_est_mean"],
            f["prompt_chars_max"],
            f["prompt_tokens_est_total"],
            f["uncached_tokens_est_total"],
            f["prefix_reuse_pct"],
            f["fact_in_last_prompt"]
        );
    }
    Ok(())
}
