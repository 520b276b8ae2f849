//! The JSON API. Every query parameter is declared: an unknown one is a 400, as is a malformed or out-of-range
//! value; bodies over [`crate::MAX_BODY_BYTES`] are a 413. Every route that changes state is wrapped in
//! [`writes`]. Shapes are documented in `openapi.json` (served at
//! `/api/openapi.json`).

use crate::error::ApiError;
use crate::events::Event;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sessiondb_core::{Grouping, Period, SessionFilter, SessionSort, SessionState, UsageQuery};
use sessiondb_service::{BlockSelection, BlocksQuery, ChainStart, Service, SessionQuery};
use tokio_stream::StreamExt;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/:id", get(get_session))
        .route("/api/sessions/:id/messages", get(session_messages))
        .route("/api/sessions/:id/chain", get(session_chain))
        .route(
            "/api/projects",
            writes(get(list_projects).post(post_project)),
        )
        .route("/api/projects/:key/latest-session", get(latest_session))
        .route(
            "/api/projects/:key/transitions",
            writes(get(list_transitions).post(post_transition)),
        )
        .route("/api/projects/:key/chain", get(project_chain))
        .route("/api/usage", get(usage))
        .route("/api/usage/blocks", get(usage_blocks))
        .route("/api/sync", writes(post(sync_now)))
        .route("/api/sync/status", get(sync_status))
        .route("/api/events", get(events))
        .merge(workflow_routes())
}

/// A route with state-changing methods: those must carry JSON and come from this server's own pages
/// (`guard::check_write`). Checked on the route's own methods only, so a method it lacks is still a 405.
fn writes(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.route_layer(axum::middleware::from_fn(crate::guard::check_write))
}

/// `Query` whose rejections (unknown or malformed parameters) are JSON errors.
pub(crate) struct Q<T>(pub T);

#[axum::async_trait]
impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Q(value)),
            Err(rejection) => Err(ApiError::from_rejection(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

/// Parses a JSON body strictly (empty is `None`), with the reason in the 400.
fn json_body<T: DeserializeOwned>(body: &Bytes, required: bool) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ApiError::bad_request("a JSON body is required"))
        } else {
            Ok(None)
        };
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// `ok`, or `degraded` while syncing fails (the index is served as it is; the syncer keeps retrying).
async fn health(State(state): State<AppState>, Q(_): Q<NoParams>) -> Json<serde_json::Value> {
    let sync = state.live.status();
    let status = if sync.last_error.is_some() {
        "degraded"
    } else {
        "ok"
    };
    Json(serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "sync": { "last_error": sync.last_error, "last_error_at": sync.last_error_at, "syncs": sync.syncs },
    }))
}

async fn openapi(Q(_): Q<NoParams>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// A value as the JSON response body.
fn to_json(value: &impl serde::Serialize) -> Result<Json<serde_json::Value>, ApiError> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// The largest `offset` accepted: far past any real list, and well inside every backend's integers.
const MAX_OFFSET: usize = 1_000_000_000;

/// A whole-number query parameter in `min..=max`, with its name and the range in the error.
fn whole(
    value: &Option<String>,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    let Some(text) = value.as_deref() else {
        return Ok(None);
    };
    match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!(
            "{name}: expected a whole number from {min} to {max}, got {:?}",
            truncated(text)
        ))),
    }
}

/// A finite, non-negative amount of US dollars.
fn dollars(value: &Option<String>, name: &str) -> Result<Option<f64>, ApiError> {
    let Some(text) = value.as_deref() else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!(
            "{name}: expected a finite amount of dollars, 0 or more, got {:?}",
            truncated(text)
        ))),
    }
}

