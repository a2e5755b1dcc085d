// Agents: a list with search, status filter and pagination; a detail page with the belief heatmap, the
// policy posterior, free energy over time, recent actions and (with agents:control) start/stop/restart.

import { barChart, heatmap, lineChart } from "../charts.js";
import { LiveConnection } from "../live.js";
import { clear, el, errorBox, fmt, guarded, showError } from "../ui.js";

const STATUSES = ["", "created", "running", "stopped", "error"];
const PAGE_SIZES = [25, 50, 100];
const POLL_MS = 1000;
const HISTORY = 120;

export function mountAgentList(root, ctx) {
  const errors = errorBox();
  const search = el("input", { type: "search", id: "agent-search", placeholder: "Name contains…", "aria-label": "Search agents by name" });
  const status = el("select", { id: "agent-status", "aria-label": "Status" }, STATUSES.map((s) => el("option", { value: s }, s || "any status")));
  const size = el("select", { id: "agent-page-size", "aria-label": "Agents per page" }, PAGE_SIZES.map((n) => el("option", { value: String(n) }, `${n} per page`)));
  const previous = el("button", { type: "button", id: "agent-prev" }, "← Previous");
  const next = el("button", { type: "button", id: "agent-next" }, "Next →");
  const summary = el("span.muted", { id: "agent-summary", role: "status" });
  const body = el("tbody");
  const table = el("table.data", { id: "agent-table" },
    el("caption.sr-only", {}, "Agents"),
    el("thead", {}, el("tr", {}, ["Name", "Status", "Template", "World", "Updated"].map((h) => el("th", { scope: "col" }, h)))),
    body,
  );
  clear(root, el("h1", {}, "Agents"), errors, el("div.toolbar", {}, search, status, size), el("div.table-wrap", {}, table), el("div.toolbar", {}, previous, summary, next));

  search.value = ctx.params.search || "";
  let offset = 0;
  let total = 0;
  let debounce = 0;

  async function load() {
    const limit = Number(size.value);
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (search.value.trim()) query.set("search", search.value.trim());
    if (status.value) query.set("status", status.value);
    const page = await ctx.session.request("GET", `/agents?${query}`);
    total = page.total;
    clear(body, page.items.map((agent) =>
      el("tr", {},
        el("td", {}, el("a", { href: `#/agents/${agent.id}`, dataset: { agentId: agent.id } }, agent.name)),
        el("td", {}, el("span.badge", { dataset: { status: agent.status } }, agent.status)),
        el("td", {}, agent.template ?? "model spec"),
        el("td.mono", {}, agent.world_id ? agent.world_id.slice(0, 8) : "—"),
        el("td", {}, new Date(agent.updated_at).toLocaleString()),
      ),
    ));
    if (!page.items.length) body.append(el("tr", {}, el("td", { colSpan: 5 }, "No agents match.")));
    summary.textContent = total ? `${offset + 1}–${offset + page.items.length} of ${total}` : "0 agents";
    previous.disabled = offset === 0;
    next.disabled = offset + limit >= total;
  }

  const reload = () => guarded(errors, load);
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      offset = 0;
      reload();
    }, 250);
  });
  status.addEventListener("change", () => {
    offset = 0;
    reload();
  });
  size.addEventListener("change", () => {
    offset = 0;
    reload();
  });
  previous.addEventListener("click", () => {
    offset = Math.max(0, offset - Number(size.value));
    reload();
  });
  next.addEventListener("click", () => {
    offset += Number(size.value);
    reload();
  });
  reload();
  return () => clearTimeout(debounce);
}

/** The grid's shape from a factor's state names "r<row>c<col>", or null for any other factor. */
function gridOf(factor) {
  if (!factor.states) return null;
  let height = 0;
  let width = 0;
  const cells = [];
  for (const name of factor.states) {
    const match = /^r(\d+)c(\d+)$/.exec(name);
    if (!match) return null;
    const r = Number(match[1]);
    const c = Number(match[2]);
    cells.push([r, c]);
    height = Math.max(height, r + 1);
    width = Math.max(width, c + 1);
  }
  return { height, width, cells };
}

