//! Request bodies: read with a size limit, then parsed after authentication.

use crate::envelope::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The raw request body (at most 1 MiB, else `413`) and whether it was declared as JSON.
/// Parsing waits for [`JsonBody::parse`] so that handlers authenticate first.
pub struct JsonBody {
    bytes: Bytes,
    content_type: Option<String>,
}

impl JsonBody {
    /// Whether the request had no body at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }

    /// Parses the body as `T`: `415` for a declared non-JSON type, `400 INVALID_BODY`
    /// naming the field for malformed JSON, a missing field or a wrong type.
    ///
    /// # Errors
    /// As above.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
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
        if self.is_empty() {
            return Err(ApiError::invalid_body("a JSON body is required"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || inner.is_syntax() || inner.is_eof() {
                ApiError::invalid_body(format!("body is not valid JSON: {inner}"))
            } else {
                ApiError::invalid_body(format!("{path}: {inner}"))
            }
        })
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
                return Err(ApiError::payload_too_large());
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|_| ApiError::invalid_body("the request body could not be read"))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::payload_too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Self {
                bytes: body.freeze(),
                content_type,
            })
        })
    }
}