/// A value shortened for an error message.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A day (`2026-11-01`) or an instant (RFC 3339) as epoch ms.
fn parse_instant(text: &str, name: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name}: expected YYYY-MM-DD or RFC 3339, got {text:?}"
            ))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsQuery {
    project: Option<String>,
    key: Option<String>,
    model: Option<String>,
    branch: Option<String>,
    since: Option<String>,
    until: Option<String>,
    min_cost: Option<String>,
    q: Option<String>,
    state: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

async fn list_sessions(
    State(state): State<AppState>,
    Q(query): Q<SessionsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = whole(&query.limit, "limit", 1, 500)?.unwrap_or(50);
    let offset = whole(&query.offset, "offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let min_cost = dollars(&query.min_cost, "min_cost")?;
    let since_ms = query
        .since
        .as_deref()
        .map(|s| parse_instant(s, "since"))
        .transpose()?;
    let until_ms = query
        .until
        .as_deref()
        .map(|s| parse_instant(s, "until"))
        .transpose()?;
    let wanted_state = match query.state.as_deref() {
        None => None,
        Some("on_disk") => Some(SessionState::OnDisk),
        Some("deleted") => Some(SessionState::Deleted),
        Some("history_only") => Some(SessionState::HistoryOnly),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state: on_disk, deleted or history_only, not {other:?}"
            )))
        }
    };
    let sort = match query.sort.as_deref().unwrap_or("last_activity") {
        "last_activity" => SessionSort::LastActivity,
        "started" => SessionSort::Started,
        "cost" => SessionSort::Cost,
        "tokens" => SessionSort::Tokens,
        "messages" => SessionSort::Messages,
        _ => {
            return Err(ApiError::bad_request(
                "sort: last_activity, started, cost, tokens or messages",
            ))
        }
    };
    let ascending = match query.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order: asc or desc, not {other:?}"
            )))
        }
    };
    let query = SessionQuery {
        filter: SessionFilter {
            project_dir: query.project,
            since_ms,
            until_ms,
            model: query.model,
            branch: query.branch,
            min_cost_usd: min_cost,
            state: wanted_state,
            sort,
            ascending,
            offset: offset as u64,
            limit: Some(limit as u64),
        },
        key: query.key,
        text: query.q,
    };
    state
        .read(move |store| to_json(&Service::new(store).page(&query)?))
        .await
}

async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| to_json(&Service::new(store).show(&id)?))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    offset: Option<String>,
    limit: Option<String>,
    /// `conversation` (default: user, assistant, system and summary lines) or `all`.
    include: Option<String>,
}

async fn session_messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(query): Q<MessagesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = whole(&query.limit, "limit", 1, 1000)?.unwrap_or(100);
    let all = match query.include.as_deref() {
        None | Some("conversation") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include: conversation or all, not {other:?}"
            )))
        }
    };
    let offset = whole(&query.offset, "offset", 0, MAX_OFFSET)?.unwrap_or(0);
    state
        .read(move |store| to_json(&Service::new(store).messages(&id, !all, offset, limit)?))
        .await
}

async fn session_chain(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| to_json(&Service::new(store).chain(&ChainStart::Session(id))?))
        .await
}

async fn list_projects(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(|store| {
            let projects = Service::new(store).projects_overview()?;
            Ok(Json(serde_json::json!({ "projects": projects })))
        })
        .await
}

async fn latest_session(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| to_json(&Service::new(store).latest_for(&key)?))
        .await
}

async fn list_transitions(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| {
            let log = Service::new(store).transitions(Some(&key), None, 0)?;
            Ok(Json(serde_json::json!({ "key": key, "transitions": log })))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    session_id: String,
    source: String,
    note: Option<String>,
}

async fn post_transition(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Some(body) = json_body::<TransitionBody>(&body, true)? else {
        return Err(ApiError::bad_request("a JSON body is required"));
    };
    if body.session_id.trim().is_empty() || body.source.trim().is_empty() {
        return Err(ApiError::bad_request(
            "session_id and source must not be empty",
        ));
    }
    let events = state.events.clone();
    let transition = state
        .read(move |store| {
            let tracked = Service::new(store).track(
                &key,
                &body.session_id,
                &body.source,
                body.note.as_deref(),
                chrono::Utc::now().timestamp_millis(),
                None,
            )?;
            Ok(tracked.transition)
        })
        .await?;
    events.publish(Event::new(
        "transition_recorded",
        Some(transition.session_id.clone()),
        Some(transition.key.clone()),
    ));
    Ok((StatusCode::CREATED, Json(transition)))
}

async fn project_chain(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| to_json(&Service::new(store).chain(&ChainStart::KeyOrDir(key))?))
        .await
}

/// A day parameter (`YYYY-MM-DD`).
fn day(text: &Option<String>, name: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
    text.as_deref()
        .map(|t| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
                ApiError::bad_request(format!(
                    "{name}: expected YYYY-MM-DD, got {:?}",
                    truncated(t)
                ))
            })
        })
        .transpose()
}

