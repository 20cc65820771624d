/* report.js -- draws the charts of a herd HTML report with uPlot, from the run document the
 * page embeds (<script id="herd-run" type="application/json">). Each <div class="chart">
 * names what it shows: data-chart (the kind), data-source (a dotted path into the document)
 * and data-title. When a chart is drawn its div gets data-drawn="1". */
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("herd-run").textContent);
  const palette = ["#1a73e8", "#e8710a", "#188038", "#a142f4", "#d01884", "#12b5cb",
                   "#f9ab00", "#5f6368", "#b31412", "#0d652d"];
  const dpr = window.devicePixelRatio || 1;

  function at(path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), doc);
  }

  function width() {
    return Math.max(320, Math.min(1000, document.body.clientWidth - 20));
  }

  /* Vertical lines at events [{t_s, event, node, source}]: the check's own actions solid
   * red, the gateway's events dashed grey, each labelled. */
  function marks(events) {
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.font = `${11 * dpr}px system-ui, sans-serif`;
          ctx.lineWidth = dpr;
          events.forEach((e, i) => {
            const x = Math.round(u.valToPos(e.t_s, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            const ours = e.source === "herd";
            ctx.strokeStyle = ctx.fillStyle = ours ? "#c5221f" : "#5f6368";
            ctx.setLineDash(ours ? [] : [4 * dpr, 3 * dpr]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillText(`${e.event} ${e.node}`, x + 3 * dpr, u.bbox.top + (12 + 13 * (i % 5)) * dpr);
          });
          ctx.restore();
        }],
      },
    };
  }

  function series(label, color, extra) {
    return Object.assign({ label, stroke: color, width: 1.5, spanGaps: false }, extra || {});
  }

  function timeAxis() {
    return { label: "seconds", values: (u, splits) => splits.map((v) => v.toFixed(1)) };
  }

  /* A check's timeline (docs/run-json.md): outcomes per step, successes per node, latency. */
  function fromCheckTimeline(kind, tl) {
    const step = tl.step_ms / 1000, perSecond = 1 / step;
    const x = tl.requests.map((_, i) => (i + 0.5) * step);
    const plugins = [marks(tl.events || [])];
    const scales = { x: { time: false, range: [0, Math.max(tl.elapsed_s, step)] } };
    if (kind === "traffic")
      return {
        data: [x, tl.requests.map((v) => v * perSecond), tl.failures.map((v) => v * perSecond)],
        series: [{}, series("requests/s", palette[0]), series("failures/s", "#c5221f")],
        axes: [timeAxis(), { label: "per second" }], plugins, scales,
      };
    if (kind === "nodes") {
      const names = Object.keys(tl.nodes);
      return {
        data: [x, ...names.map((n) => tl.nodes[n].map((v) => v * perSecond))],
        series: [{}, ...names.map((n, i) => series(`${n} ok/s`, palette[i % palette.length]))],
        axes: [timeAxis(), { label: "successes per second" }], plugins, scales,
      };
    }
    const secs = tl.seconds.p99_ms.map((_, i) => i + 0.5);
    return {
      data: [secs, tl.seconds.p50_ms, tl.seconds.p99_ms],
      series: [{}, series("p50 ms", palette[2]), series("p99 ms", palette[1])],
      axes: [timeAxis(), { label: "ms" }], plugins, scales,
    };
  }

  /* A bench run's timeline: one entry per second. */
  function fromBenchTimeline(kind, tl) {
    const x = tl.map((e) => e.t - 1 + (e.length_s || 1) / 2);
    if (kind === "traffic")
      return {
        data: [x, tl.map((e) => e.rps), tl.map((e) => e.failures / (e.length_s || 1))],
        series: [{}, series("requests/s", palette[0]), series("failures/s", "#c5221f")],
        axes: [timeAxis(), { label: "per second" }],
      };
    if (kind === "nodes") {
      const names = [...new Set(tl.flatMap((e) => Object.keys(e.nodes || {})))];
      return {
        data: [x, ...names.map((n) => tl.map((e) => ((e.nodes || {})[n] || 0) / (e.length_s || 1)))],
        series: [{}, ...names.map((n, i) => series(`${n} req/s`, palette[i % palette.length]))],
        axes: [timeAxis(), { label: "requests per second" }],
      };
    }
    return {
      data: [x, tl.map((e) => e.latency_ms.p50), tl.map((e) => e.latency_ms.p99)],
      series: [{}, series("p50 ms", palette[2]), series("p99 ms", palette[1])],
      axes: [timeAxis(), { label: "ms" }],
    };
  }

  /* Per-node shares as bars, the expected share as points: [{node, share, expected_share}]. */
  function fromShares(nodes) {
    const names = nodes.map((n) => n.node);
    const bars = uPlot.paths.bars({ size: [0.6, 80] });
    return {
      data: [names.map((_, i) => i), nodes.map((n) => 100 * n.share),
             nodes.map((n) => 100 * (n.expected_share || 0))],
      series: [{}, { label: "share %", fill: palette[0] + "99", stroke: palette[0], paths: bars },
               { label: "expected %", stroke: "#c5221f", width: 0, points: { size: 10, width: 2 } }],
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] },
                y: { range: (u, lo, hi) => [0, Math.max(hi, 1) * 1.15] } },
      axes: [{ splits: () => names.map((_, i) => i), values: (u, s) => s.map((v) => names[v] || "") },
             { label: "% of requests" }],
    };
  }

  /* Capacity steps [{replicas, rss_per_node_mb, health: {p99_ms}}]: two scales by replicas. */
  function fromSteps(steps) {
    return {
      data: [steps.map((s) => s.replicas), steps.map((s) => s.rss_per_node_mb),
             steps.map((s) => s.health.p99_ms)],
      series: [{ label: "replicas" },
               series("RSS per node MB", palette[0], { scale: "mb", points: { show: true } }),
               series("health p99 ms", palette[1], { scale: "ms", points: { show: true } })],
      scales: { x: { time: false }, mb: { range: (u, lo, hi) => [0, Math.max(hi, 1) * 1.15] },
                ms: { range: (u, lo, hi) => [0, Math.max(hi, 0.1) * 1.15] } },
      axes: [{ label: "replicas" }, { scale: "mb", label: "MB per node" },
             { scale: "ms", label: "health p99 ms", side: 1, grid: { show: false } }],
    };
  }

  document.querySelectorAll("div.chart").forEach((div) => {
    const kind = div.dataset.chart, src = at(div.dataset.source);
    if (src == null) return;
    let opts;
    if (kind === "shares") opts = fromShares(src);
    else if (kind === "capacity") opts = fromSteps(src);
    else if (Array.isArray(src)) opts = fromBenchTimeline(kind, src);
    else opts = fromCheckTimeline(kind, src);
    const title = document.createElement("h4");
    title.textContent = div.dataset.title || "";
    div.appendChild(title);
    const { data, ...rest } = opts;
    new uPlot(Object.assign({ width: width(), height: 220, scales: { x: { time: false } } }, rest),
              data, div);
    div.dataset.drawn = "1";
  });
})();
