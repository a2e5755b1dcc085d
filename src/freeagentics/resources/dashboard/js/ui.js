// Small DOM helpers and the one way errors reach the user.

import { ApiError } from "./api.js";

/** el("button.primary", {type: "button", onclick}, "Save") — attributes, properties and children. */
export function el(spec, attributes = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function describe(error) {
  if (error instanceof ApiError) return error.describe();
  return `${error && error.name ? error.name : "Error"}: ${error && error.message ? error.message : error}`;
}

function detailLines(error) {
  if (!(error instanceof ApiError) || !Array.isArray(error.details)) return [];
  return error.details.map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : JSON.stringify(d)));
}

/** Show ``error`` in ``box`` (a .error-box element; the page-wide banner when none is given). */
export function showError(error, box = document.getElementById("global-error")) {
  const lines = detailLines(error);
  clear(
    box,
    el("strong", {}, describe(error)),
    lines.length ? el("ul", {}, lines.map((line) => el("li", {}, line))) : null,
    el("button.link", { type: "button", onclick: () => clearError(box), "aria-label": "Dismiss error" }, "Dismiss"),
  );
  box.hidden = false;
  return error;
}

export function clearError(box = document.getElementById("global-error")) {
  clear(box);
  box.hidden = true;
}

/** Run ``work``; a failure is shown in ``box`` instead of being lost. Returns the result or undefined. */
export async function guarded(box, work) {
  try {
    const result = await work();
    clearError(box);
    return result;
  } catch (error) {
    showError(error, box);
    return undefined;
  }
}

export function errorBox() {
  return el("div.error-box", { role: "alert", hidden: true });
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3)) return value.toExponential(2);
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/** A colour per index, distinct and readable on the dark canvas. */
export function palette(index) {
  const hues = [205, 35, 130, 290, 0, 175, 60, 320, 95, 250];
  const hue = hues[index % hues.length];
  const light = 62 - 10 * (Math.floor(index / hues.length) % 3);
  return `hsl(${hue} 80% ${light}%)`;
}