/// The `tz` parameter (an IANA name), UTC when absent.
fn time_zone(name: &Option<String>) -> Result<chrono_tz::Tz, ApiError> {
    match name.as_deref() {
        None => Ok(chrono_tz::Tz::UTC),
        Some(name) => name.parse().map_err(|_| {
            ApiError::bad_request(format!("tz: unknown time zone {:?}", truncated(name)))
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    group_by: Option<String>,
    since: Option<String>,
    until: Option<String>,
    tz: Option<String>,
}

async fn usage(
    State(state): State<AppState>,
    Q(params): Q<UsageParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let grouping = match params.group_by.as_deref().unwrap_or("day") {
        "day" => Grouping::Period(Period::Day),
        "week" => Grouping::Period(Period::Week),
        "month" => Grouping::Period(Period::Month),
        "project" => Grouping::Project,
        "model" => Grouping::Model,
        "session" => Grouping::Session,
        "branch" => Grouping::Branch,
        other => {
            return Err(ApiError::bad_request(format!(
                "group_by: day, week, month, project, model, session or branch, not {other:?}"
            )))
        }
    };
    let query = UsageQuery {
        grouping,
        since: day(&params.since, "since")?,
        until: day(&params.until, "until")?,
        tz: time_zone(&params.tz)?,
    };
    state
        .read(move |store| to_json(&Service::new(store).usage(&query)?))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlocksParams {
    since: Option<String>,
    until: Option<String>,
    tz: Option<String>,
    only: Option<String>,
}

async fn usage_blocks(
    State(state): State<AppState>,
    Q(params): Q<BlocksParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let query = UsageQuery {
        grouping: Grouping::Period(Period::Day),
        since: day(&params.since, "since")?,
        until: day(&params.until, "until")?,
        tz: time_zone(&params.tz)?,
    };
    let selection = match params.only.as_deref() {
        None => BlockSelection::All,
        Some("active") => BlockSelection::Active,
        Some("recent") => BlockSelection::Recent,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "only: active or recent, not {other:?}"
            )))
        }
    };
    let (since_ms, until_ms) = query.range_ms();
    let blocks = BlocksQuery {
        since_ms,
        until_ms,
        now_ms: chrono::Utc::now().timestamp_millis(),
        selection,
    };
    state
        .read(move |store| {
            let blocks = Service::new(store).usage_blocks(&blocks)?;
            Ok(Json(serde_json::json!({ "blocks": blocks })))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    dir: Option<std::path::PathBuf>,
}

async fn sync_now(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = json_body::<SyncBody>(&body, false)?;
    let live = state.live.clone();
    let dir = body.and_then(|b| b.dir);
    let result = tokio::task::spawn_blocking(move || live.sync_now(dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match result {
        Ok(report) => Ok(Json(report)),
        Err(message) if message.contains("not one of the served") => {
            Err(ApiError::bad_request(message))
        }
        Err(message) => Err(ApiError::internal(message)),
    }
}

async fn sync_status(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
) -> Json<crate::live::SyncStatus> {
    Json(state.live.status())
}

async fn events(State(state): State<AppState>, Q(_): Q<NoParams>) -> impl IntoResponse {
    let stream = tokio_stream::wrappers::BroadcastStream::new(state.events.subscribe()).filter_map(
        |event| {
            let event = event.ok()?;
            let data = serde_json::to_string(&event).ok()?;
            Some(Ok::<_, std::convert::Infallible>(
                axum::response::sse::Event::default()
                    .event(event.kind.clone())
                    .data(data),
            ))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// Workflow sessions and registered projects: each handler parses, calls the service, returns its answer.

fn workflow_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/workflow-sessions",
            writes(get(list_workflow_sessions).post(post_workflow_session)),
        )
        .route(
            "/api/workflow-sessions/import",
            writes(post(import_workflow_sessions)),
        )
        .route(
            "/api/workflow-sessions/:project/:slug",
            get(get_workflow_session),
        )
        .route(
            "/api/workflow-sessions/:project/:slug/:part",
            writes(get(workflow_artifact).post(change_workflow_session)),
        )
}

/// How the API writes through the state manager: recorded as `api`, and the saved folder indexed before the
/// answer (which carries its row).
/// Tells live pages that a workflow folder changed.
fn announce(state: &AppState, saved: &sessiondb_service::WorkflowSaved) {
    state.events.publish(Event::new(
        "workflow_changed",
        Some(saved.slug.clone()),
        Some(saved.root.clone()),
    ));
}

fn api_write() -> sessiondb_service::WorkflowWrite {
    sessiondb_service::WorkflowWrite {
        source: "api".to_owned(),
        on_save: None,
        index: true,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBody {
    path: std::path::PathBuf,
    name: Option<String>,
}

async fn post_project(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Some(body) = json_body::<ProjectBody>(&body, true)? else {
        return Err(ApiError::bad_request("a JSON body is required"));
    };
    let answer = state
        .read(move |store| {
            let mut service = Service::new(store);
            let project = service.add_project(&body.path, body.name.as_deref(), "api")?;
            let sync = service.sync_workflows(Some(&project.root))?;
            Ok(serde_json::json!({ "project": project, "sync": sync }))
        })
        .await?;
    // The live syncer starts watching the new project's workflow folders.
    state.live.sync_soon();
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowParams {
    project: Option<String>,
    phase: Option<String>,
    min_checkpoints: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

async fn list_workflow_sessions(
    State(state): State<AppState>,
    Q(params): Q<WorkflowParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = whole(&params.limit, "limit", 1, 10_000)?;
    let offset = whole(&params.offset, "offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let query = sessiondb_service::WorkflowQuery {
        project: params.project.filter(|p| !p.is_empty()),
        phase: params.phase.filter(|p| !p.is_empty()),
        min_checkpoints: whole(&params.min_checkpoints, "min_checkpoints", 0, MAX_OFFSET)?
            .map(|n| n as u64),
        limit: limit.map(|n| n as u64),
        offset: offset as u64,
    };
    state
        .read(move |store| {
            let sessions = Service::new(store).workflow_list(&query)?;
            Ok(Json(serde_json::json!({
                "sessions": sessions, "limit": limit, "offset": offset,
            })))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWorkflowBody {
    project: String,
    slug: String,
    title: Option<String>,
    session_type: Option<String>,
    phase: Option<String>,
}

async fn post_workflow_session(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Some(body) = json_body::<NewWorkflowBody>(&body, true)? else {
        return Err(ApiError::bad_request("a JSON body is required"));
    };
    let phase = match body.phase.as_deref() {
        Some(p) => Some(
            sessiondb_core::workflow::Phase::parse(p)
                .ok_or_else(|| ApiError::bad_request("phase must not be empty"))?,
        ),
        None => None,
    };
    let new = sessiondb_service::NewSession {
        slug: body.slug,
        title: body.title,
        session_type: body.session_type,
        phase,
    };
    let saved = state
        .read(move |store| {
            Ok(Service::new(store).workflow_create(&body.project, &new, &api_write())?)
        })
        .await?;
    announce(&state, &saved);
    Ok((StatusCode::CREATED, Json(saved)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    project: String,
}

async fn import_workflow_sessions(
    State(state): State<AppState>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(body) = json_body::<ImportBody>(&body, true)? else {
        return Err(ApiError::bad_request("a JSON body is required"));
    };
    state
        .read(move |store| to_json(&Service::new(store).sync_workflows(Some(&body.project))?))
        .await
}

async fn get_workflow_session(
    State(state): State<AppState>,
    Path((project, slug)): Path<(String, String)>,
    Q(_): Q<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .read(move |store| to_json(&Service::new(store).workflow_get(&project, &slug)?))
        .await
}

/// `spec`, `plan` or `state`, read from the folder now (never from outside the project root).
async fn workflow_artifact(
    State(state): State<AppState>,
    Path((project, slug, part)): Path<(String, String, String)>,
    Q(_): Q<NoParams>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(artifact) = sessiondb_service::Artifact::parse(&part) else {
        return Err(ApiError::not_found(format!(
            "no artifact {:?}: spec, plan or state",
            truncated(&part)
        )));
    };
    let bytes = state
        .read(move |store| Ok(Service::new(store).workflow_artifact(&project, &slug, artifact)?))
        .await?;
    Ok(([(header::CONTENT_TYPE, artifact.content_type())], bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    /// For `phase`.
    phase: Option<String>,
    /// For `checkpoints`: a new checkpoint's title (and optional id), or the id of one done.
    add: Option<String>,
    id: Option<String>,
    done: Option<String>,
    expected_version: Option<u64>,
}

/// `POST …/{slug}/phase` `{"phase", "expected_version"?}` and `POST …/{slug}/checkpoints`
/// `{"add", "id"?}` or `{"done"}`: changes through the state manager.
async fn change_workflow_session(
    State(state): State<AppState>,
    Path((project, slug, part)): Path<(String, String, String)>,
    Q(_): Q<NoParams>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(body) = json_body::<ChangeBody>(&body, true)? else {
        return Err(ApiError::bad_request("a JSON body is required"));
    };
    let version = body.expected_version;
    match part.as_str() {
        "phase" => {
            let Some(phase) = body.phase else {
                return Err(ApiError::bad_request("phase is required"));
            };
            let saved = state
                .read(move |store| {
                    Ok(Service::new(store).workflow_set_phase(
                        &project,
                        &slug,
                        &phase,
                        version,
                        &api_write(),
                    )?)
                })
                .await?;
            announce(&state, &saved);
            to_json(&saved)
        }
        "checkpoints" => {
            let op = match (body.add, body.done) {
                (Some(title), None) => sessiondb_service::CheckpointOp::Add { id: body.id, title },
                (None, Some(id)) => sessiondb_service::CheckpointOp::Complete { id },
                _ => {
                    return Err(ApiError::bad_request(
                        "give either add (a title, with an optional id) or done (an id)",
                    ))
                }
            };
            let saved = state
                .read(move |store| {
                    Ok(Service::new(store).workflow_checkpoint(
                        &project,
                        &slug,
                        &op,
                        version,
                        &api_write(),
                    )?)
                })
                .await?;
            announce(&state, &saved);
            to_json(&saved)
        }
        other => Err(ApiError::not_found(format!(
            "no action {:?}: phase or checkpoints",
            truncated(other)
        ))),
    }
}
