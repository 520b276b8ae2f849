//! `sessiondb resume`: a fuzzy picker over sessions, with fzf/atuin keys.
//!
//! [`Picker`] is the model (query, ranking, selection) and has no I/O, so it is tested directly; [`run_tui`]
//! draws it on the terminal's alternate screen with crossterm. Ranking: the query's words must each match as
//! a subsequence of the session's text (title, first prompt, project, branch, id); tighter and earlier matches
//! score higher; sessions of the current directory come first, then newer ones.

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use sessiondb_core::SessionSummary;
use std::io::Write;

/// One candidate, with its text prepared once.
pub struct Candidate {
    pub session: SessionSummary,
    haystack: String,
    in_cwd: bool,
}

/// The picker's state.
pub struct Picker {
    candidates: Vec<Candidate>,
    pub query: String,
    /// Indices into `candidates`, best first.
    matches: Vec<usize>,
    pub selected: usize,
}

/// Score of `needle` as a subsequence of `haystack` (both lowercase), or `None`. Consecutive characters and
/// matches at word starts score higher; a match that starts early scores higher.
fn subsequence_score(needle: &str, haystack: &str) -> Option<i64> {
    let mut score = 0i64;
    let mut chars = haystack.char_indices().peekable();
    let mut previous: Option<usize> = None;
    let mut first: Option<usize> = None;
    let bytes = haystack.as_bytes();
    for wanted in needle.chars() {
        let (at, _) = chars.by_ref().find(|&(_, c)| c == wanted)?;
        first.get_or_insert(at);
        score += 1;
        if previous.is_some_and(|p| p + 1 == at) {
            score += 4;
        }
        if at == 0 || matches!(bytes.get(at - 1), Some(b' ' | b'/' | b'-' | b'_' | b'.')) {
            score += 3;
        }
        previous = Some(at + wanted.len_utf8() - 1);
    }
    Some(score * 16 - first.unwrap_or(0).min(200) as i64)
}

impl Picker {
    pub fn new(sessions: Vec<SessionSummary>, cwd: &str) -> Picker {
        let candidates: Vec<Candidate> = sessions
            .into_iter()
            .map(|session| {
                let haystack = format!(
                    "{} {} {} {} {}",
                    session.title.as_deref().unwrap_or_default(),
                    session.first_prompt.as_deref().unwrap_or_default(),
                    session.project_dir.as_deref().unwrap_or_default(),
                    session.git_branch.as_deref().unwrap_or_default(),
                    session.session_id
                )
                .to_lowercase();
                let in_cwd = session.project_dir.as_deref() == Some(cwd);
                Candidate {
                    session,
                    haystack,
                    in_cwd,
                }
            })
            .collect();
        let mut picker = Picker {
            candidates,
            query: String::new(),
            matches: Vec::new(),
            selected: 0,
        };
        picker.refilter();
        picker
    }

    /// Recomputes the matches for the current query.
    pub fn refilter(&mut self) {
        let words: Vec<String> = self
            .query
            .to_lowercase()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let mut scored: Vec<(i64, usize)> = self
            .candidates
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let mut total = 0;
                for word in &words {
                    total += subsequence_score(word, &c.haystack)?;
                }
                Some((total, i))
            })
            .collect();
        // Sessions arrive newest first; a stable sort keeps that order among equals.
        scored.sort_by(|a, b| {
            let (ca, cb) = (&self.candidates[a.1], &self.candidates[b.1]);
            cb.in_cwd.cmp(&ca.in_cwd).then(b.0.cmp(&a.0))
        });
        self.matches = scored.into_iter().map(|(_, i)| i).collect();
        self.selected = self.selected.min(self.matches.len().saturating_sub(1));
    }

    pub fn matches(&self) -> impl Iterator<Item = &SessionSummary> {
        self.matches.iter().map(|&i| &self.candidates[i].session)
    }

    pub fn current(&self) -> Option<&SessionSummary> {
        self.matches
            .get(self.selected)
            .map(|&i| &self.candidates[i].session)
    }

    pub fn set_query(&mut self, query: &str) {
        self.query = query.to_owned();
        self.selected = 0;
        self.refilter();
    }

    /// Applies one key; returns `Some(true)` to accept, `Some(false)` to cancel.
    pub fn key(&mut self, key: KeyEvent) -> Option<bool> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => return Some(true),
            KeyCode::Esc => return Some(false),
            KeyCode::Char('c' | 'd' | 'g') if ctrl => return Some(false),
            KeyCode::Up | KeyCode::BackTab => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('p' | 'k') if ctrl => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => self.move_down(),
            KeyCode::Char('n' | 'j') if ctrl => self.move_down(),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => {
                for _ in 0..10 {
                    self.move_down();
                }
            }
            KeyCode::Char('u') if ctrl => self.set_query(""),
            KeyCode::Char('w') if ctrl => {
                let trimmed = self.query.trim_end();
                let cut = trimmed.rfind(' ').map(|i| i + 1).unwrap_or(0);
                let query = self.query[..cut].to_owned();
                self.set_query(&query);
            }
            KeyCode::Backspace => {
                let mut query = self.query.clone();
                query.pop();
                self.set_query(&query);
            }
            KeyCode::Char(c) if !ctrl => {
                let query = format!("{}{c}", self.query);
                self.set_query(&query);
            }
            _ => {}
        }
        None
    }

    fn move_down(&mut self) {
        if self.selected + 1 < self.matches.len() {
            self.selected += 1;
        }
    }
}

