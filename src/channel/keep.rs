//! Parse only the parts of a JSON body that a webhook parser reads. A gateway's webhook carries far
//! more than the agent needs (WAHA repeats the whole message under `_data`, with the sender's and the
//! recipient's ids as objects). Building a full [`Value`] tree of it allocates a node and a string for
//! each of those fields; this builds the tree of the kept keys only, and skips the rest without
//! allocating.
//!
//! Invariants: the result equals `serde_json::from_slice` followed by removing the keys that are not
//! kept. A kept key's value is kept whole unless its [`Keep`] says otherwise. A value that is not an
//! object is kept whole wherever it is. Skipped values are still checked for valid JSON, so a broken
//! body fails exactly as a full parse would, with the same error.

use std::fmt;

use serde::Deserializer;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What to keep of a value.
#[derive(Debug)]
pub enum Keep {
    /// The whole value.
    All,
    /// When the value is an object, only these keys (each with what to keep of its value).
    Keys(&'static [(&'static str, Keep)]),
}

/// Parse `body` (one JSON value, nothing after it but whitespace), keeping what `keep` says.
pub fn parse(body: &[u8], keep: &Keep) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = keep.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

impl<'de> DeserializeSeed<'de> for &Keep {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self {
            Keep::All => Value::deserialize(deserializer),
            Keep::Keys(keys) => deserializer.deserialize_any(Filter(keys)),
        }
    }
}

/// Builds a value, filtering the keys of an object.
struct Filter(&'static [(&'static str, Keep)]);

impl<'de> Visitor<'de> for Filter {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(found) = map.next_key_seed(KeyIndex(self.0))? {
            match found {
                Some(i) => {
                    let (name, keep) = &self.0[i];
                    let value = map.next_value_seed(keep)?;
                    kept.insert((*name).to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }
}

/// Reads an object key: the index of the kept key it names, or `None`, without allocating.
struct KeyIndex(&'static [(&'static str, Keep)]);

impl<'de> DeserializeSeed<'de> for KeyIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|(name, _)| *name == v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<usize>, A::Error> {
        // Never reached with serde_json (keys are strings); refuse like a full parse would.
        let _ = Value::deserialize(MapAccessDeserializer::new(map))?;
        Err(A::Error::custom("key must be a string"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TREE: Keep = Keep::Keys(&[
        ("event", Keep::All),
        (
            "payload",
            Keep::Keys(&[
                ("id", Keep::All),
                ("media", Keep::All),
                ("_data", Keep::Keys(&[("notifyName", Keep::All)])),
            ]),
        ),
    ]);

    #[test]
    fn only_the_kept_keys_are_built_and_the_rest_is_dropped() {
        let body = json!({
            "event": "message",
            "me": {"id": "x@c.us"},
            "payload": {
                "id": "false_1@c.us_ABC",
                "media": {"url": "http://x", "nested": [1, 2.5, null, true]},
                "to": "y@c.us",
                "_data": {"notifyName": "Anna", "from": {"user": "1"}, "links": []}
            }
        });
        let kept = parse(body.to_string().as_bytes(), &TREE).unwrap();
        assert_eq!(
            kept,
            json!({
                "event": "message",
                "payload": {
                    "id": "false_1@c.us_ABC",
                    "media": {"url": "http://x", "nested": [1, 2.5, null, true]},
                    "_data": {"notifyName": "Anna"}
                }
            })
        );
    }

    #[test]
    fn values_that_are_not_objects_are_kept_whole() {
        for body in [r#"[1,{"a":2}]"#, r#""text""#, "null", "-3", "1e3", "true"] {
            let full: Value = serde_json::from_str(body).unwrap();
            assert_eq!(parse(body.as_bytes(), &TREE).unwrap(), full, "{body}");
        }
        let body = r#"{"payload": "not an object", "event": 5}"#;
        assert_eq!(
            parse(body.as_bytes(), &TREE).unwrap(),
            json!({"payload": "not an object", "event": 5})
        );
    }

    #[test]
    fn escaped_keys_and_duplicate_keys_read_as_a_full_parse_reads_them() {
        let body = r#"{"ev\u0065nt": "a", "event": "b", "x\"y": 1}"#;
        assert_eq!(parse(body.as_bytes(), &TREE).unwrap(), json!({"event": "b"}));
    }

    #[test]
    fn broken_json_fails_with_the_error_of_a_full_parse_even_in_skipped_parts() {
        for body in [
            "",
            "{",
            r#"{"me": {"id": }, "event": "message"}"#,
            r#"{"event": "message"} trailing"#,
            r#"{"payload": {"to": [1, 2}}"#,
        ] {
            let full = serde_json::from_slice::<Value>(body.as_bytes()).unwrap_err();
            let kept = parse(body.as_bytes(), &TREE).unwrap_err();
            assert_eq!(kept.to_string(), full.to_string(), "{body}");
        }
    }
}
