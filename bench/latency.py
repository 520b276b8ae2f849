#!/usr/bin/env python3
"""Live-sync latency of `sessiondb serve`: how soon an appended line is visible through the API.

Target (from the issue): a line appended to a transcript is visible through the
API within 250 ms at p99, while another process appends to 20 files at 50
lines/s each.

This script

  1. generates a corpus with gen_corpus.py once (cached under --workdir as
     corpus-<MiB>mb-seed<seed>/) and copies it to a scratch dir for the run, so
     the appends never touch the cache,
  2. starts `sessiondb serve --listen 127.0.0.1:0` on the copy with a fresh
     database and waits for its "serving http://..." line (after the initial sync),
  3. picks --files top-level transcripts (projects/<slug>/<uuid>.jsonl), the ones
     closest to the median size among those that end in a full line, carry only
     their own sessionId and have no subagent files (those sort after the main
     file in the API's message order, which would break offset polling),
  4. appends to each of them --rate lines/s for --seconds (one thread, on a fixed
     schedule staggered across the files, so about one write every
     1/(files*rate) s): each a valid `user` line, written with one os.write to
     a file opened O_APPEND; the time each write returned is recorded,
  5. measures visibility two ways:
       API (the target): for 1 in --sample-every lines of each file, pollers
         (--pollers threads, keep-alive connections) ask
         GET /api/sessions/{id}/messages?offset=<known total>&limit=1000 while
         the session has a sampled line not yet seen; latency = time the
         response holding the line arrived - time it was written.  When to ask
         (--poll-mode): "events" (default) as soon as a session_appended event
         for the session arrives, and every --poll-ms (100) even without one,
         so a line that shows up without an event is still found (the report
         says how many were found each way); "interval" every --poll-ms (10)
         only.  Each request re-reads the whole session on the server (about
         2 ms for these 40-75 KB transcripts, growing as they grow), so 20
         sessions polled every 10 ms is about 1,000 requests/s and 1.5 cores
         of server CPU on a 2-core machine: the poller becomes the load,
       events (an indicator): an SSE reader on /api/events records when each
         session_appended event arrives; a line's event latency is the first
         such event for its session after it was written (a lower bound: that
         event may come from a sync that started before the write),
     and samples GET /api/sync/status every 200 ms,
  6. after the appends, waits up to --settle s for the rest, then fetches every
     chosen session in full and checks that every written line is there,
  7. reads the server's CPU time (/proc/<pid>/stat) and peak RSS (VmHWM), stops
     it (SIGINT, SIGTERM after 5 s), prints a plain and a Markdown table and
     writes workdir/latency.json.

Exit status: 0 whether or not the target is met (it is a benchmark), 1 if any
written line never became visible through the API (a bug), 2 on setup errors.

Python 3 standard library only. Run from anywhere:

    cargo build --release && python3 bench/latency.py
"""

import argparse
import bisect
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATOR_CANDIDATES = [
    os.path.join(REPO, "..", "shared", "tools", "gen_corpus.py"),
    "/work/shared/tools/gen_corpus.py",
]
TARGET_P99_MS = 250.0
SERVING_RE = re.compile(r"serving http://([0-9.]+):(\d+)/")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    """Progress goes to stderr so stdout stays the report."""
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"latency.py: {msg}")
    sys.exit(2)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (None if empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n*p/100)
    return sorted_values[int(rank) - 1]


def summarize(values_ms):
    v = sorted(values_ms)
    return {
        "count": len(v),
        "p50_ms": percentile(v, 50), "p90_ms": percentile(v, 90),
        "p99_ms": percentile(v, 99), "max_ms": v[-1] if v else None,
        "mean_ms": (sum(v) / len(v)) if v else None,
    }


def fmt_ms(x):
    return "-" if x is None else f"{x:.1f}"


# ---------------------------------------------------------------- corpus

def ensure_corpus(generator, workdir, size_mb, seed):
    """Generate the corpus unless cached (the manifest is written last); return its dir."""
    corpus = os.path.join(workdir, f"corpus-{size_mb}mb-seed{seed}")
    if os.path.isfile(os.path.join(corpus, "corpus-manifest.json")):
        log(f"corpus: cached {corpus}")
        return corpus
    log(f"corpus: generating {corpus} ({size_mb} MiB, seed {seed}) ...")
    subprocess.run([sys.executable, generator, "--out", corpus, "--seed", str(seed),
                    "--total-mb", str(size_mb), "--force"],
                   check=True, stdin=subprocess.DEVNULL)
    return corpus


