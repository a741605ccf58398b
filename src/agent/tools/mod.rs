//! The agent's tools: the sources of the functions the model may call during a turn (behaviour 8).
//! Each source owns its own naming, limits and failure rules and states them in its module doc.

pub mod mcp;
