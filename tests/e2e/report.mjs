// report.mjs -- the HTML reports in a real browser: `herd test` runs a small plan (a launched
// cluster of three demo nodes behind the gateway; connectivity, distribution, a kill with
// restart, concurrency, capacity) and `herd bench` loads two demo nodes; both HTML reports open
// in headless Chromium (Debian's, driven by playwright-core) from file://, offline. Asserts: no
// console errors, no request leaves the page, every chart is drawn (a uPlot canvas with ink
// in series colours), its value axis starts at 0, its legend shows a summary before hovering
// and the numbers under the cursor after, nodes are in name order with one colour each in
// every chart, event labels overlap neither each other nor the plot, and the page shows the
// verdict and the failover table. A distributed task's document (distributed-run.json beside
// this file, written by dist_merge: 2 regions, 3 workers, one saturated, one lost; the unit
// test report checks it is still what the merge writes) goes through `herd report --format
// html`: its per-region and per-worker tables are on the page, readable (inside the page's
// width, text 12 px or more, nothing cut off), the saturated and the lost worker marked in
// red, and the charts of their shares drawn. Saves screenshots of the pages (and of a hovered
// chart) in HERD_E2E_SHOTS, for a person to look at.
// Env: HERD_BIN (the binary), HERD_WEB_DIR (web/, where npm installed playwright-core),
// HERD_E2E_SHOTS (default ./e2e-shots), CHROMIUM (default /usr/bin/chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { browserEnv, freePorts, waitHealthy, chartsSeen } from "./lib.mjs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

const { herd, chromiumPath, shots, chromium } = browserEnv();

const children = new Set();
const work = mkdtempSync(path.join(os.tmpdir(), "herd-e2e-"));

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", () => process.env.HERD_E2E_KEEP ? console.log("kept", work) : cleanup());
const watchdog = setTimeout(() => {
  console.error("e2e.report: timed out after 150 s");
  process.exit(1);
}, 150000);

// Runs herd with args to its end; resolves {code, out}.
function run(args) {
  return new Promise((resolve) => {
    const c = spawn(herd, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(c);
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("exit", (code) => {
      children.delete(c);
      resolve({ code, out });
    });
  });
}

// Opens file in Chromium; returns what a user would see and what went wrong, before and while
// the mouse is over the chart titled hoverTitle; saves screenshots named name*.png.
async function inspect(browser, file, name, hoverTitle) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file://")) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });
  await page.goto("file://" + file);
  await page.waitForLoadState("load");
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  const seen = await page.evaluate(chartsSeen);
  const text = await page.evaluate(() => document.body.innerText);
  const verdict = await page.evaluate(() => document.querySelector("#verdict")?.textContent || "");
  const chart = page.locator("div.chart", { has: page.locator(`h4:text-is("${hoverTitle}")`) }).first();
  await chart.scrollIntoViewIfNeeded();
  const over = await chart.locator(".u-over").boundingBox();
  await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2);
  // the legend follows the mouse on the next frame; a legend that never does fails below
  await chart.locator(".u-legend .u-value").first()
    .filter({ hasText: / s$/ }).waitFor({ timeout: 3000 }).catch(() => {});
  const hovered = await page.evaluate(chartsSeen);
  await chart.screenshot({ path: path.join(shots, `${name}-hover.png`) });
  await page.close();
  return { charts: seen, hovered, verdict, text, problems };
}

function assertCharts(what, seen, minCharts) {
  assert.deepEqual(seen.problems, [], `${what}: the page had problems`);
  assert.ok(seen.charts.length >= minCharts,
            `${what}: ${seen.charts.length} charts, expected at least ${minCharts}`);
  const colors = new Map(); // node -> its marker colour, the same in every chart
  for (const c of seen.charts) {
    assert.ok(c.drawn, `${what}: chart "${c.title}" was not drawn`);
    assert.ok(c.ink > 300, `${what}: chart "${c.title}" has no series drawn (${c.ink} coloured pixels)`);
    assert.equal(c.lowestTick, "0", `${what}: chart "${c.title}": the value axis starts at ${c.lowestTick}`);
    for (const v of c.values.slice(1))
      assert.notEqual(v, "--", `${what}: chart "${c.title}": a legend value is "--" before hovering`);
    if (c.kind === "nodes") {
      const nodes = c.legend.slice(1).map((l) => l.split(" ")[0]);
      const sorted = nodes.slice().sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
      assert.deepEqual(nodes, sorted, `${what}: chart "${c.title}": nodes out of order`);
      nodes.forEach((n, i) => {
        if (!colors.has(n)) colors.set(n, c.markers[i + 1]);
        assert.equal(c.markers[i + 1], colors.get(n), `${what}: ${n} changes colour in "${c.title}"`);
      });
    }
    c.events.forEach((a, i) => {
      assert.ok(a.bottom <= c.plot.top, `${what}: "${c.title}": label "${a.text}" is over the plot`);
      for (const b of c.events.slice(i + 1))
        assert.ok(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top,
                  `${what}: "${c.title}": labels "${a.text}" and "${b.text}" overlap`);
    });
  }
  assert.ok(new Set(colors.values()).size === colors.size, `${what}: two nodes share a colour`);
}

