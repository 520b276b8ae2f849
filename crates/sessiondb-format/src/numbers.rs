//! Whether a number a transcript gives for a request's usage is plausible, and what to record when it is not.
//!
//! The files are written by other programs and can hold anything: a negative count, a count as a string
//! (`"123"`), a hex or `NaN` token (not JSON at all), `1e400`, `u64::MAX`, or a `costUSD` of `1e308`. Summed
//! as they are, such values wrap, overflow SQLite's integer sums or turn a REAL sum into infinity. So each
//! token count and `costUSD` of a response is checked here before anything adds it up:
//!
//! - a token count must be a JSON number, integral, not negative and at most [`MAX_TOKENS_PER_FIELD`];
//! - `costUSD` must be a JSON number, finite, not negative and at most [`MAX_COST_USD_PER_LINE`];
//! - a missing field or `null` is not an anomaly: it counts as 0 tokens / no reported cost, as before.
//!
//! A response with any implausible number is not counted at all (its line is still indexed, and every bad
//! field is reported as a [`NumberAnomaly`]). The whole response rather than the one field, because that is
//! what ccusage does with the values its schema refuses (strings, and the non-JSON tokens it cannot parse):
//! it skips the line, so the totals of the remaining lines stay equal to its totals. It also leaves another,
//! sound copy of the same response (same `message.id:requestId`) free to win the dedup.
//!
//! With every counted field bounded, a sum over 2^31 responses of four fields still fits an `i64`, so the
//! store's SQL sums cannot overflow.

/// The most tokens one field of one request's usage may hold: 10^9, a thousand times the largest context
/// window (1M tokens) Claude models offer. More is a broken or hostile file, not usage.
pub const MAX_TOKENS_PER_FIELD: u64 = 1_000_000_000;

/// The largest `costUSD` one line may report: $10,000. A request of a full 1M-token context with maximum
/// output costs tens of dollars at the dearest rates.
pub const MAX_COST_USD_PER_LINE: f64 = 10_000.0;

/// The most characters of a bad value kept in its anomaly.
pub const MAX_RAW_CHARS: usize = 64;

/// A number-bearing field of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberField {
    InputTokens,
    OutputTokens,
    CacheCreationInputTokens,
    CacheReadInputTokens,
    /// `cache_creation.ephemeral_1h_input_tokens`.
    CacheWrite1hTokens,
    CostUsd,
}

impl NumberField {
    /// The field as written in the line (usage fields relative to the message).
    pub fn as_str(self) -> &'static str {
        match self {
            NumberField::InputTokens => "usage.input_tokens",
            NumberField::OutputTokens => "usage.output_tokens",
            NumberField::CacheCreationInputTokens => "usage.cache_creation_input_tokens",
            NumberField::CacheReadInputTokens => "usage.cache_read_input_tokens",
            NumberField::CacheWrite1hTokens => "usage.cache_creation.ephemeral_1h_input_tokens",
            NumberField::CostUsd => "costUSD",
        }
    }
}

/// Why a number is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Implausible {
    /// Below zero.
    Negative,
    /// Not a JSON number: a string (even `"123"`), a bool, an object, or a token such as `NaN` or `0x10`.
    NotANumber,
    /// A token count with a fractional part.
    Fractional,
    /// Above the bound (or beyond what a float holds, such as `1e400`).
    TooLarge,
}

impl Implausible {
    pub fn as_str(self) -> &'static str {
        match self {
            Implausible::Negative => "negative",
            Implausible::NotANumber => "not a number",
            Implausible::Fractional => "not a whole number",
            Implausible::TooLarge => "beyond the plausible bound",
        }
    }
}

/// One implausible number of a line: which field, why, and its raw JSON text (cut to [`MAX_RAW_CHARS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberAnomaly {
    pub field: NumberField,
    pub reason: Implausible,
    pub raw: String,
}

impl NumberAnomaly {
    pub(crate) fn new(field: NumberField, reason: Implausible, raw: &str) -> Self {
        NumberAnomaly {
            field,
            reason,
            raw: crate::fields::truncate_chars(raw, MAX_RAW_CHARS),
        }
    }
}

impl std::fmt::Display for NumberAnomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = match (self.reason, self.field) {
            (Implausible::TooLarge, NumberField::CostUsd) => {
                format!(" ({MAX_COST_USD_PER_LINE})")
            }
            (Implausible::TooLarge, _) => format!(" ({MAX_TOKENS_PER_FIELD})"),
            _ => String::new(),
        };
        write!(
            f,
            "{} = {}: {}{bound}; the response is not counted",
            self.field.as_str(),
            self.raw,
            self.reason.as_str()
        )
    }
}

/// The value of a JSON number token, if `text` is one (optional `-`, then a digit, then digits, `.`, `e`, signs).
/// Rust's float syntax is wider (`inf`, `NaN`, `+1`, `.5`); those are not JSON numbers.
fn json_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if !digits
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    text.parse::<f64>().ok()
}

