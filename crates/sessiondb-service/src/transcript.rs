//! A session's transcript as front-ends show it: one page of its archived lines, each turned into a message
//! view (type, role, text, tool calls) or, for a line that cannot be shown, what kept it from being shown.

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::RawLine;

/// One page of a session's messages.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    pub session_id: String,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub messages: Vec<serde_json::Value>,
}

impl Service<'_> {
    /// Lines `offset..offset + limit` of a session (by id or unique prefix): only user, assistant, system and
    /// summary lines when `conversation_only`.
    pub fn messages(
        &self,
        id: &str,
        conversation_only: bool,
        offset: usize,
        limit: usize,
    ) -> Result<MessagePage, ServiceError> {
        let session_id = self.resolve(id)?;
        let (total, lines) =
            self.store
                .session_raw_page(&session_id, conversation_only, offset, limit)?;
        let messages = lines
            .iter()
            .enumerate()
            .map(|(i, line)| line_view(offset + i, line))
            .collect();
        Ok(MessagePage {
            session_id,
            total,
            offset,
            limit,
            messages,
        })
    }
}

/// A line of the archive as the UI shows it: a message, or what kept it from being shown.
pub fn line_view(index: usize, line: &RawLine) -> serde_json::Value {
    let unshown = |reason: &str, length: u64| {
        serde_json::json!({
            "index": index, "type": null, "skipped": reason, "size_bytes": length,
            "text": format!("line of {length} bytes not shown: {}", match reason {
                "too_long" => "over the line-size limit (it is archived; sync did not parse it either)",
                "unreadable" => "in neither the archive nor the file any more",
                _ => "not valid JSON",
            }),
            "tool_uses": [], "tool_results": 0, "is_sidechain": false,
        })
    };
    match line {
        RawLine::Bytes(bytes) => {
            message_view(index, bytes).unwrap_or_else(|| unshown("malformed", bytes.len() as u64))
        }
        RawLine::TooLong { length } => unshown("too_long", *length),
        RawLine::Missing { length } => unshown("unreadable", *length),
    }
}

/// A transcript line as the UI shows it.
fn message_view(index: usize, line: &[u8]) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let message = value.get("message");
    let content = message.and_then(|m| m.get("content"));
    let mut text = String::new();
    let mut tool_uses = Vec::new();
    let mut tool_results = 0;
    match content {
        Some(serde_json::Value::String(s)) => text.push_str(s),
        Some(serde_json::Value::Array(blocks)) => {
            for block in blocks {
                match block.get("type").and_then(|t| t.as_str()) {
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(|t| t.as_str()) {
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(t);
                        }
                    }
                    Some("tool_use") => tool_uses.push(serde_json::json!({
                        "name": block.get("name"),
                        "input": block.get("input").map(|i| {
                            let s = i.to_string();
                            s.chars().take(2000).collect::<String>()
                        }),
                    })),
                    Some("tool_result") => {
                        tool_results += 1;
                        let t = match block.get("content") {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&t);
                    }
                    _ => {}
                }
            }
        }
        _ => {
            for key in ["summary", "customTitle", "aiTitle", "content"] {
                if let Some(s) = value.get(key).and_then(|v| v.as_str()) {
                    text.push_str(s);
                    break;
                }
            }
        }
    }
    let text: String = text.chars().take(20_000).collect();
    Some(serde_json::json!({
        "index": index,
        "type": value.get("type"),
        "subtype": value.get("subtype"),
        "uuid": value.get("uuid"),
        "parent_uuid": value.get("parentUuid"),
        "timestamp": value.get("timestamp"),
        "is_sidechain": value.get("isSidechain").and_then(|v| v.as_bool()).unwrap_or(false),
        "role": message.and_then(|m| m.get("role")),
        "model": message.and_then(|m| m.get("model")),
        "usage": message.and_then(|m| m.get("usage")),
        "text": text,
        "tool_uses": tool_uses,
        "tool_results": tool_results,
    }))
}
