//! The verifiable audit log (docs/api.md §8.5): every audit record of a
//! room carries `hash`, the lowercase hex SHA-256 of the previous record's `hash` in the same
//! room ([`GENESIS`] for the room's first) followed by the record's canonical JSON (its fields
//! other than `hash`, keys sorted, no spaces, times as ISO with milliseconds). Deletion records
//! and room-change records form two chains per room.
//!
//! Storage computes the hash in the record's own transaction, under the room's lock, with
//! [`link`]; [`ChainCheck`] recomputes a chain record by record, in constant memory.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The "previous hash" of a room's first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical JSON of a record: keys sorted (at every level), no spaces.
#[must_use]
pub fn canonical(record: &Value) -> String {
    // serde_json's map keeps keys sorted (the `preserve_order` feature is off), and its
    // compact writer adds no spaces.
    debug_assert!(is_sorted(record), "serde_json maps keep keys sorted");
    record.to_string()
}

fn is_sorted(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) && map.values().all(is_sorted)
        }
        Value::Array(items) => items.iter().all(is_sorted),
        _ => true,
    }
}

/// The hash of `record` (without its `hash`) following `previous`.
#[must_use]
pub fn link(previous: &str, record: &Value) -> String {
    let mut digest = Sha256::new();
    digest.update(previous.as_bytes());
    digest.update(canonical(record).as_bytes());
    hex::encode(digest.finalize())
}

/// The result of checking one room's chain ([`ChainCheck::finish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Records checked.
    pub records: u64,
    /// The newest record's stored hash ([`GENESIS`] for a room without records).
    pub head: String,
    /// The first record whose stored hash does not match its recomputed one (a record was
    /// edited, or one before it was removed or moved); `None` when the chain holds.
    pub first_invalid: Option<String>,
}

impl ChainReport {
    /// Whether every record's hash matched.
    #[must_use]
    pub fn valid(&self) -> bool {
        self.first_invalid.is_none()
    }
}

/// Recomputes a room's chain, oldest record first, one record at a time.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    previous: String,
    records: u64,
    first_invalid: Option<String>,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            previous: GENESIS.to_owned(),
            records: 0,
            first_invalid: None,
        }
    }
}

impl ChainCheck {
    /// Checks the next record: its ID, the hash stored with it (`None` when it has none) and
    /// its JSON without `hash`. The chain goes on from the stored hash, so one edited record
    /// is reported, not every record after it.
    pub fn push(&mut self, id: &str, stored: Option<&str>, record: &Value) {
        let expected = link(&self.previous, record);
        if self.first_invalid.is_none() && stored != Some(expected.as_str()) {
            self.first_invalid = Some(id.to_owned());
        }
        self.previous = stored.map_or(expected, str::to_owned);
        self.records += 1;
    }

    /// The result.
    #[must_use]
    pub fn finish(self) -> ChainReport {
        ChainReport {
            records: self.records,
            head: self.previous,
            first_invalid: self.first_invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_is_sha256_of_the_previous_hash_then_the_sorted_compact_json() {
        let record = json!({"roomID": "r", "_id": "d1", "reason": null, "filter": {"sender": ["s"], "after": "x"}});
        assert_eq!(
            canonical(&record),
            r#"{"_id":"d1","filter":{"after":"x","sender":["s"]},"reason":null,"roomID":"r"}"#
        );
        let expected = hex::encode(Sha256::digest(
            format!("{GENESIS}{}", canonical(&record)).as_bytes(),
        ));
        assert_eq!(link(GENESIS, &record), expected);
        assert_eq!(expected.len(), 64);
        assert!(
            expected
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn a_check_reports_the_first_record_that_does_not_match() {
        let records: Vec<Value> = (0..4).map(|i| json!({"_id": format!("d{i}")})).collect();
        let mut hashes = Vec::new();
        let mut previous = GENESIS.to_owned();
        for r in &records {
            previous = link(&previous, r);
            hashes.push(previous.clone());
        }
        let check = |records: &[Value], hashes: &[String]| {
            let mut c = ChainCheck::default();
            for (r, h) in records.iter().zip(hashes) {
                c.push(r["_id"].as_str().expect("id"), Some(h), r);
            }
            c.finish()
        };
        let whole = check(&records, &hashes);
        assert!(whole.valid());
        assert_eq!(
            (whole.records, whole.head.as_str()),
            (4, hashes[3].as_str())
        );

        let mut edited = records.clone();
        edited[1] = json!({"_id": "d1", "reason": "edited"});
        assert_eq!(check(&edited, &hashes).first_invalid.as_deref(), Some("d1"));

        // d1 removed: d2 no longer follows what precedes it.
        let (mut without, mut without_hashes) = (records.clone(), hashes.clone());
        without.remove(1);
        without_hashes.remove(1);
        assert_eq!(
            check(&without, &without_hashes).first_invalid.as_deref(),
            Some("d2")
        );

        let (mut swapped, mut swapped_hashes) = (records.clone(), hashes.clone());
        swapped.swap(1, 2);
        swapped_hashes.swap(1, 2);
        assert_eq!(
            check(&swapped, &swapped_hashes).first_invalid.as_deref(),
            Some("d2")
        );
        assert_eq!(ChainCheck::default().finish().head, GENESIS);
    }
}
