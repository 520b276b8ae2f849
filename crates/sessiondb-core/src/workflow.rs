//! Workflow sessions: the folders orchestrators keep under `<project>/agents/sessions/<slug>/` (`state.json`,
//! `spec.md`, `plan.json`). This module holds the rules, without I/O: how a `state.json` of any shape seen in
//! the wild maps to typed facts ([`extract`], configurable per project through [`Mapping`]), which phase
//! transitions a project allows ([`check_transition`]), and the shapes the store keeps and answers
//! ([`WorkflowRecord`], [`WorkflowRow`], [`WorkflowFilter`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Where workflow folders live under a project root.
pub const SESSIONS_DIR: &str = "agents/sessions";
/// A project's mapping config (JSON, [`Mapping`]), relative to its root.
pub const MAPPING_FILE: &str = "agents/sessiondb.json";

/// Where a workflow session stands. The five default phases are typed; a project's own phases are `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Spec,
    Plan,
    Build,
    Review,
    Done,
    Other(String),
}

impl Phase {
    /// The phase a name (or a status that implies one) stands for; `None` for an empty name. Case-insensitive;
    /// `spec_in_progress`, `planning`, `building`, `in_review`, `completed`, … map to the default five.
    pub fn parse(text: &str) -> Option<Phase> {
        let name = text.trim().to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        Some(match name.as_str() {
            "spec" | "specification" | "spec_in_progress" | "specifying" | "draft" | "new"
            | "created" => Phase::Spec,
            "plan" | "planning" | "plan_in_progress" | "planned" => Phase::Plan,
            "build" | "building" | "build_in_progress" | "implementation" | "implementing"
            | "in_progress" => Phase::Build,
            "review" | "in_review" | "reviewing" | "review_in_progress" => Phase::Review,
            "done" | "complete" | "completed" | "finished" | "closed" | "finalized" => Phase::Done,
            _ => Phase::Other(name),
        })
    }

    /// The phase a status implies when a `state.json` has no phase of its own: a known status, else one that
    /// names a phase (`spec_finalized` → spec). `None` when it names none.
    pub fn from_status(status: &str) -> Option<Phase> {
        match Phase::parse(status)? {
            Phase::Other(name) => {
                let words: Vec<&str> = name.split(|c: char| !c.is_ascii_alphanumeric()).collect();
                let has = |w: &[&str]| words.iter().any(|x| w.contains(x));
                if has(&["spec", "specification"]) {
                    Some(Phase::Spec)
                } else if has(&["plan", "planning"]) {
                    Some(Phase::Plan)
                } else if has(&["build", "building", "implementation"]) {
                    Some(Phase::Build)
                } else if has(&["review", "reviewing"]) {
                    Some(Phase::Review)
                } else if has(&["done", "completed", "complete", "finished"]) {
                    Some(Phase::Done)
                } else {
                    None
                }
            }
            known => Some(known),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Phase::Spec => "spec",
            Phase::Plan => "plan",
            Phase::Build => "build",
            Phase::Review => "review",
            Phase::Done => "done",
            Phase::Other(name) => name,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Phase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Phase, D::Error> {
        let text = String::deserialize(d)?;
        Phase::parse(&text).ok_or_else(|| serde::de::Error::custom("empty phase"))
    }
}

/// The default phases, in order.
pub fn default_phases() -> Vec<Phase> {
    vec![
        Phase::Spec,
        Phase::Plan,
        Phase::Build,
        Phase::Review,
        Phase::Done,
    ]
}

/// Why a phase change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("unknown phase {to:?}: this project's phases are {declared}")]
    Unknown { to: String, declared: String },
    #[error("cannot go from {from} to {to}: phases move one step forward ({declared}) or back to an earlier one")]
    Skips {
        from: String,
        to: String,
        declared: String,
    },
}

/// Whether a session may move from `from` to `to` under the declared `phases`: to the next phase, back to any
/// earlier one (rework), or to the same one (a no-op). A session with no phase (or one outside the list) may
/// go to any declared phase.
pub fn check_transition(
    phases: &[Phase],
    from: Option<&Phase>,
    to: &Phase,
) -> Result<(), TransitionError> {
    let declared = || {
        phases
            .iter()
            .map(Phase::as_str)
            .collect::<Vec<_>>()
            .join(" → ")
    };
    let Some(target) = phases.iter().position(|p| p == to) else {
        return Err(TransitionError::Unknown {
            to: to.to_string(),
            declared: declared(),
        });
    };
    let Some(current) = from.and_then(|f| phases.iter().position(|p| p == f)) else {
        return Ok(());
    };
    if target <= current + 1 {
        Ok(())
    } else {
        Err(TransitionError::Skips {
            from: phases[current].to_string(),
            to: to.to_string(),
            declared: declared(),
        })
    }
}

/// How a project's `state.json` maps to columns: for each fact, the JSON pointers tried in order (the first
/// present, non-null one wins). Read from `<project>/agents/sessiondb.json`; fields left out keep their
/// defaults (documented in `docs/workflow.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    pub id: Vec<String>,
    pub title: Vec<String>,
    pub phase: Vec<String>,
    pub status: Vec<String>,
    pub session_type: Vec<String>,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub checkpoints: Vec<String>,
    /// Status values → phase, tried before the built-in status rule (e.g. `{"triage": "spec"}`).
    pub status_phases: BTreeMap<String, String>,
    /// The declared phases, in order, for the state manager's transitions.
    pub phases: Vec<Phase>,
}

