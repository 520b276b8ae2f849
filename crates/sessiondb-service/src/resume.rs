//! Resuming: which sessions can be resumed, the newest one of a dir (what `claude --continue` takes), and the
//! command that resumes one, run from the session's own project dir (Claude Code finds a session only there).

use crate::{Service, ServiceError};
use serde::Serialize;
use sessiondb_core::{newest_resumable_session, SessionFilter, SessionSummary};
use std::path::Path;

/// How to resume one session.
#[derive(Debug, Clone, Serialize)]
pub struct ResumePlan {
    pub session_id: String,
    /// The dir to resume it from: its project dir (else the caller's dir).
    pub dir: String,
    pub dir_exists: bool,
    /// `cd <dir> && <claude> --resume <id>`, quoted for a POSIX shell.
    pub command: String,
    pub session: SessionSummary,
}

/// `cd <dir> && <claude> --resume <id>`, each part quoted for a POSIX shell when it needs it.
pub fn resume_command(dir: &str, claude: &str, session_id: &str) -> String {
    format!(
        "cd {} && {} --resume {}",
        shell_quote(dir),
        shell_quote(claude),
        shell_quote(session_id)
    )
}

/// Quotes `text` for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

impl Service<'_> {
    /// Every session a resume can pick: on disk, with a conversation, newest activity first.
    pub fn resumable_sessions(&self) -> Result<Vec<SessionSummary>, ServiceError> {
        Ok(self
            .store
            .sessions(&SessionFilter::default())?
            .into_iter()
            .filter(|s| s.on_disk && s.message_count > 0)
            .collect())
    }

    /// The session `claude --continue` would take in `dir`.
    pub fn newest_resumable(&self, dir: &str) -> Result<SessionSummary, ServiceError> {
        newest_resumable_session(&*self.store, dir)?
            .ok_or_else(|| ServiceError::NotFound(format!("no resumable session in {dir}")))
    }
}

impl ResumePlan {
    /// The plan for resuming `session` with `claude`, from its project dir (else `fallback_dir`).
    pub fn new(session: SessionSummary, fallback_dir: &str, claude: &str) -> ResumePlan {
        let dir = session
            .project_dir
            .clone()
            .unwrap_or_else(|| fallback_dir.to_owned());
        ResumePlan {
            session_id: session.session_id.clone(),
            dir_exists: Path::new(&dir).is_dir(),
            command: resume_command(&dir, claude, &session.session_id),
            dir,
            session,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_command_survives_a_shell() {
        assert_eq!(
            resume_command("/home/u/my project", "claude", "0b1c"),
            "cd '/home/u/my project' && claude --resume 0b1c"
        );
        assert_eq!(
            resume_command("/tmp/it's", "/opt/claude", "id"),
            "cd '/tmp/it'\\''s' && /opt/claude --resume id"
        );
        assert_eq!(
            resume_command("", "claude", "x"),
            "cd '' && claude --resume x"
        );
    }
}
