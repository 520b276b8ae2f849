//! Sources: where an agent keeps its session files. Each agent is one [`Source`]; Claude Code is the first.

use sessiondb_core::FileKind;
use std::path::{Path, PathBuf};

/// A file a source wants indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The config dir it was found under.
    pub root: PathBuf,
    pub kind: FileKind,
    /// The session its lines belong to when they do not say so themselves.
    pub owner_session: Option<String>,
}

/// Something a walk could not look at (permission denied, a symlink loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryIssue {
    pub path: PathBuf,
    pub detail: String,
}

/// An agent's on-disk layout.
pub trait Source: Send + Sync {
    /// Short name, e.g. `claude-code`.
    fn name(&self) -> &'static str;

    /// Every file under `root` this source knows how to read, sorted by path. Unreadable parts are reported,
    /// never fatal.
    fn discover(&self, root: &Path) -> (Vec<SourceFile>, Vec<DiscoveryIssue>);
}

/// Claude Code: `<root>/projects/<slug>/**/*.jsonl`, `agent-*.meta.json`, and `<root>/history.jsonl`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClaudeCodeSource;

impl Source for ClaudeCodeSource {
    fn name(&self) -> &'static str {
        "claude-code"
    }

    fn discover(&self, root: &Path) -> (Vec<SourceFile>, Vec<DiscoveryIssue>) {
        let mut files = Vec::new();
        let mut issues = Vec::new();
        let history = root.join("history.jsonl");
        if history.is_file() {
            files.push(SourceFile {
                path: history,
                root: root.to_path_buf(),
                kind: FileKind::History,
                owner_session: None,
            });
        }
        let projects = root.join("projects");
        if !projects.is_dir() {
            return (files, issues);
        }
        let walk = walkdir::WalkDir::new(&projects)
            .follow_links(true)
            .sort_by_file_name();
        for item in walk {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    let path = err
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| projects.clone());
                    issues.push(DiscoveryIssue {
                        path,
                        detail: err.to_string(),
                    });
                    continue;
                }
            };
            if !item.file_type().is_file() {
                continue;
            }
            let path = item.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                issues.push(DiscoveryIssue {
                    path: path.to_path_buf(),
                    detail: "file name is not UTF-8; skipped".into(),
                });
                continue;
            };
            let kind = if name.ends_with(".jsonl") {
                FileKind::Transcript
            } else if name.starts_with("agent-") && name.ends_with(".meta.json") {
                FileKind::SubagentMeta
            } else {
                continue;
            };
            files.push(SourceFile {
                owner_session: owner_session(&projects, path),
                path: path.to_path_buf(),
                root: root.to_path_buf(),
                kind,
            });
        }
        (files, issues)
    }
}

/// `projects/<slug>/<id>.jsonl` belongs to `<id>`; anything deeper (`<id>/subagents/…`) to its first folder.
fn owner_session(projects: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(projects).ok()?;
    let parts: Vec<&str> = relative
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    match parts.as_slice() {
        [_slug, file] => file.strip_suffix(".jsonl").map(str::to_owned),
        [_slug, session, _, ..] => Some((*session).to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_follow_the_layout() {
        let p = Path::new("/c/projects");
        let check = |rel: &str, expected: Option<&str>| {
            assert_eq!(owner_session(p, &p.join(rel)).as_deref(), expected, "{rel}");
        };
        check("-home-a/1234.jsonl", Some("1234"));
        check("-home-a/1234/subagents/agent-x.jsonl", Some("1234"));
        check("-home-a/agent-9f.jsonl", Some("agent-9f"));
        check("loose.jsonl", None);
    }
}
