#!/usr/bin/env bash
# Sets up and runs every check and test of the workspace: formatting, clippy, `cargo test` (unit, integration on
# the real samples and generated corpora, CLI end to end, the real Claude Code CLI against the mock API, the
# MCP server with the Python `mcp` client and the real CLI, the comparison with ccusage) and the web UI in a
# real headless Chromium.
#
# On a fresh machine it installs what the tests need: Debian packages (chromium, tmux, python3-venv) when run as
# root, else it stops at once with the one command that would; ccusage, the Claude Code CLI and playwright-core
# from the npm registry into project and cache folders; the Python `mcp` package from PyPI into a cache venv.
# It ends with the list of tests that were skipped and why, and fails when CI=true and anything was skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- set-up -----------------------------------------------------------------------------------------------
test -f ../shared/tools/gen_corpus.py || {
    echo "error: ../shared (samples and the corpus generator) must sit next to this checkout" >&2
    exit 1
}
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v npm >/dev/null || missing+=(nodejs npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tmux >/dev/null || missing+=(tmux)
command -v prlimit >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing ${missing[*]} (Debian packages)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "error: the tests need Debian packages that are not installed; run:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

skips="$(pwd)/target/test-skips.log"
mkdir -p target
: >"$skips"
export SESSIONDB_SKIP_LOG="$skips"

# The peers and real parts from the npm registry (idempotent; nothing downloads at test time).
if ! scripts/install-peers.sh >/dev/null; then
    echo "ccusage: scripts/install-peers.sh failed (npm registry)" >>"$skips"
fi
if ! bash ../shared/real-claude/install.sh >/dev/null; then
    echo "the real Claude Code CLI: ../shared/real-claude/install.sh failed (npm registry)" >>"$skips"
fi
# The Python `mcp` package (PyPI), a real MCP client for crates/sessiondb-cli/tests/mcp.rs, in its own venv
# where that test looks for it (pinned: the version the real Claude Code CLI was checked against as a server).
mcp_venv="${XDG_CACHE_HOME:-$HOME/.cache}/sessiondb-tests/python-mcp"
if ! "$mcp_venv/bin/python" -c 'import mcp' 2>/dev/null; then
    if ! { python3 -m venv "$mcp_venv" && "$mcp_venv/bin/pip" install -q "mcp==2.3.0"; } >/dev/null; then
        echo "MCP client tests: pip install mcp==2.3.0 into $mcp_venv failed (PyPI)" >>"$skips"
    fi
fi
browser=yes
if ! (cd tests/browser && npm install --no-audit --no-fund >/dev/null); then
    echo "browser tests: npm install in tests/browser failed (playwright-core)" >>"$skips"
    browser=no
fi

# --- checks and tests -------------------------------------------------------------------------------------
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
if [ "$browser" = yes ]; then
    (cd tests/browser && node --test ui.test.mjs workflow.test.mjs)
fi

# --- what did not run -------------------------------------------------------------------------------------
if [ -s "$skips" ]; then
    echo >&2
    echo "!!!!!!!! SKIPPED (these tests did not run):" >&2
    sed 's/^/!!!!!!!!   /' "$skips" >&2
    if [ "${CI:-}" = true ]; then
        echo "error: CI=true and tests were skipped" >&2
        exit 1
    fi
else
    echo "all tests ran; none skipped" >&2
fi
