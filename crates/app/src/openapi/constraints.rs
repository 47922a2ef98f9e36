//! The rules the server checks on body fields and query parameters, written into the
//! document from the constants the checks themselves use, so that a client generated from it
//! sends nothing the server refuses for its form (docs/api.md §12.2).
//!
//! What a schema cannot say (a time in the future, `before` later than `after`, a webhook
//! host that resolves to a public address, at most 20 *distinct* senders) is in the
//! descriptions, and is the only thing CI's fuzzer is told to leave out (`.ci/schemathesis`).

use roomwarden_domain::filter::{
    MAX_CONTAINS, MAX_CONTAINS_CHARS, MAX_MILLIS_DIGITS, MAX_SENDERS, MIN_CONTAINS_CHARS,
};
use roomwarden_domain::ids::{ALL_MESSAGES, MAX_ID_CHARS};
use roomwarden_domain::model::{MAX_REASON_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS, RetentionDays};
use roomwarden_domain::report::QueueCursor;
use roomwarden_domain::usecases::clients::MAX_TOKEN_CHARS;
use roomwarden_domain::usecases::deletion::MAX_BULK;
use roomwarden_domain::usecases::messages::MAX_TYPE_CHARS;
use roomwarden_domain::usecases::purge::MAX_ROOMS;
use serde_json::{Value, json};

/// The ID rule without its length as an ECMA-262 (JSON Schema) pattern: no character that
/// Rust calls whitespace (`char::is_whitespace`) or control (`char::is_control`), and no `/`
/// (`roomwarden_domain::ids`), listed explicitly so that every regex engine reads it alike;
/// the test below compares it with the check character by character.
const ID_PATTERN: &str = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000/]+$";

/// A client, room or message ID.
pub fn id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": ID_PATTERN})
}

/// A message ID: an ID other than `_all`.
fn message_id() -> Value {
    let mut rule = id();
    rule["not"] = json!({"const": ALL_MESSAGES});
    rule
}

/// Unix milliseconds as a query value: 1 to 15 digits.
fn millis_pattern() -> String {
    format!("^[0-9]{{1,{MAX_MILLIS_DIGITS}}}$")
}

/// A time: ISO 8601 (RFC 3339) or Unix milliseconds.
fn time() -> Value {
    json!({"anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": millis_pattern()},
    ]})
}

/// A bound of a room clear: a time, or a message of the room. Every ID is accepted (an ISO
/// time is also an ID in form) except digits beyond Unix milliseconds' range.
fn bound() -> Value {
    let mut rule = id();
    rule["not"] = json!({"pattern": format!("^[0-9]{{{},}}$", MAX_MILLIS_DIGITS + 1)});
    rule
}

/// A list of IDs.
fn ids() -> Value {
    json!({"type": "array", "items": id()})
}

/// Text of at most `max` characters.
fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max})
}

/// A webhook URL in form: `http://` or `https://` and more, no whitespace. Whether its host
/// is public is checked against DNS, which no schema can say.
fn webhook() -> Value {
    let no_space = "[^\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
    json!({"type": "string", "maxLength": MAX_URL_CHARS, "pattern": format!("^https?://{no_space}+$")})
}

/// An assigned token: 1 to 512 characters, no whitespace or control character.
fn token() -> Value {
    let mut rule = id();
    rule["maxLength"] = json!(MAX_TOKEN_CHARS);
    rule["pattern"] = json!(ID_PATTERN.replace('/', ""));
    rule
}