fn pointers(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            id: pointers(&["/id", "/session_id", "/sessionId", "/uuid"]),
            title: pointers(&["/title", "/name", "/session_title"]),
            phase: pointers(&["/phase", "/current_phase", "/currentPhase"]),
            status: pointers(&["/status", "/state"]),
            session_type: pointers(&["/session_type", "/sessionType", "/type"]),
            created: pointers(&["/created_at", "/createdAt", "/created"]),
            updated: pointers(&[
                "/updated_at",
                "/updatedAt",
                "/updated",
                "/last_updated",
                "/modified_at",
            ]),
            checkpoints: pointers(&["/checkpoints", "/plan/checkpoints"]),
            status_phases: BTreeMap::new(),
            phases: default_phases(),
        }
    }
}

impl Mapping {
    /// A mapping from a project's config file text; fields left out keep their defaults.
    pub fn from_json(text: &str) -> Result<Mapping, serde_json::Error> {
        let mapping: Mapping = serde_json::from_str(text)?;
        Ok(mapping)
    }
}

/// What a `state.json` says, in typed form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowFacts {
    /// The session's own id, when the file carries one (a renamed folder with the same id is the same session).
    pub id: Option<String>,
    /// `title`, else the first heading of `spec.md`, else the slug.
    pub title: String,
    pub phase: Option<Phase>,
    pub status: Option<String>,
    pub session_type: Option<String>,
    pub created_ms: Option<i64>,
    pub updated_ms: Option<i64>,
    pub checkpoints_total: u64,
    pub checkpoints_done: u64,
}

fn first<'v>(state: &'v Value, pointers: &[String]) -> Option<&'v Value> {
    pointers
        .iter()
        .filter_map(|p| state.pointer(p))
        .find(|v| !v.is_null())
}

/// A scalar as text (numbers too: some orchestrators number their types); `None` for empty strings.
fn text(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// A time as epoch milliseconds: an RFC 3339 string (or a bare date, or a date and time without zone, taken as
/// UTC), or a number of epoch seconds (milliseconds when it is past the year 33658 in seconds).
pub fn parse_time(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            let x = n.as_f64()?;
            if !x.is_finite() || x < 0.0 {
                return None;
            }
            let ms = if x >= 1e12 { x } else { x * 1000.0 };
            (ms < 1e16).then_some(ms as i64)
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
                return Some(t.and_utc().timestamp_millis());
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
                return Some(t.and_utc().timestamp_millis());
            }
            if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
            }
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return parse_time(&Value::from(s.parse::<f64>().ok()?));
            }
            None
        }
        _ => None,
    }
}

/// Whether one checkpoint is done: `true`; an object with `done`/`completed`/`complete: true`, a `status` or
/// `state` of done/completed/complete/finished/passed, or a non-null `completed_at`/`completedAt`/`done_at`.
fn checkpoint_done(item: &Value) -> bool {
    match item {
        Value::Bool(b) => *b,
        Value::String(s) => is_done_word(s),
        Value::Object(map) => {
            ["done", "completed", "complete"]
                .iter()
                .any(|k| map.get(*k) == Some(&Value::Bool(true)))
                || ["status", "state"]
                    .iter()
                    .filter_map(|k| map.get(*k).and_then(Value::as_str))
                    .any(is_done_word)
                || ["completed_at", "completedAt", "done_at", "finished_at"]
                    .iter()
                    .any(|k| map.get(*k).is_some_and(|v| !v.is_null() && v != ""))
        }
        _ => false,
    }
}

fn is_done_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "done" | "completed" | "complete" | "finished" | "passed"
    )
}

/// Checkpoints (total, done): a list of items, or an object keyed by checkpoint id.
fn count_checkpoints(value: Option<&Value>) -> (u64, u64) {
    let items: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(map)) => map.values().collect(),
        _ => return (0, 0),
    };
    let done = items.iter().filter(|i| checkpoint_done(i)).count();
    (items.len() as u64, done as u64)
}

