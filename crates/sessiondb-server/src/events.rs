//! Live events for `GET /api/events`: what a sync or an app changed, broadcast to every subscriber.

use serde::Serialize;
use tokio::sync::broadcast;

/// One change. Serialized as the SSE event's data; `kind` is also its SSE event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `session_created`, `session_appended`, `session_resumed` (a new id continuing another session),
    /// `session_compacted`, `session_ended` (its Claude Code process exited), `session_deleted` (its files are
    /// gone from disk), `transition_recorded`, `sync_finished`, `workflow_changed` (workflow folders were
    /// indexed; for a state manager's save `session_id` is the folder's slug and `related` its project root).
    pub kind: String,
    pub session_id: Option<String>,
    /// For `session_resumed`: the session it continues; for `transition_recorded`: the registry key.
    pub related: Option<String>,
    pub at: String,
}

impl Event {
    pub fn new(kind: &str, session_id: Option<String>, related: Option<String>) -> Event {
        Event {
            kind: kind.to_owned(),
            session_id,
            related,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// The broadcaster; cloning shares it.
#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Events {
        let (sender, _) = broadcast::channel(1024);
        Events { sender }
    }

    pub fn publish(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
