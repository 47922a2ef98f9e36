//! What the middleware keeps of an answer: a message's content it embeds ([`Embeds`]),
//! whether it carries a secret ([`CarriesSecret`]), and how a stored answer is replayed.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use roomwarden_domain::idempotency::{EmbeddedMessage, StoredResponse};
use roomwarden_domain::ids::{MessageId, RoomId};
use roomwarden_domain::model::Message;

/// The header of a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Where an answer embeds a message's content: the message, and the JSON pointer of the
/// message object in the body (its `message` member is the content). Handlers put it in the
/// response's extensions; the stored answer then keeps a copy with that content `null`,
/// which replaces it once the message is deleted.
#[derive(Debug, Clone)]
pub struct Embeds {
    room: RoomId,
    message: MessageId,
    at: &'static str,
}

impl Embeds {
    /// `message`, whose object is at the JSON pointer `at` of the answer.
    pub fn message(message: &Message, at: &'static str) -> Self {
        Self {
            room: message.room.clone(),
            message: message.id.clone(),
            at,
        }
    }

    /// Marks `res` as embedding the message, if there is one.
    pub fn mark(embeds: Option<Self>, mut res: HttpResponse) -> HttpResponse {
        if let Some(embeds) = embeds {
            res.extensions_mut().insert(embeds);
        }
        res
    }

    /// The stored form: `body` with the message's content set to `null`; `None` when the
    /// body has no message object at the pointer (nothing is stored then).
    pub(super) fn redact(self, body: &[u8]) -> Option<EmbeddedMessage> {
        let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
        let object = json.pointer_mut(self.at)?.as_object_mut()?;
        object.insert("message".to_owned(), serde_json::Value::Null);
        Some(EmbeddedMessage {
            room: self.room,
            message: self.message,
            redacted_body: serde_json::to_vec(&json).ok()?,
        })
    }
}

/// Marks an answer that carries a secret (an issued or assigned token), or the content of
/// several messages (a dry run's `sample`, which a later deletion could not redact as it
/// redacts an [`Embeds`] answer): it is never stored, since tokens are kept only as hashes
/// and deleted content nowhere. The key is released instead, so a retry runs again (issuing
/// a fresh token supersedes the one whose answer was lost; a dry run changes nothing).
#[derive(Debug, Clone, Copy)]
pub struct CarriesSecret;

impl CarriesSecret {
    /// Marks `res`.
    pub fn mark(mut res: HttpResponse) -> HttpResponse {
        res.extensions_mut().insert(Self);
        res
    }
}

/// A stored answer, replayed.
pub(super) fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
        res.insert_header((CONTENT_TYPE, content_type));
    }
    res.insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")))
        .body(stored.body)
}
