// World view: the grid on a canvas, live over the WebSocket. Agent state lives in typed arrays in the order
// of the last "members" message; each frame draws the static layer (one scaled image of walls, goals and
// resources), then writes every agent into a pixel buffer in one pass over the typed arrays and composites
// it with one drawImage. Positions ease from the previous tick to the current one, so motion stays smooth
// between ticks whatever their rate.

import { lineChart } from "./charts.js";
import { LiveConnection } from "./live.js";
import { clear, el, errorBox, guarded, palette, showError } from "./ui.js";

const MIN_SCALE = 2;
const MAX_SCALE = 160;
const FREE_COLOR = "#8a93a3";
const EASE_MS = 250;

function hashJitter(index, salt) {
  // A fixed offset per agent inside its cell, so agents sharing a cell spread out instead of stacking.
  let h = (index + 1) * 2654435761 + salt * 40503;
  h ^= h >>> 15;
  h = Math.imul(h, 2246822507);
  h ^= h >>> 13;
  return ((h >>> 0) % 1000) / 1000;
}

export class WorldCanvas {
  constructor(canvas, { onPick } = {}) {
    this.canvas = canvas;
    this.onPick = onPick || (() => {});
    this.height = 0;
    this.width = 0;
    this.count = 0;
    this.ids = [];
    this.indexOf = new Map();
    this.population = new Uint16Array(0);
    this.rows = new Int16Array(0);
    this.cols = new Int16Array(0);
    this.fromRows = new Float32Array(0);
    this.fromCols = new Float32Array(0);
    this.running = new Uint8Array(0);
    this.carrying = new Uint8Array(0);
    this.coalitionOf = new Int32Array(0);
    this.jitterX = new Float32Array(0);
    this.jitterY = new Float32Array(0);
    this.colorKey = new Int32Array(0);
    this._packed = new Map();
    this.coalitions = new Map(); // coalition id -> {index, members: Set}
    this.colorMode = "population";
    this.objectives = [];
    this.tick = -1;
    this.tickAt = 0;
    this.scale = 20;
    this.offsetX = 0;
    this.offsetY = 0;
    this.selected = -1;
    this.staticLayer = document.createElement("canvas");
    this.dirty = true;
    this.frames = 0;
    this.lastFrameMs = 0;
    this._raf = 0;
    this._bind();
  }

  // ------------------------------------------------------------------ data in

  setWorld(state) {
    this.height = state.height;
    this.width = state.width;
    this.walls = state.walls;
    this.goals = state.goals;
    this.resources = state.resources.map((r) => ({ cell: r.cell, amount: r.amount }));
    this.tick = state.tick;
    this._renderStatic();
    this.fit();
  }

  setObjectives(objectives) {
    this.objectives = objectives;
    this.dirty = true;
  }

  setMembers(message) {
    const n = message.agent_ids.length;
    this.count = n;
    this.ids = message.agent_ids;
    this.templates = message.templates;
    this.indexOf = new Map(this.ids.map((id, i) => [id, i]));
    this.population = Uint16Array.from(message.population);
    this.rows = new Int16Array(n);
    this.cols = new Int16Array(n);
    this.fromRows = new Float32Array(n);
    this.fromCols = new Float32Array(n);
    this.running = new Uint8Array(n);
    this.carrying = new Uint8Array(n);
    this.jitterX = new Float32Array(n);
    this.jitterY = new Float32Array(n);
    for (let i = 0; i < n; i += 1) {
      this.jitterX[i] = 0.2 + 0.6 * hashJitter(i, 1);
      this.jitterY[i] = 0.2 + 0.6 * hashJitter(i, 2);
    }
    this.selected = -1;
    this.hasPositions = false;
    this._recolor();
  }

