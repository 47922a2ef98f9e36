//! Every endpoint, registered in one place.

pub mod audit;
pub mod clients;
pub mod console;
pub mod content;
pub mod deletion;
pub mod events;
pub mod messages;
pub mod ops;
pub mod reports;
pub mod rooms;

use crate::access::{Access, HandlerAccess};
use crate::envelope::ApiError;
use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
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
/// and `DELETE` routes honour `Idempotency-Key` ([`crate::idempotency`]). Who may call each
/// method is read from its handler's extractors ([`Access`]).
pub struct Endpoint {
    path: &'static str,
    resource: Resource,
    methods: Vec<(&'static str, Access)>,
    /// Served without the panic capture and key guard (the socket, whose upgrade must reach
    /// actix untouched).
    bare: bool,
}

/// A route pattern as the document and the metrics write it: a segment that matches one
/// literal (`{all:_all}`) is that literal (`_all`).
pub fn documented_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .and_then(|s| s.split_once(':'))
                .map_or(segment, |(_, literal)| literal)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Starts an [`Endpoint`] at `path`.
fn at(path: &'static str) -> Endpoint {
    Endpoint {
        path,
        resource: web::resource(path),
        methods: Vec::new(),
        bare: false,
    }
}

impl Endpoint {
    /// The path as registered (a `{name:literal}` segment matches only that literal).
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The methods it answers, each with who may call it.
    pub fn methods(&self) -> &[(&'static str, Access)] {
        &self.methods
    }

    /// Serves the endpoint without the panic capture and the key guard.
    fn bare(mut self) -> Self {
        self.bare = true;
        self
    }

    fn route<F, Args>(mut self, method: &'static str, route: Route, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.push((method, Args::ACCESS));
        self.resource = self.resource.route(route.to(handler));
        self
    }

    /// A route whose requests may carry `Idempotency-Key`.
    fn idempotent<F, Args>(mut self, method: &'static str, route: Route, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        let access = Args::ACCESS;
        self.methods.push((method, access));
        self.resource = self.resource.route(route.to(handler).wrap(from_fn(
            move |req: ServiceRequest, next: Next<BoxBody>| {
                crate::idempotency::handle(access, req, next)
            },
        )));
        self
    }

    fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args> + Clone,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        self.route("GET", web::get(), handler.clone())
            .route("HEAD", web::head(), handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("POST", web::post(), handler)
    }

    fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("PUT", web::put(), handler)
    }

    fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + HandlerAccess + 'static,
        F::Output: Responder + 'static,
    {
        self.idempotent("DELETE", web::delete(), handler)
    }

    /// The resource, answering `405` with `Allow` for other methods.
    fn into_resource(self) -> Resource {
        let allow = self
            .methods
            .iter()
            .map(|(method, _)| *method)
            .collect::<Vec<_>>()
            .join(", ");
        self.resource.default_service(web::to(move || {
            let mut res = ApiError::method_not_allowed().error_response();
            if let Ok(value) = allow.parse() {
                res.headers_mut().insert(ALLOW, value);
            }
            async move { res }
        }))
    }

    /// Registers the endpoint: with panic capture (on the resource, not the app, because it
    /// must hold a copy of the request, which only works once routing is done), and with
    /// the key guard ([`crate::key_guard`]) where its handlers take the API's keys.
    fn register(self, cfg: &mut web::ServiceConfig) {
        if self.bare {
            cfg.service(self.into_resource());
            return;
        }
        let keyed = self.methods.iter().any(|(_, access)| access.keyed());
        cfg.service(
            self.into_resource()
                .wrap(actix_web::middleware::Condition::new(
                    keyed,
                    actix_web::middleware::from_fn(crate::middleware::key_guard),
                ))
                .wrap(actix_web::middleware::from_fn(
                    crate::middleware::catch_panic,
                )),
        );
    }
}

/// Declares the endpoints once: [`endpoints`] registers them, and [`Documented`] gives the
/// OpenAPI paths of the same handlers. Handlers after `also` are served at that path too but
/// documented at their own (an alias, or a message ID that is also a route's last segment:
/// `openapi::envelope` writes those paths).
macro_rules! documented_endpoints {
    ($(
        $path:literal $([$flag:ident])? { $($method:ident $handler:path),* $(,)? }
        $(also { $($also_method:ident $also_handler:path),+ $(,)? })?
    )*) => {
        /// Every endpoint of the API's document, in the order actix tries them.
        pub fn endpoints() -> Vec<Endpoint> {
            vec![$(
                at($path)$(.$flag())?$(.$method($handler))*$($(.$also_method($also_handler))+)?
            ),*]
        }

        /// The OpenAPI paths of the handlers of [`endpoints`], from their annotations.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($handler,)*)*))]
        pub struct Documented;
    };
}

documented_endpoints! {
    "/health" { get ops::health }
    "/ready" { get ops::ready }
    "/socket" [bare] { get crate::realtime::socket::socket }
    "/openapi.json" { get ops::openapi_document }
    "/metrics" { get ops::metrics }
    "/admin/clients" { post clients::save_client }
    "/admin/clients/{clientID}/token" { delete clients::revoke_tokens }
    "/admin/clients/{clientID}/messages" { delete deletion::purge_client }
    "/admin/messages" { delete content::clear_by_content }
    "/admin/deletions" { get audit::all_deletions }
    "/admin/deletions/export" { get audit::export_deletions }
    "/admin/changes" { get audit::all_changes }
    "/admin/events" { get events::list_events }
    "/admin/events/{eventID}/redeliver" { post events::redeliver_event }
    "/admin/reports" { get reports::all_reports }
    "/me" { get clients::me }
    "/rooms" { get rooms::list_rooms, post rooms::create_room }
    "/rooms/" {} also { get rooms::list_rooms, post rooms::create_room }
    "/messages" { post messages::send_as }
    "/rooms/{roomID}" { get rooms::get_room, put rooms::update_room }
    "/rooms/{roomID}/members" { post rooms::add_members }
    "/rooms/{roomID}/delete/members" { post rooms::remove_members }
    "/rooms/{roomID}/message" { post messages::send_message }
    "/rooms/{roomID}/deletions" { get audit::room_deletions }
    "/rooms/{roomID}/deletions/verify" { get audit::verify_deletions }
    "/rooms/{roomID}/changes" { get audit::room_changes }
    "/rooms/{roomID}/reports" { get reports::room_reports }
    "/rooms/{roomID}/messages/{messageID}/reports" { post reports::report_message }
    "/rooms/{roomID}/messages/{messageID}/reports/dismiss" { post reports::dismiss_reports }
    // `_all`, `v3` and `delete` are resources of their own (so that each answers, and
    // lists in `Allow`, exactly its methods), registered before any message ID; `v3` and
    // `delete` are also message IDs, which DELETE still reaches.
    "/rooms/{roomID}/messages/{all:_all}" { delete deletion::clear_messages }
    "/rooms/{roomID}/messages/{version:v3}" { get messages::list_messages }
        also { delete deletion::delete_messages }
    "/rooms/{roomID}/messages/{action:delete}" { post deletion::bulk_delete_at }
        also { delete deletion::delete_messages }
    "/rooms/{roomID}/messages/{messageID}" { delete deletion::delete_messages }
}

/// The console's page and files: served, not part of the API's document.
fn console_endpoints() -> Vec<Endpoint> {
    vec![
        at("/console").get(console::index),
        at("/console/").get(console::index),
        at("/console/{file}").get(console::asset),
    ]
}

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for endpoint in console_endpoints().into_iter().chain(endpoints()) {
        endpoint.register(cfg);
    }
}
