#!/usr/bin/env python3
"""Benchmark sessiondb against ccusage on generated Claude Code corpora.

For each corpus size (MiB) this script

  1. generates a corpus with gen_corpus.py once and caches it under --workdir,
  2. times `sessiondb sync` into a fresh database (cold), each run followed by one
     `ccusage claude daily` run, so the headline ratio compares runs made in the
     same minutes of a noisy machine,
  3. times `sessiondb sync` again with nothing new (no change),
  4. times `sessiondb usage daily` and `usage session` on the built database,
  5. times `sessiondb sync` after appending about 1 MiB of new responses to a
     few transcripts (the corpus is restored afterwards, so the cache stays valid),
  6. times `ccusage claude session` (offline) on the same dir,

and once per invocation (not per size; --no-picker skips it) it

  7. generates a corpus of --picker-sessions sessions (10,000 by default, cached
     like the others), syncs it into a fresh database, checks with `ls --json`
     that all of them are indexed, and times `sessiondb resume --bench-open`
     (load, rank and draw the first picker frame, then exit); that row and its
     target are added to every size's tables and results file,

records wall time and each child's own peak RSS (from os.wait4), checks every
token total against the generator's manifest, and prints a plain table, a
Markdown table for the README, and workdir/results-<size>.json.

Python 3 standard library only. Run from anywhere:

    scripts/install-peers.sh && python3 bench/run.py --sizes 100,1000
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATOR_CANDIDATES = [
    os.path.join(REPO, "..", "shared", "tools", "gen_corpus.py"),
    "/work/shared/tools/gen_corpus.py",
]
PEERS_BIN = os.path.join(REPO, ".peers", "node_modules", ".bin", "ccusage")
INSTALL_PEERS = os.path.join(REPO, "scripts", "install-peers.sh")

APPEND_BYTES = 1 << 20   # new bytes per append round
APPEND_FILES = 4         # transcripts each round spreads them over
MAX_COPIED_LINE = 256 << 10

# Targets, set for the 1000 MiB corpus.
TARGET_NO_CHANGE_S = 0.100
TARGET_USAGE_S = 0.050
TARGET_LIST_S = 0.100
TARGET_RSS_MIB = 200
# Target for the resume picker, set for an index of 10,000 sessions.
TARGET_PICKER_S = 0.100
PICKER_PROJECTS = 20     # the picker corpus spreads its sessions over this many projects
PICKER_LINES = 6         # lines per session in the picker corpus
COUNT_JSON_ARRAY = "import json, sys; print(len(json.load(sys.stdin)))"

# Step names, in the order they are reported.
COLD = "sessiondb sync, cold (fresh DB)"
NO_CHANGE = "sessiondb sync, no change"
APPEND = "sessiondb sync, +1 MiB appended"
USAGE_DAILY = "sessiondb usage daily --json"
USAGE_SESSION = "sessiondb usage session --json"
USAGE_OTHERS = {g: f"sessiondb usage {g} --json" for g in ("weekly", "monthly", "model", "project")}
LS_PAGE = "sessiondb ls --json -n 50"
LS_ALL = "sessiondb ls --json (every session)"
CC_DAILY = "ccusage claude daily --json --offline"
CC_SESSION = "ccusage claude session --json --offline"
SESSIONDB_STEPS = [COLD, NO_CHANGE, APPEND, USAGE_DAILY, USAGE_SESSION, *USAGE_OTHERS.values(),
                   LS_PAGE, LS_ALL]


def log(msg):
    """Progress goes to stderr so stdout stays the report."""
    print(msg, file=sys.stderr, flush=True)


def loud(msg):
    """A warning that must not be missed."""
    bar = "!" * 78
    log(f"\n{bar}\n!! {msg}\n{bar}\n")


# ---------------------------------------------------------------- children

@dataclass
class ChildRun:
    """One finished child process."""
    argv: list
    seconds: float
    rss_kib: int
    returncode: int
    stdout: bytes
    stderr: bytes

    def check(self):
        """Raise if the child failed, showing its stderr."""
        if self.returncode != 0:
            tail = self.stderr.decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.returncode}:\n{tail}")
        return self

    def json(self):
        """The child's stdout parsed as JSON."""
        return json.loads(self.stdout)


