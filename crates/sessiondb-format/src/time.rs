//! Timestamps: ISO 8601 strings in transcripts, epoch milliseconds in `history.jsonl`.

use chrono::DateTime;

/// Parses an RFC 3339 / ISO 8601 timestamp (`2025-10-12T12:57:07.449Z`) to Unix epoch milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A timestamp given as a number: milliseconds if it is large, seconds otherwise.
pub(crate) fn epoch_number_to_ms(value: f64) -> Option<i64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    // 1e11 ms is 1973; anything below is read as seconds.
    if value < 1e11 {
        Some((value * 1000.0) as i64)
    } else {
        Some(value as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_claude_code_timestamps() {
        assert_eq!(
            parse_timestamp_ms("2025-10-12T12:57:07.449Z"),
            Some(1_760_273_827_449)
        );
        assert_eq!(
            parse_timestamp_ms("2025-10-12T14:57:07.449+02:00"),
            Some(1_760_273_827_449)
        );
        assert_eq!(parse_timestamp_ms("yesterday"), None);
    }

    #[test]
    fn epoch_numbers_in_seconds_or_millis() {
        assert_eq!(
            epoch_number_to_ms(1_763_000_000_000.0),
            Some(1_763_000_000_000)
        );
        assert_eq!(epoch_number_to_ms(1_763_000_000.0), Some(1_763_000_000_000));
        assert_eq!(epoch_number_to_ms(-5.0), None);
    }
}
