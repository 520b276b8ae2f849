//! One transcript line (`projects/<slug>/<session>.jsonl` and subagent files) to a [`TranscriptEntry`].
//!
//! Every line type is accepted; the fields sessiondb indexes are pulled out and the rest stays in the raw archive.
//! Assistant lines yield a [`Response`] (the API response they belong to, with its usage); `progress` lines that
//! embed a subagent's assistant message yield one too, marked [`ResponseOrigin::EmbeddedInProgress`].

use crate::fields::{count, flag, number, owned, string, truncate_chars};
use crate::numbers::{self, NumberAnomaly, NumberField};
use crate::scan::{object_members, ScanError, Scanner};
use crate::time::{epoch_number_to_ms, parse_timestamp_ms};
use crate::{LineError, LineWarning, MAX_TEXT_CHARS};
use std::borrow::Cow;

/// Token counts of one API response, as written in `message.usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// All cache writes (`cache_creation_input_tokens`) = `cache_write_5m + cache_write_1h`.
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    /// Cache writes with the 5-minute TTL. Lines without the `cache_creation` split count all writes here.
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
}

impl Usage {
    /// All tokens of the response. Saturating: a parsed usage is bounded (see [`crate::numbers`]), but a
    /// `Usage` built elsewhere need not be.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_tokens)
            .saturating_add(self.cache_read_tokens)
    }
}

/// Where a response's usage was read from; real assistant lines are preferred over copies embedded elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseOrigin {
    /// A top-level `type: "assistant"` line.
    AssistantLine,
    /// An assistant message embedded in a `progress` line (`data.message`), as 2.1.3x wrote for subagents.
    EmbeddedInProgress,
}

/// One API response (or one content-block line of it) with its usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `message.id`; with `request_id` the key that deduplicates responses across lines and files.
    pub message_id: Option<String>,
    pub request_id: Option<String>,
    pub model: Option<String>,
    pub usage: Usage,
    /// `costUSD` written by old Claude Code versions (≤ 1.0.8).
    /// Plausible by then: finite, not negative, at most [`crate::MAX_COST_USD_PER_LINE`].
    pub reported_cost_usd: Option<f64>,
    pub origin: ResponseOrigin,
    /// Timestamp of the response itself (differs from the line's for embedded responses).
    pub timestamp_ms: Option<i64>,
    pub uuid: Option<String>,
}

/// One model's totals in a `cost-state` line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelCostState {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: Option<f64>,
}

/// Claude Code's own running cost totals for a session (`type: "cost-state"`, 2.1.3xx).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostState {
    pub total_cost_usd: Option<f64>,
    pub has_unknown_model_cost: bool,
    pub models: Vec<ModelCostState>,
}

/// The indexed fields of one transcript line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TranscriptEntry {
    /// The `type` field (`user`, `assistant`, `system`, `summary`, …); empty if missing.
    pub kind: String,
    pub subtype: Option<String>,
    pub uuid: Option<String>,
    pub parent_uuid: Option<String>,
    pub logical_parent_uuid: Option<String>,
    /// `leafUuid` of `summary` and `last-prompt` lines.
    pub leaf_uuid: Option<String>,
    pub session_id: Option<String>,
    /// `requestSessionId`: the origin session of a line copied by `--fork-session` (2.1.330+).
    pub request_session_id: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub version: Option<String>,
    pub agent_id: Option<String>,
    pub is_sidechain: bool,
    pub is_meta: bool,
    pub is_compact_summary: bool,
    pub role: Option<String>,
    /// A user prompt's text (not tool results, not meta lines), or the title of a title/summary line,
    /// cut to [`MAX_TEXT_CHARS`].
    pub text: Option<String>,
    /// Small JSON kept for queries: `compactMetadata` of compaction boundaries.
    pub details: Option<String>,
    /// The response this assistant line belongs to (boxed, like the two below: most lines have none).
    pub response: Option<Box<Response>>,
    /// A response embedded in a `progress` line.
    pub embedded_response: Option<Box<Response>>,
    pub cost_state: Option<Box<CostState>>,
    /// `agentId` from a tool result's `toolUseResult` (the parent → subagent link).
    pub spawned_agent_id: Option<String>,
}