  applyTick(message) {
    const n = this.count;
    if (message.rows.length !== n) return false; // membership changed; the next "members" message follows
    const now = performance.now();
    const t = this.hasPositions ? Math.min(1, (now - this.tickAt) / EASE_MS) : 1;
    for (let i = 0; i < n; i += 1) {
      // Start the new ease from wherever the agent is drawn now.
      this.fromRows[i] = this.hasPositions ? this.fromRows[i] + (this.rows[i] - this.fromRows[i]) * t : message.rows[i];
      this.fromCols[i] = this.hasPositions ? this.fromCols[i] + (this.cols[i] - this.fromCols[i]) * t : message.cols[i];
      this.rows[i] = message.rows[i];
      this.cols[i] = message.cols[i];
      this.running[i] = message.running[i];
      this.carrying[i] = message.carrying[i];
    }
    this.hasPositions = true;
    this.tick = message.tick;
    this.tickAt = now;
    if (message.resources_left && this.resources && message.resources_left.length === this.resources.length) {
      let changed = false;
      message.resources_left.forEach((left, k) => {
        if (this.resources[k].amount !== left) changed = true;
        this.resources[k].amount = left;
      });
      if (changed) this._renderStatic();
    }
    this.canvas.dataset.tick = String(this.tick);
    this.dirty = true;
    return true;
  }

  setCoalitions(list) {
    this.coalitions = new Map();
    for (const coalition of list) this._addCoalition(coalition.id, coalition.members);
    this._recolor();
  }

  coalitionEvent(event) {
    if (event.state === "forming" || event.state === "active") {
      this._addCoalition(event.coalition_id, event.members);
    } else {
      this.coalitions.delete(event.coalition_id);
    }
    this._recolor();
  }

  _addCoalition(id, members) {
    const existing = this.coalitions.get(id);
    const used = new Set([...this.coalitions.values()].map((c) => c.index));
    let index = existing ? existing.index : 0;
    while (!existing && used.has(index)) index += 1;
    this.coalitions.set(id, { index, members: new Set(members) });
  }

  setColorMode(mode) {
    this.colorMode = mode;
    this._packed = new Map();
    this._recolor();
  }

  _recolor() {
    const n = this.count;
    this.coalitionOf = new Int32Array(n).fill(-1);
    for (const [, coalition] of this.coalitions) {
      for (const id of coalition.members) {
        const i = this.indexOf.get(id);
        if (i !== undefined) this.coalitionOf[i] = coalition.index;
      }
    }
    this.colorKey = new Int32Array(n);
    for (let i = 0; i < n; i += 1) {
      this.colorKey[i] = this.colorMode === "coalition" ? this.coalitionOf[i] : this.population[i];
    }
    this.dirty = true;
  }

  colorOf(key) {
    return key < 0 ? FREE_COLOR : palette(key);
  }

  // ------------------------------------------------------------------ drawing

  _renderStatic() {
    const layer = this.staticLayer;
    layer.width = this.width;
    layer.height = this.height;
    const g = layer.getContext("2d");
    const image = g.createImageData(this.width, this.height);
    const paint = (r, c, [red, green, blue]) => {
      const k = (r * this.width + c) * 4;
      image.data[k] = red;
      image.data[k + 1] = green;
      image.data[k + 2] = blue;
      image.data[k + 3] = 255;
    };
    for (let r = 0; r < this.height; r += 1) for (let c = 0; c < this.width; c += 1) paint(r, c, [22, 27, 34]);
    for (const [r, c] of this.walls) paint(r, c, [96, 104, 118]);
    for (const [r, c] of this.goals) paint(r, c, [32, 120, 72]);
    for (const { cell, amount } of this.resources) {
      if (amount > 0) paint(cell[0], cell[1], [150, 110, 20]);
    }
    g.putImageData(image, 0, 0);
    this.dirty = true;
  }

  fit() {
    const box = this.canvas.getBoundingClientRect();
    if (!this.width || !box.width) return;
    this.scale = Math.max(MIN_SCALE, Math.min(box.width / this.width, box.height / this.height));
    this.offsetX = (box.width - this.width * this.scale) / 2;
    this.offsetY = (box.height - this.height * this.scale) / 2;
    this.dirty = true;
  }

