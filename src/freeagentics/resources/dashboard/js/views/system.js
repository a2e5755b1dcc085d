// System: /api/v1/system/metrics sampled every few seconds and charted; for roles with security:read, the
// security event counters (from /metrics), blocked addresses, and (keys:manage) the signing keys.

import { lineChart } from "../charts.js";
import { bytes, clear, el, errorBox, fmt, guarded } from "../ui.js";

const SAMPLE_MS = 2000;
const KEEP = 150;
const SECURITY_LINE = /^freeagentics_security_events_total\{type="([^"]+)"\}\s+([0-9.e+-]+)$/;

export function parseSecurityEvents(text) {
  const counts = {};
  for (const line of text.split("\n")) {
    const match = SECURITY_LINE.exec(line.trim());
    if (match) counts[match[1]] = Number(match[2]);
  }
  return counts;
}

export function mountSystem(root, ctx) {
  const errors = errorBox();
  const summary = el("dl.facts", { id: "system-summary" });
  const charts = {
    rate: el("canvas.chart", { id: "chart-rate", "aria-label": "Agent updates per second" }),
    latency: el("canvas.chart", { id: "chart-latency", "aria-label": "Response time percentiles" }),
    tick: el("canvas.chart", { id: "chart-tick", "aria-label": "Tick duration percentiles" }),
    process: el("canvas.chart", { id: "chart-process", "aria-label": "Process CPU and memory" }),
  };
  const security = ctx.session.can("security:read");
  const securityChart = el("canvas.chart", { id: "chart-security", "aria-label": "Security events per interval" });
  const securityTotals = el("ul", { id: "security-totals" });
  const blocks = el("tbody", { id: "blocks-body" });
  const events = el("tbody", { id: "security-events-body" });
  const keys = el("p", { id: "signing-keys" });
  clear(
    root,
    el("h1", {}, "System"),
    errors,
    el("section.card", {}, el("h2", {}, "Now"), summary),
    el("div.detail-grid", {},
      el("section.card", {}, el("h2", {}, "Agent processing"), charts.rate),
      el("section.card", {}, el("h2", {}, "API response time"), charts.latency),
      el("section.card", {}, el("h2", {}, "Tick duration"), charts.tick),
      el("section.card", {}, el("h2", {}, "Process"), charts.process),
    ),
    security
      ? el("section.card", { id: "security-section" },
        el("h2", {}, "Security events"),
        securityChart,
        securityTotals,
        el("h3", {}, "Recent events"),
        el("div.table-wrap", {}, el("table.data", { id: "security-events" }, el("thead", {}, el("tr", {}, ["Time", "Event", "Client", "User", "Route", "Reason"].map((h) => el("th", { scope: "col" }, h)))), events)),
        el("h3", {}, "Blocked addresses"),
        el("div.table-wrap", {}, el("table.data", {}, el("thead", {}, el("tr", {}, ["Address", "Until", "Reason"].map((h) => el("th", { scope: "col" }, h)))), blocks)),
        ctx.session.can("keys:manage") ? el("h3", {}, "Signing keys") : null,
        ctx.session.can("keys:manage") ? keys : null)
      : null,
  );

  const samples = [];
  const securitySamples = [];
  let previousSecurity = null;

  function series(pick) {
    return samples.map((s) => {
      const v = pick(s);
      return v === undefined ? null : v;
    });
  }

  async function sample() {
    const m = await ctx.session.request("GET", "/system/metrics");
    samples.push(m);
    if (samples.length > KEEP) samples.shift();
    clear(summary,
      [
        ["Agents", `${m.agent_count.total} (${Object.entries(m.agent_count.by_status).map(([k, v]) => `${k} ${v}`).join(", ")})`],
        ["In runtime", fmt(m.agent_count.in_runtime)],
        ["Updates/s", fmt(m.agent_processing_rate)],
        ["Tick rate", `${fmt(m.tick.configured_rate_hz)} Hz configured; ${fmt(m.tick.count)} ticks, ${fmt(m.tick.overruns)} overran`],
        ["Response p95", `${fmt(m.response_time.p95_ms)} ms`],
        ["Runtime", `${m.runtime.enabled ? "enabled" : "disabled"}${m.runtime.owner ? ", owner" : ""}${m.runtime.emergency_mode ? ", EMERGENCY MODE" : ""}`],
        ["Process", `pid ${m.process.pid}, CPU ${fmt(m.process.cpu_percent)} %, RSS ${bytes(m.process.memory_rss_bytes)}, ${m.process.threads} threads`],
      ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
    );
    lineChart(charts.rate, [{ label: "agent updates/s", color: "#4fa3e0", values: series((s) => s.agent_processing_rate) }]);
    lineChart(charts.latency, [
      { label: "p50 ms", color: "#4fa3e0", values: series((s) => s.response_time.p50_ms) },
      { label: "p95 ms", color: "#f5b942", values: series((s) => s.response_time.p95_ms) },
      { label: "p99 ms", color: "#e06c75", values: series((s) => s.response_time.p99_ms) },
    ]);
    lineChart(charts.tick, [
      { label: "p50 ms", color: "#4fa3e0", values: series((s) => s.tick.duration.p50_ms) },
      { label: "p95 ms", color: "#f5b942", values: series((s) => s.tick.duration.p95_ms) },
    ]);
    lineChart(charts.process, [
      { label: "CPU %", color: "#98c379", values: series((s) => s.process.cpu_percent) },
      { label: "RSS MiB", color: "#c678dd", values: series((s) => s.process.memory_rss_bytes / 1048576) },
    ]);
    root.dataset.samples = String(samples.length);
  }

  async function sampleSecurity() {
    const counts = parseSecurityEvents(await ctx.session.text("/metrics"));
    const delta = {};
    for (const [type, total] of Object.entries(counts)) delta[type] = previousSecurity ? Math.max(0, total - (previousSecurity[type] ?? 0)) : 0;
    previousSecurity = counts;
    securitySamples.push(delta);
    if (securitySamples.length > KEEP) securitySamples.shift();
    const colors = ["#e06c75", "#f5b942", "#4fa3e0", "#98c379", "#c678dd", "#56b6c2", "#d19a66"];
    lineChart(securityChart, Object.keys(counts).map((type, i) => ({ label: type, color: colors[i % colors.length], values: securitySamples.map((s) => s[type] ?? 0) })), { title: "events per sample" });
    clear(securityTotals, Object.entries(counts).map(([type, total]) => el("li", {}, `${type}: ${fmt(total)} since start`)));
    const recent = await ctx.session.request("GET", "/security/events?limit=25");
    clear(events, recent.length
      ? recent.map((e) => el("tr", { "data-event": e.event ?? "" },
        el("td", {}, e.time ? new Date(e.time).toLocaleString() : ""),
        el("td.mono", {}, e.event ?? ""),
        el("td.mono", {}, e.client_ip ?? ""),
        el("td", {}, e.user ?? ""),
        el("td.mono", {}, e.route ?? ""),
        el("td", {}, e.reason ?? "")))
      : el("tr", {}, el("td", { colSpan: 6 }, "No security event recorded yet.")));
    const listed = await ctx.session.request("GET", "/security/blocks");
    clear(blocks, listed.length
      ? listed.map((b) => el("tr", {}, el("td.mono", {}, b.ip), el("td", {}, new Date(b.blocked_until).toLocaleString()), el("td", {}, b.reason)))
      : el("tr", {}, el("td", { colSpan: 3 }, "No address is blocked.")));
    if (ctx.session.can("keys:manage")) {
      const k = await ctx.session.request("GET", "/security/keys");
      keys.textContent = `Signing with ${k.signing_kid}; verifying with ${k.kids.join(", ")}`;
    }
  }

  let stopped = false;
  let timer = 0;
  async function loop() {
    await guarded(errors, async () => {
      await sample();
      if (security) await sampleSecurity();
    });
    if (!stopped) timer = setTimeout(loop, SAMPLE_MS);
  }
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
