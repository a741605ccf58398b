//! wa-agent: a WhatsApp AI agent that remembers every conversation and mirrors it in Chatwoot.
//!
//! The flow of one message: a gateway webhook is verified, parsed and accepted atomically into the
//! chat's inbox (`queue`); a worker claims the chat, waits out the debounce window, loads the chat's
//! history (`history`), asks the agent (`agent`), sends the reply through the chat's channel (`channel`), appends the exchange to
//! the history and mirrors it to Chatwoot (`chatwoot`). `docs/OPERATIONS.md` and the README describe it for operators.

pub mod agent;
pub mod app;
pub mod channel;
pub mod chat_state;
pub mod chatwoot;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dlq;
pub mod domain;
pub mod gate;
pub mod history;
pub mod hours;
pub mod http;
pub mod media;
pub mod mirror;
pub mod outbound;
pub mod queue;
pub mod reply;
pub mod retry;
pub mod store;
pub mod telemetry;
pub mod worker;
