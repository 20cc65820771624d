/* report.js -- draws the charts of a herd HTML report with uPlot, from the run document the
 * page embeds (<script id="herd-run" type="application/json">); the master's dashboard draws
 * a task's charts with the same code, live (window.herdCharts.draw(doc, root)). Each
 * <div class="chart"> names what it shows: data-chart (the kind: traffic, nodes, latency,
 * shares, capacity, or, for a distributed task's workers and regions, groups (their shares)
 * and rates (their requests per second, joins and losses marked)), data-source (a dotted path
 * into the document) and data-title. When a chart is drawn its div gets data-drawn="1".
 *
 * What every chart keeps to: value axes start at 0; nodes are in one order (by name, numbers
 * compared as numbers: api.2 before api.10) with one colour each, in every chart and table;
 * the legend shows the value under the cursor, and a summary of the run (avg, or the run's
 * percentile) when the cursor is elsewhere; events are vertical lines in the plot with their
 * labels in a band above it, in rows so that no two labels overlap. */
(function () {
  "use strict";
  let doc = null; /* the run document being drawn */
  /* node colours; red, near-black and purple are kept for the totals, failures (and herd's
   * own fault marks) and latency, so that no node looks like a total */
  const palette = ["#1a73e8", "#e8710a", "#188038", "#d01884", "#12b5cb", "#f9ab00",
                   "#795548", "#0d652d", "#80868b", "#1967d2"];
  const RED = "#c5221f", TOTAL = "#3c4043", P50 = "#3c4043", P99 = "#9334e6";
  const FONT = "12px system-ui, sans-serif", LABEL_FONT = "bold 12px system-ui, sans-serif";
  const byName = (a, b) => a.localeCompare(b, "en", { numeric: true });

  function at(path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), doc);
  }

  function width() {
    return Math.max(320, Math.min(1000, document.body.clientWidth - 20));
  }

  /* A number as a person reads it: 12.3k, 295, 8.62, 0.141. */
  function fmt(v) {
    if (v == null || !isFinite(v)) return "--";
    const a = Math.abs(v);
    if (a >= 10000) return (v / 1000).toFixed(a >= 100000 ? 0 : 1) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return String(+v.toFixed(1));
    return String(+v.toFixed(a >= 1 ? 2 : 3));
  }

  function mean(values) {
    const v = values.filter((x) => x != null);
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
  }

  /* Node colours: every node the document's charts name, sorted, one palette entry each. */
  const nodeColors = new Map();
  function colorOf(node) {
    return nodeColors.get(node) || palette[0];
  }

  /* Tick labels of one axis in one style: all in k when the largest is 10k or more. */
  function ticks(splits) {
    const k = Math.max(...splits.map(Math.abs)) >= 10000;
    return splits.map((v) => (k && v !== 0 ? `${+(v / 1000).toFixed(1)}k` : fmt(v)));
  }

  /* Value scales start at 0 and end at a round number above the largest value. */
  const fromZero = (u, lo, hi) => [0, hi > 0 ? uPlot.rangeNum(0, hi, 0.1, true)[1] : 1];

  const measure = document.createElement("canvas").getContext("2d");
  /* A value axis as wide as its widest tick label (tick 10 + gap 5 + text), so the axis
   * title never covers the numbers. */
  function valueAxis(label, extra) {
    return Object.assign({
      label, font: FONT, labelFont: LABEL_FONT,
      values: (u, splits) => ticks(splits),
      size: (u, values) => {
        measure.font = FONT;
        const w = Math.max(0, ...(values || []).map((v) => measure.measureText(v).width));
        return Math.ceil(w) + 20;
      },
    }, extra || {});
  }

  function timeAxis() {
    return { label: "seconds", font: FONT, labelFont: LABEL_FONT,
             incrs: [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600],
             values: (u, splits) => splits.map((v) => String(+v.toFixed(1))) };
  }

  /* The x series: "1.25 s" under the cursor, "whole run" otherwise. */
  function timeSeries() {
    return { label: "time", value: (u, v) => (v == null ? "whole run" : `${fmt(v)} s`) };
  }

  /* A line whose legend value is the value under the cursor, or summary when there is none. */
  function line(label, color, summary, extra) {
    return Object.assign({
      label, stroke: color, width: 1.5, spanGaps: false,
      value: (u, v) => (v == null ? summary : fmt(v)),
    }, extra || {});
  }

  /* Nodes of an even cluster draw one over the other: up to four, each is wider than the
   * next, so that every colour shows as a stripe where the lines coincide. */
  function nested(i, count) {
    return count > 1 && count <= 4 ? { width: 1.5 + (count - 1 - i), points: { size: 4 } } : {};
  }

  const avg = (values) => `avg ${fmt(mean(values))}`;

  /* Vertical lines at events [{t_s, event, node, source}] (the check's own actions solid red,
   * the gateway's dashed grey), labelled in band, a div above the chart: each label starts at
   * its line (ends there near the right edge), in the lowest row where it overlaps no other. */
  function eventMarks(events, band) {
    const sorted = events.slice().sort((a, b) => a.t_s - b.t_s);
    const ROW = 18, GAP = 6;
    function layout(u) {
      band.textContent = "";
      const left = u.bbox.left / devicePixelRatio, plotWidth = u.bbox.width / devicePixelRatio;
      const rowEnds = [];
      sorted.forEach((e) => {
        const x = u.valToPos(e.t_s, "x");
        if (x < 0 || x > plotWidth) return;
        const label = document.createElement("span");
        label.className = "event " + (e.source === "herd" ? "ours" : "gateway");
        label.textContent = `${e.event} ${e.node}`;
        const by = e.source === "herd" ? "done by herd"
          : e.source === "master" ? "seen by the master" : "seen by the gateway";
        label.title = `${e.event} ${e.node} at ${e.t_s.toFixed(3)} s, ${by}`;
        band.appendChild(label);
        const w = label.offsetWidth;
        const atEnd = x + w > plotWidth + 30; /* past the right edge: the label ends at its line */
        const from = atEnd ? left + x - w : left + x;
        if (atEnd) label.classList.add("end");
        let row = rowEnds.findIndex((end) => end + GAP <= from);
        if (row < 0) row = rowEnds.push(0) - 1;
        rowEnds[row] = from + w;
        label.style.left = `${from}px`;
        label.dataset.row = row;
      });
      const rows = rowEnds.length;
      band.style.height = `${rows * ROW}px`;
      band.querySelectorAll(".event")
        .forEach((l) => (l.style.top = `${(rows - 1 - l.dataset.row) * ROW}px`));
    }
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx, dpr = devicePixelRatio;
          ctx.save();
          ctx.lineWidth = dpr;
          sorted.forEach((e) => {
            const x = Math.round(u.valToPos(e.t_s, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            const ours = e.source === "herd";
            ctx.strokeStyle = ours ? RED : "#5f6368";
            ctx.setLineDash(ours ? [] : [4 * dpr, 3 * dpr]);
            ctx.beginPath();
            ctx.moveTo(x, 0);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          });
          ctx.restore();
          layout(u);
        }],
      },
    };
  }

  /* The run's own figure for a latency series (percentiles are never averaged), else the
   * worst second. */
  function latencySummary(run, values) {
    if (run != null) return `run ${fmt(run)}`;
    return `max ${fmt(Math.max(...values.filter((v) => v != null)))}`;
  }

  /* The three timeline charts over x (seconds) and per-second series, for checks and bench
   * runs alike: requests and failures; one line per node; p50 and p99 latency (x50 is the
   * latency's own x, whose steps may differ) with the run's figures run50 and run99. */
  function timeline(kind, t) {
    const scales = { x: { time: false, range: [0, t.end] }, y: { range: fromZero } };
    if (kind === "traffic")
      return {
        data: [t.x, t.requests, t.failures], scales,
        series: [timeSeries(), line("requests/s", TOTAL, avg(t.requests)),
                 line("failures/s", RED, avg(t.failures))],
        axes: [timeAxis(), valueAxis("per second")],
      };
    if (kind === "nodes") {
      const names = Object.keys(t.nodes).sort(byName);
      const rates = names.map((n) => t.nodes[n]);
      return {
        data: [t.x, ...rates], scales,
        series: [timeSeries(), ...names.map((n, i) =>
          line(`${n} ${t.nodeUnit}`, colorOf(n), avg(rates[i]), nested(i, names.length)))],
        axes: [timeAxis(), valueAxis(t.nodeAxis)],
      };
    }
    return {
      data: [t.x50, t.p50, t.p99], scales,
      series: [timeSeries(), line("p50 ms", P50, latencySummary(t.run50, t.p50)),
               line("p99 ms", P99, latencySummary(t.run99, t.p99))],
      axes: [timeAxis(), valueAxis("ms")],
    };
  }

  /* A check's timeline (docs/run-json.md), counts per step of step_ms. The run's latency is
   * in the sibling summary (other_summary for other_timeline, group_summary for hotplug). */
  function fromCheckTimeline(kind, tl, source) {
    const step = tl.step_ms / 1000, rate = (counts) => counts.map((v) => v / step);
    const parts = source.split("."), key = parts.pop(), parent = at(parts.join(".")) || {};
    const run = (key === "other_timeline" ? parent.other_summary
                                          : parent.summary || parent.group_summary) || {};
    const nodes = {};
    Object.keys(tl.nodes || {}).forEach((n) => (nodes[n] = rate(tl.nodes[n])));
    return timeline(kind, {
      x: tl.requests.map((_, i) => (i + 0.5) * step), end: Math.max(tl.elapsed_s, step),
      requests: rate(tl.requests), failures: rate(tl.failures),
      nodes, nodeUnit: "ok/s", nodeAxis: "successes per second",
      x50: tl.seconds.p99_ms.map((_, i) => i + 0.5), p50: tl.seconds.p50_ms,
      p99: tl.seconds.p99_ms, run50: run.p50_ms, run99: run.p99_ms,
    });
  }

  /* A bench run's timeline: one entry per second (the last may be shorter: length_s). */
  function fromBenchTimeline(kind, tl) {
    const x = tl.map((e) => e.t - 1 + (e.length_s || 1) / 2);
    const perSecond = (count, e) => count / (e.length_s || 1);
    const nodes = {};
    new Set(tl.flatMap((e) => Object.keys(e.nodes || {})))
      .forEach((n) => (nodes[n] = tl.map((e) => perSecond((e.nodes || {})[n] || 0, e))));
    const latency = doc.latency_ms || {};
    return timeline(kind, {
      x, end: Math.max(doc.elapsed_s || 0, x.length),
      requests: tl.map((e) => e.rps), failures: tl.map((e) => perSecond(e.failures, e)),
      nodes, nodeUnit: "req/s", nodeAxis: "requests per second",
      x50: x, p50: tl.map((e) => e.latency_ms.p50), p99: tl.map((e) => e.latency_ms.p99),
      run50: latency.p50, run99: latency.p99,
    });
  }

  /* Per-node shares as bars in the node's colour, the expected share as points:
   * [{node, share, expected_share}]. */
  function fromShares(rows) {
    const nodes = rows.slice().sort((a, b) => byName(a.node, b.node));
    const names = nodes.map((n) => n.node);
    const bars = uPlot.paths.bars({ size: [0.6, 80], disp: {
      fill: { unit: 3, values: () => names.map((n) => colorOf(n) + "99") },
      stroke: { unit: 3, values: () => names.map((n) => colorOf(n)) } } });
    const pct = (v) => (v == null ? "--" : `${fmt(v)}%`), shares = nodes.map((n) => 100 * n.share);
    return {
      data: [names.map((_, i) => i), shares,
             nodes.map((n) => 100 * (n.expected_share || 0))],
      series: [{ label: "node", value: (u, v) => (v == null ? "all" : names[v]) },
               { label: "share", fill: "#80868b55", stroke: "#80868b", paths: bars,
                 value: (u, v, s, i) => (i != null ? pct(v) : `max ${pct(Math.max(...shares))}`) },
               { label: "expected", stroke: RED, width: 0, points: { size: 10, width: 2 },
                 value: (u, v, s, i) => (i != null ? pct(v)
                   : new Set(u.data[2]).size === 1 ? `${pct(u.data[2][0])} each` : "per node") }],
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: fromZero } },
      axes: [{ font: FONT, splits: () => names.map((_, i) => i),
               values: (u, s) => s.map((v) => names[v] || "") },
             valueAxis("% of requests")],
    };
  }

  /* A distributed task's workers ([{id, requests, lost, saturated}]) or regions ([{region,
   * requests}]): each one's share of the task's requests as a bar in its colour, in the order
   * of the table above; a lost worker's bar is hollow with a red outline and a saturated
   * worker's outlined red, both named so on the axis. */
  function groupName(row) {
    const name = row.id != null ? row.id : row.region;
    return name === "" ? "(none)" : name;
  }
  /* Names a category axis of count bars can show: one every step (about 90 px apart). */
  function labelStep(u, count) {
    const room = (u.bbox.width / devicePixelRatio) / 90;
    return Math.max(1, Math.ceil(count / Math.max(1, room)));
  }
  function fromGroups(rows, source) {
    const names = rows.map(groupName);
    const total = rows.reduce((s, r) => s + (r.requests || 0), 0);
    const shares = rows.map((r) => (total > 0 ? (100 * (r.requests || 0)) / total : 0));
    const flag = (r) => (r.lost ? "LOST" : r.saturated ? "SATURATED" : "");
    const labels = rows.map((r, i) => (flag(r) ? `${names[i]} ${flag(r)}` : names[i]));
    const bars = uPlot.paths.bars({ size: [0.6, 80], disp: {
      fill: { unit: 3, values: () => rows.map((r, i) => (r.lost ? "#ffffff" : colorOf(names[i]) + "99")) },
      stroke: { unit: 3, values: () => rows.map((r, i) => (flag(r) ? RED : colorOf(names[i]))) } } });
    const pct = (v) => (v == null ? "--" : `${fmt(v)}%`);
    const what = source === "workers" ? "worker" : "region";
    return {
      data: [names.map((_, i) => i), shares],
      series: [{ label: what, value: (u, v) => (v == null ? `${rows.length} ${what}s` : labels[v]) },
               { label: "share of requests", fill: "#80868b55", stroke: "#80868b", paths: bars,
                 width: 2, points: { show: false },
                 value: (u, v, s, i) => (i != null ? pct(v) : `max ${pct(Math.max(...shares))}`) }],
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: fromZero } },
      /* many bars: every step-th one named, so that names do not run into each other */
      axes: [{ font: FONT, size: 40, splits: () => names.map((_, i) => i),
               values: (u, s) => s.map((v) => (v % labelStep(u, names.length) === 0 ? labels[v] || "" : "")) },
             valueAxis("% of requests")],
    };
  }

  /* A distributed task's workers or regions over time: one line each of its requests per
   * second (timeline.requests, per second of the run's timeline), in the colours of the table
   * and the shares chart; a worker's start and loss are marked as the master saw them. Null
   * for a document without these timelines. */
  function fromGroupRates(rows, source) {
    if (!rows.length || !rows.every((r) => r.timeline)) return null;
    const names = rows.map(groupName);
    const seconds = Math.max(...rows.map((r) => r.timeline.requests.length));
    const x = Array.from({ length: seconds }, (_, i) => i + 0.5);
    const rates = rows.map((r) => x.map((_, i) => r.timeline.requests[i] || 0));
    const events = [], joins = [];
    if (source === "workers")
      rows.forEach((r, i) => {
        if (r.start_offset_ms == null) return;
        const joined = r.start_offset_ms / 1000;
        if (r.part_of) events.push({ t_s: joined, event: "took over", node: names[i], source: "master" });
        else joins.push({ t_s: joined, node: names[i] });
        if (r.lost) events.push({ t_s: joined + (r.elapsed_s || 0), event: "lost", node: names[i], source: "herd" });
      });
    /* workers that joined within half a second of each other share one mark: "joined 40 workers" */
    joins.sort((a, b) => a.t_s - b.t_s);
    for (let i = 0; i < joins.length;) {
      let j = i + 1;
      while (j < joins.length && joins[j].t_s - joins[i].t_s < 0.5) j++;
      const node = j - i > 1 ? `${j - i} workers` : joins[i].node;
      events.push({ t_s: joins[i].t_s, event: "joined", node, source: "master" });
      i = j;
    }
    const opts = timeline("nodes", {
      x, end: Math.max(doc.elapsed_s || 0, seconds), nodes: {}, nodeUnit: "", nodeAxis: "",
    });
    opts.data = [x, ...rates];
    opts.series = [timeSeries(), ...names.map((n, i) =>
      line(`${n} req/s`, colorOf(n), avg(rates[i]), nested(i, names.length)))];
    opts.axes = [timeAxis(), valueAxis("requests per second")];
    opts.events = events;
    return opts;
  }

  /* Capacity steps [{replicas, rss_per_node_mb, health: {p99_ms}}]: two scales by replicas. */
  function fromSteps(steps) {
    const mb = steps.map((s) => s.rss_per_node_mb), ms = steps.map((s) => s.health.p99_ms);
    const top = steps[steps.length - 1].replicas;
    const last = (values) => `at ${top}: ${fmt(values[values.length - 1])}`;
    return {
      data: [steps.map((s) => s.replicas), mb, ms],
      series: [{ label: "replicas", value: (u, v) => (v == null ? "last step" : String(v)) },
               line("RSS per node MB", TOTAL, last(mb), { scale: "mb", points: { show: true } }),
               line("health p99 ms", P99, last(ms), { scale: "ms", points: { show: true } })],
      scales: { x: { time: false }, mb: { range: fromZero }, ms: { range: fromZero } },
      axes: [{ label: "replicas", font: FONT, labelFont: LABEL_FONT,
               incrs: [1, 2, 5, 10, 20, 50, 100], values: (u, s) => s.map(String) },
             valueAxis("MB per node", { scale: "mb" }),
             valueAxis("health p99 ms", { scale: "ms", side: 1, grid: { show: false } })],
    };
  }

  /* The node names a chart shows, for the one colour map. */
  function nodesOf(kind, src) {
    if (kind === "shares") return src.map((n) => n.node);
    if (kind === "groups" || kind === "rates") return src.map(groupName);
    if (kind !== "nodes") return [];
    if (Array.isArray(src)) return src.flatMap((e) => Object.keys(e.nodes || {}));
    return Object.keys(src.nodes || {});
  }

  /* Draws every <div class="chart"> under root from run document d; a chart drawn before is
   * drawn anew (the dashboard calls this at each update). */
  function draw(d, root) {
    doc = d;
    const charts = [...root.querySelectorAll("div.chart")]
      .map((div) => ({ div, kind: div.dataset.chart, src: at(div.dataset.source) }))
      .filter((c) => c.src != null);
    nodeColors.clear();
    [...new Set(charts.flatMap((c) => nodesOf(c.kind, c.src)))].sort(byName)
      .forEach((n, i) => nodeColors.set(n, palette[i % palette.length]));

    charts.forEach(({ div, kind, src }) => {
      let opts;
      if (kind === "shares") opts = fromShares(src);
      else if (kind === "groups") opts = fromGroups(src, div.dataset.source);
      else if (kind === "rates") opts = fromGroupRates(src, div.dataset.source);
      else if (kind === "capacity") opts = fromSteps(src);
      else if (Array.isArray(src)) opts = fromBenchTimeline(kind, src);
      else opts = fromCheckTimeline(kind, src, div.dataset.source);
      if (div.uplot) div.uplot.destroy();
      div.textContent = "";
      delete div.uplot;
      if (!opts) return;
      const title = document.createElement("h4");
      title.textContent = div.dataset.title || "";
      div.appendChild(title);
      const events = opts.events && opts.events.length ? opts.events
        : !Array.isArray(src) && src.events && src.events.length ? src.events : null;
      delete opts.events;
      if (events) {
        const band = document.createElement("div");
        band.className = "events";
        div.appendChild(band);
        opts.plugins = [eventMarks(events, band)];
      }
      /* the charts of one timeline share a cursor: hovering one shows the values in all */
      const cursor = { sync: { key: div.dataset.source } };
      const { data, ...rest } = opts;
      /* the chart object stays on its div, for the browser test and a curious console */
      div.uplot = new uPlot(Object.assign({ width: width(), height: 220, cursor }, rest), data, div);
      div.dataset.drawn = "1";
    });

    /* A row with a warning cell (a lost or saturated worker) is shaded. */
    root.querySelectorAll("td.flag").forEach((td) => td.parentElement.classList.add("flagged"));

    /* Tables: a node's name gets a swatch of its chart colour. */
    root.querySelectorAll("table td:first-child").forEach((td) => {
      const color = nodeColors.get(td.textContent.trim());
      if (!color || td.querySelector(".swatch")) return;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = color;
      td.prepend(swatch);
    });
  }

  window.herdCharts = { draw, fmt };
  const embedded = document.getElementById("herd-run");
  if (embedded) draw(JSON.parse(embedded.textContent), document);
})();
