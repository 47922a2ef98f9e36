//! Envelopes the error responses that actix-http's HTTP/1 dispatcher writes by itself.
//!
//! A request that cannot be parsed (a malformed request line, bytes that are not allowed in
//! a path, a bad `Content-Length`), a request head that is too large or has too many headers,
//! and a client too slow to send its head never reach the application: the dispatcher
//! answers `400`, `431` or `408` with an empty body on its own, and offers no hook to change
//! that. [`EnvelopingIo`] wraps each connection's socket and rewrites exactly those
//! responses, as they are written, into the API's error envelope.
//!
//! Recognising them is unambiguous: the dispatcher writes them with its fixed reason phrase,
//! `content-length: 0` and no `content-type`, while every response of the application
//! carries `content-type` (JSON bodies never contain a raw CRLF, so a body cannot imitate a
//! head). After a `101 Switching Protocols` the connection carries WebSocket frames and is
//! passed through untouched.

use crate::envelope::{ErrorBody, Failure, JSON_UTF8};
use actix_web::web::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The dispatcher's own error responses: status line and the envelope to put in the body.
const BARE_ERRORS: [(&[u8], u16, &str, &str, &str); 3] = [
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        400,
        "Bad request",
        "INVALID_REQUEST",
        "The request is not valid HTTP/1.1 (request line, path bytes or headers)",
    ),
    (
        b"HTTP/1.1 408 Request Timeout\r\n",
        408,
        "Request timeout",
        "REQUEST_TIMEOUT",
        "The request was not received in time",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        431,
        "Request header fields too large",
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
        "The request's headers are too many or too large",
    ),
];

const SWITCHING_PROTOCOLS: &[u8] = b"HTTP/1.1 101 ";
const EMPTY_LENGTH: &[u8] = b"content-length: 0\r\n";
const HEAD_END: &[u8] = b"\r\n\r\n";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `buf` with the first bare dispatcher error response in it enveloped, or `None` when it
/// holds none.
fn envelope_bare_error(buf: &[u8]) -> Option<Vec<u8>> {
    for (status_line, status, rm, code, message) in BARE_ERRORS {
        let Some(start) = find(buf, status_line) else {
            continue;
        };
        let head_len = find(&buf[start..], HEAD_END)? + HEAD_END.len();
        let head = &buf[start..start + head_len];
        let lowered = head.to_ascii_lowercase();
        if find(&lowered, b"\r\ncontent-type:").is_some() {
            continue;
        }
        let length_at = find(&lowered, b"\r\ncontent-length: 0\r\n")? + 2;
        let body = serde_json::to_vec(&Failure {
            rc: status,
            rm,
            error: ErrorBody {
                code,
                message: message.to_owned(),
            },
        })
        .ok()?;
        let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
        out.extend_from_slice(&buf[..start + length_at]);
        out.extend_from_slice(
            format!(
                "content-length: {}\r\ncontent-type: {JSON_UTF8}\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&head[length_at + EMPTY_LENGTH.len()..]);
        out.extend_from_slice(&body);
        out.extend_from_slice(&buf[start + head_len..]);
        return Some(out);
    }
    None
}

/// A connection's socket that envelopes the dispatcher's bare error responses (see the
/// module docs); everything else passes through unchanged.
#[derive(Debug)]
pub struct EnvelopingIo<T> {
    inner: T,
    /// Rewritten bytes the socket has not taken yet; written before anything else.
    pending: BytesMut,
    /// Set after `101 Switching Protocols`: from then on, frames pass untouched.
    upgraded: bool,
}

impl<T> EnvelopingIo<T> {
    /// Wraps a connection's socket.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: BytesMut::new(),
            upgraded: false,
        }
    }

    /// The wrapped socket.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> EnvelopingIo<T> {
    /// Writes out what was rewritten earlier; ready once nothing is pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for EnvelopingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopingIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.upgraded {
            if buf.starts_with(SWITCHING_PROTOCOLS) {
                this.upgraded = true;
            } else if let Some(rewritten) = envelope_bare_error(buf) {
                this.pending.extend_from_slice(&rewritten);
                // The caller's bytes are taken; what the socket does not accept now is
                // written by the next write, flush or shutdown.
                if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::envelope_bare_error;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn a_bare_400_gets_the_envelope() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let out = text(&envelope_bare_error(bare).expect("rewritten"));
        let (head, body) = out.split_once("\r\n\r\n").expect("head");
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains("content-type: application/json; charset=utf-8"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["RC"], 400);
        assert_eq!(json["error"]["code"], "INVALID_REQUEST");
    }

    #[test]
    fn responses_of_the_application_pass_untouched() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ncontent-type: application/json; charset=utf-8\r\n\r\n";
        assert_eq!(envelope_bare_error(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(envelope_bare_error(ok), None);
    }

    #[test]
    fn a_bare_error_after_a_pipelined_response_is_found() {
        let both = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let out = text(&envelope_bare_error(both).expect("rewritten"));
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(out.ends_with("\"code\":\"REQUEST_HEADER_FIELDS_TOO_LARGE\",\"message\":\"The request's headers are too many or too large\"}}"), "{out}");
    }
}
