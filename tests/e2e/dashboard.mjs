// dashboard.mjs -- the master's dashboard in a real browser: a master with a token, three
// `herd worker`s in two regions (eu-1, eu-2 in eu; us-1 in us) and three `herd node`s as
// targets, all on loopback; the page at http://127.0.0.1:PORT/ in headless Chromium (Debian's,
// driven by playwright-core, as e2e.report). As a user: the workers are listed live; a task
// with a typo is refused with its line and column next to the editor (after the page asked for
// the token); fixed, it is created and started on region eu; its charts draw while it runs
// (uPlot canvases with ink in series colours) and the eu workers show QPS; a second task is
// loaded from a file, started on a chosen worker and cancelled, and that worker killed (the
// page shows it lost); the first ends with a verdict and its reports download, the JSON one
// counting exactly what the nodes answered. No console errors (but the
// 401 and 400 the master answered on purpose), no request leaving the page. Screenshots under
// load and at the end go to HERD_E2E_SHOTS.
// Env: HERD_BIN, HERD_WEB_DIR, HERD_E2E_SHOTS (default ./e2e-shots), CHROMIUM.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { browserEnv, freePorts, waitHealthy, chartsSeen } from "./lib.mjs";

const { herd, chromiumPath, shots, chromium } = browserEnv();

const TOKEN = "e2e-dashboard-token";
const children = new Set();
const work = mkdtempSync(path.join(os.tmpdir(), "herd-e2e-dash-"));

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", () => (process.env.HERD_E2E_KEEP ? console.log("kept", work) : cleanup()));
const watchdog = setTimeout(() => {
  console.error("e2e.dashboard: timed out after 170 s");
  process.exit(1);
}, 170000);

function start(args, log) {
  const c = spawn(herd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  c.stderr.on("data", (d) => (err += d));
  c.log = () => `${log}:\n${err}`;
  children.add(c);
  return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value (returned) or ms pass (throws what).
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(200);
  }
}

