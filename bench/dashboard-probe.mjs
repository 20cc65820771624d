// dashboard-probe.mjs -- the browser side of bench/dashboard-cost.sh: opens the master's
// dashboard in headless Chromium, reads the page's navigation timing, opens the running task's
// charts, prints "READY" once they are drawn, keeps the tab open for WINDOW seconds, then prints
// one JSON line: the navigation timing and, for each second of the task's timeline, when the
// page first drew it (herdDashboard.drawn) and when that second ended (the task's start_us).
// Usage: node bench/dashboard-probe.mjs URL TASK_ID WINDOW_S   (env HERD_WEB_DIR, CHROMIUM;
// DASH_SHOT=FILE.png: a screenshot of the whole page at the end)
import { createRequire } from "node:module";
import path from "node:path";

const [url, taskId, windowS] = process.argv.slice(2);
const webDir = process.env.HERD_WEB_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), "../web");
const { chromium } = createRequire(path.join(webDir, "package.json"))("playwright-core");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                        args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForLoadState("load");
  /* the workers table filled by the first state event */
  await page.waitForFunction(() => window.herdDashboard.events > 0, null, { timeout: 30000 });
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { response_end_ms: n.responseEnd, dom_content_loaded_ms: n.domContentLoadedEventEnd,
             load_ms: n.loadEventEnd, transfer_bytes: n.transferSize,
             resources: performance.getEntriesByType("resource").length };
  });
  nav.first_state_ms = await page.evaluate(() => {
    const m = performance.getEntriesByName("first-state")[0];
    return m ? m.startTime : null;
  });
  await page.locator(`#tasks tr[data-task="${taskId}"] button.link`).click();
  await page.waitForFunction(() => window.herdDashboard.drawn.length > 0, null, { timeout: 30000 });
  console.log("READY");
  const from = Date.now();
  await page.waitForTimeout(Number(windowS) * 1000);
  const probe = await page.evaluate(() => ({ drawn: window.herdDashboard.drawn,
                                             start_us: window.herdDashboard.start_us,
                                             updates: window.herdDashboard.updates,
                                             events: window.herdDashboard.events }));
  probe.open_from_ms = from;
  if (process.env.DASH_SHOT) await page.screenshot({ path: process.env.DASH_SHOT, fullPage: true });
  console.log(JSON.stringify({ nav, probe, errors }));
} finally {
  await browser.close();
}