/// A parsed line and what was odd about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    pub entry: TranscriptEntry,
    pub warning: Option<LineWarning>,
    /// Implausible numbers of the line's response (which is then not in `entry`); empty for almost every line.
    pub anomalies: Vec<NumberAnomaly>,
}

/// The top-level fields sessiondb reads, each the raw JSON text of its value (a span of the line), so that no
/// type surprise fails the line.
#[derive(Default)]
struct RawLine<'a> {
    kind: Option<&'a str>,
    subtype: Option<&'a str>,
    uuid: Option<&'a str>,
    parent_uuid: Option<&'a str>,
    logical_parent_uuid: Option<&'a str>,
    leaf_uuid: Option<&'a str>,
    session_id: Option<&'a str>,
    request_session_id: Option<&'a str>,
    timestamp: Option<&'a str>,
    cwd: Option<&'a str>,
    git_branch: Option<&'a str>,
    version: Option<&'a str>,
    agent_id: Option<&'a str>,
    is_sidechain: Option<&'a str>,
    is_meta: Option<&'a str>,
    is_compact_summary: Option<&'a str>,
    request_id: Option<&'a str>,
    cost_usd: Option<&'a str>,
    /// `message`'s fields when it is an object (read in the same pass: its content is the bulk of the bytes).
    message: Option<RawMessage<'a>>,
    summary: Option<&'a str>,
    custom_title: Option<&'a str>,
    ai_title: Option<&'a str>,
    agent_name: Option<&'a str>,
    last_prompt: Option<&'a str>,
    compact_metadata: Option<&'a str>,
    tool_use_result: ToolResult,
    data: Option<&'a str>,
    total_cost_usd: Option<&'a str>,
    model_usage: Option<&'a str>,
    has_unknown_model_cost: Option<&'a str>,
}

#[derive(Default)]
struct RawMessage<'a> {
    id: Option<&'a str>,
    model: Option<&'a str>,
    role: Option<&'a str>,
    usage: Option<&'a str>,
    content: Option<&'a str>,
}

/// `toolUseResult` reduced, in the same pass, to the `agentId` it reports (its other fields are often large).
#[derive(Default)]
struct ToolResult {
    /// Whether the field was there and not `null`.
    present: bool,
    agent_id: Option<String>,
}

/// Reads the members of the line object at the scanner into a [`RawLine`]; `Ok(None)` when the value is
/// well-formed but not an object.
fn scan_line<'a>(scanner: &mut Scanner<'a>) -> Result<Option<RawLine<'a>>, ScanError> {
    let mut raw = RawLine::default();
    let is_object = scanner.members(|s, key| {
        let slot = match key {
            "type" => &mut raw.kind,
            "subtype" => &mut raw.subtype,
            "uuid" => &mut raw.uuid,
            "parentUuid" => &mut raw.parent_uuid,
            "logicalParentUuid" => &mut raw.logical_parent_uuid,
            "leafUuid" => &mut raw.leaf_uuid,
            "sessionId" => &mut raw.session_id,
            "requestSessionId" => &mut raw.request_session_id,
            "timestamp" => &mut raw.timestamp,
            "cwd" => &mut raw.cwd,
            "gitBranch" => &mut raw.git_branch,
            "version" => &mut raw.version,
            "agentId" => &mut raw.agent_id,
            "isSidechain" => &mut raw.is_sidechain,
            "isMeta" => &mut raw.is_meta,
            "isCompactSummary" => &mut raw.is_compact_summary,
            "requestId" => &mut raw.request_id,
            "costUSD" => {
                // A bad cost (`NaN`, hex) is recorded by name; it does not make the line malformed.
                raw.cost_usd = Some(s.loose_value()?);
                return Ok(());
            }
            "summary" => &mut raw.summary,
            "customTitle" => &mut raw.custom_title,
            "aiTitle" => &mut raw.ai_title,
            "agentName" => &mut raw.agent_name,
            "lastPrompt" => &mut raw.last_prompt,
            "compactMetadata" => &mut raw.compact_metadata,
            "data" => &mut raw.data,
            "totalCostUSD" => &mut raw.total_cost_usd,
            "modelUsage" => &mut raw.model_usage,
            "hasUnknownModelCost" => &mut raw.has_unknown_model_cost,
            "message" => {
                raw.message = scan_message(s)?;
                return Ok(());
            }
            "toolUseResult" => {
                raw.tool_use_result = scan_tool_result(s)?;
                return Ok(());
            }
            _ => return s.skip(),
        };
        *slot = Some(s.value()?);
        Ok(())
    })?;
    Ok(is_object.then_some(raw))
}

