// Create agents: a template picker whose form is generated from the template's JSON Schema, or a pasted
// model spec; one agent or a batch of up to 10,000. Validation errors appear next to the field they name.

import { clear, el, errorBox, showError } from "../ui.js";

const MAX_BATCH = 10000;
const EXAMPLE_SPEC = {
  name: "two-armed-bandit",
  factors: [{ name: "arm", states: ["left", "right"], actions: ["left", "right"], transitions: [[0, 0], [1, 1]] }],
  modalities: [{ name: "reward", observations: ["none", "win"], A: [[0.9, 0.2], [0.1, 0.8]], C: [0.0, 2.0] }],
};

function unwrapNullable(schema) {
  if (schema.anyOf) {
    const concrete = schema.anyOf.find((s) => s.type !== "null");
    if (concrete) return { ...concrete, description: schema.description, default: schema.default, nullable: true };
  }
  return schema;
}

/** One input for a JSON-Schema property; ``read()`` gives the value, or undefined for "leave it out". */
function inputFor(name, rawSchema, required) {
  const schema = unwrapNullable(rawSchema);
  const id = `param-${name}`;
  let input;
  let read;
  if (schema.enum) {
    input = el("select", { id }, el("option", { value: "" }, "(default)"), schema.enum.map((v) => el("option", { value: JSON.stringify(v) }, String(v))));
    read = () => (input.value === "" ? undefined : JSON.parse(input.value));
  } else if (schema.type === "boolean") {
    input = el("select", { id }, el("option", { value: "" }, `(default: ${schema.default ?? "false"})`), el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
    read = () => (input.value === "" ? undefined : input.value === "true");
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { id, type: "number", step: schema.type === "integer" ? "1" : "any", placeholder: schema.default !== undefined ? `default ${schema.default}` : "" });
    if (schema.minimum !== undefined) input.min = String(schema.minimum);
    if (schema.maximum !== undefined) input.max = String(schema.maximum);
    read = () => (input.value.trim() === "" ? undefined : Number(input.value));
  } else {
    // Arrays and objects are typed as JSON.
    const example = schema.type === "array" && schema.minItems === 2 && schema.maxItems === 2 ? "[row, col]" : "JSON";
    input = el("input.mono", { id, placeholder: schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : example });
    read = () => {
      const text = input.value.trim();
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch (error) {
        throw Object.assign(new Error(`not valid JSON: ${error.message}`), { field: name });
      }
    };
  }
  const error = el("span.field-error", { id: `${id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", error.id);
  const label = el("label", { for: id }, name, required ? el("abbr", { title: "required by the template; a world supplies its own grid values" }, " *") : null);
  return { name, input, read, node: el("div.field", { dataset: { field: name } }, label, input, schema.description ? el("small.muted", {}, schema.description) : null, error) };
}

function parseAmounts(text) {
  const result = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, amount] = part.split("=").map((p) => p.trim());
    if (!key || amount === undefined || !Number.isFinite(Number(amount))) throw new Error(`"${part}" is not name=amount`);
    result[key] = Number(amount);
  }
  return result;
}

/** The field a validation error's loc points at: a parameter name, "model_spec", "name", or null. */
function fieldOfLoc(loc) {
  const parts = loc.filter((p) => p !== "body");
  const params = parts.indexOf("parameters");
  if (params >= 0 && parts[params + 1] !== undefined) return `param-${parts[params + 1]}`;
  if (parts.includes("model_spec")) return "model-spec";
  if (parts.includes("name")) return "agent-name";
  if (parts.includes("world_id")) return "create-world";
  if (parts.includes("template")) return "create-template";
  return null;
}

export function mountCreate(root, ctx) {
  const errors = errorBox();
  if (!ctx.session.can("agents:write")) {
    clear(root, el("h1", {}, "Create agents"), el("p.muted", { id: "create-denied" }, "Your role may not create agents."));
    return () => {};
  }
  const form = el("form.card", { id: "create-form", novalidate: true });
  const world = el("select", { id: "create-world" });
  const modeTemplate = el("input", { type: "radio", name: "mode", id: "mode-template", value: "template", checked: true });
  const modeSpec = el("input", { type: "radio", name: "mode", id: "mode-spec", value: "spec" });
  const template = el("select", { id: "create-template" });
  const templateHelp = el("p.muted", { id: "template-help" });
  const paramsBox = el("fieldset.params", { id: "template-params" });
  const spec = el("textarea.mono", { id: "model-spec", rows: 14, spellcheck: false });
  spec.value = JSON.stringify(EXAMPLE_SPEC, null, 2);
  const specBox = el("div.field", { dataset: { field: "model_spec" }, hidden: true },
    el("label", { for: "model-spec" }, "Model spec (JSON)"), spec, el("span.field-error", { id: "model-spec-error", role: "alert" }));
  const name = el("input", { id: "agent-name", value: "agent", required: true });
  const count = el("input", { id: "agent-count", type: "number", min: "1", max: String(MAX_BATCH), value: "1" });
  const capabilities = el("input", { id: "agent-capabilities", placeholder: "explore=1, carry=2" });
  const seed = el("input", { id: "agent-seed", type: "number", min: "0", placeholder: "none" });
  const startNow = el("input", { id: "agent-start", type: "checkbox", checked: true });
  const result = el("div.result", { id: "create-result", "aria-live": "polite" });
  const submit = el("button.primary", { type: "submit", id: "create-submit" }, "Create");
  const simpleField = (label, input, help) => el("div.field", {}, el("label", { for: input.id }, label), input, help ? el("small.muted", {}, help) : null, el("span.field-error", { id: `${input.id}-error`, role: "alert" }));

  form.append(
    errors,
    el("div.form-grid", {}, simpleField("World", world), simpleField("Name (a batch appends -1, -2, …)", name), simpleField("How many", count, `1 to ${MAX_BATCH}`)),
    el("fieldset", {}, el("legend", {}, "Model"), el("label", {}, modeTemplate, " From a template"), el("label", {}, modeSpec, " From a pasted model spec")),
    el("div", { id: "template-box" }, simpleField("Template", template), templateHelp, paramsBox),
    specBox,
    el("fieldset", {}, el("legend", {}, "Runtime"),
      el("div.form-grid", {}, simpleField("Capabilities", capabilities, "for coalitions: name=amount, comma separated"), simpleField("Seed", seed, "a batch uses seed, seed+1, …"),
        el("div.field", {}, el("label", {}, startNow, " Start running at once")))),
    submit,
    result,
  );
  clear(root, el("h1", {}, "Create agents"), form);

  let templates = [];
  let inputs = [];

  function renderTemplate() {
    const chosen = templates.find((t) => t.name === template.value);
    if (!chosen) return;
    const required = new Set(chosen.parameters.required || []);
    inputs = Object.entries(chosen.parameters.properties || {}).map(([key, schema]) => inputFor(key, schema, required.has(key)));
    templateHelp.textContent = `${chosen.description}${chosen.runnable_in_worlds ? "" : " — this template does not run in grid worlds."} Empty fields are left out: the template's default, or the world's own value for its grid.`;
    clear(paramsBox, el("legend", {}, `Parameters of ${chosen.name}`), el("div.form-grid", {}, inputs.map((i) => i.node)));
  }

  function setMode() {
    const specMode = modeSpec.checked;
    specBox.hidden = !specMode;
    document.getElementById("template-box").hidden = specMode;
  }
  modeTemplate.addEventListener("change", setMode);
  modeSpec.addEventListener("change", setMode);
  template.addEventListener("change", renderTemplate);

  function clearFieldErrors() {
    for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
    for (const bad of form.querySelectorAll("[aria-invalid]")) bad.removeAttribute("aria-invalid");
  }

  function fieldError(id, message) {
    const span = document.getElementById(`${id}-error`);
    const input = document.getElementById(id);
    if (input) input.setAttribute("aria-invalid", "true");
    if (!span) return false;
    span.textContent = span.textContent ? `${span.textContent}; ${message}` : message;
    return true;
  }

  function buildAgents() {
    const n = Number(count.value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_BATCH) throw Object.assign(new Error(`between 1 and ${MAX_BATCH}`), { fieldId: "agent-count" });
    const runtime = {};
    try {
      if (capabilities.value.trim()) runtime.capabilities = parseAmounts(capabilities.value);
    } catch (error) {
      throw Object.assign(error, { fieldId: "agent-capabilities" });
    }
    const base = { world_id: world.value, start: startNow.checked };
    if (modeSpec.checked) {
      try {
        base.model_spec = JSON.parse(spec.value);
      } catch (error) {
        throw Object.assign(new Error(`not valid JSON: ${error.message}`), { fieldId: "model-spec" });
      }
    } else {
      base.template = template.value;
      for (const input of inputs) {
        let value;
        try {
          value = input.read();
        } catch (error) {
          throw Object.assign(error, { fieldId: `param-${input.name}` });
        }
        if (value !== undefined) runtime[input.name] = value;
      }
    }
    const firstSeed = seed.value.trim() === "" ? null : Number(seed.value);
    return Array.from({ length: n }, (_, i) => ({
      ...base,
      name: n === 1 ? name.value : `${name.value}-${i + 1}`,
      parameters: firstSeed === null ? { ...runtime } : { ...runtime, seed: firstSeed + i },
    }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors();
    errors.hidden = true;
    let agents;
    try {
      agents = buildAgents();
    } catch (error) {
      if (!error.fieldId || !fieldError(error.fieldId, error.message)) showError(error, errors);
      else showError(new Error(`Fix the marked field: ${error.message}`), errors);
      return;
    }
    submit.disabled = true;
    clear(result, el("p.muted", {}, `Creating ${agents.length}…`));
    try {
      if (agents.length === 1) {
        const agent = await ctx.session.request("POST", "/agents", agents[0]);
        clear(result, el("p", { id: "create-done" }, "Created ", el("a", { href: `#/agents/${agent.id}` }, agent.name), ` (${agent.status}).`));
      } else {
        const batch = await ctx.session.request("POST", "/agents/batch", { agents });
        clear(result, el("p", { id: "create-done" }, `Created ${batch.created} agents. `, el("a", { href: `#/agents?search=${encodeURIComponent(name.value)}` }, "See them")));
      }
    } catch (error) {
      clear(result);
      for (const detail of Array.isArray(error.details) ? error.details : []) {
        const id = detail && detail.loc ? fieldOfLoc(detail.loc) : null;
        if (id) fieldError(id, detail.msg);
      }
      showError(error, errors);
    } finally {
      submit.disabled = false;
    }
  });

  (async () => {
    try {
      const [worlds, listed] = await Promise.all([
        ctx.session.request("GET", "/worlds?limit=500"),
        ctx.session.request("GET", "/templates"),
      ]);
      templates = listed;
      clear(world, worlds.items.map((w) => el("option", { value: w.id }, `${w.name} (${w.spec.height}×${w.spec.width})`)));
      clear(template, templates.map((t) => el("option", { value: t.name }, t.runnable_in_worlds ? t.name : `${t.name} (not for grid worlds)`)));
      renderTemplate();
      setMode();
    } catch (error) {
      showError(error, errors);
    }
  })();
  return () => {};
}
