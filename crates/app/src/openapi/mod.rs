//! The OpenAPI 3 document, generated from the handlers' annotations and the DTOs.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes;

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

/// The API's OpenAPI description, beside the paths ([`crate::routes::Documented`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "Roomwarden", description = "Chat server core with admin message deletion. Every response is an RC/RM envelope."),
    components(schemas(crate::envelope::Failure, crate::envelope::ErrorBody, crate::dto::FilterDto)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Gives each operation the security its handler's extractors require ([`Access`](crate::access::Access));
/// operations open to anyone keep their annotation's (the metrics token).
fn apply_access(doc: &mut serde_json::Value) {
    for endpoint in routes::endpoints() {
        let path = routes::documented_path(endpoint.path());
        for (method, access) in endpoint.methods() {
            let (Some(security), Some(op)) = (
                access.security(),
                doc["paths"]
                    .get_mut(&path)
                    .and_then(|item| item.get_mut(method.to_lowercase())),
            ) else {
                continue;
            };
            op["security"] = security;
        }
    }
}

/// The document served at `/openapi.json` (`routes::ops::openapi_document`) and printed by
/// `roomwarden openapi`: utoipa's
/// output with each operation's access (`apply_access`), [`envelope::apply`] and
/// [`constraints::apply`] applied.
pub fn document() -> serde_json::Value {
    let mut api = ApiDoc::openapi();
    api.merge(routes::Documented::openapi());
    let mut doc = serde_json::to_value(api).unwrap_or_else(|e| {
        tracing::error!(error = %e, "OpenAPI document failed to serialize");
        serde_json::Value::Null
    });
    apply_access(&mut doc);
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

#[cfg(test)]
mod tests {
    use super::{ApiDoc, document};
    use crate::access::Access;
    use crate::routes;
    use crate::routes::documented_path;
    use utoipa::OpenApi;

    #[test]
    fn literal_segments_are_written_as_the_literal() {
        assert_eq!(
            documented_path("/rooms/{roomID}/messages/{all:_all}"),
            "/rooms/{roomID}/messages/_all"
        );
        assert_eq!(documented_path("/rooms/{roomID}"), "/rooms/{roomID}");
    }

    /// Every registered method is documented, with the security its handler requires, and
    /// every documented operation is registered: the two come from one declaration.
    #[test]
    fn the_document_and_the_routes_agree() {
        let doc = document();
        let mut registered = Vec::new();
        for endpoint in routes::endpoints() {
            let path = documented_path(endpoint.path());
            for (method, access) in endpoint.methods() {
                if *method == "HEAD" {
                    continue;
                }
                let method = method.to_lowercase();
                let op = doc["paths"][&path][&method].clone();
                assert!(
                    op.is_object(),
                    "{method} {path} is registered, not documented"
                );
                match access.security() {
                    Some(security) => assert_eq!(op["security"], security, "{method} {path}"),
                    None => assert!(
                        op["security"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .all(|s| s.get("api_key").is_none() && s.get("token").is_none()),
                        "{method} {path} takes no API credential"
                    ),
                }
                if *access == Access::ApiKey {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
                registered.push((path.clone(), method));
            }
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                assert!(
                    registered.contains(&(path.clone(), method.clone())),
                    "{method} {path} is documented, not registered"
                );
            }
        }
    }

    /// Security comes from the handlers' extractors only: an annotation that declared the
    /// API's credentials itself could disagree with them.
    #[test]
    fn annotations_declare_no_api_credential() {
        let mut api = ApiDoc::openapi();
        api.merge(routes::Documented::openapi());
        let raw = serde_json::to_value(api).expect("serializes");
        for (path, item) in raw["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                for scheme in op["security"].as_array().into_iter().flatten() {
                    for name in ["api_key", "client_key", "token"] {
                        assert!(
                            scheme.get(name).is_none(),
                            "{method} {path} declares {name} in its annotation"
                        );
                    }
                }
            }
        }
    }
}