fn scan_message<'a>(scanner: &mut Scanner<'a>) -> Result<Option<RawMessage<'a>>, ScanError> {
    let mut message = RawMessage::default();
    let is_object = scanner.members(|s, key| {
        let slot = match key {
            "id" => &mut message.id,
            "model" => &mut message.model,
            "role" => &mut message.role,
            "usage" => &mut message.usage,
            "content" => &mut message.content,
            _ => return s.skip(),
        };
        *slot = Some(s.value()?);
        Ok(())
    })?;
    Ok(is_object.then_some(message))
}

fn scan_tool_result(scanner: &mut Scanner<'_>) -> Result<ToolResult, ScanError> {
    if scanner.peek() == Some(b'n') {
        scanner.skip()?;
        return Ok(ToolResult::default());
    }
    let mut agent_id = None;
    scanner.members(|s, key| {
        if key == "agentId" {
            agent_id = owned(Some(s.value()?));
            Ok(())
        } else {
            s.skip()
        }
    })?;
    Ok(ToolResult {
        present: true,
        agent_id,
    })
}

/// Parses one transcript line (without its trailing newline).
pub fn parse_transcript_line(bytes: &[u8]) -> Result<ParsedLine, LineError> {
    let bytes = trim_line(bytes);
    // simdutf8: the whole line is validated, and std's check was a tenth of the parsing time.
    let mut anomalies = Vec::new();
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => parse_text(text, &mut anomalies).map(|entry| ParsedLine {
            entry,
            warning: None,
            anomalies,
        }),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            parse_text(&text, &mut anomalies).map(|entry| ParsedLine {
                entry,
                warning: Some(LineWarning::InvalidUtf8),
                anomalies,
            })
        }
    }
}

fn trim_line(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &bytes[..end]
}

fn parse_text(
    text: &str,
    anomalies: &mut Vec<NumberAnomaly>,
) -> Result<TranscriptEntry, LineError> {
    let mut scanner = Scanner::new(text);
    let first = scanner.peek();
    let raw = scan_line(&mut scanner).map_err(|err| LineError::Malformed(err.to_string()))?;
    if !scanner.at_end() {
        return Err(LineError::Malformed(
            "trailing characters after the object".into(),
        ));
    }
    match raw {
        Some(raw) => Ok(entry_from_raw(&raw, anomalies)),
        None if first.is_some() => Err(LineError::NotAnObject),
        None => Err(LineError::Malformed("empty line".into())),
    }
}

