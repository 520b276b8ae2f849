// The web UI's workflow view in a real headless Chromium: a registered project's workflow folders on a board by
// phase with checkpoint progress and the project's cost, one session's artifacts read from disk (shown as text),
// and a phase change through the API moving its card on the open board.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const workspace = resolve(here, "../..");
const binary = process.env.SESSIONDB_BIN || join(workspace, "target/debug/sessiondb");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SESSIONDB_SCREENSHOTS;

let server, browser, base, project;

function freePort() {
  return new Promise((ok) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

function folder(slug, state, spec) {
  const dir = join(project, "agents/sessions", slug);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "state.json"), JSON.stringify(state));
  if (spec) writeFileSync(join(dir, "spec.md"), spec);
}

before(async () => {
  assert.ok(existsSync(binary), `build sessiondb first (${binary})`);
  assert.ok(existsSync(chromiumPath), `install Debian's chromium (${chromiumPath})`);
  const dir = mkdtempSync(join(tmpdir(), "sessiondb-ui-workflow-"));
  project = join(dir, "app");
  folder("feature-a", { title: "Feature A", phase: "build", checkpoints: [{ done: true }, { done: false }] },
    "# Feature A\n\n<b>not bold</b>\n");
  folder("feature-b", { title: "Feature B", status: "planning", checkpoints: { one: { status: "done" } } });
  folder("feature-c", { title: "Feature C", status: "spec_in_progress" });
  mkdirSync(join(dir, "config/sessiondb"), { recursive: true });
  writeFileSync(join(dir, "config/sessiondb/config.toml"), `[[projects]]\npath = ${JSON.stringify(project)}\nname = "app"\n`);
  mkdirSync(join(dir, "claude/projects"), { recursive: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ["serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, SESSIONDB_DB: join(dir, "index.db"), CLAUDE_CONFIG_DIR: join(dir, "claude"), HOME: dir,
      XDG_CONFIG_HOME: join(dir, "config"), SESSIONDB_CONFIG: "" },
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

test("the workflow board groups sessions by phase and follows a phase change live", async () => {
  const p = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const problems = [];
  p.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  p.on("pageerror", (e) => problems.push(String(e)));
  await p.goto(base + "/#/workflow");
  await p.waitForSelector("#workflow-board .card");
  const column = (phase) => p.locator(`#workflow-board section[data-phase="${phase}"] .card`);
  assert.equal(await column("build").count(), 1);
  assert.equal(await column("plan").count(), 1);
  assert.equal(await column("spec").count(), 1);
  assert.match(await column("build").first().innerText(), /Feature A[\s\S]*1\/2/);
  assert.match(await p.locator("#workflow-projects").innerText(), /app\s+3/);
  if (shots) { mkdirSync(shots, { recursive: true }); await p.screenshot({ path: join(shots, "workflow.png") }); }

  // A phase change through the API moves the card on the open board.
  const r = await fetch(base + "/api/workflow-sessions/app/feature-c/phase", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ phase: "plan" }),
  });
  assert.equal(r.status, 200);
  await p.waitForFunction(() => document.querySelectorAll('#workflow-board section[data-phase="plan"] .card').length === 2,
    null, { timeout: 10000 });

  // A folder an agent writes itself appears too (the watcher, then a workflow_changed event).
  folder("feature-d", { title: "Feature D", phase: "review" });
  await p.waitForSelector('#workflow-board section[data-phase="review"] .card', { timeout: 10000 });

  // One session: facts and artifacts, shown as text.
  await column("build").first().click();
  await p.waitForSelector("#workflow-title");
  assert.equal(await p.locator("#workflow-title").innerText(), "Feature A");
  await p.waitForFunction(() => document.querySelector("#artifact-spec").textContent.includes("not bold"));
  assert.equal(await p.locator("#artifact-spec b").count(), 0, "spec.md is shown as text, not HTML");
  await p.waitForFunction(() => document.querySelector("#artifact-state").textContent.includes('"phase": "build"'));
  assert.match(await p.locator("#artifact-plan").innerText(), /No plan file/);
  assert.deepEqual(problems, [], "no console errors (CSP violations show up here)");
});
