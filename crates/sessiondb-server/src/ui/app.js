// sessiondb web UI: pages rendered from the JSON API, updated live from /api/events.
// Everything from the index is inserted as text (textContent), never as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const main = document.getElementById("main");
let route = null;
let refreshTimer = null;

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  return fetch(path, Object.assign({}, options, { headers })).then(async (r) => {
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
    return body;
  });
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = {
  int: (n) => (n || 0).toLocaleString("en-US"),
  usd: (n) => "$" + (n || 0).toFixed(2),
  time: (t) => (t ? t.replace("T", " ").slice(0, 16) : "-"),
  short: (s, n) => { s = (s || "").replace(/\s+/g, " ").trim(); return s.length > n ? s.slice(0, n - 1) + "…" : s; },
};

function setNav(name) {
  for (const id of ["sessions", "projects", "workflow", "usage"]) {
    document.getElementById("nav-" + id).classList.toggle("active", id === name);
  }
}

function fail(err) {
  main.replaceChildren(el("p", { class: "error" }, "Error: " + err.message));
}

// ---- Sessions -------------------------------------------------------------------------------------------
const listState = { q: "", project: "", state: "", sort: "last_activity", offset: 0, limit: 50 };

function sessionsQuery() {
  const p = new URLSearchParams();
  for (const k of ["q", "project", "state", "sort"]) if (listState[k]) p.set(k, listState[k]);
  p.set("offset", listState.offset);
  p.set("limit", listState.limit);
  return p.toString();
}

async function renderSessions(changed) {
  setNav("sessions");
  let data;
  try { data = await api("/api/sessions?" + sessionsQuery()); } catch (e) { return fail(e); }
  const search = el("input", { type: "search", id: "search", placeholder: "Search titles, prompts, projects, branches…", value: listState.q });
  search.addEventListener("input", () => { listState.q = search.value; listState.offset = 0; debounceRender(); });
  const project = el("input", { type: "text", id: "project", placeholder: "project dir", value: listState.project });
  project.addEventListener("change", () => { listState.project = project.value; listState.offset = 0; render(); });
  const state = el("select", { id: "state" },
    ["", "on_disk", "deleted", "history_only"].map((v) => el("option", { value: v }, v || "any state")));
  state.value = listState.state;
  state.addEventListener("change", () => { listState.state = state.value; listState.offset = 0; render(); });
  const sort = el("select", { id: "sort" },
    ["last_activity", "started", "cost", "tokens", "messages"].map((v) => el("option", { value: v }, "sort: " + v)));
  sort.value = listState.sort;
  sort.addEventListener("change", () => { listState.sort = sort.value; render(); });

  const rows = data.sessions.map((s) => {
    const row = el("tr", { class: "session", "data-id": s.session_id, onclick: () => { location.hash = "#/session/" + s.session_id; } },
      el("td", {}, fmt.time(s.last_activity_at)),
      el("td", { class: "title" }, fmt.short(s.title || "-", 80)),
      el("td", {}, fmt.short(s.project_dir || "-", 40)),
      el("td", {}, s.git_branch || ""),
      el("td", { class: "num" }, fmt.int(s.message_count)),
      el("td", { class: "num" }, fmt.int(s.total_tokens)),
      el("td", { class: "num" }, fmt.usd(s.cost_usd)),
      el("td", {}, s.state === "on_disk" ? "" : el("span", { class: "badge deleted" }, s.state.replace("_", " "))));
    if (changed && changed.has(s.session_id)) row.classList.add("flash");
    return row;
  });
  const end = Math.min(data.offset + data.limit, data.total);
  main.replaceChildren(
    el("div", { class: "filters" }, search, project, state, sort),
    el("table", { id: "sessions" },
      el("thead", {}, el("tr", {}, ["Last activity", "Title", "Project", "Branch"].map((h) => el("th", {}, h)),
        ["Msgs", "Tokens", "Cost"].map((h) => el("th", { class: "num" }, h)), el("th", {}, ""))),
      el("tbody", {}, rows)),
    el("div", { class: "pager" },
      el("button", { id: "prev", onclick: () => { listState.offset = Math.max(0, listState.offset - listState.limit); render(); } }, "Previous"),
      el("span", { id: "count" }, data.total ? `${data.offset + 1}–${end} of ${fmt.int(data.total)}` : "No sessions"),
      el("button", { id: "next", onclick: () => { listState.offset += listState.limit; render(); } }, "Next")));
  document.getElementById("prev").disabled = data.offset === 0;
  document.getElementById("next").disabled = end >= data.total;
  if (document.activeElement === document.body && listState.q) search.focus();
}