fn entry_from_raw(raw: &RawLine<'_>, anomalies: &mut Vec<NumberAnomaly>) -> TranscriptEntry {
    let kind = string(raw.kind).map(Cow::into_owned).unwrap_or_default();
    let timestamp_ms = timestamp(raw.timestamp);
    let message = raw.message.as_ref();
    let is_sidechain = flag(raw.is_sidechain);
    let is_meta = flag(raw.is_meta);
    let uuid = owned(raw.uuid);

    let mut entry = TranscriptEntry {
        subtype: owned(raw.subtype),
        parent_uuid: owned(raw.parent_uuid),
        logical_parent_uuid: owned(raw.logical_parent_uuid),
        leaf_uuid: owned(raw.leaf_uuid),
        session_id: owned(raw.session_id),
        request_session_id: owned(raw.request_session_id),
        timestamp_ms,
        cwd: owned(raw.cwd),
        git_branch: owned(raw.git_branch),
        version: owned(raw.version),
        agent_id: owned(raw.agent_id),
        is_sidechain,
        is_meta,
        is_compact_summary: flag(raw.is_compact_summary),
        role: message.and_then(|m| owned(m.role)),
        details: raw.compact_metadata.map(str::to_owned),
        ..TranscriptEntry::default()
    };

    match kind.as_str() {
        "assistant" => {
            if let Some(message) = message {
                entry.response = response_from_message(
                    message,
                    raw.request_id,
                    raw.cost_usd,
                    timestamp_ms,
                    uuid.clone(),
                    ResponseOrigin::AssistantLine,
                    anomalies,
                )
                .map(Box::new);
            }
        }
        "user" => {
            if raw.tool_use_result.present {
                entry.spawned_agent_id = raw.tool_use_result.agent_id.clone();
            } else if !is_meta {
                entry.text = message
                    .and_then(|m| prompt_text(m.content))
                    .map(|t| truncate_chars(t.trim(), MAX_TEXT_CHARS));
            }
        }
        "summary" => entry.text = title(raw.summary),
        "custom-title" => entry.text = title(raw.custom_title),
        "ai-title" => entry.text = title(raw.ai_title),
        "agent-name" => entry.text = title(raw.agent_name),
        "last-prompt" => entry.text = title(raw.last_prompt),
        "cost-state" => {
            entry.cost_state = Some(Box::new(cost_state(
                raw.total_cost_usd,
                raw.model_usage,
                raw.has_unknown_model_cost,
            )))
        }
        "progress" => {
            entry.embedded_response = embedded_response(raw.data, anomalies).map(Box::new)
        }
        _ => {}
    }
    entry.uuid = uuid;
    entry.kind = kind;
    entry
}

fn timestamp(raw: Option<&str>) -> Option<i64> {
    if let Some(text) = string(raw) {
        return parse_timestamp_ms(&text);
    }
    number(raw).and_then(epoch_number_to_ms)
}

fn title(raw: Option<&str>) -> Option<String> {
    string(raw)
        .map(|t| truncate_chars(t.trim(), MAX_TEXT_CHARS))
        .filter(|t| !t.is_empty())
}

fn response_from_message(
    message: &RawMessage<'_>,
    request_id: Option<&str>,
    cost_usd: Option<&str>,
    timestamp_ms: Option<i64>,
    uuid: Option<String>,
    origin: ResponseOrigin,
    anomalies: &mut Vec<NumberAnomaly>,
) -> Option<Response> {
    let found = anomalies.len();
    let usage = usage(message.usage?, anomalies);
    let reported_cost_usd = numbers::cost_usd(cost_usd).unwrap_or_else(|reason| {
        anomalies.push(NumberAnomaly::new(
            NumberField::CostUsd,
            reason,
            cost_usd.unwrap_or_default(),
        ));
        None
    });
    // A response with an implausible number is not counted at all (see `crate::numbers`).
    let usage = usage.filter(|_| anomalies.len() == found)?;
    Some(Response {
        message_id: owned(message.id),
        request_id: owned(request_id),
        model: owned(message.model),
        usage,
        reported_cost_usd,
        origin,
        timestamp_ms,
        uuid,
    })
}

