// lib.mjs -- what the browser tests share: free ports, waiting for a node, and what a user
// sees of the charts on a page (report.js's, in the reports and the master's dashboard).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import assert from "node:assert/strict";

// What every browser test reads from its environment: HERD_BIN (the binary), HERD_WEB_DIR
// (web/, where npm installed playwright-core), HERD_E2E_SHOTS (default ./e2e-shots), CHROMIUM
// (default /usr/bin/chromium); playwright-core's chromium driver.
export function browserEnv() {
  const herd = process.env.HERD_BIN;
  const webDir = process.env.HERD_WEB_DIR;
  const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
  const shots = path.resolve(process.env.HERD_E2E_SHOTS || "e2e-shots");
  assert.ok(herd && existsSync(herd), "HERD_BIN must name the herd binary");
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
  const { chromium } = createRequire(path.join(webDir, "package.json"))("playwright-core");
  return { herd, chromiumPath, shots, chromium };
}

export function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

// The first of n consecutive free ports (a group's replicas listen on base..base+n-1).
export async function freePorts(n) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports`);
}

export async function waitHealthy(port) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node on ${port} never answered /health`);
}

// What a user sees of every chart: its title, whether it is drawn, its coloured pixels, its
// legend (labels, values, marker colours), the value axis' lowest tick label and where its
// plot and event labels are on the page.
export function chartsSeen() {
  return [...document.querySelectorAll("div.chart")].map((div) => {
    const canvas = div.querySelector("canvas");
    let ink = 0;
    if (canvas && canvas.width > 0) {
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      // coloured pixels only: the axes, grid and labels are grey, the series are not
      for (let i = 0; i < px.length; i += 4)
        if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60) ink++;
    }
    const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
    const rows = [...div.querySelectorAll(".u-legend .u-series")];
    const u = div.uplot;
    return {
      title: div.dataset.title, kind: div.dataset.chart, drawn: div.dataset.drawn === "1", ink,
      legend: rows.map((r) => r.querySelector(".u-label")?.textContent || ""),
      values: rows.map((r) => r.querySelector(".u-value")?.textContent || ""),
      markers: rows.map((r) => getComputedStyle(r.querySelector(".u-marker") || r).borderColor),
      lowestTick: u && u.axes[1]._values ? u.axes[1]._values[0] : null,
      plot: div.querySelector(".u-over") ? box(div.querySelector(".u-over")) : null,
      events: [...div.querySelectorAll(".events .event")].map((e) => ({ text: e.textContent, ...box(e) })),
    };
  });
}