def pick_files(config, count):
    """The `count` eligible top-level transcripts closest to the median size, in path order.

    Eligible: ends in a full line, every line with a sessionId carries the file's
    own id, has a cwd, and has no <uuid>/ dir next to it (subagents).
    """
    projects = os.path.join(config, "projects")
    eligible = []
    for slug in sorted(os.listdir(projects)):
        pdir = os.path.join(projects, slug)
        if not os.path.isdir(pdir):
            continue
        for name in sorted(os.listdir(pdir)):
            if not name.endswith(".jsonl"):
                continue
            sid = name[:-len(".jsonl")]
            path = os.path.join(pdir, name)
            if os.path.exists(os.path.join(pdir, sid)):
                continue
            with open(path, "rb") as f:
                data = f.read()
            if not data.endswith(b"\n"):
                continue
            sids, cwd = set(), None
            for line in data.splitlines():
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(value, dict):
                    continue
                if "sessionId" in value:
                    sids.add(value["sessionId"])
                if cwd is None and isinstance(value.get("cwd"), str):
                    cwd = value["cwd"]
            if sids != {sid} or cwd is None:
                continue
            eligible.append({"path": path, "session_id": sid, "cwd": cwd, "bytes": len(data)})
    if len(eligible) < count:
        die(f"only {len(eligible)} eligible transcripts in {config}, need {count}")
    by_size = sorted(eligible, key=lambda e: (e["bytes"], e["path"]))
    mid = len(by_size) // 2
    lo = max(0, min(mid - count // 2, len(by_size) - count))
    chosen = by_size[lo:lo + count]
    return sorted(chosen, key=lambda e: e["path"]), len(eligible)


# ---------------------------------------------------------------- server

class Server:
    """`sessiondb serve` as a child; its stderr goes to a log file and is scanned for the address."""

    def __init__(self, binary, db, config, log_path):
        env = dict(os.environ, SESSIONDB_DB=db, CLAUDE_CONFIG_DIR=config)
        env.pop("SESSIONDB_TOKEN", None)
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        self.lines = []
        self.address = None
        self.ready = threading.Event()
        self.started = time.monotonic()
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append((time.monotonic(), line))
            self.log_file.write(line + "\n")
            self.log_file.flush()
            m = SERVING_RE.search(line)
            if m and not self.ready.is_set():
                self.address = (m.group(1), int(m.group(2)))
                self.ready.set()
        self.ready.set()  # exited: wake the waiter

    def wait_ready(self, timeout):
        self.ready.wait(timeout)
        if self.address is None:
            self.stop()
            tail = "\n".join(l for _, l in self.lines[-20:])
            die(f"serve did not print its address within {timeout} s:\n{tail}")
        return time.monotonic() - self.started

    def proc_stats(self):
        """(utime+stime in s, VmHWM MiB, VmRSS MiB, threads) of the live process."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15 of stat
        status = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.strip()
        kib = lambda k: int(status.get(k, "0 kB").split()[0])
        return cpu, kib("VmHWM") / 1024, kib("VmRSS") / 1024, int(status.get("Threads", "0"))

    def stop(self):
        """SIGINT, then SIGTERM after 5 s (then SIGKILL); returns (how, seconds)."""
        if self.proc.poll() is not None:
            return "already exited", 0.0
        start = time.monotonic()
        how = "SIGINT"
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            how = "SIGINT, then SIGTERM after 5 s"
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                how = "SIGINT, SIGTERM, then SIGKILL"
                self.proc.kill()
                self.proc.wait()
        self.reader.join(2)
        self.log_file.close()
        return how, time.monotonic() - start


class Api:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, address, timeout=10):
        self.address = address
        self.timeout = timeout
        self.conn = None
        self.requests = 0
        self.errors = 0
        self.busy_s = 0.0

    def get(self, path):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
            start = time.monotonic()
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                self.close()
                if attempt == 2:
                    raise
                continue
            self.requests += 1
            self.busy_s += time.monotonic() - start
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {resp.status}: {body[:300]!r}")
            return json.loads(body)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- measuring threads

class Session:
    """One chosen transcript and what is known about its probe lines."""

    def __init__(self, index, info):
        self.index = index
        self.path = info["path"]
        self.sid = info["session_id"]
        self.cwd = info["cwd"]
        self.bytes_before = info["bytes"]
        self.known_total = 0          # messages the poller has already read past
        self.total_before = 0
        self.lock = threading.Lock()
        self.written = {}             # uuid -> monotonic time the write returned
        self.order = []               # uuids in write order
        self.sampled = set()          # uuids whose API latency is measured
        self.outstanding = set()      # sampled and not seen yet
        self.seen = {}                # uuid -> monotonic time a poll response showing it arrived
        self.seen_by = {}             # uuid -> "event" | "timer": what triggered that poll
        self.polls = 0
        self.event_times = []         # session_appended arrival times
        self.dirty = False            # a session_appended event came since the last poll
        self.wake = None              # its poller's threading.Event


class EventReader(threading.Thread):
    """Reads /api/events and records when every event arrives."""

    def __init__(self, address, sessions_by_sid):
        super().__init__(daemon=True)
        self.address = address
        self.sessions = sessions_by_sid
        self.counts = {}
        self.other_sessions = 0
        self.connected = threading.Event()
        self.conn = None
        self.error = None
        self.stopping = False

    def run(self):
        try:
            self.conn = http.client.HTTPConnection(*self.address, timeout=None)
            self.conn.request("GET", "/api/events", headers={"Accept": "text/event-stream"})
            resp = self.conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"/api/events: HTTP {resp.status}")
            self.connected.set()
            kind = None
            while True:
                raw = resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                now = time.monotonic()
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind is not None:
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    if kind == "session_appended":
                        try:
                            sid = json.loads(line[5:]).get("session_id")
                        except ValueError:
                            sid = None
                        session = self.sessions.get(sid)
                        if session is not None:
                            session.event_times.append(now)
                            session.dirty = True
                            session.wake.set()
                        else:
                            self.other_sessions += 1
                elif line == "":
                    kind = None
        except Exception as err:  # noqa: BLE001 - reported, not fatal
            if not self.stopping:
                self.error = f"{type(err).__name__}: {err}"
        finally:
            self.connected.set()

    def stop(self):
        self.stopping = True
        if self.conn is not None and self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.close()


class Poller(threading.Thread):
    """Polls its sessions' new messages while they have sampled lines not yet seen.

    mode "interval": every poll_s.  mode "events": as soon as a session_appended
    event for the session arrives, and every poll_s (the fallback timer) even
    without one, so a line that shows up without an event is still found.
    """

    def __init__(self, address, sessions, mode, poll_s, done):
        super().__init__(daemon=True)
        self.api = Api(address)
        self.sessions = sessions
        self.mode = mode
        self.poll_s = poll_s
        self.done = done
        self.wake = threading.Event()
        for session in sessions:
            session.wake = self.wake
        self.error = None
        self.unexpected_order = 0
        self.polls = {"event": 0, "timer": 0}
        self.empty_event_polls = 0    # event-triggered polls that found no sampled line

    def poll(self, session, why):
        offset = session.known_total
        session.dirty = False
        page = self.api.get(f"/api/sessions/{session.sid}/messages?offset={offset}&limit=1000")
        arrived = time.monotonic()
        session.polls += 1
        self.polls[why] += 1
        session.last_poll = arrived
        messages = page.get("messages", [])
        found = 0
        with session.lock:
            for m in messages:
                u = m.get("uuid")
                if u in session.written and u not in session.seen:
                    session.seen[u] = arrived
                    session.seen_by[u] = why
                    if u in session.outstanding:
                        session.outstanding.discard(u)
                        found += 1
                elif u not in session.written and offset >= session.total_before:
                    self.unexpected_order += 1
            session.known_total = offset + len(messages)
        if why == "event" and not found:
            self.empty_event_polls += 1

    def run(self):
        for session in self.sessions:
            session.last_poll = 0.0
        try:
            while not self.done.is_set():
                now = time.monotonic()
                next_due = now + self.poll_s
                for session in self.sessions:
                    if not session.outstanding:
                        session.dirty = False
                        continue
                    if self.mode == "events" and session.dirty:
                        self.poll(session, "event")
                    elif time.monotonic() - session.last_poll >= self.poll_s:
                        self.poll(session, "timer")
                    next_due = min(next_due, session.last_poll + self.poll_s)
                left = next_due - time.monotonic()
                if self.mode == "events":
                    self.wake.wait(max(left, 0.001))
                    self.wake.clear()
                elif left > 0:
                    time.sleep(left)
        except Exception as err:  # noqa: BLE001 - reported, and the run fails
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.api.close()


class StatusSampler(threading.Thread):
    """GET /api/sync/status every interval; keeps every sample with its time."""

    def __init__(self, address, interval, done):
        super().__init__(daemon=True)
        self.api = Api(address)
        self.interval = interval
        self.done = done
        self.samples = []
        self.error = None

    def run(self):
        try:
            while not self.done.wait(self.interval):
                s = self.api.get("/api/sync/status")
                self.samples.append((time.monotonic(), s))
        except Exception as err:  # noqa: BLE001
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.api.close()


class Appender(threading.Thread):
    """Appends `rate` lines/s to every session's file for `seconds`, on a fixed staggered schedule."""

    def __init__(self, sessions, rate, seconds, sample_every, seed):
        super().__init__(daemon=True)
        self.sessions = sessions
        self.rate = rate
        self.seconds = seconds
        self.sample_every = sample_every
        self.rng = random.Random(seed)
        self.lines = 0
        self.bytes = 0
        self.max_behind_s = 0.0
        self.late_writes = 0          # writes more than 10 ms behind schedule
        self.t0 = None
        self.t_end = None
        self.error = None

    def run(self):
        fds = [os.open(s.path, os.O_WRONLY | os.O_APPEND) for s in self.sessions]
        try:
            n_files = len(self.sessions)
            step = 1.0 / (self.rate * n_files)
            total = int(round(self.seconds * self.rate)) * n_files
            self.t0 = time.monotonic()
            for n in range(total):
                due = self.t0 + n * step
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                else:
                    behind = now - due
                    self.max_behind_s = max(self.max_behind_s, behind)
                    if behind > 0.010:
                        self.late_writes += 1
                i, k = n % n_files, n // n_files
                session = self.sessions[i]
                u = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                line = json.dumps({
                    "type": "user", "sessionId": session.sid, "uuid": u, "parentUuid": None,
                    "cwd": session.cwd, "timestamp": stamp,
                    "message": {"role": "user", "content": f"probe {u}"},
                }, separators=(",", ":")).encode() + b"\n"
                written = os.write(fds[i], line)
                t = time.monotonic()
                if written != len(line):
                    raise RuntimeError(f"short write to {session.path}: {written} of {len(line)}")
                with session.lock:
                    session.written[u] = t
                    session.order.append(u)
                    if k % self.sample_every == 0:
                        session.sampled.add(u)
                        session.outstanding.add(u)
                self.lines += 1
                self.bytes += len(line)
            self.t_end = time.monotonic()
        except Exception as err:  # noqa: BLE001
            self.error = f"{type(err).__name__}: {err}"
            self.t_end = time.monotonic()
        finally:
            for fd in fds:
                os.close(fd)


# ---------------------------------------------------------------- the run

def fetch_all_uuids(api, sid):
    uuids, offset = set(), 0
    while True:
        page = api.get(f"/api/sessions/{sid}/messages?offset={offset}&limit=1000")
        messages = page.get("messages", [])
        uuids.update(m.get("uuid") for m in messages)
        offset += len(messages)
        if not messages or offset >= page.get("total", 0):
            return uuids, page.get("total", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "sessiondb"))
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to append (default 20)")
    ap.add_argument("--files", type=int, default=20, help="transcripts appended to (default 20)")
    ap.add_argument("--rate", type=float, default=50.0, help="lines/s per file (default 50)")
    ap.add_argument("--workdir", default=os.path.join(REPO, "bench", "out"))
    ap.add_argument("--size-mb", type=int, default=100, help="corpus size (default 100)")
    ap.add_argument("--seed", type=int, default=7, help="corpus seed (default 7)")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--sample-every", type=int, default=10,
                    help="measure API latency of every Nth line of each file (default 10)")
    ap.add_argument("--poll-mode", choices=("events", "interval"), default="events",
                    help="events: poll a session when a session_appended event for it arrives, "
                         "plus a fallback timer; interval: poll on the timer only (default events)")
    ap.add_argument("--poll-ms", type=float, default=None,
                    help="per-session timer while it has unseen sampled lines "
                         "(default 100 with --poll-mode events, 10 with interval)")
    ap.add_argument("--pollers", type=int, default=4, help="poller threads (default 4)")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds to wait after the appends for lines not yet seen (default 15)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy and database")
    args = ap.parse_args()
    if args.poll_ms is None:
        args.poll_ms = 100.0 if args.poll_mode == "events" else 10.0

    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        die(f"no executable at {binary} (cargo build --release)")
    generator = args.generator or next((g for g in GENERATOR_CANDIDATES if os.path.isfile(g)), None)
    if generator is None:
        die("gen_corpus.py not found; pass --generator")
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)

    corpus = ensure_corpus(generator, workdir, args.size_mb, args.seed)
    scratch = os.path.join(workdir, "latency-run")
    shutil.rmtree(scratch, ignore_errors=True)
    config = os.path.join(scratch, "config")
    log(f"copying the corpus to {config} ...")
    shutil.copytree(corpus, config)
    db = os.path.join(scratch, "sessiondb.db")

    chosen, n_eligible = pick_files(config, args.files)
    sessions = [Session(i, info) for i, info in enumerate(chosen)]
    by_sid = {s.sid: s for s in sessions}
    corpus_files = sum(len(fs) for _, _, fs in os.walk(os.path.join(config, "projects")))
    corpus_mib = sum(os.path.getsize(os.path.join(d, f))
                     for d, _, fs in os.walk(os.path.join(config, "projects")) for f in fs) / 2**20
    log(f"chose {len(sessions)} of {n_eligible} eligible transcripts "
        f"({min(s.bytes_before for s in sessions):,}-{max(s.bytes_before for s in sessions):,} bytes)")

    log("starting sessiondb serve (initial sync) ...")
    server = Server(binary, db, config, os.path.join(workdir, "latency-serve.log"))
    startup_s = server.wait_ready(600)
    address = server.address
    log(f"serving on {address[0]}:{address[1]} after {startup_s:.2f} s")

    main_api = Api(address)
    # The live-sync thread starts its file watcher after the address is printed; wait for it.
    t = time.monotonic()
    status_before = main_api.get("/api/sync/status")
    while not status_before.get("watching") and time.monotonic() - t < 5:
        time.sleep(0.01)
        status_before = main_api.get("/api/sync/status")
    watch_wait_s = time.monotonic() - t
    if not status_before.get("watching"):
        log("warning: the server reports watching=false after 5 s (no file watcher): "
            "only the periodic rescan will sync")
    for s in sessions:
        page = main_api.get(f"/api/sessions/{s.sid}/messages?offset=0&limit=1")
        s.total_before = s.known_total = page["total"]
    # One full fetch per session, timed: what a single poll costs on the server for these sizes.
    t = time.monotonic()
    for s in sessions:
        main_api.get(f"/api/sessions/{s.sid}/messages?offset={s.total_before}&limit=1000")
    idle_poll_ms = (time.monotonic() - t) * 1000 / len(sessions)

    done = threading.Event()
    events = EventReader(address, by_sid)
    events.start()
    events.connected.wait(10)
    if events.error:
        log(f"warning: event stream: {events.error}")
    sampler = StatusSampler(address, 0.2, done)
    pollers = [Poller(address, sessions[i::args.pollers], args.poll_mode, args.poll_ms / 1000, done)
               for i in range(min(args.pollers, len(sessions)))]
    appender = Appender(sessions, args.rate, args.seconds, args.sample_every, args.seed)

    cpu0, _, _, _ = server.proc_stats()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.3)  # let the event stream settle
    sampler.start()
    for p in pollers:
        p.start()
    log(f"appending {args.rate:g} lines/s to each of {len(sessions)} files for {args.seconds:g} s ...")
    appender.start()
    appender.join()
    t_append_end = time.monotonic()
    if appender.t0 is None:
        server.stop()
        die(f"the appender did not start: {appender.error}")
    cpu_append, _, _, _ = server.proc_stats()
    if appender.error:
        log(f"appender failed: {appender.error}")

    log(f"appends done ({appender.lines:,} lines); waiting up to {args.settle:g} s for unseen lines ...")
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline:
        if not any(s.outstanding for s in sessions) or any(p.error for p in pollers):
            break
        time.sleep(0.05)
    settled_s = time.monotonic() - t_append_end
    time.sleep(0.3)  # late events
    done.set()
    for p in pollers:
        p.join(10)
    sampler.join(5)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)

    # Every written line must be there now.
    missing = {}
    final_totals = {}
    for s in sessions:
        uuids, total = fetch_all_uuids(main_api, s.sid)
        final_totals[s.sid] = total
        lost = [u for u in s.order if u not in uuids]
        if lost:
            missing[s.sid] = len(lost)
    status_after = main_api.get("/api/sync/status")
    main_api.close()
    cpu_end, hwm_mib, rss_mib, threads = server.proc_stats()
    events.stop()
    events.join(5)
    stop_how, stop_s = server.stop()

    # ---------------------------------------------------------------- results
    api_lat, never_seen, all_written = [], 0, []
    outliers = []
    for s in sessions:
        for u in s.order:
            all_written.append((s.written[u], s, u))
        for u in s.sampled:
            if u in s.seen:
                ms = (s.seen[u] - s.written[u]) * 1000
                api_lat.append(ms)
                outliers.append((ms, s.written[u] - appender.t0, s.index))
            else:
                never_seen += 1
    api = summarize(api_lat)
    seen_times = [s.seen[u] for s in sessions for u in s.sampled if u in s.seen]
    seen_while_appending = sum(1 for t in seen_times if t <= t_append_end)
    catch_up_ms = (max(seen_times) - t_append_end) * 1000 if seen_times else None
    outliers.sort(reverse=True)

    ev_lat, no_event = [], 0
    for t_written, s, u in all_written:
        j = bisect.bisect_left(s.event_times, t_written)
        if j < len(s.event_times):
            ev_lat.append((s.event_times[j] - t_written) * 1000)
        else:
            no_event += 1
    ev = summarize(ev_lat)

    # Latency over time: p99 per second of the append window (by write time).
    per_second = {}
    for ms, at, _ in outliers:
        per_second.setdefault(int(at), []).append(ms)
    timeline = [{"second": k, "count": len(v), "p50_ms": percentile(sorted(v), 50),
                 "p99_ms": percentile(sorted(v), 99), "max_ms": max(v)}
                for k, v in sorted(per_second.items())]

    # Sync status samples during the append window.
    window = [(t, st) for t, st in sampler.samples if appender.t0 <= t <= t_append_end]
    syncs_window = (window[-1][1]["syncs"] - window[0][1]["syncs"]) if len(window) > 1 else 0
    lags = sorted({(st.get("last_finished_at"), st.get("last_lag_ms")) for _, st in window
                   if st.get("last_lag_ms") is not None})
    lag_values = [l for _, l in lags]
    durations = [st.get("last_duration_ms") for _, st in window if st.get("last_duration_ms") is not None]
    window_s = t_append_end - appender.t0
    server_cpu_live = cpu_append - cpu0
    bench_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    polls = sum(p.api.requests for p in pollers)
    polls_by = {k: sum(p.polls[k] for p in pollers) for k in ("event", "timer")}
    empty_event_polls = sum(p.empty_event_polls for p in pollers)
    seen_by = {"event": 0, "timer": 0}
    for s in sessions:
        for u in s.sampled:
            if u in s.seen_by:
                seen_by[s.seen_by[u]] += 1
    poll_busy = sum(p.api.busy_s for p in pollers)
    stderr_lines = [l for _, l in server.lines]
    notable = [l for l in stderr_lines if re.search(r"warn|error|panic|fail", l, re.I)]
    errors = [f"poller: {p.error}" for p in pollers if p.error]
    if sampler.error:
        errors.append(f"status sampler: {sampler.error}")
    if events.error:
        errors.append(f"event stream: {events.error}")
    if appender.error:
        errors.append(f"appender: {appender.error}")
    unexpected = sum(p.unexpected_order for p in pollers)

    met = api["p99_ms"] is not None and api["p99_ms"] < TARGET_P99_MS and never_seen == 0
    visible_ok = not missing and never_seen == 0 and appender.lines > 0

    title = (f"{args.files} files x {args.rate:g} lines/s for {args.seconds:g} s on a "
             f"{args.size_mb} MiB corpus ({corpus_files:,} files, {corpus_mib:,.1f} MiB, seed {args.seed}), "
             f"{os.cpu_count()} cores")
    rows = [
        ("API: line visible in /messages", api["count"], api["p50_ms"], api["p90_ms"], api["p99_ms"],
         api["max_ms"], f"1 in {args.sample_every} lines per file; {never_seen} never seen; "
                        + (f"found by event-triggered polls {seen_by['event']}, by the "
                           f"{args.poll_ms:g} ms fallback timer {seen_by['timer']}"
                           if args.poll_mode == "events" else f"polled every {args.poll_ms:g} ms")),
        ("SSE: next session_appended", ev["count"], ev["p50_ms"], ev["p90_ms"], ev["p99_ms"],
         ev["max_ms"], f"all lines; lower bound; {no_event} with no later event"),
    ]
    notes = [
        ("lines appended", f"{appender.lines:,} ({appender.bytes / 2**20:.2f} MiB) in {window_s:.2f} s; "
                           f"appender max {appender.max_behind_s * 1000:.1f} ms behind schedule, "
                           f"{appender.late_writes} writes >10 ms late"),
        ("sampled lines seen while appending", f"{seen_while_appending:,} of {len(api_lat):,}; the last one seen "
                                               + ("-" if catch_up_ms is None else
                                                  f"{abs(catch_up_ms):.0f} ms {'after' if catch_up_ms >= 0 else 'before'}")
                                               + " the appends stopped"),
        ("lines missing at the end", f"{sum(missing.values())} (in {len(missing)} sessions)"),
        ("syncs during the appends", f"{syncs_window} (status sampled every 200 ms)"),
        ("sync last_lag_ms sampled", (f"max {max(lag_values)}, median {sorted(lag_values)[len(lag_values)//2]}"
                                      if lag_values else "none")),
        ("sync last_duration_ms sampled", (f"max {max(durations)}, median {sorted(durations)[len(durations)//2]}"
                                           if durations else "none")),
        ("server CPU during the appends", f"{server_cpu_live:.2f} s ({server_cpu_live / window_s * 100:.0f}% of one core)"),
        ("server CPU total", f"{cpu_end:.2f} s (initial sync {cpu0:.2f} s)"),
        ("server peak RSS (VmHWM)", f"{hwm_mib:.1f} MiB (VmRSS at the end {rss_mib:.1f} MiB, {threads} threads)"),
        ("server start-up (initial sync)", f"{startup_s:.2f} s, then {watch_wait_s * 1000:.0f} ms until "
                                           f"/api/sync/status said watching=true"),
        ("API polls", f"{polls:,} ({polls_by['event']:,} on events, {empty_event_polls:,} of them "
                      f"finding no sampled line; {polls_by['timer']:,} on the timer), "
                      f"mean {poll_busy / max(polls, 1) * 1000:.2f} ms each "
                      f"(idle: {idle_poll_ms:.2f} ms); this script used {bench_cpu:.2f} s CPU"),
        ("events received", ", ".join(f"{k} {v:,}" for k, v in sorted(events.counts.items())) or "none"),
        ("stop", f"{stop_how} ({stop_s:.2f} s)"),
    ]
    if errors:
        notes.append(("errors", "; ".join(errors)))
    if unexpected:
        notes.append(("unexpected messages past the offset", str(unexpected)))

    print()
    print(title)
    print()
    header = ("measure", "count", "p50 ms", "p90 ms", "p99 ms", "max ms", "notes")
    widths = [max(len(str(header[i])), *(len(fmt_ms(r[i]) if isinstance(r[i], float) else str(r[i]))
                                         for r in rows)) for i in range(6)]
    def cell(v):
        return fmt_ms(v) if isinstance(v, float) or v is None else str(v)
    print("  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header[:6]))
          + "  notes")
    for r in rows:
        print("  ".join(cell(r[i]).ljust(widths[i]) if i == 0 else cell(r[i]).rjust(widths[i])
                        for i in range(6)) + "  " + r[6])
    print()
    kw = max(len(k) for k, _ in notes)
    for k, v in notes:
        print(f"{k.ljust(kw)}  {v}")
    verdict = (f"target p99 < {TARGET_P99_MS:.0f} ms: {'MET' if met else 'NOT MET'} "
               f"(p99 {fmt_ms(api['p99_ms'])} ms)")
    print()
    print(verdict)
    if outliers:
        print("slowest sampled lines (ms, written at s into the run, file #): " +
              ", ".join(f"{ms:.0f} @{at:.2f}s #{i}" for ms, at, i in outliers[:8]))

    print()
    print(f"### Live-sync latency: {title}")
    print()
    print("| measure | count | p50 ms | p90 ms | p99 ms | max ms | notes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r[0]} | {r[1]:,} | {cell(r[2])} | {cell(r[3])} | {cell(r[4])} | {cell(r[5])} | {r[6]} |")
    print()
    print("| | value |")
    print("| --- | --- |")
    for k, v in notes:
        print(f"| {k} | {v} |")
    print(f"| target: API p99 < {TARGET_P99_MS:.0f} ms | {fmt_ms(api['p99_ms'])} ms: "
          f"{'yes' if met else 'NO'} |")

    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"cores": os.cpu_count(), "platform": platform.platform()},
        "binary": binary,
        "options": vars(args),
        "corpus": {"dir": corpus, "files": corpus_files, "mib": round(corpus_mib, 1)},
        "files": [{"path": os.path.relpath(s.path, config), "session_id": s.sid,
                   "bytes_before": s.bytes_before, "messages_before": s.total_before,
                   "messages_after": final_totals.get(s.sid), "lines_written": len(s.order),
                   "sampled": len(s.sampled), "seen": len(s.seen), "polls": s.polls,
                   "events": len(s.event_times), "missing": missing.get(s.sid, 0)}
                  for s in sessions],
        "api_latency": api,
        "event_latency": dict(ev, lines_without_event=no_event),
        "target": {"p99_ms": TARGET_P99_MS, "met": met},
        "lines_visible": visible_ok,
        "never_seen_sampled": never_seen,
        "sampled_seen_while_appending": seen_while_appending,
        "catch_up_ms": catch_up_ms,
        "missing_at_end": missing,
        "per_second": timeline,
        "slowest": [{"ms": round(ms, 1), "written_at_s": round(at, 3), "file": i}
                    for ms, at, i in outliers[:50]],
        "appender": {"lines": appender.lines, "bytes": appender.bytes, "seconds": round(window_s, 3),
                     "max_behind_ms": round(appender.max_behind_s * 1000, 2),
                     "late_writes": appender.late_writes},
        "server": {"startup_s": round(startup_s, 3), "watch_wait_s": round(watch_wait_s, 3), "cpu_initial_s": cpu0,
                   "cpu_during_appends_s": round(server_cpu_live, 3), "cpu_total_s": cpu_end,
                   "vm_hwm_mib": round(hwm_mib, 1), "vm_rss_end_mib": round(rss_mib, 1),
                   "threads": threads, "stop": stop_how, "stop_s": round(stop_s, 2),
                   "stderr_notable": notable[-50:], "stderr_tail": stderr_lines[-30:]},
        "polling": {"requests": polls, "by_trigger": polls_by, "empty_event_polls": empty_event_polls,
                    "sampled_seen_by": seen_by, "mean_ms": round(poll_busy / max(polls, 1) * 1000, 3),
                    "idle_poll_ms": round(idle_poll_ms, 3), "bench_cpu_s": round(bench_cpu, 3),
                    "unexpected": unexpected},
        "events": {"counts": events.counts, "appended_other_sessions": events.other_sessions},
        "sync_status_before": status_before,
        "sync_status_after": status_after,
        "sync_status_samples": [{"t_s": round(t - appender.t0, 3), **{k: st.get(k) for k in (
            "syncs", "running", "last_lag_ms", "last_duration_ms", "files_read_last",
            "bytes_read_last", "last_error")}} for t, st in sampler.samples],
        "errors": errors,
    }
    out_path = os.path.join(workdir, "latency.json")
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    log(f"\nwrote {out_path}; server log {server.log_path}")

    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    if not visible_ok:
        log(f"FAIL: {never_seen} sampled lines never seen by the pollers, "
            f"{sum(missing.values())} lines missing from the API at the end")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
