//! The caller's credentials, as the request headers carry them: read without any I/O, and
//! checked later, on the blocking pool ([`crate::auth`], [`crate::state::AppState::run_as`]).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Ready, ready};
use roomwarden_domain::auth::Credentials;
use secrecy::SecretString;

/// Header carrying the platform-admin API key.
pub const API_KEY: &str = "IM-API-KEY";
/// Header carrying the application client key.
pub const CLIENT_KEY: &str = "IM-CLIENT-KEY";
/// Header carrying the user's token.
pub const TOKEN: &str = "IM-Authorization";

fn header(req: &HttpRequest, name: &str) -> Option<SecretString> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
}

/// The three credential headers, as sent.
pub fn credentials(req: &HttpRequest) -> Credentials {
    Credentials {
        api_key: header(req, API_KEY),
        client_key: header(req, CLIENT_KEY),
        token: header(req, TOKEN),
    }
}

/// The caller's credentials, API key or user token (docs/api.md §2.1), taken from the headers
/// without any I/O. [`AppState::run_as`](crate::state::AppState::run_as) checks them on the blocking pool, first, on the
/// same connection and in the same hop as the use case; so handlers parse their path,
/// query and body inside its closure, after authentication, as the contract orders checks.
pub struct Caller {
    credentials: Credentials,
}

impl Caller {
    /// The credentials as sent.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}

impl FromRequest for Caller {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Caller {
            credentials: credentials(req),
        }))
    }
}

/// A [`Caller`] on an endpoint meant for users: extracted and authenticated exactly as a
/// `Caller` is (the API key authenticates, and the use case answers it
/// `403 INSUFFICIENT_PERMISSION`), but the endpoint is documented as taking a user's token
/// ([`crate::access::Access::User`]).
pub struct User(pub Caller);

impl From<User> for Caller {
    fn from(user: User) -> Self {
        user.0
    }
}

impl FromRequest for User {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload).into_inner();
        ready(caller.map(User))
    }
}