let renderDebounce = null;
function debounceRender() {
  clearTimeout(renderDebounce);
  renderDebounce = setTimeout(async () => {
    const had = document.activeElement && document.activeElement.id;
    await render();
    if (had) { const n = document.getElementById(had); if (n) { n.focus(); if (n.setSelectionRange) n.setSelectionRange(n.value.length, n.value.length); } }
  }, 200);
}

// ---- One session ----------------------------------------------------------------------------------------
function turnNode(m) {
  const tool = m.tool_results > 0;
  const classes = ["turn", m.type === "user" && !tool ? "user" : "", tool ? "tool" : "", m.is_sidechain ? "sidechain" : ""].join(" ");
  const usage = m.usage ? `in ${fmt.int(m.usage.input_tokens)} · out ${fmt.int(m.usage.output_tokens)} · cache r ${fmt.int(m.usage.cache_read_input_tokens)} w ${fmt.int(m.usage.cache_creation_input_tokens)}` : "";
  return el("div", { class: classes, "data-uuid": m.uuid || "" },
    el("div", { class: "head" },
      el("span", {}, (tool ? "tool result" : m.type) + (m.subtype ? " / " + m.subtype : "") + (m.is_sidechain ? " (subagent)" : "")),
      el("span", {}, fmt.time(m.timestamp)),
      m.model ? el("span", {}, m.model) : null,
      usage ? el("span", { class: "usage" }, usage) : null),
    m.text ? el("pre", {}, m.text) : null,
    m.tool_uses.map((t) => el("div", { class: "tooluse" }, "→ " + t.name + " " + fmt.short(t.input || "", 300))));
}

function chainNode(chain, current) {
  const byFrom = {};
  const hasParent = new Set();
  for (const l of chain.links) {
    if (l.from === l.to) continue;
    (byFrom[l.from] = byFrom[l.from] || []).push(l);
    hasParent.add(l.to);
  }
  const titles = Object.fromEntries(chain.sessions.map((s) => [s.session_id, s]));
  const seen = new Set();
  const item = (id, kind) => {
    if (seen.has(id)) return null;
    seen.add(id);
    const s = titles[id];
    const label = el("span", {},
      kind ? el("span", { class: "kind" }, kind) : null,
      s ? el("a", { href: "#/session/" + id }, id.slice(0, 8)) : id,
      s ? " " + fmt.time(s.started_at) + " " + fmt.short(s.title || "", 40) : "",
      id === chain.head ? el("span", { class: "head-mark" }, " (head)") : null,
      id === current ? " ← this" : "");
    const kids = (byFrom[id] || []).map((l) => item(l.to, l.kind)).filter(Boolean);
    return el("li", {}, label, kids.length ? el("ul", {}, kids) : null);
  };
  const roots = chain.sessions.filter((s) => !hasParent.has(s.session_id)).map((s) => item(s.session_id, null));
  return el("div", { class: "chain", id: "chain" }, el("h3", {}, "Chain"), el("ul", {}, roots.filter(Boolean)));
}

const sessionView = { id: null, shown: 0 };

