//! Building blocks of the tools the agent may call (behaviour 8 of `INTERFACE.md`).
//!
//! Each tool lives in its own module and is pure or owns its own state: it exposes the JSON schema
//! the model is offered (`tool_schema`) and a function that runs one call from the model's
//! arguments and returns a compact JSON result or an error meant for the model (never the customer).
//! Wiring tools into the agent's step loop happens in `agent`, not here.

pub mod catalogue;
