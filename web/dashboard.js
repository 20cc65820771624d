/* dashboard.js -- the master's page: its workers, its tasks (create, start, cancel, reports)
 * and a task's charts, kept live by the master's event stream (GET /api/v1/events, read with
 * fetch so that the token goes in a header). The charts are report.js's (herdCharts.draw),
 * drawn from the task's run document, so a task looks the same here and in its saved report.
 *
 * The token, when the master asks for one (a 401), is asked for in a form and kept in this
 * tab's sessionStorage, never in the URL. window.herdDashboard holds what a test or a
 * measurement reads: when each second of the viewed task's timeline was first drawn. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "herd-token";
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let workers = [], running = new Map(), tasks = [];
  const verdicts = new Map(); /* finished tasks' verdicts: they do not change */
  let viewed = null;          /* the task whose charts are shown */
  const probe = { drawn: [], updates: 0, docFetches: 0, events: 0 };
  window.herdDashboard = probe;

  /* ---- the API ---- */

  class Unauthorized extends Error {}

  /* A call to the master's API; JSON answers parsed. A 401 asks for the token and throws;
   * another error status throws the master's message. */
  async function api(method, path, body, raw) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401) {
      askToken(token ? "the master refused this token: give it again" : "");
      throw new Unauthorized("the master asks for its token");
    }
    if (raw && r.ok) return r;
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON: the text is the message */ }
    if (!r.ok) throw new Error(json && json.error ? json.error : `${r.status} ${text}`);
    return json;
  }

  function askToken(why) {
    const form = $("token-form");
    form.hidden = false;
    $("token-note").textContent = why || "kept in this tab only (sessionStorage), sent as Authorization: Bearer";
    $("token-note").className = why ? "error" : "note";
    $("token").focus();
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    $("token-form").hidden = true;
    refreshTasks();
    restartStream();
  });

  /* ---- workers ---- */

  function cell(tr, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function renderWorkers() {
    const body = $("workers").tBodies[0];
    body.textContent = "";
    const active = workers.filter((w) => w.state === "active").length;
    $("worker-count").textContent = `${active} active of ${workers.length}`;
    if (!workers.length) {
      const tr = body.insertRow();
      const td = cell(tr, "no worker has registered yet", "empty");
      td.colSpan = 8;
    }
    workers.forEach((w) => {
      const tr = body.insertRow();
      tr.dataset.worker = w.id;
      cell(tr, w.id);
      cell(tr, w.region || "(none)");
      cell(tr, w.state, `state ${w.state}`);
      cell(tr, String(w.cores));
      cell(tr, `${(100 * (w.cpu || 0)).toFixed(0)}%`);
      cell(tr, String(w.qps || 0));
      cell(tr, String(w.errors_per_s || 0), w.errors_per_s ? "fail" : "");
      cell(tr, (w.tasks || []).join(", "));
    });
    renderChoices();
  }

  /* ---- tasks ---- */

  const when = (us) => (us ? new Date(us / 1000).toLocaleTimeString() : "");
  const regions = () => [...new Set(workers.map((w) => w.region).filter((r) => r))].sort();

  function startSelect(task) {
    const sel = document.createElement("select");
    sel.className = "start-on";
    sel.setAttribute("aria-label", `where to start ${task.task_id}`);
    const add = (value, text) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      sel.appendChild(o);
    };
    add("all", "all workers");
    regions().forEach((r) => add(`region:${r}`, `region ${r}`));
    add("chosen", "chosen workers");
    sel.addEventListener("change", () => renderChoices());
    return sel;
  }

  function button(text, fn, className) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (className) b.className = className;
    b.addEventListener("click", fn);
    return b;
  }

  function renderTasks() {
    const body = $("tasks").tBodies[0];
    /* a start selection in progress is kept across updates */
    const kept = new Map([...body.querySelectorAll("select.start-on")]
      .map((s) => [s.closest("tr").dataset.task, s.value]));
    body.textContent = "";
    if (!tasks.length) {
      const td = cell(body.insertRow(), "no task yet", "empty");
      td.colSpan = 8;
    }
    tasks.forEach((t) => {
      const tr = body.insertRow();
      tr.dataset.task = t.task_id;
      if (viewed === t.task_id) tr.className = "viewed";
      const id = cell(tr, "");
      id.appendChild(button(t.task_id, () => view(t.task_id), "link"));
      const state = running.get(t.task_id)?.state || t.state;
      cell(tr, state, `state ${state}`);
      const v = verdicts.get(t.task_id);
      /* a task cancelled before it judged anything has no verdict */
      cell(tr, v === undefined ? "" : v === null || v === "" ? "none" : v, v === "pass" ? "pass" : v === "fail" ? "fail" : "");
      cell(tr, when(t.created_us));
      cell(tr, t.url || "");
      const on = cell(tr, ""), actions = cell(tr, ""), reports = cell(tr, "");
      if (state === "pending") {
        const sel = startSelect(t);
        if (kept.has(t.task_id)) sel.value = kept.get(t.task_id);
        on.appendChild(sel);
        actions.appendChild(button("Start", () => start(t.task_id, sel.value), "start"));
      }
      if (state === "pending" || state === "running")
        actions.appendChild(button("Cancel", () => cancel(t.task_id), "cancel"));
      if (state !== "pending")
        ["json", "md", "html", "junit"].forEach((f) =>
          reports.appendChild(button(f, () => download(t.task_id, f), `download ${f}`)));
    });
    renderChoices();
  }

  /* The worker checkboxes under the table, while a pending task's start says "chosen". */
  function renderChoices() {
    const chosen = [...document.querySelectorAll("select.start-on")].some((s) => s.value === "chosen");
    const box = $("choose"), list = $("choose-list");
    box.hidden = !chosen;
    const checked = new Set([...list.querySelectorAll("input:checked")].map((i) => i.value));
    list.textContent = "";
    if (!chosen) return;
    workers.filter((w) => w.state === "active").forEach((w) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = w.id;
      box.checked = checked.has(w.id);
      label.append(box, ` ${w.id}`);
      list.appendChild(label);
    });
  }

  let tasksBusy = false, tasksAgain = false;
  async function refreshTasks() {
    if (tasksBusy) { tasksAgain = true; return; }
    tasksBusy = true;
    try {
      tasks = (await api("GET", "/api/v1/tasks")).tasks || [];
      tasks.sort((a, b) => b.created_us - a.created_us);
      const finished = tasks.filter((t) => !["pending", "running"].includes(t.state) && !verdicts.has(t.task_id));
      await Promise.all(finished.map(async (t) => {
        const full = await api("GET", `/api/v1/tasks/${encodeURIComponent(t.task_id)}`);
        verdicts.set(t.task_id, full.verdict === undefined ? "" : full.verdict);
      }));
      renderTasks();
    } catch (e) {
      if (!(e instanceof Unauthorized)) console.warn("tasks:", e.message);
    } finally {
      tasksBusy = false;
      if (tasksAgain) { tasksAgain = false; refreshTasks(); }
    }
  }

  async function start(id, on) {
    const body = {};
    if (on.startsWith("region:")) body.region = on.slice(7);
    else if (on === "chosen") {
      body.worker_ids = [...$("choose-list").querySelectorAll("input:checked")].map((i) => i.value);
      if (!body.worker_ids.length) return note("choose at least one worker", true);
    }
    try {
      await api("POST", `/api/v1/tasks/${encodeURIComponent(id)}/start`, body);
      note(`task ${id} started`);
      view(id);
    } catch (e) {
      if (!(e instanceof Unauthorized)) note(`start ${id}: ${e.message}`, true);
    }
    refreshTasks();
  }

  async function cancel(id) {
    try {
      await api("POST", `/api/v1/tasks/${encodeURIComponent(id)}/cancel`, {});
      note(`task ${id} cancelled`);
    } catch (e) {
      if (!(e instanceof Unauthorized)) note(`cancel ${id}: ${e.message}`, true);
    }
    refreshTasks();
  }

  const extensions = { json: "json", md: "md", html: "html", junit: "xml" };
  async function download(id, format) {
    try {
      const r = await api("GET", `/api/v1/tasks/${encodeURIComponent(id)}/report?format=${format}`, undefined, true);
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `herd-${id}.${extensions[format]}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      if (!(e instanceof Unauthorized)) note(`report of ${id}: ${e.message}`, true);
    }
  }

  function note(text, bad) {
    const n = $("create-note");
    n.textContent = text;
    n.className = bad ? "error" : "note";
  }

  /* ---- creating a task ---- */

  /* "config_file:3:14: what" -> where the editor should point */
  function showConfigError(message) {
    const box = $("config-error");
    box.hidden = false;
    box.textContent = "";
    const m = /^config_file:(\d+):(\d+): (.*)$/s.exec(message);
    if (!m) {
      box.textContent = message;
      return;
    }
    const line = +m[1], col = +m[2];
    const where = document.createElement("strong");
    where.className = "where";
    where.textContent = `line ${line}, column ${col}`;
    box.append(where, `: ${m[3]}`);
    /* the caret goes where the master points */
    const text = $("config").value.split("\n");
    let at = 0;
    for (let i = 0; i < line - 1 && i < text.length; i++) at += text[i].length + 1;
    at += Math.max(0, Math.min(col - 1, (text[line - 1] || "").length));
    $("config").setSelectionRange(at, at);
  }

  $("config-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    $("config").value = await file.text();
    $("config-error").hidden = true;
  });

  $("create").addEventListener("click", async () => {
    const text = $("config").value;
    if (!text.trim()) return showConfigError("the config is empty: paste a task's YAML or JSON");
    try {
      const r = await api("POST", "/api/v1/tasks", { config_file: text });
      $("config-error").hidden = true;
      note(`task ${r.task_id} created: start it from the list`);
      refreshTasks();
    } catch (e) {
      if (!(e instanceof Unauthorized)) showConfigError(e.message);
    }
  });

  /* ---- a task's charts ---- */

  let docBusy = false, docAgain = false;

  function view(id) {
    viewed = id;
    $("task-view").hidden = false;
    $("task-title").textContent = `Task ${id}`;
    document.querySelectorAll("#tasks tr.viewed").forEach((tr) => tr.classList.remove("viewed"));
    document.querySelector(`#tasks tr[data-task="${CSS.escape(id)}"]`)?.classList.add("viewed");
    refreshDoc();
  }

  function summary(doc, state) {
    const t = doc.totals || {}, lat = doc.latency_ms || {}, fmt = herdCharts.fmt;
    const verdict = doc.verdict == null ? "not judged yet" : doc.verdict;
    const parts = [`${state}`, `verdict: ${verdict}`, `${t.requests || 0} requests`,
                   `${fmt(t.rps)} req/s`, `${t.failures || 0} failed`,
                   `p50 ${fmt(lat.p50)} ms`, `p99 ${fmt(lat.p99)} ms`,
                   `${(doc.workers || []).length} workers`];
    $("task-summary").textContent = parts.join(" · ");
    $("task-summary").className = "summary " + (verdict === "fail" ? "fail" : verdict === "pass" ? "pass" : "");
  }

  /* Fetches the viewed task's run document and draws it; one fetch at a time, the latest
   * change fetched after the one in flight. */
  async function refreshDoc() {
    if (!viewed) return;
    if (docBusy) { docAgain = true; return; }
    docBusy = true;
    const id = viewed;
    try {
      const r = await api("GET", `/api/v1/tasks/${encodeURIComponent(id)}/report?format=json`, undefined, true);
      const doc = await r.json();
      probe.docFetches++;
      if (viewed !== id) return;
      herdCharts.draw(doc, $("task-view"));
      const now = performance.timeOrigin + performance.now();
      /* when each second first showed on the chart, and what it showed */
      (doc.timeline || []).forEach((e, k) => {
        const seen = probe.drawn[k];
        if (!seen) probe.drawn[k] = { first_ms: now, requests: e.requests, last_change_ms: now };
        else if (seen.requests !== e.requests) Object.assign(seen, { requests: e.requests, last_change_ms: now });
      });
      probe.start_us = running.get(id)?.start_us || probe.start_us;
      probe.updates++;
      const task = tasks.find((t) => t.task_id === id);
      summary(doc, running.get(id)?.state || (task && task.state) || "");
    } catch (e) {
      if (e instanceof Unauthorized) return;
      /* a task not started has no report yet */
      $("task-summary").textContent = e.message;
    } finally {
      docBusy = false;
      if (docAgain) { docAgain = false; refreshDoc(); }
    }
  }

  /* ---- the event stream ---- */

  function onState(s) {
    if (probe.events++ === 0) performance.mark("first-state");
    /* in name order, numbers as numbers: sim-2 before sim-10 */
    workers = (s.workers || []).sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
    renderWorkers();
    const now = new Map((s.tasks || []).map((t) => [t.id, t]));
    /* a task started, ended or changed state: the list anew */
    const changed = now.size !== running.size ||
      [...now].some(([id, t]) => !running.has(id) || running.get(id).state !== t.state);
    const viewedMoved = viewed && (now.has(viewed) || running.has(viewed)) &&
      (now.get(viewed)?.requests !== running.get(viewed)?.requests || !now.has(viewed));
    running = now;
    if (changed) refreshTasks();
    if (viewedMoved) refreshDoc();
  }

  function live(on, text) {
    $("live").textContent = text;
    $("live").className = `live ${on ? "on" : "off"}`;
  }

  let streamAbort = null;
  function restartStream() {
    if (streamAbort) streamAbort.abort();
  }

  /* Reads text/event-stream from a fetch: events separated by a blank line, "event:" and
   * "data:" fields, comments (heartbeats) ignored. Reconnects after 2 s when it breaks. */
  async function stream() {
    for (;;) {
      const ctl = new AbortController();
      streamAbort = ctl;
      try {
        const headers = token ? { Authorization: `Bearer ${token}` } : {};
        const r = await fetch("/api/v1/events", { headers, signal: ctl.signal });
        if (r.status === 401) {
          live(false, "needs the token");
          askToken(token ? "the master refused this token: give it again" : "");
          await new Promise((res) => ctl.signal.addEventListener("abort", res));
          continue;
        }
        if (!r.ok) throw new Error(`${r.status}`);
        live(true, "live");
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let end;
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let event = "message", data = "";
            block.split("\n").forEach((l) => {
              if (l.startsWith("event:")) event = l.slice(6).trim();
              else if (l.startsWith("data:")) data += l.slice(5).trimStart();
            });
            if (event === "state" && data) onState(JSON.parse(data));
          }
        }
        live(false, "reconnecting");
      } catch (e) {
        live(false, ctl.signal.aborted ? "reconnecting" : "offline: retrying");
      }
      if (!ctl.signal.aborted) await new Promise((res) => setTimeout(res, 2000));
    }
  }

  refreshTasks();
  stream();
})();