async function renderSession(id) {
  setNav("sessions");
  let detail, messages, chain;
  try {
    [detail, messages, chain] = await Promise.all([
      api("/api/sessions/" + encodeURIComponent(id)),
      api("/api/sessions/" + encodeURIComponent(id) + "/messages?limit=1000"),
      api("/api/sessions/" + encodeURIComponent(id) + "/chain"),
    ]);
  } catch (e) { return fail(e); }
  sessionView.id = detail.session_id;
  sessionView.shown = messages.messages.length;
  const command = `cd ${JSON.stringify(detail.project_dir || ".")} && claude --resume ${detail.session_id}`;
  const copy = el("button", { id: "copy-resume", onclick: () => {
    navigator.clipboard && navigator.clipboard.writeText(command);
    copy.textContent = "Copied";
  } }, "Copy resume command");
  const models = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Model"),
    ["Responses", "Input", "Output", "Cache write", "Cache read", "Cost"].map((h) => el("th", { class: "num" }, h)))),
    el("tbody", {}, detail.usage_by_model.map((m) => el("tr", {}, el("td", {}, m.model),
      el("td", { class: "num" }, fmt.int(m.responses)), el("td", { class: "num" }, fmt.int(m.input_tokens)),
      el("td", { class: "num" }, fmt.int(m.output_tokens)), el("td", { class: "num" }, fmt.int(m.cache_creation_tokens)),
      el("td", { class: "num" }, fmt.int(m.cache_read_tokens)), el("td", { class: "num" }, m.cost_usd === null ? "unpriced" : fmt.usd(m.cost_usd))))));
  main.replaceChildren(
    el("h2", { id: "session-title" }, detail.title || detail.session_id),
    el("div", { class: "cols" },
      el("div", {},
        el("dl", { class: "meta" },
          el("dt", {}, "Session"), el("dd", { id: "session-id" }, detail.session_id),
          el("dt", {}, "Project"), el("dd", {}, detail.project_dir || "-"),
          el("dt", {}, "Branch"), el("dd", {}, detail.git_branch || "-"),
          el("dt", {}, "Active"), el("dd", {}, fmt.time(detail.started_at) + " → " + fmt.time(detail.last_activity_at)),
          el("dt", {}, "Tokens"), el("dd", {}, fmt.int(detail.total_tokens) + " · " + fmt.usd(detail.cost_usd) +
            (detail.claude_cost_usd !== null ? ` (Claude Code says ${fmt.usd(detail.claude_cost_usd)})` : "")),
          el("dt", {}, "State"), el("dd", {}, detail.state.replace("_", " "))),
        copy, el("code", { id: "resume-command" }, " " + command),
        el("h3", {}, "Usage by model"), models,
        el("h3", {}, `Transcript (${messages.total} messages)`),
        el("div", { id: "transcript" }, messages.messages.map(turnNode))),
      chainNode(chain, detail.session_id)));
}

async function appendNewMessages() {
  const id = sessionView.id;
  const data = await api(`/api/sessions/${encodeURIComponent(id)}/messages?offset=${sessionView.shown}&limit=1000`);
  if (sessionView.id !== id) return;
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  for (const m of data.messages) transcript.append(turnNode(m));
  sessionView.shown += data.messages.length;
}

// ---- Projects and usage ---------------------------------------------------------------------------------
async function renderProjects() {
  setNav("projects");
  let data;
  try { data = await api("/api/projects"); } catch (e) { return fail(e); }
  main.replaceChildren(el("table", { id: "projects" },
    el("thead", {}, el("tr", {}, el("th", {}, "Project"), el("th", {}, "Last activity"),
      ["Sessions", "Tokens", "Cost"].map((h) => el("th", { class: "num" }, h)))),
    el("tbody", {}, data.projects.map((p) => el("tr", { class: "session", onclick: () => {
      listState.project = p.project_dir; listState.offset = 0; location.hash = "#/"; } },
      el("td", {}, p.project_dir || "-"), el("td", {}, fmt.time(p.last_activity_at)),
      el("td", { class: "num" }, fmt.int(p.session_count)), el("td", { class: "num" }, fmt.int(p.total_tokens)),
      el("td", { class: "num" }, fmt.usd(p.cost_usd)))))));
}

function bars(rows, value) {
  const max = Math.max(1, ...rows.map(value));
  return el("div", { class: "bars" }, rows.map((r) => {
    const bar = el("div", { class: "bar", title: `${r.key}: ${fmt.usd(r.cost_usd)}, ${fmt.int(r.total_tokens)} tokens` });
    bar.style.height = Math.max(1, (value(r) / max) * 100) + "%";
    return bar;
  }));
}