def run_child(argv, env=None):
    """Run argv to completion; measure its wall time and its own peak RSS.

    The child is reaped with os.wait4, whose rusage covers the child and the
    descendants it waited for, so ru_maxrss (KiB on Linux) is this child's
    peak and not the maximum over every child this script ever ran.
    Output goes to temporary files so that large JSON cannot block a pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped
        out.seek(0)
        err.seek(0)
        return ChildRun(list(argv), seconds, usage.ru_maxrss, proc.returncode,
                        out.read(), err.read())


@dataclass
class Step:
    """All runs of one benchmark step."""
    name: str
    runs: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add(self, run):
        self.runs.append(run)
        log(f"    {self.name}: {run.seconds:.3f} s, {run.rss_kib / 1024:.1f} MiB")
        return run

    @property
    def median_s(self):
        return statistics.median(r.seconds for r in self.runs)

    @property
    def min_s(self):
        return min(r.seconds for r in self.runs)

    @property
    def peak_rss_mib(self):
        return max(r.rss_kib for r in self.runs) / 1024

    def to_json(self):
        return {"times_s": [round(r.seconds, 4) for r in self.runs],
                "median_s": round(self.median_s, 4), "min_s": round(self.min_s, 4),
                "peak_rss_mib": round(self.peak_rss_mib, 1), "notes": self.notes}


# ---------------------------------------------------------------- tools

class Sessiondb:
    """The sessiondb binary, pointed at one database file."""

    def __init__(self, binary, db):
        self.binary = binary
        self.db = db

    def cmd(self, *args):
        return [self.binary, "--db", self.db, "--tz", "UTC", *args]

    def remove_db(self):
        """Delete the database, its SQLite side files and its captures (as on a machine that never synced)."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(self.db + suffix)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.db + "-captures", ignore_errors=True)

    def sync(self, corpus):
        return run_child(self.cmd("sync", "--json", corpus)).check()

    def usage(self, group_by):
        return run_child(self.cmd("usage", group_by, "--json")).check()

    def ls(self, *args):
        return run_child(self.cmd("ls", "--json", *args)).check()

    def count_sessions(self):
        """How many sessions `ls --json` lists, counted by a separate Python process.

        Not parsed here: every child this script starts reports at least this
        process's own peak RSS as its ru_maxrss (it is inherited through fork and
        exec), and 10,000 parsed sessions would raise that peak for all later steps.
        """
        with tempfile.TemporaryFile() as listing:
            subprocess.run(self.cmd("ls", "--json"), stdin=subprocess.DEVNULL, stdout=listing,
                           check=True)
            listing.seek(0)
            counted = subprocess.run([sys.executable, "-c", COUNT_JSON_ARRAY], stdin=listing,
                                     stdout=subprocess.PIPE, check=True)
        return int(counted.stdout)

    def picker_open(self):
        """`resume --bench-open`: load, rank and draw the first picker frame, print `57.4 ms`."""
        return run_child(self.cmd("resume", "--bench-open"))

    def version(self):
        return run_child([self.binary, "--version"]).check().stdout.decode().strip()


class Ccusage:
    """The ccusage peer, run offline on one config dir."""

    def __init__(self, binary):
        self.binary = binary

    def report(self, corpus, kind):
        env = dict(os.environ, CLAUDE_CONFIG_DIR=corpus, TZ="UTC")
        return run_child([self.binary, "claude", kind, "--json", "--offline"], env=env)

    def version(self):
        return run_child([self.binary, "--version"]).check().stdout.decode().strip()


def runs_ok(path):
    """Whether `path --version` runs."""
    try:
        return run_child([path, "--version"]).returncode == 0
    except OSError:
        return False


def native_ccusage(launcher):
    """The native binary behind ccusage's npm launcher, or the launcher itself.

    The npm package's `ccusage` is a Node script (src/cli.js) that spawns
    @ccusage/ccusage-<os>-<arch>/bin/ccusage; timing that binary directly
    leaves Node's start-up (tens of ms) out of the comparison.
    """
    real = os.path.realpath(launcher)
    node_modules = os.path.dirname(os.path.dirname(os.path.dirname(real)))
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    osname = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    native = os.path.join(node_modules, "@ccusage", f"ccusage-{osname}-{arch}", "bin", "ccusage")
    if os.access(native, os.X_OK) and runs_ok(native):
        return native
    return launcher


def find_ccusage(given):
    """Resolve the ccusage binary; install the pinned peer if needed. None if unavailable."""
    if given:
        if runs_ok(given):
            return native_ccusage(given)
        loud(f"ccusage at {given} does not run: skipping the ccusage steps")
        return None
    if not runs_ok(PEERS_BIN):
        log(f"ccusage not in {os.path.dirname(PEERS_BIN)}: running {INSTALL_PEERS}")
        subprocess.run([INSTALL_PEERS], stdout=subprocess.DEVNULL)
    if runs_ok(PEERS_BIN):
        return native_ccusage(PEERS_BIN)
    loud("ccusage is NOT installed (scripts/install-peers.sh failed): "
         "only sessiondb is measured, with no comparison")
    return None


