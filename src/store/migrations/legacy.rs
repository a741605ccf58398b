//! Migration 0001's reading of the replaced system's chat memory: `conversation:{chat_id}:history`
//! keys (not prefixed), each a JSON string holding a list of `{role, content, timestamp}`.
//!
//! Pure functions, no I/O: the runner reads the key, [`parse`] turns its value into history entries,
//! and the store merges them. What cannot be read is reported, never fatal:
//! - a value that is not a JSON list makes the whole key unreadable ([`parse`] answers the reason);
//! - an item without a `user`/`assistant` role, without string `content`, or without a readable
//!   timestamp is skipped and counted; the rest of the key is imported.
//!
//! # Timestamps
//! The old system wrote naive local times (Python `datetime.now().isoformat()`, e.g.
//! `2025-10-17T12:45:03.123456`): those are read in `LEGACY_TIMEZONE`. A local time that a DST change
//! makes ambiguous (it happened twice) or skips (a gap) resolves with jiff's *compatible*
//! disambiguation, as RFC 5545 and Temporal do: the earlier of two, or the time shifted forward by the
//! gap. A timestamp with `Z` or an offset keeps its offset; a number is unix seconds (below 10^11) or
//! milliseconds.
//!
//! # Ids
//! `legacy-<first 16 hex of sha1(role \n timestamp \n content)>`, with `-2`, `-3`… for repeats of the
//! very same message, where `timestamp` is written as the old Lua import wrote it (the string as is; a
//! number as Lua's `%.14g`). So the ids are those of the earlier Lua implementation of this migration,
//! and a re-run after a partial import (or after the old system appended to its list) adds nothing twice.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::domain::{HistoryEntry, Role};

/// The `SCAN MATCH` pattern of the legacy keys.
pub(super) const PATTERN: &str = crate::store::keys::LEGACY_HISTORY_PATTERN;
/// Prefix of every imported entry's id.
pub(super) const ID_PREFIX: &str = "legacy-";

/// The chat a legacy key belongs to: `conversation:{chat}:history` → `chat`.
pub(super) fn chat_of(key: &str) -> Option<&str> {
    crate::store::keys::legacy_history_chat(key)
}

/// A legacy value read: its entries in order, and the items skipped with why.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parsed {
    /// The readable items as history entries, in the legacy order.
    pub entries: Vec<HistoryEntry>,
    /// Items skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl Parsed {
    /// Items skipped in all.
    pub fn skipped_count(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// `unknown role ×2, unparsable timestamp ×1`, for the log.
    pub fn skipped_reasons(&self) -> String {
        let parts: Vec<String> = self.skipped.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
        parts.join(", ")
    }
}

/// Read a legacy value; `Err` with the reason (never the value itself) when it is not a JSON list.
pub(super) fn parse(raw: &str, zone: &TimeZone) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("invalid JSON ({e})"))?;
    let Value::Array(items) = value else {
        return Err(format!("a JSON {}, not a list", kind(&value)));
    };
    let mut parsed = Parsed::default();
    let mut repeats: HashMap<String, u32> = HashMap::new();
    for item in &items {
        match entry(item, zone) {
            Ok((role, content, ts, at)) => {
                let base = id_base(item_role(item), &ts, content);
                let n = repeats.entry(base.clone()).or_default();
                *n += 1;
                let id = if *n > 1 { format!("{base}-{n}") } else { base };
                parsed.entries.push(HistoryEntry {
                    id,
                    role,
                    text: content.to_owned(),
                    at,
                });
            }
            Err(reason) => *parsed.skipped.entry(reason).or_default() += 1,
        }
    }
    Ok(parsed)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn item_role(item: &Value) -> &str {
    item.get("role").and_then(Value::as_str).unwrap_or_default()
}

