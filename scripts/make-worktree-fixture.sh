#!/usr/bin/env bash
# Records the fixture of a session that moves into a git worktree, with the real Claude Code CLI against the
# mock API (../shared/real-claude): a session in a repo, a second one that calls EnterWorktree, then
# `claude --continue` in the repo and in the worktree. Writes the config dir's projects/ and history.jsonl,
# steps.jsonl (the id each step reported) and expected.json (which session each dir's --continue took) to
# OUTDIR. Usage: scripts/make-worktree-fixture.sh OUTDIR [CLAUDE_CODE_VERSION]
set -euo pipefail
DEST=$(mkdir -p "$1" && cd "$1" && pwd)
export CLAUDE_CODE_VERSION=${2:-2.1.328}
WORK=/tmp/sessiondb-worktree-fixture
rm -rf "$WORK"
. "$(cd "$(dirname "$0")/../../shared/real-claude" && pwd)/env.sh" "$WORK"
export ENABLE_TOOL_SEARCH=false   # else 2.1.x defers EnterWorktree behind a search tool the mock does not drive
REPO=$WORK/work/repo
mkdir -p "$REPO" && cd "$REPO"
git init -q && git config user.email t@example.invalid && git config user.name t
echo hi >README && git add README && git commit -qm init
: >"$WORK/steps.jsonl"
step() { # step NAME ARGS...: one `claude -p` in $PWD; records the session id it reported
  local name=$1; shift
  set +e; "$CLAUDE_BIN" "$@" --output-format stream-json --verbose >"$WORK/$name.out" 2>"$WORK/$name.err"; local rc=$?; set -e
  python3 - "$WORK/$name.out" "$name" "$rc" "$PWD" >>"$WORK/steps.jsonl" <<'PY'
import json, sys
sid = None
for line in open(sys.argv[1]):
    try: d = json.loads(line)
    except ValueError: continue
    if d.get("type") in ("system", "result") and d.get("session_id"): sid = d["session_id"]
print(json.dumps({"step": sys.argv[2], "rc": int(sys.argv[3]), "cwd": sys.argv[4], "session_id": sid}))
PY
}
step 01-new-in-repo -p "hello repo"
step 02-enter-worktree -p '[[tool:EnterWorktree:{"name":"feat"}]]' --allowedTools EnterWorktree
step 03-continue-in-repo -p "continue in repo" --continue
cd "$REPO/.claude/worktrees/feat"
step 04-continue-in-worktree -p "continue in worktree" --continue
rm -rf "$DEST/projects"
cp -r "$CLAUDE_CONFIG_DIR/projects" "$DEST/"
[ -f "$CLAUDE_CONFIG_DIR/history.jsonl" ] && cp "$CLAUDE_CONFIG_DIR/history.jsonl" "$DEST/"
cp "$WORK/steps.jsonl" "$DEST/"
python3 - "$WORK/steps.jsonl" "$DEST/expected.json" "$REPO" "$("$CLAUDE_BIN" --version)" <<'PY'
import json, sys
steps = {s["step"]: s for s in map(json.loads, open(sys.argv[1]))}
repo = sys.argv[3]
assert all(s["rc"] == 0 for s in steps.values()), steps
moved, stayed = steps["02-enter-worktree"]["session_id"], steps["01-new-in-repo"]["session_id"]
json.dump({
    "cli_version": sys.argv[4],
    "repo": repo,
    "worktree": repo + "/.claude/worktrees/feat",
    "stayed_in_repo": stayed,
    "moved_to_worktree": moved,
    # What the real `claude --continue` took in each dir.
    "continue_heads": {
        repo: steps["03-continue-in-repo"]["session_id"],
        repo + "/.claude/worktrees/feat": steps["04-continue-in-worktree"]["session_id"],
    },
}, open(sys.argv[2], "w"), indent=2)
PY
cat "$DEST/expected.json"
