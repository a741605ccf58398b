//! A real MCP server for the tests: rmcp's server side, streamable HTTP, in the test process.
//!
//! `Dealer` offers `check_test_drive_slots {date, delay_ms?}`, `book_service` (always an error result),
//! `slow_quote` (answers after 30 s) and `brochure` (5,000 characters plus an image); `add_tool` adds a
//! tool at run time and sends `notifications/tools/list_changed` to every connected client; `calls`
//! lists the tools called so far, `lists` how often a client listed them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The bearer token the guarded server requires.
pub const TOKEN: &str = "t0k";

#[derive(Clone, Default)]
pub struct Dealer {
    extra: Arc<Mutex<Vec<Tool>>>,
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
    calls: Arc<Mutex<Vec<String>>>,
    lists: Arc<std::sync::atomic::AtomicUsize>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("schemas are objects"),
    }
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

impl Dealer {
    /// The names of the tools called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// How many times a client listed the tools.
    pub fn lists(&self) -> usize {
        self.lists.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Add a tool and tell every connected client that the list changed.
    pub async fn add_tool(&self, name: &'static str, description: &'static str) {
        let empty = schema(json!({"type": "object", "properties": {}}));
        self.extra
            .lock()
            .unwrap()
            .push(Tool::new(name, description, empty));
        let peers = self.peers.lock().unwrap().clone();
        for peer in peers {
            let _ = peer.notify_tool_list_changed().await;
        }
    }
}

impl ServerHandler for Dealer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let date = schema(json!({
            "type": "object",
            "properties": {"date": {"type": "string", "description": "YYYY-MM-DD"}},
            "required": ["date"],
        }));
        let empty = schema(json!({"type": "object", "properties": {}}));
        let mut tools = vec![
            Tool::new("check_test_drive_slots", "Free test-drive slots on a date.", date),
            Tool::new("book_service", "Book a workshop appointment.", empty.clone()),
            Tool::new("slow_quote", "A quote that takes long.", empty.clone()),
            Tool::new("brochure", "The full brochure.", empty),
        ];
        tools.extend(self.extra.lock().unwrap().iter().cloned());
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        self.calls.lock().unwrap().push(request.name.to_string());
        let result = match request.name.as_ref() {
            "check_test_drive_slots" => {
                let date = args.get("date").and_then(Value::as_str).unwrap_or("?");
                if let Some(ms) = args.get("delay_ms").and_then(Value::as_u64) {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                text(format!("Free test-drive slots on {date}: 10:00, 14:30"))
            }
            "book_service" => {
                CallToolResult::error(vec![ContentBlock::text("the workshop calendar is offline")])
            }
            "slow_quote" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                text("late quote")
            }
            "brochure" => CallToolResult::success(vec![
                ContentBlock::text("é".repeat(5000)),
                ContentBlock::image("aGk=", "image/png"),
            ]),
            "trade_in_value" => text("Trade-in value: 12 500 EUR"),
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(result.into())
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.peers.lock().unwrap().push(context.peer.clone());
        std::future::ready(())
    }
}

/// A running server; `stop` ends its sessions and closes the port.
pub struct McpServer {
    pub addr: SocketAddr,
    ct: CancellationToken,
    task: JoinHandle<()>,
}

impl McpServer {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub async fn stop(self) {
        self.ct.cancel();
        if tokio::time::timeout(Duration::from_secs(5), &mut { self.task })
            .await
            .is_err()
        {
            panic!("the MCP test server did not stop");
        }
    }
}

async fn require_token(request: Request, next: Next) -> Response {
    let expected = format!("Bearer {TOKEN}");
    match request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v == expected => next.run(request).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Serve `dealer` on `listener` at `/mcp`; with `guarded`, every request needs `Bearer t0k`.
pub fn serve(listener: TcpListener, dealer: Dealer, guarded: bool) -> McpServer {
    let ct = CancellationToken::new();
    let config = StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token());
    let service: StreamableHttpService<Dealer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(dealer.clone()), Arc::default(), config);
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if guarded {
        router = router.layer(middleware::from_fn(require_token));
    }
    let addr = listener.local_addr().unwrap();
    let shutdown = ct.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    McpServer { addr, ct, task }
}

/// Start a server on a free port.
pub async fn start(dealer: Dealer, guarded: bool) -> McpServer {
    serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), dealer, guarded)
}
