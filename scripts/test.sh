#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, and `cargo test` (unit, integration on the
# real samples and generated corpora, CLI end-to-end, and the comparison with ccusage).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! scripts/install-peers.sh >/dev/null; then
    echo "!!!!!!!! WARNING: ccusage could not be installed; the ccusage comparison test will be SKIPPED." >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

# The web UI in a real headless Chromium (Debian's chromium; playwright-core from npm drives it).
if [ -x /usr/bin/chromium ] && (cd tests/browser && npm install --no-audit --no-fund >/dev/null); then
    (cd tests/browser && node --test ui.test.mjs)
else
    echo "!!!!!!!! WARNING: browser tests SKIPPED: needs /usr/bin/chromium (apt-get install chromium) and npm." >&2
fi
