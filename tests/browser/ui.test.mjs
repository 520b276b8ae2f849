// The web UI in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): load the
// sessions page on a real index, search, open a session, see its transcript and chain, and watch a line appended
// to the transcript file appear on the open page without a reload. With SESSIONDB_SCREENSHOTS=DIR, saves a
// screenshot of each page there (the README shows the ones in docs/).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, cpSync, appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const workspace = resolve(here, "../..");
const shared = resolve(workspace, "../shared");
const binary = process.env.SESSIONDB_BIN || join(workspace, "target/debug/sessiondb");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SESSIONDB_SCREENSHOTS;

let server, browser, base, root;
const sample = join(shared, "samples/claude-code-2.1.330");
const expected = JSON.parse(readFileSync(join(sample, "expected.json"), "utf8"));

function freePort() {
  return new Promise((ok) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

before(async () => {
  assert.ok(existsSync(binary), `build sessiondb first (${binary})`);
  assert.ok(existsSync(chromiumPath), `install Debian's chromium (${chromiumPath})`);
  const dir = mkdtempSync(join(tmpdir(), "sessiondb-ui-"));
  root = join(dir, "claude");
  cpSync(join(sample, "projects"), join(root, "projects"), { recursive: true });
  cpSync(join(sample, "history.jsonl"), join(root, "history.jsonl"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, SESSIONDB_DB: join(dir, "index.db"), CLAUDE_CONFIG_DIR: root, HOME: dir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise((ok, fail) => {
    let err = "";
    server.stderr.on("data", (d) => { err += d; if (err.includes("serving http")) ok(); });
    server.on("exit", (code) => fail(new Error(`serve exited ${code}: ${err}`)));
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGINT");
});

async function page() {
  const p = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const problems = [];
  p.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  p.on("pageerror", (e) => problems.push(String(e)));
  return { p, problems };
}

async function shot(p, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await p.screenshot({ path: join(shots, name), fullPage: false });
}

test("sessions page lists the index, searches and filters", async () => {
  const { p, problems } = await page();
  await p.goto(base + "/");
  await p.waitForSelector("#sessions tbody tr");
  const listed = await p.locator("#sessions tbody tr").count();
  const api = await (await fetch(base + "/api/sessions?limit=50")).json();
  assert.equal(listed, Math.min(api.total, 50));
  assert.match(await p.locator("#count").innerText(), new RegExp(`of ${api.total}`));
  await shot(p, "sessions.png");

  await p.fill("#search", "under score");
  await p.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length === 1);
  const project = await p.locator("#sessions tbody tr td").nth(2).innerText();
  assert.match(project, /under score/);
  await p.fill("#search", "");
  await p.waitForFunction((n) => document.querySelectorAll("#sessions tbody tr").length === n, listed);
  assert.deepEqual(problems, [], "no console errors (CSP violations show up here)");
});

test("a session shows its transcript and chain, and a line appended to the file appears live", async () => {
  const { p, problems } = await page();
  const fork = expected.links.find((l) => l.kind === "fork");
  await p.goto(base + "/#/session/" + fork.to);
  await p.waitForSelector("#transcript .turn");
  assert.equal(await p.locator("#session-id").innerText(), fork.to);
  const chain = await p.locator("#chain").innerText();
  assert.match(chain, /fork/);
  assert.match(chain, /\(head\)/);
  assert.match(await p.locator("#resume-command").innerText(), new RegExp(`claude --resume ${fork.to}`));
  await shot(p, "session.png");

  const before = await p.locator("#transcript .turn").count();
  const file = join(root, "projects/-home-alice-work-proj-a", fork.to + ".jsonl");
  const line = {
    type: "user", sessionId: fork.to, uuid: "browser-live-1", parentUuid: null, cwd: "/home/alice/work/proj-a",
    timestamp: new Date().toISOString(), message: { role: "user", content: "<b>appended</b> while the page was open" },
  };
  appendFileSync(file, JSON.stringify(line) + "\n");
  await p.waitForFunction((n) => document.querySelectorAll("#transcript .turn").length === n + 1, before, { timeout: 10000 });
  const last = p.locator("#transcript .turn").last();
  assert.equal(await last.locator("pre").innerText(), "<b>appended</b> while the page was open", "shown as text, not HTML");
  assert.equal(await p.locator("#transcript b").count(), 0);
  assert.deepEqual(problems, []);
});

test("a session appended on disk moves up on the open sessions page", async () => {
  const { p } = await page();
  await p.goto(base + "/");
  await p.waitForSelector("#sessions tbody tr");
  const oldest = expected.sessions.find((s) => s.project_cwd.includes("empty-dir")).session_id;
  const file = join(root, "projects/-home-alice-work-empty-dir", oldest + ".jsonl");
  appendFileSync(file, JSON.stringify({
    type: "user", sessionId: oldest, uuid: "browser-live-2", parentUuid: null, cwd: "/home/alice/work/empty-dir",
    timestamp: new Date(Date.now() + 60000).toISOString(), message: { role: "user", content: "back to this one" },
  }) + "\n");
  await p.waitForFunction((id) => {
    const first = document.querySelector("#sessions tbody tr");
    return first && first.getAttribute("data-id") === id;
  }, oldest, { timeout: 10000 });
});

test("projects and usage pages render from the API", async () => {
  const { p, problems } = await page();
  await p.goto(base + "/#/projects");
  await p.waitForSelector("#projects tbody tr");
  const projects = await (await fetch(base + "/api/projects")).json();
  assert.equal(await p.locator("#projects tbody tr").count(), projects.projects.length);
  await shot(p, "projects.png");
  await p.goto(base + "/#/usage");
  await p.waitForSelector(".bars .bar");
  assert.match(await p.locator("h2").innerText(), /tokens/);
  await shot(p, "usage.png");
  assert.deepEqual(problems, []);
});