/// The usage object's counts; implausible ones are pushed to `anomalies` (and read as 0: the caller then does
/// not count the response). `None` when `raw` is not an object.
fn usage(raw: &str, anomalies: &mut Vec<NumberAnomaly>) -> Option<Usage> {
    let (mut input, mut output, mut creation, mut read, mut split) = (None, None, None, None, None);
    object_members(raw, |s, key| {
        let slot = match key {
            "input_tokens" => &mut input,
            "output_tokens" => &mut output,
            "cache_creation_input_tokens" => &mut creation,
            "cache_read_input_tokens" => &mut read,
            "cache_creation" => &mut split,
            _ => return s.skip(),
        };
        *slot = Some(s.loose_value()?);
        Ok(())
    })?;
    let mut tokens = |raw: Option<&str>, field: NumberField| {
        numbers::token_count(raw).unwrap_or_else(|reason| {
            anomalies.push(NumberAnomaly::new(field, reason, raw.unwrap_or_default()));
            0
        })
    };
    let input_tokens = tokens(input, NumberField::InputTokens);
    let output_tokens = tokens(output, NumberField::OutputTokens);
    let cache_creation_tokens = tokens(creation, NumberField::CacheCreationInputTokens);
    let cache_read_tokens = tokens(read, NumberField::CacheReadInputTokens);
    let split = split.and_then(|split| {
        let mut one_hour = None;
        object_members(split, |s, key| {
            if key == "ephemeral_1h_input_tokens" {
                one_hour = Some(s.loose_value()?);
                Ok(())
            } else {
                s.skip()
            }
        })
        .map(|()| one_hour)
    });
    let (cache_write_5m, cache_write_1h) = match split {
        Some(split) => {
            let one_hour =
                tokens(split, NumberField::CacheWrite1hTokens).min(cache_creation_tokens);
            // The 5m figure is whatever of the total is not 1h, so the split always adds up.
            (cache_creation_tokens - one_hour, one_hour)
        }
        None => (cache_creation_tokens, 0),
    };
    Some(Usage {
        input_tokens,
        output_tokens,
        cache_creation_tokens,
        cache_read_tokens,
        cache_write_5m,
        cache_write_1h,
    })
}

/// The text of a prompt: a string content, or the first non-blank `text` block of a list.
fn prompt_text(content: Option<&str>) -> Option<Cow<'_, str>> {
    let content = content?;
    if content.starts_with('"') {
        return string(Some(content)).filter(|t| !t.trim().is_empty());
    }
    let mut found = None;
    let mut scanner = Scanner::new(content);
    scanner
        .elements(|s| {
            let (mut kind, mut text) = (None, None);
            s.members(|s, key| {
                let slot = match key {
                    "type" => &mut kind,
                    "text" => &mut text,
                    _ => return s.skip(),
                };
                *slot = Some(s.value()?);
                Ok(())
            })?;
            if found.is_none() && string(kind).as_deref() == Some("text") {
                found = string(text).filter(|t| !t.trim().is_empty());
            }
            Ok(())
        })
        .ok()?;
    found
}

/// The assistant response a `progress` line embeds in `data.message`, if any.
fn embedded_response(data: Option<&str>, anomalies: &mut Vec<NumberAnomaly>) -> Option<Response> {
    let data = data?;
    // Cheap pre-check: most progress lines are hook or bash ticks without any usage.
    if !data.contains("\"usage\"") {
        return None;
    }
    let mut inner = None;
    object_members(data, |s, key| {
        if key == "message" {
            inner = scan_line(s)?;
            Ok(())
        } else {
            s.skip()
        }
    })?;
    let inner = inner?;
    if string(inner.kind).as_deref() != Some("assistant") {
        return None;
    }
    let message = inner.message.as_ref()?;
    response_from_message(
        message,
        inner.request_id,
        inner.cost_usd,
        timestamp(inner.timestamp),
        owned(inner.uuid),
        ResponseOrigin::EmbeddedInProgress,
        anomalies,
    )
}