async function renderUsage() {
  setNav("usage");
  let daily, models;
  try {
    [daily, models] = await Promise.all([api("/api/usage?group_by=day"), api("/api/usage?group_by=model")]);
  } catch (e) { return fail(e); }
  const table = (report, label) => el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, label),
    ["Input", "Output", "Cache write", "Cache read", "Total", "Cost"].map((h) => el("th", { class: "num" }, h)))),
    el("tbody", {}, report.rows.map((r) => el("tr", {}, el("td", {}, r.key),
      el("td", { class: "num" }, fmt.int(r.input_tokens)), el("td", { class: "num" }, fmt.int(r.output_tokens)),
      el("td", { class: "num" }, fmt.int(r.cache_creation_tokens)), el("td", { class: "num" }, fmt.int(r.cache_read_tokens)),
      el("td", { class: "num" }, fmt.int(r.total_tokens)), el("td", { class: "num" }, fmt.usd(r.cost_usd))))));
  const recent = daily.rows.slice(-90);
  main.replaceChildren(
    el("h2", {}, `Usage: ${fmt.int(daily.totals.total_tokens)} tokens, ${fmt.usd(daily.totals.cost_usd)}`),
    el("h3", {}, "Cost per day (last 90 days with use)"), bars(recent, (r) => r.cost_usd),
    el("h3", {}, "By model"), bars(models.rows, (r) => r.cost_usd), table(models, "Model"),
    el("h3", {}, "By day"), table({ rows: daily.rows.slice().reverse() }, "Day"));
}

// ---- Workflow sessions ----------------------------------------------------------------------------------
// Registered projects' agents/sessions/<slug>/ folders: a board by phase with checkpoint progress and each
// project's cost, and one session's facts and artifacts (spec.md, plan.json, state.json, read from disk).
const workflowState = { project: "" };
const PHASES = ["spec", "plan", "build", "review", "done"];

