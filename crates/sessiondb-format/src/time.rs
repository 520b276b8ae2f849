//! Timestamps: ISO 8601 strings in transcripts, epoch milliseconds in `history.jsonl`.

use chrono::DateTime;

/// Parses an RFC 3339 / ISO 8601 timestamp (`2025-10-12T12:57:07.449Z`) to Unix epoch milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    utc_millis(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The shape every line of Claude Code has, `YYYY-MM-DDTHH:MM:SS.mmmZ`, read directly (chrono's general parser
/// was 3% of a reader's time); anything else, or any value out of range, is left to chrono.
fn utc_millis(text: &[u8]) -> Option<i64> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1, b'.', f0, f1, f2, b'Z'] =
        text
    else {
        return None;
    };
    let number = |digits: &[u8]| -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let year = number(&[y0, y1, y2, y3])?;
    let month = number(&[m0, m1])?;
    let day = number(&[d0, d1])?;
    let (hour, minute, second) = (number(&[h0, h1])?, number(&[n0, n1])?, number(&[s0, s1])?);
    let millis = number(&[f0, f1, f2])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
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
    fn the_direct_reading_agrees_with_chrono() {
        let chrono_ms = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut read_directly = 0;
        for _ in 0..200_000 {
            // Mostly valid dates, with out-of-range fields and non-digits now and then.
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1600 + next(900),
                next(14),
                next(33),
                next(25),
                next(61),
                next(61),
                next(1000)
            );
            let text = if next(50) == 0 {
                text.replacen('1', "x", 1)
            } else {
                text
            };
            assert_eq!(parse_timestamp_ms(&text), chrono_ms(&text), "{text}");
            read_directly += usize::from(utc_millis(text.as_bytes()).is_some());
        }
        assert!(read_directly > 100_000, "{read_directly}");
        for text in [
            "2024-02-29T23:59:59.999Z",
            "2023-02-29T00:00:00.000Z",
            "1970-01-01T00:00:00.000Z",
            "2000-12-31T12:00:00.500Z",
            "2025-10-12T12:57:07.449+00:00",
            "2025-10-12T12:57:07Z",
        ] {
            assert_eq!(parse_timestamp_ms(text), chrono_ms(text), "{text}");
        }
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