/// The first Markdown heading of `spec.md` (`# Title`, any level), without its marks.
pub fn first_heading(markdown: &str) -> Option<&str> {
    markdown.lines().find_map(|line| {
        let line = line.trim_start();
        let rest = line.trim_start_matches('#');
        (rest.len() < line.len() && (rest.starts_with(' ') || rest.starts_with('\t')))
            .then(|| rest.trim())
            .filter(|t| !t.is_empty())
    })
}

/// The facts in `state`, a `state.json` of folder `slug`; `spec_heading` is the first heading of its `spec.md`.
pub fn extract(
    slug: &str,
    state: &Value,
    spec_heading: Option<&str>,
    mapping: &Mapping,
) -> WorkflowFacts {
    let status = first(state, &mapping.status).and_then(text);
    let phase = first(state, &mapping.phase)
        .and_then(text)
        .and_then(|p| Phase::parse(&p))
        .or_else(|| {
            let status = status.as_deref()?;
            mapping
                .status_phases
                .get(status)
                .and_then(|p| Phase::parse(p))
                .or_else(|| Phase::from_status(status))
        });
    let (checkpoints_total, checkpoints_done) =
        count_checkpoints(first(state, &mapping.checkpoints));
    let title = first(state, &mapping.title)
        .and_then(text)
        .or_else(|| spec_heading.map(str::to_owned).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| slug.to_owned());
    WorkflowFacts {
        id: first(state, &mapping.id).and_then(text),
        title,
        phase,
        status,
        session_type: first(state, &mapping.session_type).and_then(text),
        created_ms: first(state, &mapping.created).and_then(parse_time),
        updated_ms: first(state, &mapping.updated).and_then(parse_time),
        checkpoints_total,
        checkpoints_done,
    }
}

/// A registered project: a directory whose Claude Code sessions and workflow folders belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowProject {
    pub name: String,
    /// Canonical path.
    pub root: String,
    /// `cli`, `config` or `api`.
    pub source: String,
    pub added_at: Option<String>,
}

/// A file's stamp as a sync compares it: size, modification time and (for artifacts) a hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: u64,
}

/// What the store knows of one folder, for a sync to decide what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowFolderState {
    pub slug: String,
    pub state_id: Option<String>,
    /// The stamp of the last `state.json` read whole and well-formed (`None` after an error: read again).
    pub state: Option<FileStamp>,
    pub spec: Option<FileStamp>,
    pub plan: Option<FileStamp>,
    pub on_disk: bool,
    /// Whether a good `state.json` was ever stored.
    pub has_state: bool,
}

/// One folder as a sync writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub project_root: String,
    pub slug: String,
    /// The slug this session had before (a renamed folder whose `state.json` carries the same id).
    pub renamed_from: Option<String>,
    /// The facts and the whole `state.json` text; `None` keeps the last good ones (the file is malformed).
    pub state: Option<(WorkflowFacts, String)>,
    pub state_stamp: Option<FileStamp>,
    pub spec: Option<FileStamp>,
    pub plan: Option<FileStamp>,
    /// The title to use when no good `state.json` was ever read.
    pub fallback_title: String,
    /// Why `state.json` could not be read, if it could not; `None` clears a previous error.
    pub error: Option<String>,
    pub indexed_ms: i64,
}

/// Which workflow sessions a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowFilter {
    /// Canonical root of a project.
    pub project_root: Option<String>,
    pub phase: Option<Phase>,
    pub min_checkpoints: Option<u64>,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// One workflow session as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowRow {
    /// The project's registered name (its root when it is not registered).
    pub project: String,
    pub root: String,
    pub slug: String,
    pub id: Option<String>,
    pub title: String,
    pub phase: Option<Phase>,
    pub status: Option<String>,
    pub session_type: Option<String>,
    pub checkpoints_total: u64,
    pub checkpoints_done: u64,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub on_disk: bool,
    /// The last error reading `state.json` (the row keeps the last good version meanwhile).
    pub error: Option<String>,
    pub has_spec: bool,
    pub has_plan: bool,
    pub indexed_at: Option<String>,
}