/// `X-Audit-Log-Reason`: percent-encoded UTF-8 (raw printable ASCII, or `%XX` bytes that
/// decode to well-formed UTF-8), at most 512 characters as sent (decoded, the server allows
/// 512 characters, which an encoded value of 512 can never exceed).
fn reason() -> Value {
    let h = "[0-9A-Fa-f]";
    let c = "%[89ABab][0-9A-Fa-f]";
    let encoded = [
        format!("%[0-7]{h}"),
        format!("%[Cc][2-9A-Fa-f]{c}"),
        format!("%[Dd]{h}{c}"),
        format!("%[Ee]0%[AaBb]{h}{c}"),
        format!("%[Ee][1-9A-Ca-cEeFf]{c}{c}"),
        format!("%[Ee][Dd]%[89]{h}{c}"),
        format!("%[Ff]0%[9AaBb]{h}{c}{c}"),
        format!("%[Ff][1-3]{c}{c}{c}"),
        format!("%[Ff]4%8{h}{c}{c}"),
    ]
    .join("|");
    json!({
        "type": "string",
        "maxLength": MAX_REASON_CHARS,
        "pattern": format!("^(?:[\\u0009\\u0020-\\u0024\\u0026-\\u007e]|{encoded})*$"),
    })
}

/// `(schema, property, rule)`: the body fields' rules, by component schema.
fn body_rules() -> Vec<(&'static str, &'static str, Value)> {
    let retention = json!({"type": "integer", "minimum": 1, "maximum": RetentionDays::MAX});
    let message_type = json!({"type": "string", "minLength": 1, "maxLength": MAX_TYPE_CHARS});
    let mut bulk =
        json!({"type": "array", "items": message_id(), "minItems": 1, "maxItems": MAX_BULK});
    bulk["uniqueItems"] = json!(true);
    vec![
        ("SaveClientBody", "_id", id()),
        ("SaveClientBody", "nickname", text(MAX_TEXT_CHARS)),
        ("SaveClientBody", "avatarUrl", text(MAX_URL_CHARS)),
        ("SaveClientBody", "token", token()),
        (
            "SaveClientBody",
            "expirationDate",
            json!({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]}),
        ),
        ("RevokeBody", "token", token()),
        ("CreateRoomBody", "_id", id()),
        ("CreateRoomBody", "name", text(MAX_TEXT_CHARS)),
        (
            "CreateRoomBody",
            "roomType",
            json!({"type": "string", "enum": ["group", "direct"]}),
        ),
        ("CreateRoomBody", "owner", id()),
        ("CreateRoomBody", "members", ids()),
        ("CreateRoomBody", "managers", ids()),
        ("CreateRoomBody", "webhook", webhook()),
        ("CreateRoomBody", "retentionDays", retention.clone()),
        ("UpdateRoomBody", "name", text(MAX_TEXT_CHARS)),
        ("UpdateRoomBody", "owner", id()),
        ("UpdateRoomBody", "managers", ids()),
        ("UpdateRoomBody", "webhook", webhook()),
        ("UpdateRoomBody", "retentionDays", retention),
        ("InviteBody", "invitees", ids()),
        ("RemoveMembersBody", "members", ids()),
        ("SendMessageBody", "_id", message_id()),
        ("SendMessageBody", "messageType", message_type.clone()),
        ("SendAsBody", "room", id()),
        ("SendAsBody", "sender", id()),
        ("SendAsBody", "messageType", message_type),
        ("BulkDeleteBody", "messageIDs", bulk),
        (
            "ReportBody",
            "reason",
            text(roomwarden_domain::report::ReportReason::MAX_CHARS),
        ),
    ]
}

/// Whether a schema generated for an `Option` allows `null`.
fn allows_null(schema: &Value) -> bool {
    schema["type"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "null"))
        || schema["oneOf"]
            .as_array()
            .is_some_and(|alts| alts.iter().any(|a| a["type"] == "null"))
}

/// `rule` in place of `schema`, keeping its description, default and whether it allows `null`.
fn replace(schema: &mut Value, rule: Value) {
    let nullable = allows_null(schema);
    let mut out = json!({});
    for key in ["description", "default"] {
        if let Some(v) = schema.get(key) {
            out[key] = v.clone();
        }
    }
    if nullable {
        out["oneOf"] = json!([rule, {"type": "null"}]);
    } else if let (Some(target), Some(rule)) = (out.as_object_mut(), rule.as_object()) {
        target.extend(rule.clone());
    }
    *schema = out;
}

/// A report queue's cursor (`QueueCursor`): two numbers and two IDs, `/`-separated.
fn queue_cursor() -> Value {
    let n = QueueCursor::MAX_DIGITS;
    json!({"type": "string", "pattern": format!("^[0-9]{{1,{n}}}/[0-9]{{1,{n}}}/[^/]+/[^/]+$")})
}

