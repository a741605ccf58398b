//! The inbox (`GET inboxes/{id}`), the typing toggle and the token's profile.

use super::*;

pub(super) async fn toggle_typing_status(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    db.conversation(&id)?;
    Ok(Json(json!({})))
}

pub(super) async fn profile(State(db): State<Shared>) -> Json<Value> {
    let db = db.lock().expect("fake Chatwoot state");
    Json(db.render_profile())
}

pub(super) async fn show_inbox(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    if parse_id(&id) != Some(db.inbox_id) {
        return Err(Failure::not_found());
    }
    Ok(Json(db.inbox.clone()))
}