/// Workflow sessions of one project root, by phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowCounts {
    pub root: String,
    pub total: u64,
    pub on_disk: u64,
    /// Phase name (`none` for no phase) → count.
    pub by_phase: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(state: Value) -> WorkflowFacts {
        extract("2026-02-16_my-slug", &state, None, &Mapping::default())
    }

    #[test]
    fn phase_field_wins_over_status() {
        let f = facts(json!({"phase": "build", "status": "in_review"}));
        assert_eq!(f.phase, Some(Phase::Build));
        assert_eq!(f.status.as_deref(), Some("in_review"));
    }

    #[test]
    fn status_alone_gives_the_phase() {
        for (status, phase) in [
            ("spec_in_progress", Phase::Spec),
            ("planning", Phase::Plan),
            ("building", Phase::Build),
            ("in_review", Phase::Review),
            ("done", Phase::Done),
            ("spec_finalized", Phase::Spec),
        ] {
            assert_eq!(
                facts(json!({ "status": status })).phase,
                Some(phase),
                "{status}"
            );
        }
        assert_eq!(facts(json!({"status": "blocked"})).phase, None);
    }

    #[test]
    fn a_project_maps_its_own_statuses_and_fields() {
        let mapping = Mapping::from_json(
            r#"{"status_phases": {"triage": "spec"}, "title": ["/meta/headline"], "phases": ["spec", "qa", "done"]}"#,
        )
        .unwrap();
        let f = extract(
            "s",
            &json!({"status": "triage", "meta": {"headline": "H"}}),
            None,
            &mapping,
        );
        assert_eq!(f.phase, Some(Phase::Spec));
        assert_eq!(f.title, "H");
        assert_eq!(mapping.phases[1], Phase::Other("qa".into()));
        assert_eq!(mapping.checkpoints, Mapping::default().checkpoints);
        assert!(Mapping::from_json(r#"{"titel": []}"#).is_err());
    }

    #[test]
    fn checkpoints_as_a_list_of_every_shape() {
        let f = facts(json!({"checkpoints": [
            {"id": "a", "done": true},
            {"id": "b", "done": false},
            {"id": "c", "status": "completed"},
            {"id": "d", "status": "done"},
            {"id": "e", "status": "pending"},
            {"id": "f", "completed_at": "2026-02-16T10:00:00Z"},
            {"id": "g", "completed_at": null},
        ]}));
        assert_eq!((f.checkpoints_total, f.checkpoints_done), (7, 4));
    }

    #[test]
    fn checkpoints_as_an_object_keyed_by_id() {
        let f = facts(json!({"checkpoints": {
            "cp1": {"status": "done"}, "cp2": {"status": "pending"}, "cp3": true, "cp4": {"completedAt": 1771236000}
        }}));
        assert_eq!((f.checkpoints_total, f.checkpoints_done), (4, 3));
        assert_eq!((facts(json!({"checkpoints": "n/a"})).checkpoints_total), 0);
    }

    #[test]
    fn times_as_rfc3339_or_epoch_seconds() {
        let f = facts(json!({"created_at": "2026-02-16T10:00:00+01:00", "updated_at": 1771236000}));
        assert_eq!(f.created_ms, Some(1771232400000));
        assert_eq!(f.updated_ms, Some(1771236000000));
        assert_eq!(parse_time(&json!(1771236000123i64)), Some(1771236000123));
        assert_eq!(parse_time(&json!("2026-02-16")), Some(1771200000000));
        assert_eq!(
            parse_time(&json!("2026-02-16T00:00:00")),
            Some(1771200000000)
        );
        assert_eq!(parse_time(&json!("yesterday")), None);
        assert_eq!(parse_time(&json!(-5)), None);
    }

    #[test]
    fn title_falls_back_to_the_spec_heading_then_the_slug() {
        let m = Mapping::default();
        let heading = first_heading("intro\n\n# Session Database Tracking\n## more");
        assert_eq!(heading, Some("Session Database Tracking"));
        assert_eq!(
            extract("slug", &json!({}), heading, &m).title,
            "Session Database Tracking"
        );
        assert_eq!(
            extract("slug", &json!({"title": "T"}), heading, &m).title,
            "T"
        );
        assert_eq!(
            extract("slug", &json!({"title": ""}), None, &m).title,
            "slug"
        );
        assert_eq!(first_heading("#hashtag\nno heading"), None);
    }

    #[test]
    fn ids_types_and_odd_values() {
        let f = facts(json!({"id": 42, "session_type": "full", "title": ["not", "text"]}));
        assert_eq!(f.id.as_deref(), Some("42"));
        assert_eq!(f.session_type.as_deref(), Some("full"));
        assert_eq!(f.title, "2026-02-16_my-slug");
        // Not an object at all: every fact falls back.
        let f = facts(json!([1, 2]));
        assert_eq!((f.phase, f.checkpoints_total), (None, 0));
    }

    #[test]
    fn transitions_move_one_step_forward_or_back() {
        let p = default_phases();
        assert!(check_transition(&p, Some(&Phase::Spec), &Phase::Plan).is_ok());
        assert!(check_transition(&p, Some(&Phase::Build), &Phase::Spec).is_ok());
        assert!(check_transition(&p, Some(&Phase::Plan), &Phase::Plan).is_ok());
        assert!(check_transition(&p, None, &Phase::Build).is_ok());
        assert!(matches!(
            check_transition(&p, Some(&Phase::Spec), &Phase::Build),
            Err(TransitionError::Skips { .. })
        ));
        assert!(matches!(
            check_transition(&p, Some(&Phase::Spec), &Phase::Other("qa".into())),
            Err(TransitionError::Unknown { .. })
        ));
    }
}
