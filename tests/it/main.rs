//! The one integration-test binary: every scenario is a module here, so the product and the fakes
//! link once. `support` holds the fakes (Chatwoot, WAHA, Evolution API, Meta, the LLM, media), the
//! real `redis-server` and the built binary's process helpers; `mcp_support` a real MCP server.
//!
//! Invariants: a module never starts a Redis on 6379 (each test starts its own on a free port); helpers
//! live once, in `support`, never copied into a scenario module; a test waits for events, not for time
//! (`TestApp::run_until_idle`, `RedisServer::run_until_idle` for the built binary, `eventually`, a fake's
//! request count), and each of the few real waits left says why it needs one.

mod mcp_support;
mod migrations;
mod support;

mod binary;
mod browser;
mod chatwoot_client;
mod chatwoot_flow;
mod check;
mod cli;
mod clients;
mod clock;
mod config;
mod core_turn;
mod drain;
mod duplicate_window;
mod evolution_media;
mod first_run;
mod hardening;
mod idle;
mod intake;
mod mcp;
mod media;
mod media_turn;
mod meta;
mod playground;
mod presence;
mod reach;
mod reliability;
mod store;
mod store_model;
mod takeover;
mod time_and_memory;
mod tool_loop;
mod tools;
