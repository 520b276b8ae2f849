//! `subagents/agent-<id>.meta.json`: what a subagent was spawned for.

use crate::fields::owned;
use crate::LineError;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a subagent's `.meta.json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubagentMeta {
    pub agent_type: Option<String>,
    pub description: Option<String>,
    /// The parent's `tool_use` id that spawned the subagent.
    pub tool_use_id: Option<String>,
}

#[derive(Deserialize)]
struct RawMeta<'a> {
    #[serde(rename = "agentType", borrow)]
    agent_type: Option<&'a RawValue>,
    #[serde(borrow)]
    description: Option<&'a RawValue>,
    #[serde(rename = "toolUseId", borrow)]
    tool_use_id: Option<&'a RawValue>,
}

/// Parses a whole `.meta.json` file.
pub fn parse_subagent_meta(bytes: &[u8]) -> Result<SubagentMeta, LineError> {
    let text = String::from_utf8_lossy(bytes);
    let raw: RawMeta<'_> =
        serde_json::from_str(text.trim()).map_err(|err| LineError::Malformed(err.to_string()))?;
    Ok(SubagentMeta {
        agent_type: owned(raw.agent_type.map(RawValue::get)),
        description: owned(raw.description.map(RawValue::get)),
        tool_use_id: owned(raw.tool_use_id.map(RawValue::get)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_fields() {
        let m = parse_subagent_meta(
            br#"{"agentType":"general-purpose","description":"d","toolUseId":"toolu_1"}"#,
        )
        .unwrap();
        assert_eq!(m.agent_type.as_deref(), Some("general-purpose"));
        assert_eq!(m.tool_use_id.as_deref(), Some("toolu_1"));
        assert!(parse_subagent_meta(b"not json").is_err());
    }
}
