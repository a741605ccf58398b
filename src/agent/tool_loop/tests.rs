use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::agent::tools::{ToolFailure, ToolOutput, ToolSource};

/// Answers `steps` with the scripted tool calls, one list per model call, then with text.
struct Script {
    steps: Mutex<Vec<Vec<ToolCall>>>,
    seen: Mutex<Vec<Vec<Value>>>,
}

impl Script {
    fn new(steps: Vec<Vec<ToolCall>>) -> Self {
        Self {
            steps: Mutex::new(steps.into_iter().rev().collect()),
            seen: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl Agent for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    async fn complete(&self, request: ChatRequest<'_>) -> Result<super::super::Completion, OutboundError> {
        self.seen.lock().unwrap().push(request.messages.to_vec());
        let tool_calls = self.steps.lock().unwrap().pop().unwrap_or_default();
        let text = if tool_calls.is_empty() {
            "klaar".to_owned()
        } else {
            String::new()
        };
        Ok(super::super::Completion { text, tool_calls })
    }
}

/// `echo {..}` answers its arguments; counts its runs.
#[derive(Default)]
struct Echo {
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl ToolSource for Echo {
    fn definitions(&self) -> Vec<Value> {
        vec![json!({"type": "function", "function": {"name": "echo", "parameters": {"type": "object"}}})]
    }
    fn offers(&self, name: &str) -> bool {
        name == "echo"
    }
    async fn call(&self, _: &str, arguments: &str, _: Duration) -> Result<ToolOutput, ToolFailure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(ToolOutput::text(format!("echo {arguments}")))
    }
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args.into(),
    }
}

async fn run_with(agent: &Script, echo: &Arc<Echo>, max_steps: u32, memo: &mut TurnMemo) -> LoopOutcome {
    let registry = ToolRegistry::new().with(echo.clone());
    let new = vec!["hoi".to_owned()];
    let input = AgentInput {
        system_prompt: "s",
        history: &[],
        new_messages: &new,
        offer_handoff: false,
        new_images: &[],
        tail: None,
    };
    let settings = LoopSettings {
        registry: &registry,
        max_steps,
        timeout: Duration::from_secs(1),
    };
    run(agent, input, settings, memo).await
}

use std::sync::Arc;

#[tokio::test]
async fn results_go_back_as_tool_messages_and_unknown_tools_answer_with_an_error() {
    let agent = Script::new(vec![vec![
        call("a", "echo", r#"{"x":1}"#),
        call("b", "nope", "{}"),
    ]]);
    let echo = Arc::new(Echo::default());
    let out = run_with(&agent, &echo, 5, &mut TurnMemo::default()).await;
    assert_eq!(out.reply.unwrap().text, "klaar");
    assert_eq!(out.steps, 2);
    let seen = agent.seen.lock().unwrap().clone();
    let second = &seen[1];
    assert_eq!(second[2]["tool_calls"][1]["function"]["name"], "nope");
    assert_eq!(
        second[3],
        json!({"role": "tool", "tool_call_id": "a", "content": r#"echo {"x":1}"#})
    );
    assert_eq!(
        second[4]["content"],
        "error: the tool nope is not available right now"
    );
    assert_eq!(out.calls.len(), 2);
}

#[tokio::test]
async fn the_steps_are_bounded_and_calls_done_are_still_reported() {
    let looping = (0..5)
        .map(|n| vec![call(&format!("c{n}"), "echo", &format!("{{\"n\":{n}}}"))])
        .collect();
    let agent = Script::new(looping);
    let echo = Arc::new(Echo::default());
    let out = run_with(&agent, &echo, 3, &mut TurnMemo::default()).await;
    let err = out.reply.unwrap_err().to_string();
    assert!(
        err.contains("no answer after 3 model calls (AGENT_MAX_STEPS)"),
        "{err}"
    );
    assert_eq!(out.steps, 3);
    assert_eq!(out.calls.len(), 3);
    assert_eq!(echo.runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rerun_answers_the_same_call_from_the_memo() {
    let echo = Arc::new(Echo::default());
    let mut memo = TurnMemo::default();
    let first = Script::new(vec![vec![call("a", "echo", r#"{"x": 1}"#)]]);
    run_with(&first, &echo, 5, &mut memo).await;
    let rerun = Script::new(vec![vec![
        call("z", "echo", r#"{"x":1}"#),
        call("y", "echo", r#"{"x":2}"#),
    ]]);
    let out = run_with(&rerun, &echo, 5, &mut memo).await;
    assert_eq!(echo.runs.load(Ordering::SeqCst), 2, "only the new call ran");
    assert!(out.calls[0].remembered && !out.calls[1].remembered);
    assert_eq!(out.calls[0].result, Ok(r#"echo {"x": 1}"#.to_owned()));
    assert_eq!(memo.len(), 2);
}