fn line_for(s: &SessionSummary, width: usize) -> String {
    let when = s
        .last_activity_at
        .as_deref()
        .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
        .unwrap_or_default();
    let project = s.project_dir.as_deref().unwrap_or("-");
    let project = project.rsplit('/').next().unwrap_or(project);
    let title: String = s
        .title
        .as_deref()
        .unwrap_or("-")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let text = format!(
        "{when}  {:<8}  {:<18}  {}{}",
        &s.session_id.chars().take(8).collect::<String>(),
        project.chars().take(18).collect::<String>(),
        s.git_branch
            .as_deref()
            .map(|b| format!("[{b}] "))
            .unwrap_or_default(),
        title
    );
    text.chars().take(width).collect()
}

/// Draws one frame into `out`.
pub fn draw(out: &mut impl Write, picker: &Picker, width: u16, height: u16) -> std::io::Result<()> {
    let width = width as usize;
    let rows = height.saturating_sub(2) as usize;
    queue!(
        out,
        terminal::Clear(terminal::ClearType::All),
        cursor::MoveTo(0, 0)
    )?;
    let first = picker.selected.saturating_sub(rows.saturating_sub(1));
    for (row, (index, session)) in picker
        .matches()
        .enumerate()
        .skip(first)
        .take(rows)
        .enumerate()
    {
        queue!(out, cursor::MoveTo(0, row as u16))?;
        let text = line_for(session, width.saturating_sub(2));
        if index == picker.selected {
            queue!(
                out,
                style::SetAttribute(style::Attribute::Reverse),
                style::Print(format!("> {text}")),
                style::SetAttribute(style::Attribute::Reset)
            )?;
        } else {
            queue!(out, style::Print(format!("  {text}")))?;
        }
    }
    let count = picker.matches.len();
    queue!(
        out,
        cursor::MoveTo(0, height.saturating_sub(2)),
        style::Print(format!(
            "  {count}/{} sessions  (Enter resume, Esc quit, ^U clear)",
            picker.candidates.len()
        )),
        cursor::MoveTo(0, height.saturating_sub(1)),
        style::Print(format!("> {}", picker.query))
    )?;
    out.flush()
}

/// Runs the picker on the terminal; returns the chosen session.
pub fn run_tui(mut picker: Picker) -> std::io::Result<Option<SessionSummary>> {
    let mut out = std::io::stderr();
    terminal::enable_raw_mode()?;
    execute!(out, terminal::EnterAlternateScreen)?;
    let result = (|| -> std::io::Result<Option<SessionSummary>> {
        loop {
            let (width, height) = terminal::size()?;
            draw(&mut out, &picker, width, height)?;
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => match picker.key(key) {
                    Some(true) => return Ok(picker.current().cloned()),
                    Some(false) => return Ok(None),
                    None => {}
                },
                _ => {}
            }
        }
    })();
    let _ = execute!(out, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiondb_core::SessionState;

    fn session(id: &str, title: &str, project: &str) -> SessionSummary {
        SessionSummary {
            session_id: id.into(),
            project_dir: Some(project.into()),
            title: Some(title.into()),
            first_prompt: None,
            git_branch: None,
            models: vec![],
            started_at: None,
            last_activity_at: None,
            message_count: 1,
            subagent_message_count: 0,
            input_tokens: 0,
            output_tokens: 0,
            cache_creation_tokens: 0,
            cache_read_tokens: 0,
            total_tokens: 0,
            cost_usd: 0.0,
            unpriced_tokens: 0,
            claude_cost_usd: None,
            on_disk: true,
            state: SessionState::OnDisk,
            claude_version: None,
        }
    }

    fn ids(p: &Picker) -> Vec<&str> {
        p.matches().map(|s| s.session_id.as_str()).collect()
    }

    #[test]
    fn current_directory_first_then_recency() {
        let p = Picker::new(
            vec![
                session("a", "newest elsewhere", "/x"),
                session("b", "older here", "/here"),
                session("c", "oldest", "/x"),
            ],
            "/here",
        );
        assert_eq!(ids(&p), ["b", "a", "c"]);
    }

    #[test]
    fn fuzzy_words_match_in_any_field_and_tight_matches_win() {
        let mut p = Picker::new(
            vec![
                session("1", "fix the login bug", "/w/app"),
                session("2", "f-i-x l-o-g-i-n scattered", "/w/other"),
                session("3", "write docs", "/w/app"),
            ],
            "/nowhere",
        );
        p.set_query("fix login");
        assert_eq!(ids(&p), ["1", "2"]);
        p.set_query("app docs");
        assert_eq!(ids(&p), ["3"]);
        p.set_query("zzz");
        assert!(p.current().is_none());
    }

    #[test]
    fn keys_move_edit_accept_and_cancel() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        let mut p = Picker::new(
            vec![session("1", "one", "/a"), session("2", "two", "/a")],
            "/a",
        );
        assert_eq!(p.key(key(KeyCode::Down, KeyModifiers::NONE)), None);
        assert_eq!(p.current().unwrap().session_id, "2");
        p.key(key(KeyCode::Char('p'), KeyModifiers::CONTROL));
        assert_eq!(p.current().unwrap().session_id, "1");
        p.key(key(KeyCode::Char('t'), KeyModifiers::NONE));
        p.key(key(KeyCode::Char('w'), KeyModifiers::NONE));
        assert_eq!(p.query, "tw");
        assert_eq!(ids(&p), ["2"]);
        p.key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(p.query, "");
        assert_eq!(p.key(key(KeyCode::Enter, KeyModifiers::NONE)), Some(true));
        assert_eq!(
            p.key(key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(false)
        );
    }
}
