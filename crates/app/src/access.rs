//! Who may call an endpoint, read from its handler's signature: the one declaration that
//! the route's registration ([`crate::routes`]), its `Idempotency-Key` check
//! ([`crate::idempotency`]) and its OpenAPI security ([`crate::openapi`]) all follow, so
//! they cannot disagree.
//!
//! A handler that takes [`Platform`] is API-key-only; one that takes [`User`] is meant for
//! users (the API key authenticates, and the use case refuses it with
//! `403 INSUFFICIENT_PERMISSION`); one that takes [`Caller`] accepts either; one that takes
//! none of them takes none of the API's keys.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::{Caller, User};
use actix_web::{HttpRequest, web};
use serde_json::{Value, json};

/// Who may call an endpoint (docs/api.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No API credential (health, documents, metrics, the console, the socket, which
    /// authenticates in its first frame).
    Open,
    /// `IM-API-KEY` or a user's `IM-CLIENT-KEY` and `IM-Authorization`.
    Caller,
    /// A user's `IM-CLIENT-KEY` and `IM-Authorization`.
    User,
    /// `IM-API-KEY` only.
    ApiKey,
}

impl Access {
    /// The stricter of two requirements (a handler that takes both [`Platform`] and
    /// [`Caller`] is API-key-only).
    const fn stricter(self, other: Access) -> Access {
        if (self as u8) >= (other as u8) {
            self
        } else {
            other
        }
    }

    /// Whether requests must carry one of the API's credentials.
    pub fn keyed(self) -> bool {
        self != Access::Open
    }

    /// The OpenAPI `security` alternatives of an operation with this access, or `None` for
    /// [`Access::Open`] (which keeps whatever its own annotation says, such as the metrics
    /// token).
    pub fn security(self) -> Option<Value> {
        let api_key = json!({"api_key": []});
        let user = json!({"client_key": [], "token": []});
        match self {
            Access::Open => None,
            Access::Caller => Some(json!([api_key, user])),
            Access::User => Some(json!([user])),
            Access::ApiKey => Some(json!([api_key])),
        }
    }
}

/// What one extractor says about who may call its handler: `None` for extractors that
/// carry no credential.
pub trait Gate {
    /// The extractor's requirement, if it has one.
    const ACCESS: Option<Access> = None;
}

impl Gate for Platform {
    const ACCESS: Option<Access> = Some(Access::ApiKey);
}
impl Gate for Caller {
    const ACCESS: Option<Access> = Some(Access::Caller);
}
impl Gate for User {
    const ACCESS: Option<Access> = Some(Access::User);
}
impl Gate for HttpRequest {}
impl Gate for JsonBody {}
impl Gate for web::Payload {}
impl<T: ?Sized> Gate for web::Data<T> {}
impl<T> Gate for web::Path<T> {}
impl<T> Gate for web::Query<T> {}

/// The access of a handler, from its extractors (the tuple actix calls it with).
pub trait HandlerAccess {
    /// The strictest requirement among the extractors, or [`Access::Open`].
    const ACCESS: Access;
}

const fn combine(found: Option<Access>, next: Option<Access>) -> Option<Access> {
    match (found, next) {
        (Some(a), Some(b)) => Some(a.stricter(b)),
        (Some(a), None) | (None, Some(a)) => Some(a),
        (None, None) => None,
    }
}

const fn or_open(access: Option<Access>) -> Access {
    match access {
        Some(a) => a,
        None => Access::Open,
    }
}

macro_rules! handler_access {
    ($($arg:ident),*) => {
        impl<$($arg: Gate),*> HandlerAccess for ($($arg,)*) {
            const ACCESS: Access = or_open({
                let found: Option<Access> = None;
                $(let found = combine(found, $arg::ACCESS);)*
                found
            });
        }
    };
}

handler_access!();
handler_access!(A);
handler_access!(A, B);
handler_access!(A, B, C);
handler_access!(A, B, C, D);
handler_access!(A, B, C, D, E);
handler_access!(A, B, C, D, E, F);
handler_access!(A, B, C, D, E, F, G);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strictest_extractor_decides() {
        assert_eq!(<() as HandlerAccess>::ACCESS, Access::Open);
        assert_eq!(
            <(HttpRequest, web::Data<()>) as HandlerAccess>::ACCESS,
            Access::Open
        );
        assert_eq!(
            <(Caller, web::Path<String>) as HandlerAccess>::ACCESS,
            Access::Caller
        );
        assert_eq!(<(User, JsonBody) as HandlerAccess>::ACCESS, Access::User);
        assert_eq!(
            <(Platform, Caller, HttpRequest) as HandlerAccess>::ACCESS,
            Access::ApiKey
        );
        assert_eq!(
            <(Caller, Platform) as HandlerAccess>::ACCESS,
            Access::ApiKey
        );
    }
}
