//! The OpenAPI 3 document, generated from the handlers' annotations and the DTOs.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{audit, clients, deletion, events, messages, ops, rooms};

pub mod constraints;
pub mod envelope;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in [
            ("api_key", "IM-API-KEY"),
            ("client_key", "IM-CLIENT-KEY"),
            ("token", "IM-Authorization"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))),
            );
        }
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "ROOMWARDEN_METRICS_TOKEN, when the server sets it (then required by /metrics)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Roomwarden", description = "Chat server core with admin message deletion. Every response is an RC/RM envelope."),
    paths(
        ops::health, ops::ready, serve, ops::metrics,
        clients::save_client, clients::revoke_tokens, clients::me,
        rooms::list_rooms, rooms::create_room, rooms::get_room, rooms::update_room, rooms::add_members, rooms::remove_members,
        messages::send_message, messages::send_as, messages::list_messages,
        deletion::delete_messages, deletion::clear_messages, deletion::bulk_delete_at, deletion::purge_client,
        audit::room_deletions, audit::all_deletions, audit::verify_deletions, audit::export_deletions, audit::room_changes, audit::all_changes,
        events::list_events, events::redeliver_event,
        crate::realtime::socket::socket,
    ),
    components(schemas(crate::envelope::Failure, crate::envelope::ErrorBody, crate::dto::FilterDto)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// The document served at `/openapi.json` and printed by `roomwarden openapi`: utoipa's
/// output with [`envelope::apply`] applied.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "OpenAPI document failed to serialize");
        serde_json::Value::Null
    });
    envelope::apply(&mut doc);
    constraints::apply(&mut doc);
    // The export is a byte stream of JSON Lines, read line by line, not one JSON value.
    if let Some(schema) = doc.pointer_mut(
        "/paths/~1admin~1deletions~1export/get/responses/200/content/application~1x-ndjson/schema",
    ) {
        *schema = serde_json::json!({"type": "string", "format": "binary"});
    }
    doc
}

/// The document as pretty JSON.
pub fn document_json() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|_| "{}".to_owned())
}

/// The served document, built once.
static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The OpenAPI 3 document of this API, generated from the code (served as is, not enveloped).
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "Operations", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn serve() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(crate::envelope::JSON_UTF8)
        .body(DOCUMENT.get_or_init(document_json).as_str())
}
