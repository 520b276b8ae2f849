#!/usr/bin/env bash
# Install the peer tools the benchmark compares sessiondb against into .peers/.
#
# Idempotent: does nothing when .peers/node_modules/.bin/ccusage already runs.
# Prints the path of the ccusage binary on the last line of stdout.
#
# ccusage is pinned to 20.0.24: 20.0.26's Linux binary package is missing from
# the registry this machine reaches. The npm package's `ccusage` entry is a JS
# launcher (src/cli.js) that runs a native binary shipped in the optional
# dependency @ccusage/ccusage-<os>-<arch>; if npm skips that optional package,
# the launcher installs but cannot run, so the check below runs it for real.
set -euo pipefail

CCUSAGE_VERSION="20.0.24"
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="$root/.peers"
ccusage="$peers/node_modules/.bin/ccusage"

# Prints the version of the installed ccusage, or fails.
ccusage_runs() {
    [[ -x "$ccusage" ]] && "$ccusage" --version 2>/dev/null
}

if version="$(ccusage_runs)"; then
    echo "$version already installed" >&2
else
    if ! command -v npm >/dev/null 2>&1; then
        echo "error: npm not found; install Node.js to get the ccusage peer" >&2
        exit 1
    fi
    echo "installing ccusage@$CCUSAGE_VERSION into $peers" >&2
    mkdir -p "$peers"
    if ! npm install --prefix "$peers" "ccusage@$CCUSAGE_VERSION" --no-audit --no-fund >&2; then
        echo "error: npm install ccusage@$CCUSAGE_VERSION failed (see above)" >&2
        exit 1
    fi
    if ! version="$(ccusage_runs)"; then
        echo "error: ccusage installed but '$ccusage --version' does not run;" \
             "is its native package @ccusage/ccusage-$(uname -s | tr A-Z a-z)-* missing?" >&2
        ls "$peers/node_modules/@ccusage" >&2 2>/dev/null || true
        exit 1
    fi
    echo "installed $version" >&2
fi

echo "$ccusage"