/// One model's entry of `modelUsage`.
fn model_cost_state(
    model: String,
    scanner: &mut Scanner<'_>,
) -> Result<Option<ModelCostState>, ScanError> {
    let mut state = ModelCostState {
        model,
        ..ModelCostState::default()
    };
    let is_object = scanner.members(|s, key| {
        match key {
            "inputTokens" => state.input_tokens = count(Some(s.value()?)).unwrap_or(0),
            "outputTokens" => state.output_tokens = count(Some(s.value()?)).unwrap_or(0),
            "cacheReadInputTokens" => {
                state.cache_read_tokens = count(Some(s.value()?)).unwrap_or(0)
            }
            "cacheCreationInputTokens" => {
                state.cache_creation_tokens = count(Some(s.value()?)).unwrap_or(0)
            }
            "costUSD" => state.cost_usd = number(Some(s.value()?)),
            _ => s.skip()?,
        }
        Ok(())
    })?;
    Ok(is_object.then_some(state))
}

fn cost_state(
    total: Option<&str>,
    model_usage: Option<&str>,
    has_unknown: Option<&str>,
) -> CostState {
    let mut models: std::collections::BTreeMap<String, ModelCostState> = Default::default();
    if let Some(model_usage) = model_usage {
        let read = object_members(model_usage, |s, key| {
            let model = decode_key(key);
            if let Some(state) = model_cost_state(model.clone(), s)? {
                models.insert(model, state);
            }
            Ok(())
        });
        if read.is_none() {
            models.clear();
        }
    }
    CostState {
        total_cost_usd: number(total),
        has_unknown_model_cost: flag(has_unknown),
        models: models.into_values().collect(),
    }
}

