//! Makes the generated document say what the server really answers: every response in its
//! RC/RM envelope, every status each operation can return, and the parameters' rules.
//!
//! The handlers' annotations describe the success result, the request and the statuses
//! specific to the operation; who may call it comes from its extractors
//! ([`crate::access`]); what is the same for many operations (the envelope, the errors of authentication, the body reader, the
//! protocol layer and storage) is applied here in one place, so it cannot drift per handler.

use serde_json::{Value, json};

/// Operations that cannot answer 503 (no storage, or the socket, which authenticates after
/// the upgrade) and operations whose success is not enveloped.
const NO_STORAGE: &[&str] = &["health", "openapi", "socket"];
const RAW: &[&str] = &["openapi", "socket", "metrics", "export_deletions"];

/// Operations with a credential of their own instead of the API's headers: their `401` is
/// in their annotation, and gets the `WWW-Authenticate` challenge they send here.
const OWN_CREDENTIAL: &[(&str, &str)] = &[("metrics", crate::metrics::METRICS_CHALLENGE)];

/// Rule of client, room and message IDs (docs/api.md §1.4): 1 to 128 characters, no whitespace,
/// no control characters, no `/`.
pub fn id_schema() -> Value {
    super::constraints::id()
}

const ID_PARAMETERS: &[&str] = &[
    "roomID",
    "messageID",
    "clientID",
    "eventID",
    "before",
    "beforeMessage",
];

fn failure(description: String) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Failure"}}}
    })
}

/// Adds `status` with `codes` to `responses`, or appends the codes to an existing entry.
fn add(responses: &mut serde_json::Map<String, Value>, status: u16, codes: &str) {
    let key = status.to_string();
    match responses.get_mut(&key) {
        Some(existing) => {
            if let Some(Value::String(d)) = existing.get_mut("description")
                && !d.contains(codes)
            {
                d.push_str("; ");
                d.push_str(codes);
            }
        }
        None => {
            responses.insert(key, failure(codes.to_owned()));
        }
    }
}

/// Wraps a success body schema in `{RC: 0, RM, result}`.
fn envelope(result: Value) -> Value {
    json!({
        "type": "object",
        "required": ["RC", "RM", "result"],
        "properties": {
            "RC": {"type": "integer", "const": 0},
            "RM": {"type": "string"},
            "result": result
        }
    })
}

/// The `Idempotency-Key` parameter of every `POST`, `PUT` and `DELETE` (docs/api.md §11).
fn idempotency_key_parameter() -> Value {
    json!({
        "name": crate::idempotency::KEY_HEADER,
        "in": "header",
        "required": false,
        "description": "1 to 255 visible ASCII characters (0x21 to 0x7E): a fresh random value (a UUID) for each new request. A retry of the same request (method, path, query and body) by the same caller within 24 hours gets the first answer again (any status but 5xx), with `Idempotent-Replayed: true`, and changes nothing; the same key with another request answers 422 IDEMPOTENCY_KEY_REUSED, and a new key beyond a user's 1,000 unexpired ones 429 (ext).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
    })
}

/// The header of an answer replayed under an idempotency key.
fn replayed_header() -> Value {
    json!({
        "description": "`true` when this is the stored answer of an earlier request with the same Idempotency-Key (ext)",
        "schema": {"type": "string", "enum": ["true"]}
    })
}

/// Whether operations of `method` honour `Idempotency-Key`.
fn is_write(method: &str) -> bool {
    matches!(method, "post" | "put" | "delete")
}

