//! What the scenarios share: small fakes of every external (Chatwoot, WAHA, Evolution API, Meta's Graph
//! API, the LLM, media hosts), a real `redis-server` per test on a free port, the app in-process
//! (`app`) or as the built binary (`proc`), and webhook bodies built from `tests/fixtures`.
//!
//! Invariant: each fake records what it received and never sleeps to simulate work unless a test asks
//! it to; scenarios wait on what the fakes saw, not on the clock.

pub mod app;
pub mod fake_chatwoot;
pub mod fake_evolution;
pub mod fake_llm;
pub mod fake_media;
pub mod fake_meta;
pub mod fake_waha;
pub mod proc;
pub mod redis;
pub mod slow_file;
pub mod stack;
pub mod time;
pub mod waha_hooks;