/// `contains`: at least `min` strings of the lengths a clear by content takes.
fn contains(min: usize) -> Value {
    let string = json!({
        "type": "string",
        "minLength": MIN_CONTAINS_CHARS,
        "maxLength": MAX_CONTAINS_CHARS,
    });
    json!({"type": "array", "items": string, "minItems": min, "maxItems": MAX_CONTAINS})
}

/// The rule of a query parameter of operation `op`, by name.
fn query_rule(op: &str, name: &str) -> Option<Value> {
    match (op, name) {
        ("purge_client" | "export_deletions" | "clear_by_content", "before" | "after") => {
            Some(time())
        }
        ("clear_messages", "contains") => Some(contains(0)),
        ("clear_by_content", "contains") => Some(contains(1)),
        ("clear_messages", "before" | "after") => Some(bound()),
        ("clear_messages", "sender") => {
            Some(json!({"type": "array", "items": id(), "maxItems": MAX_SENDERS}))
        }
        ("purge_client" | "clear_by_content", "roomID") => {
            Some(json!({"type": "array", "items": id(), "maxItems": MAX_ROOMS}))
        }
        ("room_reports" | "all_reports", "state") => {
            Some(json!({"type": "string", "enum": ["open", "deleted", "dismissed"]}))
        }
        ("room_reports" | "all_reports", "before") => Some(queue_cursor()),
        _ => None,
    }
}

/// Applies the body rules to the component schemas and the query rules to the operations.
pub fn apply(doc: &mut Value) {
    for (schema, property, rule) in body_rules() {
        if let Some(target) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            replace(target, rule);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            for param in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let name = param["name"].as_str().unwrap_or_default().to_owned();
                let rule = match param["in"].as_str() {
                    Some("query") => query_rule(&id, &name),
                    Some("path") if name == "messageID" => Some(message_id()),
                    Some("header") if name == crate::routes::deletion::REASON_HEADER => {
                        Some(reason())
                    }
                    _ => None,
                };
                if let Some(rule) = rule {
                    param["schema"] = rule;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::ids::ClientId;

    #[test]
    fn the_reason_pattern_is_percent_encoded_utf8() {
        let validator = jsonschema::validator_for(&reason()).expect("a valid schema");
        for good in [
            "spam",
            "spam%20link",
            "caf%C3%A9",
            "%E2%82%AC",
            "%F0%9F%98%80",
            "a\tb",
            "",
        ] {
            assert!(validator.is_valid(&json!(good)), "{good}");
            assert!(
                crate::middleware::is_valid_percent_encoding(good.as_bytes()),
                "{good}"
            );
        }
        for bad in [
            "50%",
            "%ZZ",
            "%FF",
            "%C3",
            "%C0%80",
            "%ED%A0%80",
            "%F4%90%80%80",
            "%E2%82",
        ] {
            assert!(!validator.is_valid(&json!(bad)), "{bad}");
            assert!(
                !crate::middleware::is_valid_percent_encoding(bad.as_bytes()),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_id_pattern_is_the_rule_the_server_checks() {
        let validator = jsonschema::validator_for(&id()).expect("a valid schema");
        let mut chars: Vec<char> = (0_u32..0x3100).filter_map(char::from_u32).collect();
        chars.extend(['\u{feff}', '\u{180e}', '\u{e000}', '\u{1f600}']);
        for c in chars {
            let candidate = format!("a{c}b");
            assert_eq!(
                validator.is_valid(&json!(candidate)),
                ClientId::parse(&candidate).is_ok(),
                "U+{:04X}",
                u32::from(c)
            );
        }
        let longest = "x".repeat(MAX_ID_CHARS);
        assert!(validator.is_valid(&json!(longest)));
        assert!(ClientId::parse(&longest).is_ok());
        let over = "x".repeat(MAX_ID_CHARS + 1);
        assert!(!validator.is_valid(&json!(over)));
        assert!(ClientId::parse(&over).is_err());
    }
}
