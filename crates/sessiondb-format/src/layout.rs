//! Where Claude Code keeps a session's transcript: `<config>/projects/<folder>/`, the folder named after the
//! directory the session belongs to (every character outside `[A-Za-z0-9-]` replaced by `-`, per UTF-16 code
//! unit as JavaScript counts them; names over 200 characters are cut there and given a hash suffix). The name
//! is lossy, so the directory itself comes from the lines' `cwd`; this says which `cwd` a folder stands for.
//! `claude --continue` in a directory takes the newest session in that directory's folder, which is how a
//! session that moved into a git worktree (its file relocated to the worktree's folder) belongs to the
//! worktree from then on.

/// Longest folder name Claude Code writes before cutting it and adding a hash.
const MAX_FOLDER_NAME: usize = 200;

/// The folder name Claude Code gives the sessions of `cwd`, before any cut for length.
pub fn project_folder_name(cwd: &str) -> String {
    let mut name = String::with_capacity(cwd.len());
    for c in cwd.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            name.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                name.push('-');
            }
        }
    }
    name
}

/// The project folder a transcript path lies in: the component after the last `/projects/`.
pub fn project_folder_of(path: &str) -> Option<&str> {
    let at = path.rfind("/projects/")?;
    let rest = &path[at + "/projects/".len()..];
    rest.split('/').next().filter(|f| !f.is_empty())
}

/// Whether the transcript at `path` is kept in the folder of `cwd`.
pub fn cwd_names_folder_of(cwd: &str, path: &str) -> bool {
    let Some(folder) = project_folder_of(path) else {
        return false;
    };
    let name = project_folder_name(cwd);
    if name.len() > MAX_FOLDER_NAME {
        folder.len() > MAX_FOLDER_NAME && folder.starts_with(&name[..MAX_FOLDER_NAME])
    } else {
        folder == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_as_claude_code_writes_them() {
        assert_eq!(
            project_folder_name("/tmp/w/my proj.v2_x"),
            "-tmp-w-my-proj-v2-x"
        );
        assert_eq!(
            project_folder_name("/home/alice/work/proj.b_with under score"),
            "-home-alice-work-proj-b-with-under-score"
        );
        assert_eq!(
            project_folder_name("/repo/.claude/worktrees/feat"),
            "-repo--claude-worktrees-feat"
        );
        // JavaScript replaces each UTF-16 code unit: one for é, two for an emoji.
        assert_eq!(project_folder_name("/é/😀"), "-----");
    }

    #[test]
    fn which_cwd_a_folder_stands_for() {
        let moved = "/c/projects/-repo--claude-worktrees-feat/s.jsonl";
        assert!(cwd_names_folder_of("/repo/.claude/worktrees/feat", moved));
        assert!(!cwd_names_folder_of("/repo", moved));
        assert!(cwd_names_folder_of(
            "/repo",
            "/c/projects/-repo/s/subagents/agent-1.jsonl"
        ));
        assert!(cwd_names_folder_of(
            "/repo",
            "/home/me/projects/cfg/projects/-repo/s.jsonl"
        ));
        assert!(!cwd_names_folder_of("/repo", "/c/history.jsonl"));
        let long = format!("/{}", "d".repeat(250));
        let folder = format!("{}-abc123", &project_folder_name(&long)[..200]);
        assert!(cwd_names_folder_of(
            &long,
            &format!("/c/projects/{folder}/s.jsonl")
        ));
    }
}
