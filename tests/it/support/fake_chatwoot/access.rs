//! Access: every request is recorded, then the gatekeeper checks the token (API or Agent Bot) and
//! the account, answers 503 while the fake is down, and refuses bots outside their endpoints.

use super::*;

pub(super) type Reply = Result<Json<Value>, Failure>;

/// An error answer: status and JSON body.
#[derive(Debug)]
pub(super) struct Failure(pub(super) StatusCode, pub(super) Value);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl Failure {
    pub(super) fn fixture(name: &str) -> Failure {
        let errors: Value = serde_json::from_str(ERRORS).expect("errors fixture");
        let status = errors[name]["status"].as_u64().expect("fixture status") as u16;
        Failure(
            StatusCode::from_u16(status).expect("status"),
            errors[name]["body"].clone(),
        )
    }

    pub(super) fn not_found() -> Failure {
        Failure::fixture("not_found")
    }

    pub(super) fn unprocessable(body: Value) -> Failure {
        Failure(StatusCode::UNPROCESSABLE_ENTITY, body)
    }
}

/// Records every request, then answers 503 while down and 401 without the right token or account.
pub(super) async fn gatekeeper(State(db): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let token = parts
        .headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let account = parts.uri.path().split('/').nth(4).map(str::to_owned);
    let mut bot = false;
    {
        let mut db = db.lock().expect("fake Chatwoot state");
        db.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: recorded_body(&bytes),
        });
        if db.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        match token {
            None => return Failure::fixture("missing_access_token").into_response(),
            Some(t) if db.bot_token.as_deref() == Some(t.as_str()) => {
                if !bot_accessible(parts.method.as_str(), parts.uri.path()) {
                    return Failure(
                        StatusCode::UNAUTHORIZED,
                        json!({ "error": "Access to this endpoint is not authorized for bots" }),
                    )
                    .into_response();
                }
                bot = true;
            }
            Some(t) if t != db.token => return Failure::fixture("invalid_access_token").into_response(),
            Some(_) => {}
        }
        if account.is_some_and(|a| a != db.account_id.to_string()) {
            return Failure::fixture("user_not_in_account").into_response();
        }
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    if bot {
        request.extensions_mut().insert(BotCaller);
    }
    next.run(request).await
}

/// Marks a request made with the Agent Bot's token.
#[derive(Debug, Clone, Copy)]
pub(super) struct BotCaller;

/// Chatwoot's `BOT_ACCESSIBLE_ENDPOINTS` (access_token_auth_helper.rb): conversations `create`,
/// `update`, `toggle_status`, `toggle_priority`, `custom_attributes`; messages `create`; assignments
/// `create`. Everything else answers 401 to a bot token.
pub(super) fn bot_accessible(method: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["api", "v1", "accounts", _, "conversations"]) => true,
        ("PATCH" | "PUT", ["api", "v1", "accounts", _, "conversations", _]) => true,
        ("POST", ["api", "v1", "accounts", _, "conversations", _, action]) => matches!(
            *action,
            "toggle_status" | "toggle_priority" | "custom_attributes" | "messages" | "assignments"
        ),
        _ => false,
    }
}