# ---------------------------------------------------------------- corpus

def find_generator(given):
    for path in [given] if given else GENERATOR_CANDIDATES:
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    sys.exit("error: gen_corpus.py not found; pass --generator")


def ensure_corpus(generator, workdir, size_mb, seed):
    """Generate the corpus for (size, seed) unless it is cached; return (dir, manifest)."""
    corpus = os.path.join(workdir, f"corpus-{size_mb}mb-seed{seed}")
    recover_interrupted_append(corpus)
    manifest_path = generate_once(generator, corpus, seed, ["--total-mb", str(size_mb)],
                                  f"{size_mb} MiB corpus")
    with open(manifest_path) as f:
        return corpus, json.load(f)


def ensure_picker_corpus(generator, workdir, sessions, seed):
    """The corpus of `sessions` small sessions for the picker, cached; return its dir.

    Its manifest (over 1 MiB of JSON for 10,000 sessions) is not loaded, to keep
    this process's peak RSS, and so every later child's ru_maxrss, where it was.
    """
    corpus = os.path.join(workdir, f"corpus-picker-{sessions}s-seed{seed}")
    gen_args = ["--projects", str(PICKER_PROJECTS),
                "--sessions-per-project", str(sessions // PICKER_PROJECTS),
                "--lines-per-session", str(PICKER_LINES)]
    generate_once(generator, corpus, seed, gen_args, f"{sessions:,}-session corpus")
    return corpus


def generate_once(generator, corpus, seed, gen_args, what):
    """Run gen_corpus.py into `corpus` unless it is cached; return its manifest's path.

    The manifest is written last, so its presence marks a complete corpus.
    """
    manifest_path = os.path.join(corpus, "corpus-manifest.json")
    if os.path.isfile(manifest_path):
        log(f"  using cached corpus {corpus}")
    else:
        log(f"  generating {what} (seed {seed}) into {corpus} ...")
        start = time.perf_counter()
        subprocess.run([sys.executable, generator, "--out", corpus, "--seed", str(seed),
                        *gen_args, "--force"],
                       check=True, stdout=sys.stderr)
        log(f"  generated in {time.perf_counter() - start:.0f} s")
    return manifest_path


def corpus_files(corpus):
    """Every regular file under the corpus dir, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames.sort()
        found.extend(os.path.join(dirpath, n) for n in sorted(filenames))
    return found


def count_files(corpus):
    """(files, bytes) under the corpus dir, without holding a list of 10,000s of paths."""
    n_files = n_bytes = 0
    for dirpath, _, filenames in os.walk(corpus):
        n_files += len(filenames)
        n_bytes += sum(os.path.getsize(os.path.join(dirpath, n)) for n in filenames)
    return n_files, n_bytes


def warm_page_cache(corpus):
    """Read every file once so that no timed run pays for the disk. Returns bytes."""
    total = 0
    for path in corpus_files(corpus):
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                total += len(chunk)
    return total


def main_transcripts(corpus):
    """projects/<slug>/<session>.jsonl, not sub-agent files."""
    projects = os.path.join(corpus, "projects")
    found = []
    for slug in sorted(os.listdir(projects)):
        d = os.path.join(projects, slug)
        if os.path.isdir(d):
            found.extend(os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".jsonl"))
    return found


# ---------------------------------------------------------------- appends

def journal_path(corpus):
    """Where the original sizes of appended-to files are kept until restored."""
    return corpus.rstrip("/") + ".append-journal.json"


def recover_interrupted_append(corpus):
    """Undo appends left behind by a run that was killed before restoring."""
    if undo_appends(corpus):
        log("  restored transcripts left appended by an interrupted run")


def undo_appends(corpus):
    """Truncate appended transcripts back to the sizes and times in the journal."""
    path = journal_path(corpus)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        originals = json.load(f)
    for file, (size, atime_ns, mtime_ns) in originals.items():
        os.truncate(file, size)
        os.utime(file, ns=(atime_ns, mtime_ns))
    os.remove(path)
    return True


def iso_ms(t):
    """Claude Code's timestamp format: 2025-06-25T10:11:12.345Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def dumps(obj):
    """Compact JSON with raw UTF-8, like Claude Code writes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def line_tokens(obj):
    usage = obj["message"]["usage"]
    return (usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
            + usage.get("cache_creation_input_tokens", 0)
            + usage.get("cache_read_input_tokens", 0))


@dataclass
class Target:
    """A transcript being appended to, and where its conversation stands."""
    path: str
    size: int
    envelope: dict      # sessionId, cwd, version, gitBranch of its lines
    last_uuid: str
    last_time: dt.datetime


def read_target(path):
    """The state at the end of a transcript, or None if it has no usable last line."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(b"\n"):
        return None  # ends in a partial write: appending would corrupt a line
    for raw in reversed(data.split(b"\n")):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if obj.get("uuid") and obj.get("timestamp") and obj.get("sessionId"):
            env = {k: obj[k] for k in ("sessionId", "cwd", "version", "gitBranch") if k in obj}
            when = dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00"))
            return Target(path, len(data), env, obj["uuid"], when)
    return None


class Appender:
    """Appends new responses, copied from the corpus's own lines, to a few transcripts.

    Each copied user/assistant line gets a new uuid (chained by parentUuid) and
    each assistant line a new message.id and requestId, so every one counts as
    a new response; their token total is known exactly. restore() truncates the
    transcripts back to their original sizes and mtimes.
    """

    def __init__(self, corpus, seed):
        self.corpus = corpus
        self.rng = random.Random(f"append-{seed}")
        transcripts = main_transcripts(corpus)
        self.targets = self._pick_targets(transcripts)
        self.pool = self._line_pool(transcripts)
        self.originals = {}

    def _pick_targets(self, transcripts):
        """APPEND_FILES transcripts (mid-sized when possible) that end in a complete line."""
        mid_sized = [p for p in transcripts if 64 << 10 <= os.path.getsize(p) <= 4 << 20]
        candidates = mid_sized if len(mid_sized) >= APPEND_FILES else transcripts
        targets = []
        for path in self.rng.sample(candidates, len(candidates)):
            target = read_target(path)
            if target:
                targets.append(target)
            if len(targets) == APPEND_FILES:
                break
        if not targets:
            raise RuntimeError("no transcript ending in a complete line to append to")
        return targets

    def _line_pool(self, transcripts):
        """About APPEND_BYTES of real main-chain user/assistant lines, in order."""
        pool, size = [], 0
        for path in transcripts:
            with open(path, "rb") as f:
                for raw in f:
                    if len(raw) > MAX_COPIED_LINE or not raw.endswith(b"\n"):
                        continue
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue
                    if obj.get("type") not in ("user", "assistant") or obj.get("isSidechain"):
                        continue
                    if obj["type"] == "assistant" and (
                            not obj.get("message", {}).get("usage")
                            or obj["message"].get("model") == "<synthetic>"):
                        continue
                    pool.append(obj)
                    size += len(raw)
                    if size >= APPEND_BYTES:
                        return pool
        return pool

    def _new_uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _b62(self, n):
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def _renew(self, obj, target):
        """A copy of obj as the next line of target's conversation."""
        new = json.loads(json.dumps(obj))
        new.update(target.envelope)
        new["parentUuid"] = target.last_uuid
        new["uuid"] = self._new_uuid()
        target.last_time += dt.timedelta(milliseconds=self.rng.randint(500, 5000))
        new["timestamp"] = iso_ms(target.last_time)
        if new["type"] == "assistant":
            new["message"]["id"] = "msg_01" + self._b62(22)
            new["requestId"] = "req_011C" + self._b62(18)
        target.last_uuid = new["uuid"]
        return new

    def append_round(self):
        """Append the pool once, split over the targets. Returns (bytes, tokens)."""
        self._journal()
        per_target = -(-len(self.pool) // len(self.targets))
        added_bytes = added_tokens = 0
        for i, target in enumerate(self.targets):
            chunk = self.pool[i * per_target:(i + 1) * per_target]
            lines = [self._renew(obj, target) for obj in chunk]
            added_tokens += sum(line_tokens(o) for o in lines if o["type"] == "assistant")
            data = "".join(dumps(o) + "\n" for o in lines).encode("utf-8")
            with open(target.path, "ab") as f:
                f.write(data)
            added_bytes += len(data)
        return added_bytes, added_tokens

    def _journal(self):
        """Record original sizes and times before the first append."""
        if self.originals:
            return
        for t in self.targets:
            st = os.stat(t.path)
            self.originals[t.path] = (t.size, st.st_atime_ns, st.st_mtime_ns)
        with open(journal_path(self.corpus), "w") as f:
            json.dump(self.originals, f)

    def restore(self):
        """Truncate the targets back to what they were."""
        if self.originals:
            undo_appends(self.corpus)
            self.originals = {}


# ---------------------------------------------------------------- benchmark

@dataclass
class Check:
    name: str
    expected: int
    got: object

    @property
    def ok(self):
        return self.got == self.expected

    def to_json(self):
        return {"expected": self.expected, "got": self.got, "ok": self.ok}


def sessiondb_total(run):
    return run.json()["totals"]["total_tokens"]


def ccusage_total(run):
    return run.json()["totals"]["totalTokens"]


def note_sync_report(step, run, expect_files_read=None):
    """Keep what a sync report says about the work done; flag surprises."""
    try:
        report = run.json()
    except ValueError:
        step.notes.append("sync --json output is not JSON")
        return None
    read = report.get("files_read")
    if expect_files_read is not None and read != expect_files_read:
        step.notes.append(f"read {read} files, expected {expect_files_read}")
    if report.get("issues"):
        step.notes.append(f"{report['issues']} issues")
    if report.get("discovery_issues"):
        step.notes.append(f"discovery issues: {report['discovery_issues'][:3]}")
    return report


def bench_size(args, size_mb, sdb_bin, ccusage, generator):
    """Run every step on one corpus size; return the result dict."""
    log(f"\n== {size_mb} MiB corpus ==")
    corpus, manifest = ensure_corpus(generator, args.workdir, size_mb, args.seed)
    expected = manifest["expected_dedup"]["tokens"]["total"]
    corpus_bytes = warm_page_cache(corpus)
    n_files = len(corpus_files(corpus))
    db = Sessiondb(sdb_bin, os.path.join(args.workdir, f"sessiondb-{size_mb}mb-seed{args.seed}.db"))
    steps = {name: Step(name) for name in SESSIONDB_STEPS}
    checks = []
    reports = {}

    # Each cold sync is followed by one ccusage daily run: the two measures the headline ratio compares then see
    # the same phases of a noisy machine, instead of one tool's runs all landing in a slow minute.
    log("  sessiondb: cold syncs" + (", each followed by one ccusage daily run" if ccusage else ""))
    daily_run = None
    if ccusage:
        steps[CC_DAILY] = Step(CC_DAILY)
    for _ in range(args.repeat):
        db.remove_db()
        run = steps[COLD].add(db.sync(corpus))
        if ccusage and (daily_run is None or daily_run.returncode == 0):
            daily_run = steps[CC_DAILY].add(ccusage.report(corpus, "daily"))
            if daily_run.returncode != 0:
                steps[CC_DAILY].notes.append(f"exit {daily_run.returncode}: "
                                             + daily_run.stderr.decode("utf-8", "replace")[:300])
    reports["cold"] = note_sync_report(steps[COLD], run)
    if run.stderr:
        steps[COLD].notes.append("stderr: " + run.stderr.decode("utf-8", "replace")[:300])
    db_bytes = sum(os.path.getsize(db.db + s) for s in ("", "-wal") if os.path.exists(db.db + s))
    if reports["cold"]:
        steps[COLD].notes.insert(0, f"{reports['cold'].get('files_read'):,} files, "
                                    f"{reports['cold'].get('bytes_read', 0) / 2**20:,.1f} MiB read; "
                                    f"DB {db_bytes / 2**20:,.1f} MiB")

    log("  sessiondb: no-change syncs")
    for _ in range(args.repeat):
        run = steps[NO_CHANGE].add(db.sync(corpus))
        reports["no_change"] = note_sync_report(steps[NO_CHANGE], run, expect_files_read=0)

    log("  sessiondb: usage reports")
    for _ in range(args.repeat):
        daily = steps[USAGE_DAILY].add(db.usage("daily"))
        steps[USAGE_SESSION].add(db.usage("session"))
        for grouping, name in USAGE_OTHERS.items():
            steps[name].add(db.usage(grouping))
        steps[LS_PAGE].add(db.ls("-n", "50"))
        steps[LS_ALL].add(db.ls())
    checks.append(Check("sessiondb usage daily: total_tokens", expected, sessiondb_total(daily)))

    log(f"  sessiondb: syncs after appending ~{APPEND_BYTES >> 20} MiB each")
    appender = Appender(corpus, args.seed)
    appended_bytes = appended_tokens = 0
    try:
        for _ in range(args.repeat):
            nbytes, ntokens = appender.append_round()
            appended_bytes += nbytes
            appended_tokens += ntokens
            run = steps[APPEND].add(db.sync(corpus))
            reports["append"] = note_sync_report(steps[APPEND], run,
                                                 expect_files_read=len(appender.targets))
        after = db.usage("daily")
        checks.append(Check(f"sessiondb usage daily after appends: total_tokens",
                            expected + appended_tokens, sessiondb_total(after)))
    finally:
        appender.restore()
    read = (reports.get("append") or {}).get("bytes_read", 0)
    steps[APPEND].notes.insert(0, f"{appended_bytes / args.repeat / 2**20:.2f} MiB appended to "
                                  f"{len(appender.targets)} files per run, "
                                  f"{read / 2**20:.2f} MiB read")

    if ccusage:
        if daily_run is not None and daily_run.returncode == 0:
            checks.append(Check("ccusage daily: totalTokens", expected, ccusage_total(daily_run)))
        log("  ccusage: session")
        steps[CC_SESSION] = Step(CC_SESSION)
        for _ in range(args.repeat):
            run = steps[CC_SESSION].add(ccusage.report(corpus, "session"))
            if run.returncode != 0:
                steps[CC_SESSION].notes.append(f"exit {run.returncode}: "
                                                + run.stderr.decode("utf-8", "replace")[:300])
                break
        if run.returncode == 0:
            checks.append(Check("ccusage session: totalTokens", expected, ccusage_total(run)))

    return {
        "size_mb": size_mb, "seed": args.seed, "repeat": args.repeat, "corpus": corpus,
        "corpus_files": n_files, "corpus_bytes": corpus_bytes, "db_bytes_after_cold_sync": db_bytes,
        "expected_total_tokens": expected,
        "steps": {name: s.to_json() for name, s in steps.items()},
        "sync_reports": reports,
        "checks": {c.name: c.to_json() for c in checks},
        "ratios": ratios(steps),
        "targets": targets(steps, db_bytes, corpus_bytes),
    }


def picker_step_name(sessions):
    return f"sessiondb resume --bench-open, {sessions:,} sessions"


def parse_ms(run):
    """The `57.4 ms` that `resume --bench-open` prints, in ms; None if it printed something else."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*ms\s*", run.stdout.decode("utf-8", "replace"))
    return float(m.group(1)) if m else None


def bench_picker(args, sdb_bin, generator):
    """Time opening the resume picker on an index of --picker-sessions sessions; None if it fails.

    Run once per invocation: the corpus is synced into a fresh database once,
    `ls --json` must list exactly that many sessions, then `resume --bench-open`
    runs --repeat times. Each run's wall time and peak RSS cover the whole process
    (start, opening the database, loading, ranking, drawing the first frame);
    the time it prints itself starts at the command and ends at the drawn frame.
    """
    n = args.picker_sessions
    log(f"\n== resume picker, {n:,} sessions ==")
    corpus = ensure_picker_corpus(generator, args.workdir, n, args.seed)
    n_files, corpus_bytes = count_files(corpus)
    db = Sessiondb(sdb_bin, os.path.join(args.workdir, f"sessiondb-picker-{n}s-seed{args.seed}.db"))
    step = Step(picker_step_name(n))

    log("  sessiondb: sync into a fresh database")
    db.remove_db()
    sync = db.sync(corpus)
    db_bytes = sum(os.path.getsize(db.db + s) for s in ("", "-wal") if os.path.exists(db.db + s))
    listed = db.count_sessions()
    check = Check("sessiondb ls --json: sessions", n, listed)
    log(f"  ls --json: {listed:,} sessions, expected {n:,}: {'OK' if check.ok else 'MISMATCH'}")

    log("  sessiondb: resume --bench-open")
    in_process_ms = []
    for _ in range(args.repeat):
        run = step.add(db.picker_open())
        if run.returncode != 0:
            loud(f"`{' '.join(run.argv)}` exited {run.returncode} (does this sessiondb have "
                 f"--bench-open?): no picker measurement\n"
                 + run.stderr.decode("utf-8", "replace")[-500:])
            return None
        in_process_ms.append(parse_ms(run))
    printed = [ms for ms in in_process_ms if ms is not None]
    if len(printed) < len(in_process_ms):
        step.notes.append(f"unparsed output: {run.stdout[:80]!r}")
    if printed:
        step.notes.append(f"in-process {statistics.median(printed):.1f} ms median, "
                          f"{min(printed):.1f} ms min")
    step.notes.append(f"ls --json: {listed:,} sessions {'OK' if check.ok else 'MISMATCH'}")
    step.notes.append(f"{n_files:,} files, {corpus_bytes / 2**20:,.1f} MiB; "
                      f"sync {sync.seconds:.1f} s; DB {db_bytes / 2**20:,.1f} MiB")
    return {
        "sessions": n, "projects": PICKER_PROJECTS, "lines_per_session": PICKER_LINES,
        "seed": args.seed, "repeat": args.repeat, "corpus": corpus, "corpus_files": n_files,
        "corpus_bytes": corpus_bytes,
        "sync_s": round(sync.seconds, 3), "db_bytes": db_bytes,
        "step": step.to_json(),
        "in_process_ms": in_process_ms,
        "in_process_median_ms": round(statistics.median(printed), 1) if printed else None,
        "in_process_min_ms": round(min(printed), 1) if printed else None,
        "check": check.to_json(),
        "target": picker_target(n, step, printed),
    }


def picker_target(sessions, step, printed_ms):
    """The picker goal, met on the median wall time of the whole process."""
    wall_ms = step.median_s * 1000
    value = f"{wall_ms:.1f} ms"
    if printed_ms:
        value += f" (in-process {statistics.median(printed_ms):.1f} ms)"
    return {f"picker opens < {TARGET_PICKER_S * 1000:.0f} ms ({sessions:,} sessions)": {
        "value": value, "met": step.median_s < TARGET_PICKER_S}}


def ratios(steps):
    """How many times longer ccusage takes than the matching sessiondb work."""
    if CC_DAILY not in steps or not steps[CC_DAILY].runs:
        return {}
    med = {name: s.median_s for name, s in steps.items() if s.runs}
    pairs = {
        "ccusage daily / sessiondb cold sync": (CC_DAILY, [COLD]),
        "ccusage daily / sessiondb no-change sync + usage daily": (CC_DAILY, [NO_CHANGE, USAGE_DAILY]),
        "ccusage daily / sessiondb +1 MiB sync + usage daily": (CC_DAILY, [APPEND, USAGE_DAILY]),
        "ccusage daily / sessiondb usage daily": (CC_DAILY, [USAGE_DAILY]),
        "ccusage session / sessiondb usage session": (CC_SESSION, [USAGE_SESSION]),
    }
    out = {}
    for label, (peer, ours) in pairs.items():
        if peer in med:
            out[label] = round(med[peer] / sum(med[s] for s in ours), 2)
    return out


def targets(steps, db_bytes=0, corpus_bytes=0):
    """The goals set for the 1000 MiB corpus, evaluated on this one."""
    rss = max(steps[s].peak_rss_mib for s in SESSIONDB_STEPS)
    out = {
        "no-change sync < 100 ms": {"value": f"{steps[NO_CHANGE].median_s * 1000:.1f} ms",
                                    "met": steps[NO_CHANGE].median_s < TARGET_NO_CHANGE_S},
        "usage report < 50 ms": {"value": f"{steps[USAGE_DAILY].median_s * 1000:.1f} ms",
                                 "met": steps[USAGE_DAILY].median_s < TARGET_USAGE_S},
        "peak RSS < 200 MiB": {"value": f"{rss:.1f} MiB", "met": rss < TARGET_RSS_MIB},
    }
    slowest_usage = max([USAGE_DAILY, *USAGE_OTHERS.values()], key=lambda s: steps[s].median_s)
    out["usage daily/weekly/monthly/model/project < 50 ms (slowest)"] = {
        "value": f"{steps[slowest_usage].median_s * 1000:.1f} ms ({slowest_usage.split()[2]})",
        "met": steps[slowest_usage].median_s < TARGET_USAGE_S}
    for name in (USAGE_SESSION, LS_PAGE):
        out[f"{name.removeprefix('sessiondb ')} < 100 ms"] = {
            "value": f"{steps[name].median_s * 1000:.1f} ms", "met": steps[name].median_s < TARGET_LIST_S}
    if db_bytes and corpus_bytes:
        out["database < 20% of the corpus"] = {
            "value": f"{db_bytes / corpus_bytes * 100:.1f}%", "met": db_bytes < 0.2 * corpus_bytes}
    if CC_DAILY in steps and steps[CC_DAILY].runs:
        cold, peer = steps[COLD].median_s, steps[CC_DAILY].median_s
        out["cold sync <= 0.7x one ccusage daily (10 GiB target)"] = {
            "value": f"{cold / peer:.2f}x", "met": cold <= 0.7 * peer}
    if CC_DAILY in steps and steps[CC_DAILY].runs:
        cold, peer = steps[COLD].median_s, steps[CC_DAILY].median_s
        out = {"cold sync faster than one ccusage daily": {
            "value": f"{cold:.2f} s vs {peer:.2f} s", "met": cold < peer}, **out}
    return out


# ---------------------------------------------------------------- output

def render(headers, rows, markdown, right=()):
    """A table as aligned plain text or as Markdown; columns in `right` align right."""
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        rule = ["---:" if i in right else "---" for i in range(len(headers))]
        lines = ["| " + " | ".join(r) + " |" for r in [headers, rule] + rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(headers, *rows)]

    def fmt(row):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def report(result, markdown):
    """Every table for one corpus size."""
    steps, out = result["steps"], []
    title = (f"{result['size_mb']} MiB corpus: {result['corpus_files']:,} files, "
             f"{result['corpus_bytes'] / 2**20:,.0f} MiB, seed {result['seed']}, "
             f"{result['repeat']} run(s) per step, {result['cpus']} cores")
    out.append(f"### {title}" if markdown else f"\n=== {title} ===")
    rows = [[name, f"{s['median_s']:.3f}", f"{s['min_s']:.3f}", f"{s['peak_rss_mib']:.1f}",
             "; ".join(s["notes"])] for name, s in steps.items()]
    picker = result.get("picker")
    if picker:
        s = picker["step"]
        rows.append([picker_step_name(picker["sessions"]), f"{s['median_s']:.3f}",
                     f"{s['min_s']:.3f}", f"{s['peak_rss_mib']:.1f}", "; ".join(s["notes"])])
    out.append(render(["step", "median s", "min s", "peak RSS MiB", "notes"], rows, markdown,
                      right={1, 2, 3}))
    if result["ratios"]:
        rows = [[k, f"{v:.2f}x"] for k, v in result["ratios"].items()]
        out.append(render(["time ratio (medians)", "value"], rows, markdown, right={1}))
    rows = [[k, v["value"], "yes" if v["met"] else "NO"] for k, v in result["targets"].items()]
    out.append(render(["target (set for 1000 MiB)", "value", "met"], rows, markdown, right={1}))
    rows = [[k, f"{v['expected']:,}", f"{v['got']:,}" if isinstance(v["got"], int) else v["got"],
             "OK" if v["ok"] else "MISMATCH"] for k, v in result["checks"].items()]
    out.append(render(["token check", "expected", "got", "result"], rows, markdown,
                      right={1, 2}))
    return "\n\n".join(out)


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000", help="corpus sizes in MiB, comma-separated")
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "sessiondb"),
                    help="sessiondb binary (default: target/release/sessiondb)")
    ap.add_argument("--ccusage", help="ccusage binary (default: .peers/, installed if missing)")
    ap.add_argument("--workdir", default=os.path.join(REPO, "bench", "out"),
                    help="corpora, databases and results (default: bench/out)")
    ap.add_argument("--generator", help="gen_corpus.py (default: ../shared/tools/gen_corpus.py)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3, help="runs per step (default: 3)")
    ap.add_argument("--picker-sessions", type=int, default=10000, metavar="N",
                    help="sessions in the resume picker's corpus, a multiple of "
                         f"{PICKER_PROJECTS} (default: 10000)")
    ap.add_argument("--no-picker", action="store_true",
                    help="skip the resume picker measurement")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.workdir = os.path.abspath(args.workdir)
    args.bin = os.path.abspath(args.bin)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.picker_sessions < PICKER_PROJECTS or args.picker_sessions % PICKER_PROJECTS:
        ap.error(f"--picker-sessions must be a positive multiple of {PICKER_PROJECTS}")
    return args


def main():
    args = parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"error: sessiondb binary {args.bin} not found; build it with "
                 "`cargo build --release` or pass --bin")
    os.makedirs(args.workdir, exist_ok=True)
    generator = find_generator(args.generator)
    sdb_version = Sessiondb(args.bin, "").version()
    cc_path = find_ccusage(args.ccusage)
    ccusage = Ccusage(cc_path) if cc_path else None
    cc_version = ccusage.version() if ccusage else None
    log(f"sessiondb: {args.bin} ({sdb_version})")
    log(f"ccusage:   {cc_path} ({cc_version})" if ccusage else "ccusage:   NOT INSTALLED")

    picker = None if args.no_picker else bench_picker(args, args.bin, generator)
    results = []
    for size in args.sizes:
        result = bench_size(args, size, args.bin, ccusage, generator)
        result.update(picker=picker, sessiondb=args.bin, sessiondb_version=sdb_version,
                      ccusage=cc_path, ccusage_version=cc_version,
                      cpus=os.cpu_count(), date=dt.datetime.now().isoformat(timespec="seconds"))
        if picker:
            result["targets"].update(picker["target"])
        path = os.path.join(args.workdir, f"results-{size}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
        print(report(result, markdown=False), flush=True)
        log(f"\n(wrote {path})")
        results.append(result)

    print("\n--- Markdown (for bench/README.md) ---\n")
    if not ccusage:
        print("> ccusage was not installed: no peer comparison.\n")
    print("\n\n".join(report(r, markdown=True) for r in results))
    if any(not c["ok"] for r in results for c in r["checks"].values()):
        loud("token totals MISMATCH the corpus manifest (see the token check tables)")
        return 1
    if picker and not picker["check"]["ok"]:
        loud(f"the picker's index holds {picker['check']['got']} sessions, "
             f"not {picker['check']['expected']} (MISMATCH)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
