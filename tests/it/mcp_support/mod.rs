//! A real MCP server for the MCP tests (`mcp`, `tool_loop`, `check`).

pub mod dealer;
