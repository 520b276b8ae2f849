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

/// Why a dir named as a root is not one; each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootProblem {
    #[error("{dir} does not exist: expected {expected}")]
    Missing {
        dir: PathBuf,
        expected: &'static str,
    },
    #[error("{dir} is not a directory: expected {expected}")]
    NotADir {
        dir: PathBuf,
        expected: &'static str,
    },
    #[error("{dir} is not {expected}{}", .parent.as_ref().map(|p| format!("; it looks like the projects dir of {}: pass that instead", p.display())).unwrap_or_default())]
    NotARoot {
        dir: PathBuf,
        expected: &'static str,
        /// The root `dir` sits in, when `dir` is a part of one (a root's `projects/`).
        parent: Option<PathBuf>,
    },
}

/// An agent's on-disk layout.
pub trait Source: Send + Sync {
    /// Short name, e.g. `claude-code`.
    fn name(&self) -> &'static str;

    /// Whether `dir` is laid out as one of this source's roots (for a dir a user named: a mistyped or
    /// one-level-too-deep path must not be synced, as every file it does not hold would count as deleted).
    fn check_root(&self, dir: &Path) -> Result<(), RootProblem>;

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

    fn check_root(&self, dir: &Path) -> Result<(), RootProblem> {
        const EXPECTED: &str =
            "a Claude config dir such as ~/.claude (holding projects/ or history.jsonl)";
        let owned = || dir.to_path_buf();
        if !dir.exists() {
            return Err(RootProblem::Missing {
                dir: owned(),
                expected: EXPECTED,
            });
        }
        if !dir.is_dir() {
            return Err(RootProblem::NotADir {
                dir: owned(),
                expected: EXPECTED,
            });
        }
        let is_root = |d: &Path| d.join("projects").is_dir() || d.join("history.jsonl").is_file();
        if is_root(dir) {
            return Ok(());
        }
        let parent = dir
            .file_name()
            .is_some_and(|name| name == "projects")
            .then(|| dir.parent())
            .flatten()
            .filter(|p| is_root(p))
            .map(Path::to_path_buf);
        Err(RootProblem::NotARoot {
            dir: owned(),
            expected: EXPECTED,
            parent,
        })
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
    fn a_root_is_a_dir_with_projects_or_history() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("claude");
        std::fs::create_dir_all(root.join("projects/-home-a")).unwrap();
        let source = ClaudeCodeSource;
        assert_eq!(source.check_root(&root), Ok(()));
        match source.check_root(&root.join("projects")) {
            Err(RootProblem::NotARoot {
                parent: Some(parent),
                ..
            }) => assert_eq!(parent, root),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            source.check_root(&root.join("nope")),
            Err(RootProblem::Missing { .. })
        ));
        assert!(matches!(
            source.check_root(&root.join("projects/-home-a")),
            Err(RootProblem::NotARoot { parent: None, .. })
        ));
    }

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
