//! Every endpoint, registered in one place.

pub mod audit;
pub mod clients;
pub mod console;
pub mod deletion;
pub mod events;
pub mod messages;
pub mod ops;
pub mod rooms;

use crate::envelope::ApiError;
use crate::idempotency::Callers;
use actix_web::body::BoxBody;
use actix_web::dev::{HttpServiceFactory, ServiceRequest};
use actix_web::http::header::ALLOW;
use actix_web::middleware::{Next, from_fn};
use actix_web::{
    FromRequest, Handler, HttpResponse, Resource, Responder, ResponseError, Route, web,
};

/// Unknown routes: `404 NOT_FOUND`.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

/// One path and the methods it answers. `GET` also answers `HEAD` (the same response
/// without its body); any other method gets an enveloped `405` with `Allow`. `POST`, `PUT`
/// and `DELETE` routes honour `Idempotency-Key` ([`crate::idempotency`]).
struct Endpoint {
    resource: Resource,
    allow: Vec<&'static str>,
    callers: Callers,
    /// Whether its handlers check the API's keys (then [`crate::key_guard`] watches it).
    keyed: bool,
}

/// Starts an [`Endpoint`] at `path`.
fn at(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        allow: Vec::new(),
        callers: Callers::Any,
        keyed: true,
    }
}

impl Endpoint {
    /// Marks the endpoint's handlers as accepting only the API key (their `Platform`
    /// extractor), so that idempotency checks authenticate the same way.
    fn api_key_only(mut self) -> Self {
        self.callers = Callers::ApiKeyOnly;
        self
    }

    /// Marks an endpoint that takes none of the API's keys (health, documents, metrics,
    /// the console, the socket, which authenticates in its first frame).
    fn unkeyed(mut self) -> Self {
        self.keyed = false;
        self
    }

    fn route<F, Args>(mut self, method: &'static str, route: Route, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(method);
        self.resource = self.resource.route(route.to(handler));
        self
    }

    /// A route whose requests may carry `Idempotency-Key`.
    fn idempotent<F, Args>(mut self, method: &'static str, route: Route, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let callers = self.callers;
        self.allow.push(method);
        self.resource = self.resource.route(route.to(handler).wrap(from_fn(
            move |req: ServiceRequest, next: Next<BoxBody>| {
                crate::idempotency::handle(callers, req, next)
            },
        )));
        self
    }

    fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route("GET", web::get(), handler.clone())
            .route("HEAD", web::head(), handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("POST", web::post(), handler)
    }

    fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("PUT", web::put(), handler)
    }

    fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("DELETE", web::delete(), handler)
    }

    /// The resource, answering `405` with `Allow` for other methods.
    fn into_resource(self) -> Resource {
        let allow = self.allow.join(", ");
        self.resource.default_service(web::to(move || {
            let mut res = ApiError::method_not_allowed().error_response();
            if let Ok(value) = allow.parse() {
                res.headers_mut().insert(ALLOW, value);
            }
            async move { res }
        }))
    }

    /// The resource with panic capture. It sits on the resource, not the app, because it
    /// must hold a copy of the request, which only works once routing is done.
    fn guarded(self) -> impl HttpServiceFactory {
        let keyed = self.keyed;
        self.into_resource()
            .wrap(actix_web::middleware::Condition::new(
                keyed,
                actix_web::middleware::from_fn(crate::middleware::key_guard),
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::middleware::catch_panic,
            ))
    }
}

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(at("/health").unkeyed().get(ops::health).guarded())
        .service(at("/ready").unkeyed().get(ops::ready).guarded())
        .service(
            at("/socket")
                .get(crate::realtime::socket::socket)
                .into_resource(),
        )
        .service(
            at("/openapi.json")
                .unkeyed()
                .get(crate::openapi::serve)
                .guarded(),
        )
        .service(at("/console").unkeyed().get(console::index).guarded())
        .service(at("/console/").unkeyed().get(console::index).guarded())
        .service(
            at("/console/{file}")
                .unkeyed()
                .get(console::asset)
                .guarded(),
        )
        .service(at("/metrics").unkeyed().get(ops::metrics).guarded())
        .service(
            at("/admin/clients")
                .api_key_only()
                .post(clients::save_client)
                .guarded(),
        )
        .service(
            at("/admin/clients/{clientID}/token")
                .api_key_only()
                .delete(clients::revoke_tokens)
                .guarded(),
        )
        .service(
            at("/admin/clients/{clientID}/messages")
                .api_key_only()
                .delete(deletion::purge_client)
                .guarded(),
        )
        .service(at("/admin/deletions").get(audit::all_deletions).guarded())
        .service(
            at("/admin/deletions/export")
                .get(audit::export_deletions)
                .guarded(),
        )
        .service(at("/admin/changes").get(audit::all_changes).guarded())
        .service(at("/admin/events").get(events::list_events).guarded())
        .service(
            at("/admin/events/{eventID}/redeliver")
                .api_key_only()
                .post(events::redeliver_event)
                .guarded(),
        )
        .service(at("/me").get(clients::me).guarded())
        .service(
            at("/rooms")
                .api_key_only()
                .get(rooms::list_rooms)
                .post(rooms::create_room)
                .guarded(),
        )
        .service(
            at("/rooms/")
                .api_key_only()
                .get(rooms::list_rooms)
                .post(rooms::create_room)
                .guarded(),
        )
        .service(
            at("/messages")
                .api_key_only()
                .post(messages::send_as)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}")
                .get(rooms::get_room)
                .put(rooms::update_room)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/members")
                .post(rooms::add_members)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/delete/members")
                .post(rooms::remove_members)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/message")
                .post(messages::send_message)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/deletions")
                .get(audit::room_deletions)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/deletions/verify")
                .get(audit::verify_deletions)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/changes")
                .get(audit::room_changes)
                .guarded(),
        )
        // `_all`, `v3` and `delete` are resources of their own (so that each answers, and
        // lists in `Allow`, exactly its methods), registered before any message ID; `v3` and
        // `delete` are also message IDs, which DELETE still reaches.
        .service(
            at("/rooms/{roomID}/messages/{all:_all}")
                .delete(deletion::clear_messages)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/messages/{version:v3}")
                .get(messages::list_messages)
                .delete(deletion::delete_messages)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/messages/{action:delete}")
                .post(deletion::bulk_delete_at)
                .delete(deletion::delete_messages)
                .guarded(),
        )
        .service(
            at("/rooms/{roomID}/messages/{messageID}")
                .delete(deletion::delete_messages)
                .guarded(),
        );
}
