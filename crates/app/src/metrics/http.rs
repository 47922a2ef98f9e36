//! Counting HTTP requests: a middleware around the whole application.

use super::Metrics;
use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use std::sync::Arc;
use std::time::Instant;

/// The `route` label of requests that match no route (answered `404 NOT_FOUND`).
pub const UNMATCHED: &str = "unmatched";

/// The `method` label: the standard methods by name, anything else as `other`, so that
/// clients cannot make new series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts the request under its method, the pattern of the route it matched (e.g.
/// `/rooms/{roomID}/messages/{messageID}`, never the raw path, so the number of series
/// stays bounded) and its final status, and observes its latency: from here to the
/// response head being ready (a body still streaming is not included).
///
/// # Errors
/// None of its own; the inner service's errors pass through (and are counted with their
/// status).
pub async fn record(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    // Read once routing is done: actix then finds the pattern from the matched resource's
    // ID, where before routing it would try each route's pattern against the path again
    // (a tenth of a cached page's CPU). No layer of this server answers `Err`, which would
    // take the request with it; should one, its request counts as `unmatched`.
    let (route, status) = match &result {
        Ok(res) => (res.request().match_pattern(), res.status()),
        Err(e) => (None, e.as_response_error().status_code()),
    };
    let route = route.map_or_else(
        || UNMATCHED.to_owned(),
        |p| crate::routes::documented_path(&p),
    );
    metrics.request(method, route, status.as_u16(), started.elapsed());
    result.map(ServiceResponse::map_into_boxed_body)
}