  zoom(factor, atX, atY) {
    const box = this.canvas.getBoundingClientRect();
    const x = atX ?? box.width / 2;
    const y = atY ?? box.height / 2;
    const next = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.scale * factor));
    this.offsetX = x - ((x - this.offsetX) * next) / this.scale;
    this.offsetY = y - ((y - this.offsetY) * next) / this.scale;
    this.scale = next;
    this.dirty = true;
  }

  pan(dx, dy) {
    this.offsetX += dx;
    this.offsetY += dy;
    this.dirty = true;
  }

  start() {
    const frame = () => {
      this._raf = requestAnimationFrame(frame);
      const easing = this.hasPositions && performance.now() - this.tickAt < EASE_MS + 20;
      if (this.dirty || easing) this.draw();
    };
    this._raf = requestAnimationFrame(frame);
  }

  stop() {
    cancelAnimationFrame(this._raf);
  }

  draw() {
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    const box = this.canvas.getBoundingClientRect();
    if (this.canvas.width !== Math.round(box.width * ratio) || this.canvas.height !== Math.round(box.height * ratio)) {
      this.canvas.width = Math.round(box.width * ratio);
      this.canvas.height = Math.round(box.height * ratio);
    }
    const g = this.canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = "#0d1117";
    g.fillRect(0, 0, box.width, box.height);
    if (!this.width) return;
    const s = this.scale;
    g.imageSmoothingEnabled = false;
    g.drawImage(this.staticLayer, this.offsetX, this.offsetY, this.width * s, this.height * s);
    if (s >= 8) {
      g.strokeStyle = "rgba(255,255,255,0.06)";
      g.beginPath();
      for (let r = 0; r <= this.height; r += 1) {
        g.moveTo(this.offsetX, this.offsetY + r * s);
        g.lineTo(this.offsetX + this.width * s, this.offsetY + r * s);
      }
      for (let c = 0; c <= this.width; c += 1) {
        g.moveTo(this.offsetX + c * s, this.offsetY);
        g.lineTo(this.offsetX + c * s, this.offsetY + this.height * s);
      }
      g.stroke();
    }
    g.lineWidth = 2;
    g.setLineDash([6, 4]);
    for (const objective of this.objectives) {
      const region = objective.region;
      const top = region.top ?? region.cell?.[0];
      const left = region.left ?? region.cell?.[1];
      const bottom = region.bottom ?? top;
      const right = region.right ?? left;
      g.strokeStyle = objective.status === "assigned" ? "#f5b942" : "#c678dd";
      g.strokeRect(this.offsetX + left * s, this.offsetY + top * s, (right - left + 1) * s, (bottom - top + 1) * s);
    }
    g.setLineDash([]);
    if (this.hasPositions) this._drawAgents(g, s, ratio, box);
    this.dirty = false;
    this.frames += 1;
    this.lastFrameMs = performance.now() - started;
  }

  /** An RGBA colour as one little-endian 32-bit pixel, resolved once per colour key. */
  _pixelColor(key) {
    let packed = this._packed.get(key);
    if (packed === undefined) {
      const probe = document.createElement("canvas").getContext("2d", { willReadFrequently: true });
      probe.fillStyle = this.colorOf(key);
      probe.fillRect(0, 0, 1, 1);
      const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
      packed = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
      this._packed.set(key, packed);
    }
    return packed;
  }

  _drawAgents(g, s, ratio, box) {
    // Agents are written straight into a pixel buffer (one typed-array pass, no per-agent canvas call),
    // then composited over the grid with a single drawImage.
    const width = Math.round(box.width * ratio);
    const height = Math.round(box.height * ratio);
    if (!this.agentLayer || this.agentLayer.width !== width || this.agentLayer.height !== height) {
      this.agentLayer = document.createElement("canvas");
      this.agentLayer.width = width;
      this.agentLayer.height = height;
      this.agentContext = this.agentLayer.getContext("2d");
      this.agentImage = this.agentContext.createImageData(width, height);
      this.agentPixels = new Uint32Array(this.agentImage.data.buffer);
    }
    const pixels = this.agentPixels;
    pixels.fill(0);
    const t = Math.min(1, (performance.now() - this.tickAt) / EASE_MS);
    const size = Math.max(2, Math.round(Math.min(s * 0.3, 10) * ratio));
    const half = size >> 1;
    const scale = s * ratio;
    const originX = this.offsetX * ratio;
    const originY = this.offsetY * ratio;
    let currentKey = null;
    let color = 0;
    for (let i = 0; i < this.count; i += 1) {
      const key = this.colorKey[i];
      if (key !== currentKey) {
        color = this._pixelColor(key);
        currentKey = key;
      }
      const r = this.fromRows[i] + (this.rows[i] - this.fromRows[i]) * t;
      const c = this.fromCols[i] + (this.cols[i] - this.fromCols[i]) * t;
      const x0 = Math.round(originX + (c + this.jitterX[i]) * scale) - half;
      const y0 = Math.round(originY + (r + this.jitterY[i]) * scale) - half;
      const xStart = Math.max(0, x0);
      const xEnd = Math.min(width, x0 + size);
      const yEnd = Math.min(height, y0 + size);
      for (let y = Math.max(0, y0); y < yEnd; y += 1) {
        const row = y * width;
        for (let x = xStart; x < xEnd; x += 1) pixels[row + x] = color;
      }
    }
    this.agentContext.putImageData(this.agentImage, 0, 0);
    g.drawImage(this.agentLayer, 0, 0, box.width, box.height);
    if (this.selected >= 0 && this.selected < this.count) {
      const i = this.selected;
      g.strokeStyle = "#ffffff";
      g.lineWidth = 2;
      g.beginPath();
      g.arc(this.offsetX + (this.cols[i] + this.jitterX[i]) * s, this.offsetY + (this.rows[i] + this.jitterY[i]) * s, half / ratio + 5, 0, 2 * Math.PI);
      g.stroke();
      g.lineWidth = 1;
    }
  }

  // ------------------------------------------------------------------ interaction

  pickAt(x, y) {
    if (!this.hasPositions) return -1;
    const col = (x - this.offsetX) / this.scale;
    const row = (y - this.offsetY) / this.scale;
    let best = -1;
    let bestDistance = Infinity;
    for (let i = 0; i < this.count; i += 1) {
      const dr = this.rows[i] + this.jitterY[i] - row;
      const dc = this.cols[i] + this.jitterX[i] - col;
      const distance = dr * dr + dc * dc;
      if (distance < bestDistance) {
        bestDistance = distance;
        best = i;
      }
    }
    return bestDistance <= 1.0 ? best : -1;
  }

  select(index) {
    this.selected = index;
    this.dirty = true;
    this.onPick(index);
  }

  _bind() {
    const canvas = this.canvas;
    let drag = null;
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = canvas.getBoundingClientRect();
      this.zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    canvas.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, moved: 0 };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      drag.moved += Math.abs(dx) + Math.abs(dy);
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.pan(dx, dy);
    });
    canvas.addEventListener("pointerup", (event) => {
      if (drag && drag.moved < 5) {
        const box = canvas.getBoundingClientRect();
        this.select(this.pickAt(event.clientX - box.left, event.clientY - box.top));
      }
      drag = null;
    });
    canvas.addEventListener("keydown", (event) => {
      const step = 40;
      const actions = {
        ArrowLeft: () => this.pan(step, 0),
        ArrowRight: () => this.pan(-step, 0),
        ArrowUp: () => this.pan(0, step),
        ArrowDown: () => this.pan(0, -step),
        "+": () => this.zoom(1.25),
        "=": () => this.zoom(1.25),
        "-": () => this.zoom(0.8),
        0: () => this.fit(),
        n: () => this.count && this.select((this.selected + 1) % this.count),
        p: () => this.count && this.select((this.selected - 1 + this.count) % this.count),
        Escape: () => this.select(-1),
      };
      const action = actions[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
    });
    this._resize = new ResizeObserver(() => {
      this.dirty = true;
    });
    this._resize.observe(canvas);
  }

  /** For tests and debugging: the last tick as plain data. */
  snapshot() {
    return {
      tick: this.tick,
      count: this.count,
      ids: this.ids.slice(),
      rows: Array.from(this.rows),
      cols: Array.from(this.cols),
      coalitionMembers: Array.from(this.coalitionOf).filter((c) => c >= 0).length,
      lastFrameMs: this.lastFrameMs,
      frames: this.frames,
    };
  }

  destroy() {
    this.stop();
    this._resize.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------- the view

export function mountWorld(root, ctx) {
  const errors = errorBox();
  // Live-connection trouble has its own box: reloading the overlays clears the page's box when it succeeds.
  const liveErrors = errorBox();
  const worldSelect = el("select", { id: "world-select", "aria-label": "World" });
  const colorSelect = el(
    "select",
    { id: "color-mode", "aria-label": "Colour agents by" },
    el("option", { value: "population" }, "Colour by population"),
    el("option", { value: "coalition" }, "Colour by coalition"),
  );
  const status = el("span.live-status", { id: "live-status", role: "status" }, "not connected");
  const canvas = el("canvas.world", {
    id: "world-canvas",
    tabindex: "0",
    "aria-label": "World grid. Arrow keys pan, plus and minus zoom, 0 fits, n and p select the next or previous agent, Escape clears the selection.",
  });
  const legend = el("ul.legend", { id: "world-legend" });
  const picked = el("div.picked", { id: "picked-agent", "aria-live": "polite" }, "Click an agent (or press n) to pick it.");
  const rateCanvas = el("canvas.chart", { "aria-label": "Ticks received per second" });
  const zoomIn = el("button", { type: "button", "aria-label": "Zoom in", onclick: () => view.zoom(1.25) }, "+");
  const zoomOut = el("button", { type: "button", "aria-label": "Zoom out", onclick: () => view.zoom(0.8) }, "−");
  const fitButton = el("button", { type: "button", onclick: () => view.fit() }, "Fit");
  clear(
    root,
    el("h1", {}, "World"),
    errors,
    liveErrors,
    el("div.toolbar", {}, worldSelect, colorSelect, zoomIn, zoomOut, fitButton, status),
    el("div.world-layout", {},
      el("div.canvas-wrap", {}, canvas),
      el("aside.panel", {}, el("h2", {}, "Legend"), legend, el("h2", {}, "Selected agent"), picked, el("h2", {}, "Live ticks"), rateCanvas),
    ),
  );

  const view = new WorldCanvas(canvas, { onPick: showPicked });
  view.start();
  let connection = null;
  let worldId = null;
  const tickTimes = [];
  const rates = [];
  window.freeagenticsDashboard = window.freeagenticsDashboard || {};
  window.freeagenticsDashboard.world = view;

  function showPicked(index) {
    if (index < 0) {
      clear(picked, "No agent selected.");
      return;
    }
    const id = view.ids[index];
    const coalition = view.coalitionOf[index];
    clear(
      picked,
      el("dl", {},
        el("dt", {}, "Agent"), el("dd", {}, el("a", { href: `#/agents/${id}`, id: "picked-link" }, id.slice(0, 8))),
        el("dt", {}, "Population"), el("dd", {}, `${view.population[index]} (${view.templates[view.population[index]] ?? "?"})`),
        el("dt", {}, "Cell"), el("dd", {}, `[${view.rows[index]}, ${view.cols[index]}]`),
        el("dt", {}, "Running"), el("dd", {}, view.running[index] ? "yes" : "no"),
        el("dt", {}, "Carrying"), el("dd", {}, view.carrying[index] ? "yes" : "no"),
        el("dt", {}, "Coalition"), el("dd", {}, coalition >= 0 ? `#${coalition}` : "none"),
      ),
    );
  }

  function drawLegend() {
    const items = [];
    if (view.colorMode === "population") {
      (view.templates || []).forEach((template, index) => {
        const size = view.population.filter((p) => p === index).length;
        items.push([palette(index), `population ${index}: ${template} (${size})`]);
      });
    } else {
      for (const [id, coalition] of view.coalitions) {
        items.push([palette(coalition.index), `coalition #${coalition.index} ${id.slice(0, 8)} (${coalition.members.size})`]);
      }
      items.push([FREE_COLOR, "in no coalition"]);
    }
    items.push(["rgb(96,104,118)", "wall"], ["rgb(32,120,72)", "goal"], ["rgb(150,110,20)", "resource"], ["#c678dd", "objective (open)"], ["#f5b942", "objective (assigned)"]);
    clear(legend, items.map(([color, text]) => el("li", {}, el("span.swatch", { dataset: { color } }), text)));
    for (const swatch of legend.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.color;
  }

  async function loadOverlays() {
    const [objectives, coalitions] = await Promise.all([
      ctx.session.request("GET", `/objectives?world_id=${worldId}&limit=500`),
      ctx.session.request("GET", `/coalitions?world_id=${worldId}&state=active&limit=500`),
    ]);
    view.setObjectives(objectives.items.filter((o) => o.status === "open" || o.status === "assigned"));
    view.setCoalitions(coalitions.items);
    drawLegend();
  }

  async function open(id) {
    if (connection) connection.close();
    worldId = id;
    canvas.dataset.worldId = id;
    const state = await ctx.session.request("GET", `/worlds/${id}/state`);
    view.setWorld(state);
    await loadOverlays();
    connection = new LiveConnection(ctx.session, { world_id: id, max_hz: 10 }, {
      message(data) {
        if (data.type === "members") {
          view.setMembers(data);
          view.setCoalitions([...view.coalitions].map(([cid, c]) => ({ id: cid, members: [...c.members] })));
          drawLegend();
        } else if (data.type === "tick") {
          if (view.applyTick(data)) {
            const now = performance.now();
            tickTimes.push(now);
            while (tickTimes.length && now - tickTimes[0] > 5000) tickTimes.shift();
            status.textContent = `live · tick ${data.tick} · ${view.count} agents`;
            if (view.selected >= 0) showPicked(view.selected);
          }
        } else if (data.type === "coalition") {
          view.coalitionEvent(data);
          drawLegend();
          guarded(errors, loadOverlays);
        }
      },
      status(text) {
        status.textContent = text;
      },
      error(error) {
        showError(error, liveErrors);
      },
    });
    connection.open();
  }

  const rateTimer = setInterval(() => {
    const seconds = tickTimes.length > 1 ? (tickTimes.at(-1) - tickTimes[0]) / 1000 : 0;
    rates.push(seconds > 0 ? (tickTimes.length - 1) / seconds : 0);
    if (rates.length > 60) rates.shift();
    lineChart(rateCanvas, [{ label: "ticks/s", color: "#4fa3e0", values: rates }], { height: 120 });
  }, 1000);

  worldSelect.addEventListener("change", () => guarded(errors, () => open(worldSelect.value)));
  colorSelect.addEventListener("change", () => {
    view.setColorMode(colorSelect.value);
    drawLegend();
  });

  guarded(errors, async () => {
    const worlds = await ctx.session.request("GET", "/worlds?limit=500");
    if (!worlds.items.length) {
      status.textContent = "no worlds yet";
      return;
    }
    clear(worldSelect, worlds.items.map((w) => el("option", { value: w.id }, `${w.name} (${w.spec.height}×${w.spec.width})`)));
    const preferred = worlds.items.find((w) => w.id === ctx.params.world) || worlds.items.find((w) => w.name === "demo") || worlds.items[0];
    worldSelect.value = preferred.id;
    await open(preferred.id);
  });

  return () => {
    clearInterval(rateTimer);
    if (connection) connection.close();
    view.destroy();
    if (window.freeagenticsDashboard.world === view) delete window.freeagenticsDashboard.world;
  };
}