// A node's own count of the requests it answered (its status call included afterwards).
async function nodeTotal(port) {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/cluster/status`);
  return (await r.json()).status.total_requests;
}

async function main() {
  const base = await freePorts(4);
  const [mport, n1, n2, n3] = [base, base + 1, base + 2, base + 3];
  const nodes = [n1, n2, n3].map((p) =>
    start(["node", "--port", String(p), "--id", `api.${p - base}`, "--log-level", "error"], `node ${p}`));
  const master = start(["master", "--listen", `127.0.0.1:${mport}`, "--db", path.join(work, "herd.db"),
                        "--token", TOKEN, "--suspect-after", "2s", "--lost-after", "4s"], "master");
  for (const p of [n1, n2, n3]) await waitHealthy(p);
  const murl = `http://127.0.0.1:${mport}`;
  await until(async () => (await fetch(`${murl}/api/v1/workers`).catch(() => null))?.ok, 15000, "the master listens");
  const workers = [["eu-1", "eu"], ["eu-2", "eu"], ["us-1", "us"]].map(([id, region]) =>
    start(["worker", "--master", murl, "--id", id, "--region", region, "--token", TOKEN, "--cores", "1",
           "--log-level", "warn"], `worker ${id}`));

  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const problems = [], refusals = [];
  try {
    mkdirSync(shots, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      // the answers the master gives on purpose (no token yet, the typo) are logged by Chromium
      if (/Failed to load resource: the server responded with a status of 40[01]/.test(m.text()))
        refusals.push(m.text());
      else problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`${murl}/`)) return route.continue();
      problems.push(`network request: ${url}`);
      return route.abort();
    });
    const t0 = Date.now();
    await page.goto(`${murl}/`);
    await page.waitForLoadState("load");

    // the workers, live: all three active, in their regions
    await page.locator("#live", { hasText: "live" }).waitFor({ timeout: 15000 });
    await until(() => page.evaluate(() =>
      [...document.querySelectorAll("#workers tbody tr")].filter((tr) => tr.cells[2]?.textContent === "active").length === 3),
    30000, "three active workers on the page");
    const rows = await page.evaluate(() =>
      [...document.querySelectorAll("#workers tbody tr")].map((tr) => [...tr.cells].slice(0, 4).map((c) => c.textContent)));
    assert.deepEqual(rows.map((r) => r.slice(0, 3)),
                     [["eu-1", "eu", "active"], ["eu-2", "eu", "active"], ["us-1", "us", "active"]]);

    // a task with a typo: the page asks for the token first, then shows where the typo is
    const typo = `urls:
  - http://127.0.0.1:${n1}/echo
  - http://127.0.0.1:${n2}/echo
rate: 100
concurency: 4
duration: 8s
thresholds: ["p99<2s", "errors<1%"]
`;
    await page.fill("#config", typo);
    await page.click("#create");
    await page.locator("#token-form").waitFor({ state: "visible", timeout: 10000 });
    assert.ok(!page.url().includes(TOKEN));
    await page.fill("#token", TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.click("#create");
    const error = page.locator("#config-error");
    await error.waitFor({ state: "visible", timeout: 10000 });
    const errorText = await error.textContent();
    assert.match(errorText, /^line 5, column 1: concurency: unknown key 'concurency'/, "the typo's place");
    const caret = await page.evaluate(() => document.getElementById("config").selectionStart);
    assert.equal(caret, typo.indexOf("concurency"), "the caret is on the typo");
    await page.locator(".editor").screenshot({ path: path.join(shots, "dashboard-typo.png") });
    assert.ok(!page.url().includes(TOKEN), "the token is not in the URL");

    // fixed: created, started on region eu
    await page.fill("#config", typo.replace("concurency", "concurrency"));
    await page.click("#create");
    await page.locator("#create-note", { hasText: "created" }).waitFor({ timeout: 10000 });
    assert.ok(await error.isHidden(), "the error is gone once the config is right");
    const first = (await page.textContent("#create-note")).match(/task (t-[0-9a-f]+)/)[1];
    const row1 = page.locator(`#tasks tr[data-task="${first}"]`);
    await row1.locator("select.start-on").waitFor({ timeout: 10000 });
    const before = (await nodeTotal(n1)) + (await nodeTotal(n2));
    await row1.locator("select.start-on").selectOption("region:eu");
    await row1.locator("button.start").click();

    // its charts draw while it runs, and the eu workers show their QPS
    await until(() => page.evaluate(() => window.herdDashboard.drawn.length >= 3), 40000, "3 seconds drawn");
    const live = await until(async () => {
      const w = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#workers tbody tr")]
        .map((tr) => [tr.dataset.worker, { qps: +tr.cells[5].textContent, tasks: tr.cells[7].textContent }])));
      return w["eu-1"].qps > 0 && w["eu-2"].qps > 0 ? w : null;
    }, 20000, "the eu workers' QPS on the page");
    assert.equal(live["us-1"].qps, 0, "us-1 does not run the task");
    assert.equal(live["eu-1"].tasks, first);
    const running = await page.evaluate(chartsSeen);
    await page.screenshot({ path: path.join(shots, "dashboard-running.png"), fullPage: true });
    const titles = running.map((c) => c.title);
    assert.deepEqual(titles, ["requests and failures per second", "latency per second (ms)",
                              "requests per second by region", "requests per second by worker",
                              "share of the requests by worker"]);
    for (const c of running) {
      assert.ok(c.drawn, `chart "${c.title}" was not drawn`);
      assert.ok(c.ink > 300, `chart "${c.title}" has no series drawn (${c.ink} coloured pixels)`);
      assert.equal(c.lowestTick, "0", `chart "${c.title}": the value axis starts at ${c.lowestTick}`);
    }
    assert.deepEqual(running[2].legend.slice(1), ["eu req/s"], "one region runs it");
    assert.deepEqual(running[3].legend.slice(1), ["eu-1 req/s", "eu-2 req/s"]);
    // both joined at the task's start: one mark for the two, or one each
    const joins = running[3].events.map((e) => e.text).filter((t) => t.startsWith("joined "));
    assert.ok(joins.join() === "joined 2 workers" || joins.sort().join() === "joined eu-1,joined eu-2",
              `the workers' joins are marked: ${joins}`);

    // a second task, from a file, on a chosen worker (us-1), cancelled while it runs
    const file2 = path.join(work, "second.yaml");
    writeFileSync(file2, `url: http://127.0.0.1:${n3}/echo\nrate: 20\nduration: 120s\n`);
    await page.setInputFiles("#config-file", file2);
    await until(async () => (await page.inputValue("#config")).includes(`${n3}/echo`), 10000, "the file in the editor");
    await page.click("#create");
    await page.locator("#create-note", { hasText: /created/ }).filter({ hasNotText: first }).waitFor({ timeout: 10000 });
    const second = (await page.textContent("#create-note")).match(/task (t-[0-9a-f]+)/)[1];
    const row2 = page.locator(`#tasks tr[data-task="${second}"]`);
    await row2.locator("select.start-on").selectOption("chosen");
    await page.locator('#choose-list input[value="us-1"]').check();
    await row2.locator("button.start").click();
    await row2.locator("td.state", { hasText: "running" }).waitFor({ timeout: 20000 });
    await row2.locator("button.cancel").click();
    await row2.locator("td.state", { hasText: "cancelled" }).waitFor({ timeout: 30000 });

    // us-1 goes away: the page shows it lost (after 4 s of silence), without a reload
    workers[2].kill("SIGKILL");
    await page.locator('#workers tr[data-worker="us-1"] td.state', { hasText: "lost" }).waitFor({ timeout: 30000 });
    assert.equal(await page.locator("#worker-count").textContent(), "2 active of 3");

    // the first ends: completed and judged; the charts say the same as its report
    await page.locator(`#tasks tr[data-task="${first}"] button.link`).click();
    await row1.locator("td.state", { hasText: "completed" }).waitFor({ timeout: 60000 });
    await row1.locator("td", { hasText: /^pass$/ }).waitFor({ timeout: 10000 });
    await page.locator("#task-summary", { hasText: "verdict: pass" }).waitFor({ timeout: 10000 });
    await page.screenshot({ path: path.join(shots, "dashboard-done.png"), fullPage: true });
    const counted = (await nodeTotal(n1)) + (await nodeTotal(n2)) - before - 2;

    // its reports download; the JSON one counts what the nodes answered
    const get = async (format) => {
      const [download] = await Promise.all([page.waitForEvent("download"),
                                            row1.locator(`button.download.${format}`).click()]);
      const file = path.join(work, download.suggestedFilename());
      await download.saveAs(file);
      return { name: download.suggestedFilename(), text: readFileSync(file, "utf8") };
    };
    const json = await get("json");
    assert.equal(json.name, `herd-${first}.json`);
    const doc = JSON.parse(json.text);
    assert.equal(doc.task.id, first);
    assert.equal(doc.verdict, "pass");
    assert.equal(doc.totals.requests, counted, "the report counts what the nodes answered");
    assert.deepEqual(doc.regions.map((r) => r.region), ["eu"]);
    const md = await get("md");
    assert.match(md.text, /Verdict/);
    const junit = await get("junit");
    assert.match(junit.text, /<testsuite/);
    const html = await get("html");
    assert.match(html.text, /<div class="chart" data-chart="rates"/);

    assert.deepEqual(problems, [], "the page had problems");
    assert.ok(refusals.some((r) => /401/.test(r)) && refusals.some((r) => /400/.test(r)),
              `the master's 401 and 400 were seen: ${refusals}`);
    console.log(`e2e.dashboard: typo shown at its line and column, task ${first} ran on eu ` +
                `(${counted} requests, as the nodes counted) with its charts drawn live, task ${second} ` +
                `cancelled, reports downloaded; page up in ${Date.now() - t0} ms of the test; screenshots in ${shots}`);
  } catch (e) {
    for (const c of [master, ...workers]) console.error(c.log().slice(-3000));
    throw e;
  } finally {
    await browser.close();
    nodes.forEach((n) => n.kill("SIGTERM"));
  }
  clearTimeout(watchdog);
}

// the exit handler ends the master, workers and nodes (their pipes would keep node running)
main().then(() => process.exit(0), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
