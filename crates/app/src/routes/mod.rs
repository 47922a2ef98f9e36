//! Every endpoint, registered in one place.

pub mod audit;
pub mod clients;
pub mod deletion;
pub mod messages;
pub mod ops;
pub mod rooms;

use crate::envelope::ApiError;
use actix_web::dev::HttpServiceFactory;
use actix_web::{HttpResponse, Resource, web};

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed())
}

/// Unknown routes: `404 NOT_FOUND`.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}

/// A resource that answers `405 METHOD_NOT_ALLOWED` (enveloped) for methods it lacks.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Adds panic capture to a resource. It sits on the resource, not the app, because it
/// must hold a copy of the request, which only works once routing is done.
fn guarded(resource: Resource) -> impl HttpServiceFactory {
    resource.wrap(actix_web::middleware::from_fn(
        crate::middleware::catch_panic,
    ))
}

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(guarded(resource("/health").get(ops::health)))
        .service(guarded(resource("/ready").get(ops::ready)))
        .service(resource("/socket").get(crate::realtime::socket::socket))
        .service(guarded(resource("/openapi.json").get(ops::openapi)))
        .service(guarded(
            resource("/admin/clients").post(clients::save_client),
        ))
        .service(guarded(
            resource("/admin/clients/{clientID}/token").delete(clients::revoke_tokens),
        ))
        .service(guarded(
            resource("/admin/deletions").get(audit::all_deletions),
        ))
        .service(guarded(resource("/me").get(clients::me)))
        .service(guarded(resource("/rooms").post(rooms::create_room)))
        .service(guarded(resource("/rooms/").post(rooms::create_room)))
        .service(guarded(resource("/messages").post(messages::send_as)))
        .service(guarded(
            resource("/rooms/{roomID}")
                .get(rooms::get_room)
                .put(rooms::update_room),
        ))
        .service(guarded(
            resource("/rooms/{roomID}/members").post(rooms::add_members),
        ))
        .service(guarded(
            resource("/rooms/{roomID}/delete/members").post(rooms::remove_members),
        ))
        .service(guarded(
            resource("/rooms/{roomID}/message").post(messages::send_message),
        ))
        .service(guarded(
            resource("/rooms/{roomID}/deletions").get(audit::room_deletions),
        ))
        // One resource for both: `v3` is also a valid message ID that DELETE must reach.
        .service(guarded(
            resource("/rooms/{roomID}/messages/{messageID}")
                .get(messages::list_messages)
                .delete(deletion::delete_messages),
        ));
}