/// One legacy item: its role, content, timestamp as the old import wrote it, and unix ms.
fn entry<'a>(item: &'a Value, zone: &TimeZone) -> Result<(Role, &'a str, String, i64), &'static str> {
    if !item.is_object() {
        return Err("not an object");
    }
    let role = match item.get("role") {
        None | Some(Value::Null) => return Err("no role"),
        Some(r) => match r.as_str() {
            Some("user") => Role::Customer,
            Some("assistant") => Role::Agent,
            _ => return Err("unknown role"),
        },
    };
    let content = item.get("content").and_then(Value::as_str).ok_or("no content")?;
    let ts = item.get("timestamp").unwrap_or(&Value::Null);
    let at = unix_ms(ts, zone).ok_or("unparsable timestamp")?;
    Ok((role, content, lua_tostring(ts), at))
}

/// Unix milliseconds of a legacy timestamp (see the module doc); `None` when it cannot be read.
fn unix_ms(ts: &Value, zone: &TimeZone) -> Option<i64> {
    match ts {
        Value::Number(n) => {
            let f = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0)?;
            let ms = if f < 1e11 { f * 1000.0 } else { f };
            Some(ms.floor() as i64)
        }
        Value::String(s) => local_or_offset(s.trim(), zone).map(|t| t.as_millisecond()),
        _ => None,
    }
}

/// A timestamp with `Z` or an offset as it says; a naive one in `zone` (compatible disambiguation).
fn local_or_offset(s: &str, zone: &TimeZone) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: DateTime = s.parse().ok()?;
    zone.to_ambiguous_timestamp(dt).compatible().ok()
}

/// `legacy-<first 16 hex of sha1(role \n timestamp \n content)>`.
fn id_base(role: &str, ts: &str, content: &str) -> String {
    let digest = Sha1::digest(format!("{role}\n{ts}\n{content}").as_bytes());
    format!("{ID_PREFIX}{}", &hex::encode(digest)[..16])
}

/// A JSON value as Lua 5.1's `tostring` shows it once cjson decoded it: strings as they are,
/// numbers as `%.14g`.
fn lua_tostring(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(lua_number).unwrap_or_default(),
        Value::Bool(b) => b.to_string(),
        _ => "nil".to_owned(),
    }
}