fn apply_to_operation(id: &str, write: bool, op: &mut Value) {
    let own_credential = OWN_CREDENTIAL.iter().find(|(op_id, _)| *op_id == id);
    let authenticated = op.get("security").is_some() && own_credential.is_none();
    let has_body = op.get("requestBody").is_some();
    if write {
        match op.get_mut("parameters").and_then(Value::as_array_mut) {
            Some(params) => params.push(idempotency_key_parameter()),
            None => op["parameters"] = json!([idempotency_key_parameter()]),
        }
    }
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params {
            let name = param["name"].as_str().unwrap_or_default().to_owned();
            let location = param["in"].as_str().unwrap_or_default().to_owned();
            let repeatable = param["schema"]["type"] == "array";
            if repeatable && (name == "sender" || name == "roomID") {
                param["schema"]["items"] = id_schema();
            } else if ID_PARAMETERS.contains(&name.as_str())
                || (name == "roomID" && location == "query")
            {
                param["schema"] = id_schema();
            } else if name == "limit" {
                param["schema"] = json!({"type": "integer", "minimum": 1, "maximum": 100});
            }
        }
    }
    // Users (token callers) are the ones whose keys are capped.
    let users_too = op["security"]
        .as_array()
        .is_some_and(|schemes| schemes.iter().any(|s| s.get("token").is_some()));
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if !RAW.contains(&id) {
        for (status, response) in responses.iter_mut() {
            if status.starts_with('2')
                && let Some(schema) = response.pointer_mut("/content/application~1json/schema")
            {
                *schema = envelope(schema.take());
            }
        }
    }
    if id == "openapi" {
        return;
    }
    add(
        responses,
        400,
        "INVALID_REQUEST (not valid HTTP/1.1), INVALID_PARAMETER (a path, query or header value breaks its rule)",
    );
    if has_body {
        add(responses, 400, "INVALID_BODY");
        add(responses, 413, "PAYLOAD_TOO_LARGE");
        add(responses, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    if authenticated {
        add(
            responses,
            401,
            "INVALID_API_KEY, INVALID_CLIENT_KEY or INVALID_TOKEN",
        );
    }
    if authenticated {
        add(
            responses,
            429,
            "TOO_MANY_REQUESTS (this address failed the API key or client key check too often; refused until Retry-After)",
        );
    }
    if write && users_too {
        add(
            responses,
            429,
            "TOO_MANY_REQUESTS (a user holding 1,000 unexpired Idempotency-Keys sent a new one)",
        );
    }
    if let Some(response) = responses.get_mut("429").and_then(Value::as_object_mut) {
        response.insert(
            "headers".to_owned(),
            json!({"Retry-After": {
                "description": "Seconds until the limit frees",
                "schema": {"type": "integer", "minimum": 1}
            }}),
        );
    }
    if let Some((_, challenge)) = own_credential
        && let Some(response) = responses.get_mut("401").and_then(Value::as_object_mut)
    {
        response.insert(
            "headers".to_owned(),
            json!({"WWW-Authenticate": {
                "description": "The authentication scheme to use",
                "schema": {"type": "string", "enum": [challenge]}
            }}),
        );
    }
    if write {
        add(
            responses,
            409,
            "IDEMPOTENCY_KEY_IN_USE (the first request with this Idempotency-Key is still running)",
        );
        add(
            responses,
            422,
            "IDEMPOTENCY_KEY_REUSED (this Idempotency-Key was used with a different request)",
        );
    }
    add(responses, 408, "REQUEST_TIMEOUT");
    add(responses, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
    add(responses, 500, "INTERNAL_ERROR");
    if !NO_STORAGE.contains(&id) {
        add(responses, 503, "SERVICE_UNAVAILABLE");
        if write {
            add(
                responses,
                503,
                "COMMIT_UNCERTAIN (the database connection was lost while the change committed; retry it)",
            );
        }
        if let Some(response) = responses.get_mut("503").and_then(Value::as_object_mut) {
            response.insert(
                "headers".to_owned(),
                json!({"Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1}
                }}),
            );
        }
    }
    if write {
        // Any answer but a 5xx can be a replay.
        for (status, response) in responses.iter_mut() {
            if !status.starts_with('5')
                && let Some(response) = response.as_object_mut()
            {
                let headers = response.entry("headers").or_insert_with(|| json!({}));
                headers[crate::idempotency::REPLAYED_HEADER] = replayed_header();
            }
        }
    }
}

/// Paths served by the same handler as another documented path (`POST /rooms/` is in the
/// contract beside `POST /rooms`): `(alias, documented path)`.
const ALIASES: &[(&str, &str)] = &[("/rooms/", "/rooms")];

/// Message IDs that are also the last segment of another route (`GET …/messages/v3`,
/// `POST …/messages/delete`): `DELETE` on that path deletes the message with that ID. The
/// document says so on the path itself, where tools look first.
const NAMED_MESSAGES: &[&str] = &["v3", "delete"];

/// The message route's `DELETE` on `…/messages/{name}`, with `messageID` fixed to `name`.
fn delete_named_message(paths: &mut serde_json::Map<String, Value>, name: &str) {
    let Some(mut op) = paths
        .get("/rooms/{roomID}/messages/{messageID}")
        .and_then(|item| item.get("delete"))
        .cloned()
    else {
        return;
    };
    op["operationId"] = json!(format!("delete_message_named_{name}"));
    op["description"] = json!(format!(
        "Deletes the message whose ID is `{name}`, exactly as `DELETE /rooms/{{roomID}}/messages/{{messageID}}` does."
    ));
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        params.retain(|p| p["name"] != "messageID");
    }
    if let Some(item) = paths
        .get_mut(&format!("/rooms/{{roomID}}/messages/{name}"))
        .and_then(Value::as_object_mut)
    {
        item.insert("delete".to_owned(), op);
    }
}

/// Applies the envelope, the statuses and the parameter rules to every operation of `doc`,
/// and documents the aliases.
pub fn apply(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for name in NAMED_MESSAGES {
        delete_named_message(paths, name);
    }
    for (alias, path) in ALIASES {
        if let Some(mut item) = paths.get(*path).cloned() {
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    if let Some(Value::String(id)) = op.get_mut("operationId") {
                        id.push_str("_alias");
                    }
                }
            }
            paths.insert((*alias).to_owned(), item);
        }
    }
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            apply_to_operation(&id, is_write(method), op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NO_STORAGE, OWN_CREDENTIAL, RAW};

    /// The lists above name operations by `operationId`: a renamed handler must not
    /// silently lose its statuses.
    #[test]
    fn every_operation_named_here_exists() {
        let doc = crate::openapi::document();
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let named = NO_STORAGE
            .iter()
            .copied()
            .chain(RAW.iter().copied())
            .chain(OWN_CREDENTIAL.iter().map(|(id, _)| *id));
        for id in named {
            assert!(
                ids.contains(&id),
                "{id} is not an operation of the document"
            );
        }
    }
}
