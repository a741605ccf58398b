//! Small helpers: paging, matching, validation, JSON field readers and Chatwoot's time formats.

use super::*;

/// The latest page of an ascending list, still ascending.
pub(super) fn latest(mut list: Vec<&MessageRow>) -> Vec<&MessageRow> {
    let skip = list.len().saturating_sub(MESSAGES_PER_PAGE);
    list.drain(..skip);
    list
}

pub(super) fn contact_matches(c: &ContactRow, q: &str) -> bool {
    let lower = q.to_lowercase();
    let ilike = |field: &Option<String>| {
        field
            .as_deref()
            .is_some_and(|f| f.to_lowercase().contains(&lower))
    };
    c.name.to_lowercase().contains(&lower)
        || ilike(&c.email)
        || ilike(&c.phone_number)
        || c.identifier.as_deref().is_some_and(|i| i.contains(q))
        || (q.bytes().all(|b| b.is_ascii_digit()) && c.id.to_string() == q)
}

pub(super) fn check_status(status: &str) -> Result<(), Failure> {
    if VALID_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(Failure::unprocessable(
            json!({ "error": format!("'{status}' is not a valid status") }),
        ))
    }
}

pub(super) fn phone_of(chat_id: &str) -> Option<String> {
    let (user, server) = chat_id.split_once('@')?;
    let phone = format!("+{user}");
    (matches!(server, "c.us" | "s.whatsapp.net") && is_e164(&phone)).then_some(phone)
}

pub(super) fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or_default();
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

pub(super) fn parse_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

pub(super) fn request_json(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({}))
}

pub(super) fn recorded_body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A string parameter; numbers are taken as their text, empty strings as absent (Rails `present?`).
pub(super) fn str_field(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn u64_field(body: &Value, key: &str) -> Option<u64> {
    str_field(body, key).and_then(|s| s.trim().parse().ok())
}

pub(super) fn bool_field(body: &Value, key: &str) -> bool {
    matches!(body.get(key), Some(Value::Bool(true))) || body.get(key).and_then(Value::as_str) == Some("true")
}

pub(super) fn object_field(body: &Value, key: &str) -> Value {
    body.get(key)
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_micros() as f64) / 1e6)
}

/// Now, but at least a millisecond after `previous`, so successive saves stay ordered.
pub(super) fn later(previous: f64) -> f64 {
    now_f64().max(previous + 0.001)
}

/// One `changed_attributes` entry: `{key: {previous_value, current_value}}`.
pub(super) fn change(key: &str, previous: Value, current: Value) -> Value {
    let mut entry = Map::new();
    entry.insert(
        key.to_owned(),
        json!({ "previous_value": previous, "current_value": current }),
    );
    Value::Object(entry)
}

/// Unix seconds as Rails' ISO-8601 UTC with milliseconds, e.g. `2026-07-14T08:14:57.861Z`.
pub(super) fn iso(unix: f64) -> String {
    let millis = (unix * 1000.0).round() as i64;
    let (days, of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (hours, minutes) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (seconds, ms) = (of_day / 1000 % 60, of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}Z")
}

/// An unset (0) time is `null`.
pub(super) fn iso_or_null(unix: i64) -> Value {
    if unix == 0 {
        Value::Null
    } else {
        json!(iso(unix as f64))
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
