//! Request bodies: read with a size limit, then parsed after authentication.

use crate::envelope::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, PayloadConfig};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a client may take to send its whole body (after the headers) before the
/// request is answered `408` and the connection closed.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The raw request body (at most 1 MiB, else `413`) and whether it was declared as JSON.
/// Parsing waits for [`JsonBody::parse`] so that handlers authenticate first.
pub struct JsonBody {
    bytes: Bytes,
    content_type: Option<String>,
}

impl JsonBody {
    /// Whether the request had no body at all (only whitespace, or nothing).
    pub fn is_empty(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// Whether the body is absent or the JSON `null`, which an optional body treats alike.
    fn is_absent(&self) -> bool {
        self.is_empty() || self.bytes.trim_ascii() == b"null"
    }

    /// Parses the body as the JSON object `T`: `415` for a declared non-JSON type,
    /// `400 INVALID_BODY` naming the field for malformed JSON, a missing field, a wrong
    /// type, a value that is not an object, or anything after the object.
    ///
    /// # Errors
    /// As above.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.check_content_type()?;
        if self.is_absent() {
            return Err(ApiError::invalid_body("a JSON body is required"));
        }
        self.parse_object()
    }

    /// Like [`JsonBody::parse`] for a body that may be left out: no body, or `null`, is `None`.
    ///
    /// # Errors
    /// As for [`JsonBody::parse`].
    pub fn parse_optional<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        if self.is_absent() {
            return Ok(None);
        }
        self.check_content_type()?;
        self.parse_object().map(Some)
    }

    fn check_content_type(&self) -> Result<(), ApiError> {
        if let Some(ct) = &self.content_type {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::unsupported_media_type());
            }
        }
        Ok(())
    }

    fn parse_object<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        // serde's derived structs also accept arrays (fields by position): refuse them here.
        if self.bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::invalid_body("the body must be a JSON object"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.bytes);
        let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::invalid_body(format!("body is not valid JSON: {inner}"))
            } else if path == "." {
                // A missing field is reported at the object itself.
                ApiError::invalid_body(without_position(&inner))
            } else {
                ApiError::invalid_body(format!("{path}: {}", without_position(&inner)))
            }
        })?;
        de.end().map_err(|e| {
            ApiError::invalid_body(format!(
                "body is not valid JSON: data after the object ({e})"
            ))
        })?;
        Ok(value)
    }
}

/// serde_json's message without its " at line L column C" suffix: the field is named
/// already, and positions mean nothing to most clients.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Reads a whole request body as [`JsonBody`] does: with the limit of [`body_config`] (a
/// declared length over it is refused before anything is read) and within
/// [`BODY_READ_TIMEOUT`].
///
/// # Errors
/// `413 PAYLOAD_TOO_LARGE`, `408 REQUEST_TIMEOUT`, or `400 INVALID_BODY` when the body
/// cannot be read.
pub fn read(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Bytes, ApiError>> + 'static {
    // actix's own body reader, with the limit of `body_config`.
    let read = Bytes::from_request(req, payload);
    async move {
        tokio::time::timeout(BODY_READ_TIMEOUT, read)
            .await
            .map_err(|_| ApiError::request_timeout())?
            .map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large()
                } else {
                    ApiError::invalid_body("the request body could not be read")
                }
            })
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let read = read(req, payload);
        Box::pin(async move {
            Ok(Self {
                bytes: read.await?,
                content_type,
            })
        })
    }
}

/// The body limit for [`JsonBody`], to register as app data.
pub fn body_config() -> PayloadConfig {
    PayloadConfig::new(MAX_BODY_BYTES)
}