// What a user reads of a distributed task's tables: for each of #regions and #workers, the
// header and the rows' cells, the flagged cells, and whether the table is readable: inside the
// page, not scrolled sideways (table's scrollWidth fits), its text at least 12 px.
function groupTablesSeen() {
  return Object.fromEntries(["regions", "workers"].map((id) => {
    const table = document.querySelector(`#${id} table`);
    if (!table) return [id, null];
    const r = table.getBoundingClientRect();
    const cells = [...table.querySelectorAll("td, th")];
    return [id, {
      header: [...table.querySelectorAll("th")].map((th) => th.textContent.trim()),
      rows: [...table.querySelectorAll("tr")].slice(1)
        .map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())),
      flagged: [...table.querySelectorAll("td.flag")].map((td) => ({
        text: td.textContent.trim(), color: getComputedStyle(td).color,
        weight: getComputedStyle(td).fontWeight, rowShaded: td.parentElement.classList.contains("flagged") })),
      visible: r.width > 0 && r.height > 0, right: r.right, pageWidth: document.documentElement.clientWidth,
      fits: table.scrollWidth <= table.clientWidth + 1,
      smallestFont: Math.min(...cells.map((c) => parseFloat(getComputedStyle(c).fontSize))),
    }];
  }));
}

// The hovered chart's legend: a number under the cursor where the summary was.
function assertHover(what, seen, title) {
  const before = seen.charts.find((c) => c.title === title);
  const during = seen.hovered.find((c) => c.title === title);
  for (let i = 1; i < during.values.length; i++) {
    assert.match(during.values[i], /^-?[0-9.]+k?$/, `${what}: "${title}": hovering shows ${during.values[i]}`);
    assert.notEqual(during.values[i], before.values[i], `${what}: "${title}": hovering changed nothing`);
  }
  assert.match(during.values[0], /^[0-9.]+ s$/, `${what}: "${title}": the time under the cursor`);
}