function text(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  return fetch(path, { headers }).then(async (r) => {
    const body = await r.text();
    if (!r.ok) {
      let message = r.statusText;
      try { message = JSON.parse(body).error.message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return body;
  });
}

function progress(done, total) {
  const bar = el("div", { class: "progress", title: `${done} of ${total} checkpoints done` }, el("div", {}));
  bar.firstChild.style.width = (total ? (done / total) * 100 : 0) + "%";
  return el("div", { class: "checkpoints" }, bar, el("span", {}, `${done}/${total}`));
}

async function renderWorkflow() {
  setNav("workflow");
  let projects, sessions;
  const q = new URLSearchParams({ limit: "10000" });
  if (workflowState.project) q.set("project", workflowState.project);
  try {
    [projects, sessions] = await Promise.all([api("/api/projects"), api("/api/workflow-sessions?" + q)]);
  } catch (e) { return fail(e); }
  const registered = projects.projects.filter((p) => p.registered);
  if (!registered.length) {
    return main.replaceChildren(el("p", { id: "workflow-empty" },
      "No registered projects: `sessiondb project add PATH` indexes a project's agents/sessions folders."));
  }
  const select = el("select", { id: "workflow-project", onchange: (e) => { workflowState.project = e.target.value; renderWorkflow(); } },
    el("option", { value: "" }, "All projects"),
    registered.map((p) => el("option", { value: p.name }, p.name)));
  select.value = workflowState.project;
  const summary = el("table", { id: "workflow-projects" },
    el("thead", {}, el("tr", {}, el("th", {}, "Project"), ["Workflow sessions", "Claude sessions", "Tokens", "Cost"].map((h) => el("th", { class: "num" }, h)))),
    el("tbody", {}, registered.filter((p) => !workflowState.project || p.name === workflowState.project).map((p) => el("tr", {},
      el("td", { title: p.project_dir }, p.name), el("td", { class: "num" }, fmt.int(p.workflow_sessions)),
      el("td", { class: "num" }, fmt.int(p.session_count)), el("td", { class: "num" }, fmt.int(p.total_tokens)),
      el("td", { class: "num" }, fmt.usd(p.cost_usd))))));
  const byPhase = new Map(PHASES.map((p) => [p, []]));
  for (const s of sessions.sessions) {
    const phase = s.phase || "none";
    if (!byPhase.has(phase)) byPhase.set(phase, []);
    byPhase.get(phase).push(s);
  }
  const board = el("div", { class: "board", id: "workflow-board" }, [...byPhase].map(([phase, rows]) =>
    el("section", { class: "phase", "data-phase": phase }, el("h3", {}, `${phase} (${rows.length})`),
      rows.map((s) => el("div", { class: "card" + (s.on_disk ? "" : " gone"), "data-slug": s.slug,
        onclick: () => { location.hash = "#/workflow/" + encodeURIComponent(s.project) + "/" + encodeURIComponent(s.slug); } },
        el("div", { class: "title" }, fmt.short(s.title, 80)),
        el("div", { class: "sub" }, `${s.project} · ${s.slug}`),
        progress(s.checkpoints_done, s.checkpoints_total),
        s.error ? el("span", { class: "badge deleted", title: s.error }, "error") : null,
        s.on_disk ? null : el("span", { class: "badge deleted" }, "gone"))))));
  main.replaceChildren(el("div", { class: "filters" }, select), summary, board);
}

async function renderWorkflowSession(project, slug) {
  setNav("workflow");
  const base = "/api/workflow-sessions/" + encodeURIComponent(project) + "/" + encodeURIComponent(slug);
  let s;
  try { s = await api(base); } catch (e) { return fail(e); }
  const artifact = (name, present) => {
    const pre = el("pre", { class: "artifact", id: "artifact-" + name }, present ? "Loading…" : `No ${name} file.`);
    if (present) {
      text(base + "/" + name)
        .then((t) => { pre.textContent = name === "spec" ? t : JSON.stringify(JSON.parse(t), null, 2); })
        .catch((e) => { pre.textContent = "Error: " + e.message; });
    }
    return el("div", {}, el("h3", {}, name), pre);
  };
  const facts = [["Project", s.project], ["Folder", s.root + "/agents/sessions/" + s.slug], ["Phase", s.phase || "-"],
    ["Status", s.status || "-"], ["Type", s.session_type || "-"], ["Created", fmt.time(s.created_at)],
    ["Updated", fmt.time(s.updated_at)], ["On disk", s.on_disk ? "yes" : "no (gone)"]];
  if (s.error) facts.push(["Error", s.error]);
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/workflow" }, "← Workflow")),
    el("h2", { id: "workflow-title" }, s.title),
    el("dl", { class: "meta" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    progress(s.checkpoints_done, s.checkpoints_total),
    artifact("spec", s.has_spec), artifact("plan", s.has_plan), artifact("state", true));
}

// ---- Routing and live updates ---------------------------------------------------------------------------
function render(changed) {
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/session\/(.+)$/);
  if (m) { route = { page: "session", id: decodeURIComponent(m[1]) }; return renderSession(route.id); }
  sessionView.id = null;
  if (hash === "#/projects") { route = { page: "projects" }; return renderProjects(); }
  if (hash === "#/usage") { route = { page: "usage" }; return renderUsage(); }
  const w = hash.match(/^#\/workflow\/([^/]+)\/([^/]+)$/);
  if (w) {
    route = { page: "workflow-session" };
    return renderWorkflowSession(decodeURIComponent(w[1]), decodeURIComponent(w[2]));
  }
  if (hash === "#/workflow") { route = { page: "workflow" }; return renderWorkflow(); }
  route = { page: "sessions" };
  return renderSessions(changed);
}

const pendingChanges = new Set();
function onChange(event) {
  const data = JSON.parse(event.data);
  if (event.type === "workflow_changed" || event.type === "sync_finished") {
    // The workflow board follows saves and syncs; the other pages follow their sessions' events only.
    if (route && route.page === "workflow") {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => renderWorkflow(), 100);
    }
    return;
  }
  if (data.session_id) pendingChanges.add(data.session_id);
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const changed = new Set(pendingChanges);
    pendingChanges.clear();
    if (route && route.page === "session" && changed.has(sessionView.id)) appendNewMessages().catch(() => {});
    else if (route && route.page === "sessions") renderSessions(changed);
  }, 100);
}

function connect() {
  const source = new EventSource("/api/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  const live = document.getElementById("live");
  source.onopen = () => live.classList.add("on");
  source.onerror = () => live.classList.remove("on");
  for (const kind of ["session_created", "session_appended", "session_resumed", "session_compacted", "session_ended", "session_deleted", "transition_recorded", "workflow_changed", "sync_finished"]) {
    source.addEventListener(kind, onChange);
  }
}

window.addEventListener("hashchange", () => render());
render();
connect();