/// An object key as text (keys are handed out as written, escapes and all).
fn decode_key(key: &str) -> String {
    if key.contains('\\') {
        if let Ok(decoded) = serde_json::from_str::<String>(&format!("\"{key}\"")) {
            return decoded;
        }
    }
    key.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> TranscriptEntry {
        parse_transcript_line(line.as_bytes()).unwrap().entry
    }

    #[test]
    fn assistant_line_yields_response_with_cache_split() {
        let e = parse(
            r#"{"parentUuid":"p","isSidechain":false,"cwd":"/w","sessionId":"s1","version":"2.1.44","gitBranch":"main","message":{"id":"msg_1","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":6,"cache_creation_input_tokens":100,"cache_read_input_tokens":4734,"cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"output_tokens":156}},"requestId":"req_1","type":"assistant","uuid":"u1","timestamp":"2025-10-12T12:57:07.449Z"}"#,
        );
        assert_eq!(e.kind, "assistant");
        assert_eq!(e.session_id.as_deref(), Some("s1"));
        assert_eq!(e.parent_uuid.as_deref(), Some("p"));
        let r = e.response.unwrap();
        assert_eq!(r.message_id.as_deref(), Some("msg_1"));
        assert_eq!(r.request_id.as_deref(), Some("req_1"));
        assert_eq!(r.model.as_deref(), Some("claude-sonnet-4-20250514"));
        assert_eq!(r.usage.cache_write_5m, 60);
        assert_eq!(r.usage.cache_write_1h, 40);
        assert_eq!(r.usage.total(), 6 + 156 + 100 + 4734);
        assert_eq!(r.origin, ResponseOrigin::AssistantLine);
    }

    #[test]
    fn cache_writes_without_split_count_as_five_minute() {
        let e = parse(
            r#"{"type":"assistant","message":{"id":"m","model":"x","usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":30}},"requestId":"r"}"#,
        );
        let u = e.response.unwrap().usage;
        assert_eq!((u.cache_write_5m, u.cache_write_1h), (30, 0));
    }

    #[test]
    fn user_prompt_text_from_string_or_blocks_but_not_tool_results() {
        let e = parse(r#"{"type":"user","message":{"role":"user","content":"  fix the bug  "}}"#);
        assert_eq!(e.text.as_deref(), Some("fix the bug"));
        let e = parse(
            r#"{"type":"user","message":{"role":"user","content":[{"type":"image"},{"type":"text","text":"look"}]}}"#,
        );
        assert_eq!(e.text.as_deref(), Some("look"));
        let e = parse(
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"x"}]},"toolUseResult":{"agentId":"a1b2"}}"#,
        );
        assert_eq!(e.text, None);
        assert_eq!(e.spawned_agent_id.as_deref(), Some("a1b2"));
        let e = parse(r#"{"type":"user","isMeta":true,"message":{"content":"caveat"}}"#);
        assert_eq!(e.text, None);
    }

    #[test]
    fn tool_results_of_any_shape_are_tool_results() {
        for result in [
            r#""Error: file not found""#,
            "[1,2]",
            "42",
            r#"{"stdout":"x","agentId":7}"#,
        ] {
            let line = format!(
                r#"{{"type":"user","message":{{"content":[{{"type":"tool_result","content":"x"}}]}},"toolUseResult":{result}}}"#
            );
            let e = parse(&line);
            assert_eq!(e.text, None, "{result}");
            assert_eq!(e.spawned_agent_id, None, "{result}");
        }
    }

    #[test]
    fn odd_field_types_drop_the_field_not_the_line() {
        let e = parse(
            r#"{"type":"user","uuid":42,"sessionId":"s","message":"just a string","isSidechain":"yes","timestamp":1763000000000}"#,
        );
        assert_eq!(e.kind, "user");
        assert_eq!(e.uuid, None);
        assert_eq!(e.session_id.as_deref(), Some("s"));
        assert!(!e.is_sidechain);
        assert_eq!(e.timestamp_ms, Some(1_763_000_000_000));
    }

    #[test]
    fn titles_summaries_and_unknown_types_are_kept() {
        assert_eq!(
            parse(r#"{"type":"summary","summary":"Fix login","leafUuid":"l1"}"#).leaf_uuid,
            Some("l1".into())
        );
        assert_eq!(
            parse(r#"{"type":"custom-title","customTitle":"Mine","sessionId":"s"}"#).text,
            Some("Mine".into())
        );
        assert_eq!(
            parse(r#"{"type":"ai-title","aiTitle":"AI","sessionId":"s"}"#).text,
            Some("AI".into())
        );
        assert_eq!(
            parse(r#"{"type":"brand-new-kind","x":1}"#).kind,
            "brand-new-kind"
        );
    }

    #[test]
    fn cost_state_totals_per_model() {
        let e = parse(
            r#"{"type":"cost-state","sessionId":"s","totalCostUSD":0.004,"modelUsage":{"claude-opus-5-5":{"inputTokens":410,"outputTokens":28,"cacheReadInputTokens":4000,"cacheCreationInputTokens":200,"costUSD":0.004}},"hasUnknownModelCost":false}"#,
        );
        let cs = e.cost_state.unwrap();
        assert_eq!(cs.total_cost_usd, Some(0.004));
        assert_eq!(cs.models.len(), 1);
        assert_eq!(cs.models[0].input_tokens, 410);
    }

    #[test]
    fn progress_lines_embedding_a_subagent_response() {
        let e = parse(
            r#"{"type":"progress","sessionId":"s","timestamp":"2026-02-10T21:58:18.000Z","data":{"message":{"type":"assistant","timestamp":"2026-02-10T21:58:17.856Z","requestId":"req_9","uuid":"e1","message":{"model":"claude-haiku-4-5-20251001","id":"msg_9","usage":{"input_tokens":2,"output_tokens":5}}},"agentId":"a"}}"#,
        );
        let r = e.embedded_response.unwrap();
        assert_eq!(r.origin, ResponseOrigin::EmbeddedInProgress);
        assert_eq!(r.request_id.as_deref(), Some("req_9"));
        assert_eq!(r.timestamp_ms, Some(1_770_760_697_856));
        assert!(
            parse(r#"{"type":"progress","data":{"type":"hook_progress"}}"#)
                .embedded_response
                .is_none()
        );
    }

    #[test]
    fn a_response_with_an_implausible_number_is_not_counted_and_each_bad_field_is_named() {
        let line = |usage: &str, cost: &str| {
            format!(
                r#"{{"type":"assistant","uuid":"u1","costUSD":{cost},"message":{{"id":"m","model":"x","usage":{usage}}},"requestId":"r"}}"#
            )
        };
        let parsed = parse_transcript_line(
            line(
                r#"{"input_tokens":-5,"output_tokens":"123","cache_creation_input_tokens":0x10,"cache_read_input_tokens":NaN,"cache_creation":{"ephemeral_1h_input_tokens":1e400}}"#,
                "Infinity",
            )
            .as_bytes(),
        )
        .unwrap();
        // The line itself is kept (a user sees it in the archive and in its session), its usage is not.
        assert_eq!(parsed.entry.uuid.as_deref(), Some("u1"));
        assert_eq!(parsed.entry.response, None);
        let found: Vec<_> = parsed
            .anomalies
            .iter()
            .map(|a| (a.field, a.reason, a.raw.as_str()))
            .collect();
        use crate::numbers::Implausible::*;
        assert_eq!(
            found,
            [
                (NumberField::InputTokens, Negative, "-5"),
                (NumberField::OutputTokens, NotANumber, "\"123\""),
                (NumberField::CacheCreationInputTokens, NotANumber, "0x10"),
                (NumberField::CacheReadInputTokens, NotANumber, "NaN"),
                (NumberField::CacheWrite1hTokens, TooLarge, "1e400"),
                (NumberField::CostUsd, NotANumber, "Infinity"),
            ]
        );

        let parsed = parse_transcript_line(
            line(r#"{"input_tokens":1,"output_tokens":2}"#, "1e308").as_bytes(),
        )
        .unwrap();
        assert_eq!(parsed.entry.response, None);
        assert_eq!(parsed.anomalies.len(), 1);
        assert_eq!(parsed.anomalies[0].field, NumberField::CostUsd);

        // Sound numbers: no anomaly, the response counts.
        let parsed = parse_transcript_line(
            line(r#"{"input_tokens":1,"output_tokens":2.0}"#, "0.5").as_bytes(),
        )
        .unwrap();
        assert!(parsed.anomalies.is_empty());
        let r = parsed.entry.response.unwrap();
        assert_eq!((r.usage.total(), r.reported_cost_usd), (3, Some(0.5)));
    }

    #[test]
    fn an_embedded_response_with_an_implausible_number_is_not_counted() {
        let parsed = parse_transcript_line(
            br#"{"type":"progress","data":{"message":{"type":"assistant","requestId":"r","message":{"id":"m","usage":{"input_tokens":18446744073709551615,"output_tokens":5}}}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.entry.embedded_response, None);
        assert_eq!(parsed.anomalies[0].field, NumberField::InputTokens);
        assert_eq!(parsed.anomalies[0].raw, "18446744073709551615");
    }

    #[test]
    fn malformed_and_non_object_lines_are_errors() {
        assert!(matches!(
            parse_transcript_line(br#"{"type":"assistant","mess"#),
            Err(LineError::Malformed(_))
        ));
        assert_eq!(parse_transcript_line(b"[1,2]"), Err(LineError::NotAnObject));
    }

    #[test]
    fn non_utf8_bytes_are_replaced_and_flagged() {
        let mut line = br#"{"type":"user","message":{"content":"caf"#.to_vec();
        line.push(0xE9);
        line.extend_from_slice(br#""}}"#);
        let parsed = parse_transcript_line(&line).unwrap();
        assert_eq!(parsed.warning, Some(LineWarning::InvalidUtf8));
        assert_eq!(parsed.entry.text.as_deref(), Some("caf\u{FFFD}"));
    }
}
