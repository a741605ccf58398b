//! The inbox the service mirrors into, as Chatwoot describes it (`GET inboxes/{id}`): its working
//! hours, time zone and out-of-office message are read from it (see [`crate::hours::source`]).
//!
//! Invariant: the answer is returned as JSON untouched; interpreting it is [`crate::hours`]'s job.

use reqwest::Method;
use serde_json::Value;

use super::ChatwootClient;
use crate::outbound::OutboundError;

impl ChatwootClient {
    /// The configured inbox (`GET /api/v1/accounts/{a}/inboxes/{id}`), as Chatwoot returns it.
    pub async fn get_inbox(&self) -> Result<Value, OutboundError> {
        let path = format!("inboxes/{}", self.inbox_id());
        self.call(Method::GET, &path, &[], None).await
    }
}
