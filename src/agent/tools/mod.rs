//! The agent's tools: the sources of the functions the model may call during a turn (behaviour 8 of
//! `INTERFACE.md`).
//!
//! Each source lives in its own module and owns its naming, limits and failure rules, stated in its
//! module doc: it exposes the JSON schema the model is offered and runs one call from the model's
//! arguments, returning a compact result or an error meant for the model (never the customer).
//! [`registry`] puts every source behind one interface; the step loop itself is `agent::tool_loop`.

pub mod builtin;
pub mod catalogue;
pub mod mcp;
pub mod registry;

pub use builtin::BuiltinTools;
pub use registry::{Effect, ToolFailure, ToolOutput, ToolRegistry, ToolSource};
