//! The tools' inputs: typed, so `rmcp` generates each tool's JSON schema from its type (field docs become the
//! schema's descriptions) and an argument of the wrong type or name is refused before a tool runs (unknown
//! fields are refused too, so a misspelled argument is not silently ignored). What serde cannot check (a day, a
//! time zone, exactly one of two fields) is checked here, as tool errors.

use crate::ToolError;
use chrono::NaiveDate;
use chrono_tz::Tz;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sessiondb_core::{Grouping, Period};
use std::borrow::Cow;

/// A tool's typed arguments. Like `rmcp`'s own `Parameters` (the `#[tool]` macro takes the input schema from
/// any argument of a type named `Parameters`), but an argument that does not deserialize is reported with its
/// name: `limit: invalid type: string "ten", expected u64` rather than only the second half.
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let arguments = serde_json::Value::Object(context.arguments.take().unwrap_or_default());
        serde_path_to_error::deserialize(arguments)
            .map(Parameters)
            .map_err(|err| {
                let path = err.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                // rmcp turns an invalid-params error with this prefix into a tool error (not a protocol error).
                rmcp::ErrorData::invalid_params(
                    format!("failed to deserialize parameters: {at}{}", err.inner()),
                    None,
                )
            })
    }
}

/// How `usage_report` groups usage.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Day,
    /// ISO weeks, Monday first.
    Week,
    Month,
    Session,
    Project,
    Model,
    Branch,
}

impl GroupBy {
    pub fn grouping(self) -> Grouping {
        match self {
            GroupBy::Day => Grouping::Period(Period::Day),
            GroupBy::Week => Grouping::Period(Period::Week),
            GroupBy::Month => Grouping::Period(Period::Month),
            GroupBy::Session => Grouping::Session,
            GroupBy::Project => Grouping::Project,
            GroupBy::Model => Grouping::Model,
            GroupBy::Branch => Grouping::Branch,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageReportInput {
    /// How to group the usage: day, week, month, session, project, model or branch (default: day).
    #[serde(default)]
    pub group_by: GroupBy,
    /// First day included, YYYY-MM-DD, in `tz`.
    pub since: Option<String>,
    /// Last day included, YYYY-MM-DD, in `tz`.
    pub until: Option<String>,
    /// IANA time zone for day boundaries, e.g. Europe/Paris (default: the server's, from --tz or its config).
    pub tz: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatestSessionInput {
    /// A project directory (absolute; a relative one is taken from the server's working directory): the session
    /// `claude --continue` would take there. Give this or `key`.
    pub project: Option<String>,
    /// A registry key an app recorded (with `record_transition` or `sessiondb track`): its session, checked
    /// against the files. Give this or `project`.
    pub key: Option<String>,
    /// Sync the Claude config dirs first, as `sessiondb latest` does (default: true).
    pub sync: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTransitionInput {
    /// The app's own key, e.g. app:project-42.
    pub key: String,
    /// The session id the key now points at (a full id, or a unique prefix of an indexed one).
    pub session_id: String,
    /// Who reports the move, e.g. build, metadata, compact, chat_plan, run.
    pub source: String,
    /// Free text kept with the transition.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionChainInput {
    /// A session id, or a unique prefix of at least 4 characters. Give exactly one of `session_id`, `project`
    /// and `key`.
    pub session_id: Option<String>,
    /// A project directory: the chain of its newest resumable session.
    pub project: Option<String>,
    /// A registry key: the chain of its session.
    pub key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsInput {
    /// Only sessions in this project directory or below it.
    pub project: Option<String>,
    /// Only sessions with this text (case-insensitive) in a title, a prompt typed into them, their project dir or
    /// branch, or at the start of their id.
    pub text: Option<String>,
    /// At most this many sessions, newest activity first (default: 20).
    pub limit: Option<u64>,
    /// Skip this many sessions first (default: 0).
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSessionInput {
    /// A session id, or a unique prefix of at least 4 characters.
    pub session_id: String,
}

/// The sessions `list_sessions` returns when no limit is given, and the most it returns.
pub const DEFAULT_LIST_LIMIT: u64 = 20;
pub const MAX_LIST_LIMIT: u64 = 1_000;

/// A day as `YYYY-MM-DD` (or `YYYYMMDD`), for the argument `name`.
pub fn parse_day(name: &str, text: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .map_err(|_| {
            ToolError::Invalid(format!(
                "{name}: expected a day as YYYY-MM-DD, got {text:?}"
            ))
        })
}

/// `since` and `until` as days, checked to make a range.
pub fn parse_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ToolError> {
    let since = since.map(|t| parse_day("since", t)).transpose()?;
    let until = until.map(|t| parse_day("until", t)).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ToolError::Invalid(format!(
                "since {s} is after until {u}: expected since <= until"
            )));
        }
    }
    Ok((since, until))
}

/// An IANA time zone name.
pub fn parse_tz(text: &str) -> Result<Tz, ToolError> {
    text.parse().map_err(|_| {
        ToolError::Invalid(format!(
            "tz: unknown time zone {text:?} (expected an IANA name such as Europe/Paris)"
        ))
    })
}

/// A project dir as given, made absolute (as the index stores project dirs); an empty one is refused.
pub fn project_dir(text: &str) -> Result<String, ToolError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ToolError::Invalid("project: must not be empty".into()));
    }
    let path = std::path::Path::new(text);
    Ok(std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned())
}

/// A text argument that must not be blank when given.
pub fn non_blank<'a>(name: &str, text: Option<&'a str>) -> Result<Option<&'a str>, ToolError> {
    match text {
        Some(t) if t.trim().is_empty() => {
            Err(ToolError::Invalid(format!("{name}: must not be empty")))
        }
        other => Ok(other),
    }
}
