// report.mjs -- the HTML reports in a real browser: `herd test` runs a small plan (a launched
// cluster of two demo nodes behind the gateway; connectivity, distribution, a kill with
// restart, concurrency, capacity) and `herd bench` loads a demo node; both HTML reports open in
// headless Chromium (Debian's, driven by playwright-core) from file://, offline. Asserts: no
// console errors, no request leaves the page, every chart is drawn (a uPlot canvas with ink
// in series colours), and the page shows the verdict and the failover table.
// Env: HERD_BIN (the binary), HERD_WEB_DIR (web/, where npm installed playwright-core),
// CHROMIUM (default /usr/bin/chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

const herd = process.env.HERD_BIN;
const webDir = process.env.HERD_WEB_DIR;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(herd && existsSync(herd), "HERD_BIN must name the herd binary");
assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
const { chromium } = createRequire(path.join(webDir, "package.json"))("playwright-core");

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

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

// The first of n consecutive free ports (a group's replicas listen on base..base+n-1).
async function freePorts(n) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports`);
}

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

async function waitHealthy(port) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node on ${port} never answered /health`);
}

// Opens file in Chromium; returns what a user would see and what went wrong.
async function inspect(browser, file) {
  const page = await browser.newPage();
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
  const seen = await page.evaluate(() => {
    const charts = [...document.querySelectorAll("div.chart")].map((div) => {
      const canvas = div.querySelector("canvas");
      let ink = 0;
      if (canvas && canvas.width > 0) {
        const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        // coloured pixels only: the axes, grid and labels are grey, the series are not
        for (let i = 0; i < px.length; i += 4)
          if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60) ink++;
      }
      return { title: div.dataset.title, drawn: div.dataset.drawn === "1", ink,
               legend: [...div.querySelectorAll(".u-legend .u-label")].map((l) => l.textContent) };
    });
    return { charts, verdict: document.querySelector("#verdict")?.textContent || "",
             text: document.body.innerText };
  });
  await page.close();
  return { ...seen, problems };
}

function assertCharts(what, seen, minCharts) {
  assert.deepEqual(seen.problems, [], `${what}: the page had problems`);
  assert.ok(seen.charts.length >= minCharts,
            `${what}: ${seen.charts.length} charts, expected at least ${minCharts}`);
  for (const c of seen.charts) {
    assert.ok(c.drawn, `${what}: chart "${c.title}" was not drawn`);
    assert.ok(c.ink > 300, `${what}: chart "${c.title}" has no series drawn (${c.ink} coloured pixels)`);
  }
}

async function main() {
  const base = await freePorts(6); // api.1..api.4 (the capacity check grows to 4), gateway, lone
  const [gw, lone] = [base + 4, base + 5];
  const plan = path.join(work, "plan.yaml");
  writeFileSync(plan, `name: e2e report
cluster:
  groups:
    api: {command: "${herd} node --log-level warn", replicas: 2, base_port: ${base}}
  gateway:
    port: ${gw}
    threads: 1
    timeout: 1s
    health: {path: /health, inter: 100ms, downinter: 100ms, rise: 1, fall: 2}
checks:
  - connectivity: {probes: 5}
  - distribution: {requests: 400, path: /echo}
  - failover: {fault: kill, node: api.2, rate: 200, duration: 2s, at: 500ms,
               restart_after: 600ms, path: /echo, expect: {failed_requests: "<=0"}}
  - concurrency: {connections: 4, duration: 3s, path: /echo}
  - capacity: {group: api, step: 1, max: 4, probes: 2}
report: {dir: ${work}/test, formats: [json, html]}
`);
  const t = await run(["test", plan, "-q"]);
  assert.equal(t.code, 0, `herd test failed:\n${t.out}`);

  const node = spawn(herd, ["node", "--port", String(lone), "--log-level", "error"], { stdio: "ignore" });
  children.add(node);
  await waitHealthy(lone);
  const b = await run(["bench", `http://127.0.0.1:${lone}/echo`, "-c", "4", "-d", "2s", "-o", "html",
                       "--out", path.join(work, "bench.html")]);
  node.kill("SIGTERM");
  assert.equal(b.code, 0, `herd bench failed:\n${b.out}`);

  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  try {
    const test = await inspect(browser, path.join(work, "test", "report.html"));
    // distribution (1) + failover (3) + concurrency (3) + capacity (1)
    assertCharts("test report", test, 8);
    assert.match(test.verdict, /Verdict: PASS/);
    assert.match(test.text, /detection/, "the failover table is on the page");
    const failover = test.charts.find((c) => /^successes per second by node/.test(c.title));
    assert.deepEqual(failover.legend.filter((l) => /ok\/s/.test(l)).sort(), ["api.1 ok/s", "api.2 ok/s"]);

    const bench = await inspect(browser, path.join(work, "bench.html"));
    assertCharts("bench report", bench, 3);
  } finally {
    await browser.close();
  }
  clearTimeout(watchdog);
  console.log("e2e.report: both HTML reports render their charts in Chromium, offline, without errors");
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
  process.exitCode = 1;
});