export function mountAgentDetail(root, ctx) {
  const agentId = ctx.params.id;
  const errors = errorBox();
  const title = el("h1", {}, "Agent");
  const facts = el("dl.facts", { id: "agent-facts" });
  const controls = el("div.toolbar", { id: "agent-controls" });
  // Its own box: the once-a-second status poll clears the page's box whenever it succeeds.
  const controlErrors = errorBox();
  const beliefsBox = el("div.beliefs", { id: "beliefs" });
  const policyCanvas = el("canvas.chart", { id: "policy-chart", "aria-label": "Policy posterior" });
  const energyCanvas = el("canvas.chart", { id: "energy-chart", "aria-label": "Free energy over time" });
  const actions = el("ol.actions", { id: "recent-actions", reversed: true });
  clear(
    root,
    el("p", {}, el("a", { href: "#/agents" }, "← All agents")),
    title,
    errors,
    controls,
    controlErrors,
    el("div.detail-grid", {},
      el("section.card", {}, el("h2", {}, "Status"), facts),
      el("section.card", {}, el("h2", {}, "Beliefs"), beliefsBox),
      el("section.card", {}, el("h2", {}, "Policy posterior"), policyCanvas),
      el("section.card", {}, el("h2", {}, "Free energy"), energyCanvas),
      el("section.card", {}, el("h2", {}, "Recent actions"), actions),
    ),
  );

  const energy = [];
  const entropy = [];
  const recent = [];
  let lastTicks = null;
  let latestEntropy = null;
  let liveFeed = false;
  let connection = null;
  const actionNames = new Map();
  actions.append(el("li", {}, "none yet"));
  let walls = [];
  let stopped = false;
  let timer = 0;

  if (ctx.session.can("agents:control")) {
    for (const action of ["start", "stop", "restart"]) {
      controls.append(el("button", { type: "button", id: `agent-${action}`, dataset: { action }, onclick: () => control(action) }, action[0].toUpperCase() + action.slice(1)));
    }
  } else {
    controls.append(el("span.muted", { id: "no-control" }, "Your role may not start, stop or restart agents."));
  }

  async function control(action) {
    for (const button of controls.querySelectorAll("button")) button.disabled = true;
    try {
      await guarded(controlErrors, async () => {
        const result = await ctx.session.request("POST", `/agents/${agentId}/${action}`);
        showStatus(result);
      });
    } finally {
      for (const button of controls.querySelectorAll("button")) button.disabled = false;
    }
  }

  function showStatus(s) {
    title.textContent = s.name;
    root.dataset.agentState = s.state;
    const rows = [
      ["State", el("span.badge", { id: "agent-state", dataset: { status: s.state } }, s.state)],
      ["Live", s.live ? "yes" : "no"],
      ["Ticks", fmt(s.ticks)],
      ["Position", s.position ? `[${s.position.join(", ")}]` : "—"],
      ["Last action", s.last_action_name ?? fmt(s.last_action)],
      ["Belief entropy", `${fmt(s.belief_entropy)} nats`],
      ["Free energy", fmt(s.free_energy)],
      ["Last error", s.last_error ?? "none"],
    ];
    clear(facts, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    if (s.last_action !== null && s.last_action_name) actionNames.set(s.last_action, s.last_action_name);
    latestEntropy = s.belief_entropy;
    // The live feed records every tick; polling fills in only while it is not connected.
    if (!liveFeed) record(s.ticks, s.free_energy, s.last_action, s.position);
  }

  function record(ticks, freeEnergy, action, position) {
    if (ticks === null || ticks === lastTicks) return;
    lastTicks = ticks;
    energy.push(freeEnergy);
    entropy.push(latestEntropy);
    if (energy.length > HISTORY) {
      energy.shift();
      entropy.shift();
    }
    if (action !== null && action !== undefined) {
      const name = actionNames.get(action) ?? `action ${action}`;
      recent.unshift(`tick ${ticks}: ${name}${position ? ` → [${position.join(", ")}]` : ""}`);
      recent.length = Math.min(recent.length, 15);
    }
    clear(actions, recent.map((line) => el("li", {}, line)));
    lineChart(energyCanvas, [
      { label: "free energy", color: "#f5b942", values: energy },
      { label: "belief entropy (nats, at the last poll)", color: "#4fa3e0", values: entropy },
    ], { height: 130 });
  }

  function showBeliefs(b, position) {
    const boxes = [];
    for (const factor of b.factors) {
      const grid = gridOf(factor);
      if (grid) {
        const cells = new Float32Array(grid.height * grid.width);
        grid.cells.forEach(([r, c], k) => {
          cells[r * grid.width + c] = factor.posterior[k];
        });
        const canvas = el("canvas.heatmap", { id: `heatmap-${factor.factor}`, "aria-label": `Belief over ${factor.factor}, ${grid.height} by ${grid.width} cells`, dataset: { tick: String(b.tick) } });
        boxes.push(el("figure", {}, canvas, el("figcaption", {}, `${factor.factor}: posterior over ${grid.height}×${grid.width} cells (tick ${b.tick})`)));
        requestAnimationFrame(() => heatmap(canvas, cells, grid.height, grid.width, { walls, marker: position }));
      } else {
        const canvas = el("canvas.chart", { "aria-label": `Belief over ${factor.factor}` });
        boxes.push(el("figure", {}, canvas, el("figcaption", {}, `${factor.factor}: ${(factor.states || factor.posterior.map((_, i) => i)).map((s, i) => `${s} ${factor.posterior[i].toFixed(2)}`).join(" · ")}`)));
        requestAnimationFrame(() => barChart(canvas, factor.posterior, { height: 90 }));
      }
    }
    clear(beliefsBox, boxes);
    barChart(policyCanvas, b.policy_posterior, { height: 150 });
  }

  async function poll() {
    const s = await ctx.session.request("GET", `/agents/${agentId}/status`);
    showStatus(s);
    if (s.live) {
      try {
        showBeliefs(await ctx.session.request("GET", `/agents/${agentId}/beliefs`), s.position);
      } catch (error) {
        // A stopped or restarting agent may leave the runtime between the two calls: say so, keep polling.
        if (error.status !== 409) throw error;
        clear(beliefsBox, el("p.muted", {}, `Beliefs unavailable: ${error.message}`));
      }
    } else {
      clear(beliefsBox, el("p.muted", {}, `Beliefs are shown while the agent is live in this process (state ${s.state}).`));
    }
  }

  async function loop() {
    if (stopped) return;
    await guarded(errors, poll);
    if (!stopped) timer = setTimeout(loop, POLL_MS);
  }

  guarded(errors, async () => {
    const agent = await ctx.session.request("GET", `/agents/${agentId}`);
    if (agent.world_id) {
      const world = await ctx.session.request("GET", `/worlds/${agent.world_id}`);
      walls = world.spec.walls || [];
      // Every tick of this one agent over the WebSocket, so no action falls between two polls.
      connection = new LiveConnection(ctx.session, { world_id: agent.world_id, agent_ids: [agentId], max_hz: 10 }, {
        message(data) {
          if (data.type !== "agents") return;
          const mine = data.agents.find((a) => a.id === agentId);
          if (mine) record(mine.ticks, mine.free_energy, mine.last_action, [mine.row, mine.col]);
        },
        status(text) {
          liveFeed = text === "live";
        },
        error(error) {
          liveFeed = false;
          showError(error, controlErrors);
        },
      });
      connection.open();
    }
    root.dataset.agentId = agentId;
  }).then(loop);

  return () => {
    stopped = true;
    clearTimeout(timer);
    if (connection) connection.close();
  };
}
