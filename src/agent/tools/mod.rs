//! The agent's tools: the sources of the functions the model may call during a turn (behaviour 8 of
//! `INTERFACE.md`).
//!
//! Each source lives in its own module and owns its naming, limits and failure rules, stated in its
//! module doc: it exposes the JSON schema the model is offered and runs one call from the model's
//! arguments, returning a compact result or an error meant for the model (never the customer).
//! Wiring tools into the agent's step loop happens in `agent`, not here.

pub mod catalogue;
pub mod mcp;
