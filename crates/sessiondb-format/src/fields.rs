//! Lenient extraction of single fields from borrowed raw JSON values.
//!
//! Every field is first captured as the raw JSON text of its value (a span of the line, no allocation); these
//! helpers turn one span into a typed value and return `None` when the type is not the expected one, so one odd field
//! never costs the whole line.

use std::borrow::Cow;

/// A JSON string field, borrowed when it holds no escapes. `null` and non-strings give `None`.
pub(crate) fn string(raw: Option<&str>) -> Option<Cow<'_, str>> {
    let text = raw?;
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let inner = &text[1..text.len() - 1];
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        return serde_json::from_str::<String>(text).ok().map(Cow::Owned);
    }
    None
}

/// A non-empty JSON string field as an owned `String`.
pub(crate) fn owned(raw: Option<&str>) -> Option<String> {
    string(raw).filter(|s| !s.is_empty()).map(Cow::into_owned)
}

/// A boolean field; `"true"` strings and 0/1 are accepted as well, anything else is `false`.
pub(crate) fn flag(raw: Option<&str>) -> bool {
    matches!(raw, Some("true") | Some("1") | Some("\"true\""))
}

/// A non-negative integer field; floats are truncated, negative or non-numbers give `None`.
pub(crate) fn count(raw: Option<&str>) -> Option<u64> {
    let text = raw?;
    if let Ok(v) = text.parse::<u64>() {
        return Some(v);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Some(v as u64),
        _ => None,
    }
}

/// A floating point field.
pub(crate) fn number(raw: Option<&str>) -> Option<f64> {
    raw?.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Cuts a text to at most `max_chars` characters, on a character boundary.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &str {
        text
    }

    #[test]
    fn strings_borrow_without_escapes_and_decode_with_them() {
        let plain = raw("\"abc\"");
        assert!(matches!(string(Some(plain)), Some(Cow::Borrowed("abc"))));
        let escaped = raw("\"a\\nb\"");
        assert_eq!(string(Some(escaped)).as_deref(), Some("a\nb"));
        assert_eq!(string(Some(raw("12"))), None);
        assert_eq!(string(Some(raw("null"))), None);
    }

    #[test]
    fn counts_accept_integers_and_floats_only() {
        assert_eq!(count(Some(raw("42"))), Some(42));
        assert_eq!(count(Some(raw("42.9"))), Some(42));
        assert_eq!(count(Some(raw("-1"))), None);
        assert_eq!(count(Some(raw("\"7\""))), None);
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hi", 5), "hi");
    }
}
