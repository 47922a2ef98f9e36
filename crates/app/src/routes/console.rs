//! `GET /console`: the moderator console (docs/console.md). Its files are embedded in the
//! binary, so it works offline and needs no build step; it talks to the server only through
//! the public HTTP API and `/socket`. Not an API resource, so not in the OpenAPI document.

use crate::envelope::ApiError;
use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The page itself.
const INDEX: &str = include_str!("../../console/index.html");

/// One of the console's ES modules: its name, type and text.
macro_rules! script {
    ($name:literal) => {
        (
            $name,
            "text/javascript; charset=utf-8",
            include_str!(concat!("../../console/", $name)),
        )
    };
}

/// The page's scripts and style sheet by file name (`/console/{file}`). A new file in
/// `console/` goes here too (a test checks that every file there is served).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../console/app.css"),
    ),
    script!("app.js"),
    script!("admin.js"),
    script!("api.js"),
    script!("audit.js"),
    script!("clear.js"),
    script!("confirm.js"),
    script!("live.js"),
    script!("main.js"),
    script!("messages.js"),
    script!("reports.js"),
    script!("room.js"),
    script!("rooms.js"),
    script!("store.js"),
    script!("ui.js"),
];

/// Only this server's own scripts, styles and connections (HTTP and its WebSocket); no
/// inline script, no framing, no form posting elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn serve(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // Small files: revalidate on every load, so a new binary's console is used at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /console` and `GET /console/`: the console's page.
pub async fn index() -> HttpResponse {
    serve("text/html; charset=utf-8", INDEX)
}

/// `GET /console/{file}`: one of its scripts or its style sheet; anything else is the
/// enveloped `404 NOT_FOUND` of an unknown route.
///
/// # Errors
/// `404` for a name that is not one of the console's files.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .map(|(_, content_type, body)| serve(content_type, body))
        .ok_or_else(ApiError::no_route)
}
