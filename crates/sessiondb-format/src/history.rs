//! `history.jsonl`: the prompt index of interactive sessions, which survives Claude Code's 30-day cleanup.

use crate::fields::{owned, string, truncate_chars};
use crate::time::{epoch_number_to_ms, parse_timestamp_ms};
use crate::{LineError, MAX_TEXT_CHARS};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One prompt typed into an interactive session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryEntry {
    /// What was typed (`display`), cut to [`MAX_TEXT_CHARS`].
    pub display: Option<String>,
    pub timestamp_ms: Option<i64>,
    /// The absolute project dir the prompt was typed in.
    pub project: Option<String>,
    /// Missing in lines written by older versions (1.0.x).
    pub session_id: Option<String>,
}

#[derive(Deserialize)]
struct RawHistory<'a> {
    #[serde(borrow)]
    display: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    project: Option<&'a RawValue>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<&'a RawValue>,
}

/// Parses one `history.jsonl` line.
pub fn parse_history_line(bytes: &[u8]) -> Result<HistoryEntry, LineError> {
    let text = String::from_utf8_lossy(bytes);
    let raw: RawHistory<'_> = serde_json::from_str(text.trim_end())
        .map_err(|err| LineError::Malformed(err.to_string()))?;
    let timestamp_ms = match string(raw.timestamp.map(RawValue::get)) {
        Some(text) => parse_timestamp_ms(&text),
        None => raw
            .timestamp
            .and_then(|t| t.get().parse::<f64>().ok())
            .and_then(epoch_number_to_ms),
    };
    Ok(HistoryEntry {
        display: string(raw.display.map(RawValue::get))
            .map(|d| truncate_chars(d.trim(), MAX_TEXT_CHARS)),
        timestamp_ms,
        project: owned(raw.project.map(RawValue::get)),
        session_id: owned(raw.session_id.map(RawValue::get)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prompt_index_lines_with_and_without_session_ids() {
        let e = parse_history_line(
            br#"{"display":"hello","pastedContents":{},"timestamp":1763000000000,"project":"/home/a/p","sessionId":"s1"}"#,
        )
        .unwrap();
        assert_eq!(e.display.as_deref(), Some("hello"));
        assert_eq!(e.timestamp_ms, Some(1_763_000_000_000));
        assert_eq!(e.project.as_deref(), Some("/home/a/p"));
        assert_eq!(e.session_id.as_deref(), Some("s1"));
        let old =
            parse_history_line(br#"{"display":"/clear","timestamp":1763000000001,"project":"/p"}"#)
                .unwrap();
        assert_eq!(old.session_id, None);
        assert!(parse_history_line(b"{\"display\":").is_err());
    }
}
