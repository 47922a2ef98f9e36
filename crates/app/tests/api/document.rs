//! Every response of this suite is checked against the OpenAPI document the server serves:
//! the operation must document the status, and the body must validate against the
//! documented schema (with the `jsonschema` crate, JSON Schema 2020-12 as OpenAPI 3.1 uses).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

struct Document {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| Document {
        doc: roomwarden::openapi::document(),
        validators: Mutex::default(),
    })
}

/// The documented path template that `path` (without query) is an instance of, for `method`.
fn template<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(&str, usize)> = None;
    for (template, item) in doc["paths"].as_object()? {
        if item.get(method).is_none() {
            continue;
        }
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(p, s)| {
            if p.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                p == s
            }
        });
        if fits && best.is_none_or(|(_, n)| literal > n) {
            best = Some((template, literal));
        }
    }
    best.map(|(t, _)| t)
}

fn validator(key: String, schema: &Value, doc: &Value) -> Arc<jsonschema::Validator> {
    let documents = &document().validators;
    if let Some(found) = documents.lock().expect("lock").get(&key) {
        return Arc::clone(found);
    }
    // The schema with the document's components beside it, so `#/components/...` resolves.
    let mut root = schema.clone();
    if let Some(object) = root.as_object_mut() {
        object.insert("components".to_owned(), doc["components"].clone());
    }
    let compiled = Arc::new(
        jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("the documented schema for {key} compiles: {e}")),
    );
    documents
        .lock()
        .expect("lock")
        .insert(key, Arc::clone(&compiled));
    compiled
}

/// Checks one response; panics with what is wrong.
pub fn check(method: &str, path_and_query: &str, status: u16, body: &Value) {
    let doc = &document().doc;
    let method = method.to_ascii_lowercase();
    let path = path_and_query.split('?').next().unwrap_or_default();
    if method == "head" || path == "/openapi.json" {
        return;
    }
    let (key, schema) = match template(doc, &method, path) {
        Some(template) => {
            let responses = &doc["paths"][template][&method]["responses"];
            let Some(response) = responses.get(status.to_string()) else {
                panic!(
                    "{} {template} answered {status}, which the OpenAPI document does not list: {body:#}",
                    method.to_uppercase()
                );
            };
            let schema = response
                .pointer("/content/application~1json/schema")
                .cloned()
                .unwrap_or_else(|| panic!("{method} {template} {status} documents no JSON body"));
            (format!("{method} {template} {status}"), schema)
        }
        // Unknown routes and methods: the error envelope.
        None => (
            "failure".to_owned(),
            json!({"$ref": "#/components/schemas/Failure"}),
        ),
    };
    let validator = validator(key.clone(), &schema, doc);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{key}: the response does not match the OpenAPI document: {errors:?}\n{body:#}"
    );
}

#[test]
fn the_document_catches_an_undocumented_status_and_a_wrong_body() {
    let ok = std::panic::catch_unwind(|| check("GET", "/health", 200, &json!({"status": "up"})));
    assert!(ok.is_err(), "a bare result is not the envelope");
    let teapot = std::panic::catch_unwind(|| {
        check(
            "GET",
            "/health",
            418,
            &json!({"RC": 418, "RM": "x", "error": {"code": "X", "message": "x"}}),
        )
    });
    assert!(teapot.is_err(), "418 is not documented for /health");
    check(
        "GET",
        "/health",
        200,
        &json!({"RC": 0, "RM": "OK", "result": {"status": "up"}}),
    );
    check(
        "DELETE",
        "/rooms/r/messages/m",
        404,
        &json!({"RC": 404, "RM": "Message not found", "error": {"code": "MESSAGE_NOT_FOUND", "message": "x"}}),
    );
}

#[test]
fn the_clear_is_its_own_operation_and_a_single_delete_takes_no_filters() {
    let doc = &document().doc;
    let clear = &doc["paths"]["/rooms/{roomID}/messages/_all"]["delete"];
    assert_eq!(clear["operationId"], "clear_messages");
    let names = |op: &Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(clear),
        ["before", "after", "sender", "contains", "dryRun"]
    );
    let single = &doc["paths"]["/rooms/{roomID}/messages/{messageID}"]["delete"];
    assert_eq!(names(single), ["dryRun"]);
    // The message named v3 is deleted on the listing's path, where tools look first.
    assert_eq!(
        doc["paths"]["/rooms/{roomID}/messages/v3"]["delete"]["operationId"],
        "delete_message_named_v3"
    );
}