/// C's `%.14g`.
fn lua_number(f: f64) -> String {
    const PRECISION: i32 = 14;
    if f == 0.0 {
        return "0".to_owned();
    }
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..PRECISION).contains(&exp) {
        let decimals = (PRECISION - 1 - exp).max(0) as usize;
        trim_zeros(format!("{f:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa.to_owned()), exp.abs())
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amsterdam() -> TimeZone {
        TimeZone::get("Europe/Amsterdam").unwrap()
    }

    fn ms(s: &str, zone: &TimeZone) -> Option<i64> {
        unix_ms(&Value::String(s.into()), zone)
    }

    #[test]
    fn naive_times_are_local_and_offsets_are_kept() {
        let ams = amsterdam();
        // Summer (UTC+2) and winter (UTC+1).
        assert_eq!(ms("2025-10-17T12:45:03", &ams), Some(1_760_697_903_000));
        assert_eq!(ms("2025-01-17T12:45:03", &ams), Some(1_737_114_303_000));
        assert_eq!(
            ms("2025-10-17T12:45:03.123456", &TimeZone::UTC),
            Some(1_760_705_103_123)
        );
        assert_eq!(ms("2025-10-17 12:45:03", &TimeZone::UTC), Some(1_760_705_103_000));
        for explicit in [
            "2025-10-17T10:45:03Z",
            "2025-10-17T12:45:03+02:00",
            "2025-10-17T06:45:03-0400",
        ] {
            assert_eq!(ms(explicit, &ams), Some(1_760_697_903_000), "{explicit}");
        }
        assert_eq!(
            unix_ms(&serde_json::json!(1_760_697_903), &ams),
            Some(1_760_697_903_000)
        );
        assert_eq!(
            unix_ms(&serde_json::json!(1_760_697_903_123_i64), &ams),
            Some(1_760_697_903_123)
        );
        for bad in [
            Value::String("gisteren".into()),
            Value::Null,
            serde_json::json!(-5),
            serde_json::json!(true),
        ] {
            assert_eq!(unix_ms(&bad, &ams), None, "{bad}");
        }
    }

    #[test]
    fn dst_gaps_and_repeats_resolve_compatibly() {
        let ams = amsterdam();
        // 2025-03-30 02:30 does not exist in Amsterdam: shifted forward by the gap, to 03:30 CEST.
        assert_eq!(ms("2025-03-30T02:30:00", &ams), ms("2025-03-30T01:30:00Z", &ams));
        // 2025-10-26 02:30 happens twice: the earlier one (CEST, UTC+2).
        assert_eq!(ms("2025-10-26T02:30:00", &ams), ms("2025-10-26T00:30:00Z", &ams));
    }

    #[test]
    fn bad_items_are_skipped_and_counted_and_the_rest_kept() {
        let raw = serde_json::json!([
            {"role": "user", "content": "Hallo", "timestamp": "2025-10-17T10:00:00"},
            {"role": "system", "content": "x", "timestamp": "2025-10-17T10:00:01"},
            {"content": "x", "timestamp": "2025-10-17T10:00:01"},
            {"role": "assistant", "timestamp": "2025-10-17T10:00:01"},
            {"role": "assistant", "content": "x", "timestamp": "later"},
            "just a string",
            {"role": "assistant", "content": "Dag", "timestamp": "2025-10-17T10:00:05"},
        ])
        .to_string();
        let parsed = parse(&raw, &TimeZone::UTC).unwrap();
        let texts: Vec<_> = parsed.entries.iter().map(|e| (e.role, e.text.as_str())).collect();
        assert_eq!(texts, vec![(Role::Customer, "Hallo"), (Role::Agent, "Dag")]);
        assert_eq!(parsed.skipped_count(), 5);
        assert_eq!(
            parsed.skipped_reasons(),
            "no content ×1, no role ×1, not an object ×1, unknown role ×1, unparsable timestamp ×1"
        );
    }

    #[test]
    fn unreadable_values_say_why_without_the_value() {
        let e = parse("not json at all", &TimeZone::UTC).unwrap_err();
        assert!(e.starts_with("invalid JSON (") && !e.contains("not json"), "{e}");
        assert_eq!(
            parse(r#"{"a": 1}"#, &TimeZone::UTC).unwrap_err(),
            "a JSON object, not a list"
        );
        assert_eq!(parse("[]", &TimeZone::UTC).unwrap(), Parsed::default());
    }

    #[test]
    fn ids_match_the_earlier_lua_import_and_count_repeats() {
        let raw = serde_json::json!([
            {"role": "user", "content": "Ja", "timestamp": "2025-10-17T10:40:49.123456"},
            {"role": "user", "content": "Ja", "timestamp": "2025-10-17T10:40:49.123456"},
            {"role": "user", "content": "Ja", "timestamp": 1_760_697_649.5},
        ])
        .to_string();
        let ids: Vec<String> = parse(&raw, &TimeZone::UTC)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect();
        // sha1("user\n2025-10-17T10:40:49.123456\nJa") and sha1("user\n1760697649.5\nJa"), as
        // `redis.sha1hex` computed them.
        let first = format!(
            "legacy-{}",
            &hex::encode(Sha1::digest(b"user\n2025-10-17T10:40:49.123456\nJa"))[..16]
        );
        assert_eq!(ids[0], first);
        assert_eq!(ids[1], format!("{first}-2"));
        assert_eq!(ids[2], id_base("user", "1760697649.5", "Ja"));
    }

    #[test]
    fn numbers_print_like_lua() {
        assert_eq!(lua_number(1_760_697_649.0), "1760697649");
        assert_eq!(lua_number(1_760_697_649_123.0), "1760697649123");
        assert_eq!(lua_number(1_760_697_649.123_456), "1760697649.1235");
        assert_eq!(lua_number(0.5), "0.5");
        assert_eq!(lua_number(1e20), "1e+20");
        assert_eq!(lua_number(0.000_01), "1e-05");
    }

    #[test]
    fn legacy_keys_name_their_chat() {
        assert_eq!(
            chat_of("conversation:31612345678@c.us:history"),
            Some("31612345678@c.us")
        );
        assert_eq!(chat_of("conversation::history"), None);
        assert_eq!(chat_of("other:x:history"), None);
    }
}