fn is_absent(raw: Option<&str>) -> bool {
    matches!(raw, None | Some("null"))
}

/// A token count: `Ok(0)` when absent or `null`, the count when plausible.
pub fn token_count(raw: Option<&str>) -> Result<u64, Implausible> {
    let Some(text) = raw else { return Ok(0) };
    // Fast path: a plain run of digits, as Claude Code writes every count.
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Ok(n) = text.parse::<u64>() {
            return if n <= MAX_TOKENS_PER_FIELD {
                Ok(n)
            } else {
                Err(Implausible::TooLarge)
            };
        }
    }
    if is_absent(raw) {
        return Ok(0);
    }
    let value = json_number(text).ok_or(Implausible::NotANumber)?;
    if value < 0.0 {
        return Err(Implausible::Negative);
    }
    if !value.is_finite() || value > MAX_TOKENS_PER_FIELD as f64 {
        return Err(Implausible::TooLarge);
    }
    if value.fract() != 0.0 {
        return Err(Implausible::Fractional);
    }
    Ok(value as u64)
}

/// A reported cost in USD: `Ok(None)` when absent or `null`, the amount when plausible.
pub fn cost_usd(raw: Option<&str>) -> Result<Option<f64>, Implausible> {
    if is_absent(raw) {
        return Ok(None);
    }
    let value = raw.and_then(json_number).ok_or(Implausible::NotANumber)?;
    if value < 0.0 {
        return Err(Implausible::Negative);
    }
    if !value.is_finite() || value > MAX_COST_USD_PER_LINE {
        return Err(Implausible::TooLarge);
    }
    // `-0` reads as 0.
    Ok(Some(value.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_token_counts_are_whole_numbers_up_to_the_bound() {
        assert_eq!(token_count(None), Ok(0));
        assert_eq!(token_count(Some("null")), Ok(0));
        assert_eq!(token_count(Some("0")), Ok(0));
        assert_eq!(token_count(Some("42")), Ok(42));
        assert_eq!(token_count(Some("42.0")), Ok(42));
        assert_eq!(token_count(Some("1e3")), Ok(1000));
        assert_eq!(token_count(Some("-0")), Ok(0));
        assert_eq!(
            token_count(Some(&MAX_TOKENS_PER_FIELD.to_string())),
            Ok(MAX_TOKENS_PER_FIELD)
        );
    }

    #[test]
    fn implausible_token_counts_say_why() {
        let cases = [
            ("-1", Implausible::Negative),
            ("-1e400", Implausible::Negative),
            ("\"123\"", Implausible::NotANumber),
            ("true", Implausible::NotANumber),
            ("{}", Implausible::NotANumber),
            ("NaN", Implausible::NotANumber),
            ("-Infinity", Implausible::NotANumber),
            ("inf", Implausible::NotANumber),
            ("0x10", Implausible::NotANumber),
            ("+5", Implausible::NotANumber),
            ("42.9", Implausible::Fractional),
            ("1e400", Implausible::TooLarge),
            ("1000000001", Implausible::TooLarge),
            ("18446744073709551615", Implausible::TooLarge),
            ("18446744073709551616", Implausible::TooLarge),
            ("9223372036854775807", Implausible::TooLarge),
        ];
        for (raw, reason) in cases {
            assert_eq!(token_count(Some(raw)), Err(reason), "{raw}");
        }
    }

    #[test]
    fn reported_costs_are_finite_non_negative_and_bounded() {
        assert_eq!(cost_usd(None), Ok(None));
        assert_eq!(cost_usd(Some("null")), Ok(None));
        assert_eq!(cost_usd(Some("0.0123")), Ok(Some(0.0123)));
        assert_eq!(cost_usd(Some("-0")), Ok(Some(0.0)));
        assert_eq!(
            cost_usd(Some("10000")),
            Ok(Some(MAX_COST_USD_PER_LINE)),
            "the bound itself is plausible"
        );
        for (raw, reason) in [
            ("1e308", Implausible::TooLarge),
            ("1e400", Implausible::TooLarge),
            ("10000.01", Implausible::TooLarge),
            ("-0.5", Implausible::Negative),
            ("\"0.5\"", Implausible::NotANumber),
            ("NaN", Implausible::NotANumber),
            ("Infinity", Implausible::NotANumber),
        ] {
            assert_eq!(cost_usd(Some(raw)), Err(reason), "{raw}");
        }
    }

    #[test]
    fn an_anomaly_names_the_field_and_keeps_a_short_raw_value() {
        let long = "9".repeat(500);
        let anomaly = NumberAnomaly::new(NumberField::InputTokens, Implausible::TooLarge, &long);
        assert_eq!(anomaly.raw.len(), MAX_RAW_CHARS);
        let text = anomaly.to_string();
        assert!(text.starts_with("usage.input_tokens = 999"), "{text}");
        assert!(
            text.contains("beyond the plausible bound (1000000000)"),
            "{text}"
        );
    }
}