async function main() {
  const base = await freePorts(7); // api.1..api.4 (the capacity check grows to 4), gateway, 2 lone
  const [gw, lone, lone2] = [base + 4, base + 5, base + 6];
  const plan = path.join(work, "plan.yaml");
  writeFileSync(plan, `name: e2e report
cluster:
  groups:
    api: {command: "${herd} node --log-level warn", replicas: 3, base_port: ${base}}
  gateway:
    port: ${gw}
    threads: 1
    timeout: 1s
    health: {path: /health, inter: 100ms, downinter: 100ms, rise: 1, fall: 2}
checks:
  - connectivity: {probes: 5}
  - distribution: {requests: 600, path: /echo}
  - failover: {fault: kill, node: api.2, rate: 200, duration: 2s, at: 500ms,
               restart_after: 600ms, path: /echo, expect: {failed_requests: "<=0"}}
  - concurrency: {connections: 4, duration: 3s, path: /echo}
  - capacity: {group: api, step: 1, max: 4, probes: 2}
report: {dir: ${work}/test, formats: [json, html]}
`);
  const t = await run(["test", plan, "-q"]);
  assert.equal(t.code, 0, `herd test failed:\n${t.out}`);

  const nodes = [lone, lone2].map((port) => {
    const node = spawn(herd, ["node", "--port", String(port), "--log-level", "error"], { stdio: "ignore" });
    children.add(node);
    return node;
  });
  await waitHealthy(lone);
  await waitHealthy(lone2);
  // the higher port first: the report still lists node-LONE before node-LONE2
  const b = await run(["bench", `http://127.0.0.1:${lone2}/echo`, `http://127.0.0.1:${lone}/echo`,
                       "-c", "4", "-d", "2s", "-o", "html", "--out", path.join(work, "bench.html")]);
  nodes.forEach((node) => node.kill("SIGTERM"));
  assert.equal(b.code, 0, `herd bench failed:\n${b.out}`);

  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  try {
    mkdirSync(shots, { recursive: true });
    const byNode = "successes per second by node";
    const test = await inspect(browser, path.join(work, "test", "run.html"), "test-report", byNode);
    // distribution (1) + failover (3) + concurrency (3) + capacity (1)
    assertCharts("test report", test, 8);
    assertHover("test report", test, byNode);
    assert.match(test.verdict, /Verdict: PASS/);
    assert.match(test.text, /detection/, "the failover table is on the page");
    const failover = test.charts.find((c) => c.title === byNode);
    assert.deepEqual(failover.legend.slice(1), ["api.1 ok/s", "api.2 ok/s", "api.3 ok/s"]);
    assert.deepEqual(failover.events.map((e) => e.text).filter((t) => /^(kill|restart) /.test(t)),
                     ["kill api.2", "restart api.2"], "the failover's own actions are labelled");

    const bench = await inspect(browser, path.join(work, "bench.html"), "bench-report", "requests per second by node");
    assertCharts("bench report", bench, 3);
    assertHover("bench report", bench, "requests per second by node");
    assert.deepEqual(bench.charts.find((c) => c.kind === "nodes").legend.slice(1),
                     [`node-${lone} req/s`, `node-${lone2} req/s`]);

    // a distributed task's report, rendered by herd report from the merge's document
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "distributed-run.json");
    const r = await run(["report", fixture, "--format", "html", "--out-dir", work]);
    assert.equal(r.code, 0, `herd report failed:\n${r.out}`);
    const distFile = path.join(work, "distributed-run.html");
    const dist = await inspect(browser, distFile, "distributed-report", "requests per second by node");
    assertCharts("distributed report", dist, 5);
    const groups = dist.charts.filter((c) => c.kind === "groups");
    assert.deepEqual(groups.map((c) => c.title),
                     ["share of the requests by region", "share of the requests by worker"]);
    assert.deepEqual(groups[1].values, ["3 workers", "max 53.6%"], "the workers' chart legend");
    // each region's and worker's requests per second (the merge's own timelines), the loss marked
    const rates = dist.charts.filter((c) => c.kind === "rates");
    assert.deepEqual(rates.map((c) => c.title),
                     ["requests per second by region", "requests per second by worker"]);
    assert.deepEqual(rates[0].legend.slice(1), ["beijing req/s", "shanghai req/s"]);
    assert.deepEqual(rates[1].legend.slice(1), ["bj-1 req/s", "bj-2 req/s", "sh-1 req/s"]);
    assert.ok(rates[1].events.some((e) => e.text === "lost sh-1"), "the lost worker is marked");
    assert.match(dist.text, /Total Requests\s+Total Success|total requests\s+success/i);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto("file://" + distFile);
    await page.waitForLoadState("load");
    const tables = await page.evaluate(groupTablesSeen);
    const section = page.locator("#distributed");
    await section.screenshot({ path: path.join(shots, "distributed-tables.png") });
    await page.close();
    for (const [id, t] of Object.entries(tables)) {
      assert.ok(t, `distributed report: no #${id} table`);
      assert.ok(t.visible, `distributed report: the #${id} table is not visible`);
      assert.ok(t.right <= t.pageWidth, `distributed report: #${id} ends at ${t.right} px, past the page (${t.pageWidth})`);
      assert.ok(t.fits, `distributed report: #${id} is cut off (scrolls sideways)`);
      assert.ok(t.smallestFont >= 12, `distributed report: #${id} has ${t.smallestFont} px text`);
    }
    assert.deepEqual(tables.regions.rows.map((row) => row.slice(0, 4)),
                     [["beijing", "2", "4800", "85.7%"], ["shanghai", "1", "800", "14.3%"]]);
    assert.deepEqual(tables.workers.header.slice(0, 3), ["worker", "requests", "share"]);
    assert.deepEqual(tables.workers.rows.map((row) => [row[0], row[1], row[row.length - 1]]),
                     [["bj-1", "3000", "done"], ["bj-2", "1800", "done"], ["sh-1", "800", "LOST"]]);
    assert.deepEqual(tables.workers.flagged.map((f) => f.text), ["95% SATURATED", "LOST"]);
    for (const f of tables.workers.flagged) {
      assert.equal(f.color, "rgb(197, 34, 31)", `"${f.text}" is not red`);
      assert.ok(Number(f.weight) >= 600, `"${f.text}" is not bold`);
      assert.ok(f.rowShaded, `the row of "${f.text}" is not shaded`);
    }
  } finally {
    await browser.close();
  }
  clearTimeout(watchdog);
  console.log("e2e.report: the test, bench and distributed HTML reports render their charts and tables" +
              " in Chromium, offline, without errors;" +
              ` screenshots in ${shots}`);
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
  process.exitCode = 1;
});
