// Coalitions and objectives: objectives with their progress, coalitions with members and value; create an
// objective; form coalitions with a chosen algorithm and see the structure found, its value and its bound.

import { clear, el, errorBox, fmt, guarded, showError } from "../ui.js";

function regionText(region) {
  if (region.cell) return `cell [${region.cell.join(", ")}]`;
  return `rows ${region.top}–${region.bottom}, cols ${region.left}–${region.right}`;
}

function field(label, input, hint) {
  const error = el("span.field-error", { id: `${input.id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", error.id);
  return el("div.field", {}, el("label", { for: input.id }, label), input, hint ? el("small.muted", {}, hint) : null, error);
}

/** Put each validation detail next to the field it names (the last part of its loc); the rest in ``box``. */
export function showFieldErrors(form, error, box, fieldFor = (loc) => loc[loc.length - 1]) {
  for (const span of form.querySelectorAll(".field-error")) span.textContent = "";
  const unplaced = [];
  for (const detail of Array.isArray(error.details) ? error.details : []) {
    const name = detail && detail.loc ? fieldFor(detail.loc) : null;
    const span = name !== null ? form.querySelector(`[data-field="${name}"] .field-error, #${CSS.escape(String(name))}-error`) : null;
    if (span) span.textContent = detail.msg;
    else unplaced.push(detail);
  }
  showError(error, box);
  return unplaced;
}

export function mountCoalitions(root, ctx) {
  const errors = errorBox();
  const worldSelect = el("select", { id: "coalition-world", "aria-label": "World" });
  const objectivesBody = el("tbody", { id: "objectives-body" });
  const coalitionsBody = el("tbody", { id: "coalitions-body" });
  const result = el("div.result", { id: "form-result", "aria-live": "polite" });
  // Actions report into their own boxes: the periodic refresh clears the page's box whenever it succeeds.
  const formationErrors = errorBox();
  formationErrors.id = "formation-error";
  const canWrite = ctx.session.can("coalitions:write");
  const canCreate = ctx.session.can("objectives:write");

  const objectiveForm = el("form.card", { id: "objective-form", novalidate: true });
  const formErrors = errorBox();
  formErrors.id = "objective-error";
  const name = el("input", { id: "objective-name", required: true, value: "reach the corner" });
  const top = el("input", { id: "objective-top", type: "number", min: "0", value: "0" });
  const left = el("input", { id: "objective-left", type: "number", min: "0", value: "0" });
  const bottom = el("input", { id: "objective-bottom", type: "number", min: "0", value: "1" });
  const right = el("input", { id: "objective-right", type: "number", min: "0", value: "1" });
  const required = el("input", { id: "objective-required", value: "explore=2" });
  const value = el("input", { id: "objective-value", type: "number", min: "0", step: "any", value: "10" });
  const deadline = el("input", { id: "objective-deadline", type: "number", min: "0", placeholder: "none" });
  objectiveForm.append(
    el("h2", {}, "New objective"),
    formErrors,
    el("div.form-grid", {},
      el("div", { dataset: { field: "name" } }, field("Name", name)),
      el("div", { dataset: { field: "region" } }, field("Top row", top), field("Left column", left), field("Bottom row", bottom), field("Right column", right)),
      el("div", { dataset: { field: "required" } }, field("Required capabilities", required, "name=amount, comma separated, e.g. explore=2, carry=1")),
      el("div", { dataset: { field: "value" } }, field("Value", value)),
      el("div", { dataset: { field: "deadline_tick" } }, field("Deadline tick", deadline, "optional")),
    ),
    el("button.primary", { type: "submit", id: "objective-create" }, "Create objective"),
  );

  const algorithm = el("select", { id: "form-algorithm", "aria-label": "Algorithm" },
    el("option", { value: "scalable" }, "scalable (greedy + exchange, any size)"),
    el("option", { value: "exact" }, "exact (optimal, small instances)"),
  );
  const seed = el("input", { id: "form-seed", type: "number", min: "0", value: "0", "aria-label": "Seed" });
  const formButton = el("button.primary", { type: "button", id: "form-coalitions" }, "Form coalitions");

  clear(
    root,
    el("h1", {}, "Coalitions and objectives"),
    errors,
    el("div.toolbar", {}, worldSelect, el("button", { type: "button", onclick: () => guarded(errors, load) }, "Refresh")),
    canWrite
      ? el("section.card", {}, el("h2", {}, "Form coalitions"), el("div.toolbar", {}, el("label", { for: "form-algorithm" }, "Algorithm"), algorithm, el("label", { for: "form-seed" }, "Seed"), seed, formButton), formationErrors, result)
      : el("p.muted", {}, "Your role may not form coalitions."),
    el("section", {}, el("h2", {}, "Objectives"), el("div.table-wrap", {}, el("table.data", {},
      el("thead", {}, el("tr", {}, ["Name", "Region", "Requires", "Value", "Status", "Progress"].map((h) => el("th", { scope: "col" }, h)))),
      objectivesBody))),
    el("section", {}, el("h2", {}, "Coalitions"), el("div.table-wrap", {}, el("table.data", {},
      el("thead", {}, el("tr", {}, ["Coalition", "Objective", "State", "Algorithm", "Value", "Members"].map((h) => el("th", { scope: "col" }, h)))),
      coalitionsBody))),
    canCreate ? objectiveForm : null,
  );

  let objectivesById = new Map();

  async function load() {
    const world = worldSelect.value;
    if (!world) return;
    const [objectives, coalitions] = await Promise.all([
      ctx.session.request("GET", `/objectives?world_id=${world}&limit=500`),
      ctx.session.request("GET", `/coalitions?world_id=${world}&limit=500`),
    ]);
    objectivesById = new Map(objectives.items.map((o) => [o.id, o]));
    clear(objectivesBody, objectives.items.map((o) => {
      const progress = o.value > 0 ? Math.min(1, o.value_credited / o.value) : o.status === "completed" ? 1 : 0;
      return el("tr", { dataset: { objectiveId: o.id } },
        el("td", {}, o.name),
        el("td", {}, regionText(o.region)),
        el("td", {}, Object.entries(o.required).map(([k, v]) => `${k} ${v}`).join(", ")),
        el("td", {}, fmt(o.value)),
        el("td", {}, el("span.badge", { dataset: { status: o.status } }, o.status)),
        el("td", {}, el("progress", { max: "1", value: String(progress), "aria-label": `credited ${fmt(o.value_credited)} of ${fmt(o.value)}` }), ` ${fmt(o.value_credited)} / ${fmt(o.value)}`),
      );
    }));
    if (!objectives.items.length) objectivesBody.append(el("tr", {}, el("td", { colSpan: 6 }, "No objectives in this world yet.")));
    // Keep open member lists open across the periodic refresh.
    const open = new Set([...coalitionsBody.querySelectorAll("tr")].filter((tr) => tr.querySelector("details[open]")).map((tr) => tr.dataset.coalitionId));
    clear(coalitionsBody, coalitions.items.map((c) =>
      el("tr", { dataset: { coalitionId: c.id, state: c.state, algorithm: c.algorithm } },
        el("td.mono", {}, c.id.slice(0, 8)),
        el("td", {}, objectivesById.get(c.objective_id)?.name ?? c.objective_id.slice(0, 8)),
        el("td", {}, el("span.badge", { dataset: { status: c.state } }, c.state)),
        el("td", {}, c.algorithm),
        el("td", {}, fmt(c.value)),
        el("td", {}, el("details", { open: open.has(c.id) }, el("summary", {}, `${c.members.length} agents`), el("ul.members", {}, c.members.map((m) => el("li", {}, el("a", { href: `#/agents/${m}` }, m.slice(0, 8))))))),
      ),
    ));
    if (!coalitions.items.length) coalitionsBody.append(el("tr", {}, el("td", { colSpan: 6 }, "No coalitions in this world yet.")));
  }

  function parseRequired(text) {
    const requiredMap = {};
    for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
      const [key, amount] = part.split("=").map((p) => p.trim());
      const number = Number(amount);
      if (!key || amount === undefined || !Number.isFinite(number)) throw new Error(`"${part}" is not name=amount`);
      requiredMap[key] = number;
    }
    return requiredMap;
  }

  objectiveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const span of objectiveForm.querySelectorAll(".field-error")) span.textContent = "";
    let requiredMap;
    try {
      requiredMap = parseRequired(required.value);
    } catch (error) {
      document.getElementById("objective-required-error").textContent = error.message;
      showError(error, formErrors);
      return;
    }
    const body = {
      world_id: worldSelect.value,
      name: name.value,
      region: { top: Number(top.value), left: Number(left.value), bottom: Number(bottom.value), right: Number(right.value) },
      required: requiredMap,
      value: Number(value.value),
    };
    if (deadline.value !== "") body.deadline_tick = Number(deadline.value);
    try {
      await ctx.session.request("POST", "/objectives", body);
      formErrors.hidden = true;
      await guarded(errors, load);
    } catch (error) {
      showFieldErrors(objectiveForm, error, formErrors, (loc) => {
        const key = loc[1] ?? loc[0];
        return { name: "objective-name", required: "objective-required", value: "objective-value", deadline_tick: "objective-deadline", region: "objective-top" }[key] ?? null;
      });
    }
  });

  formButton.addEventListener("click", async () => {
    formButton.disabled = true;
    clear(result, el("p.muted", {}, "Forming…"));
    try {
      const outcome = await guarded(formationErrors, () => ctx.session.request("POST", "/coalitions/form", {
        world_id: worldSelect.value,
        algorithm: algorithm.value,
        seed: Number(seed.value || 0),
      }));
      if (!outcome) {
        clear(result);
        return;
      }
      clear(result,
        el("dl.facts", { id: "form-facts" },
          el("dt", {}, "Algorithm"), el("dd", {}, outcome.algorithm),
          el("dt", {}, "Value"), el("dd", { id: "form-value" }, fmt(outcome.value)),
          el("dt", {}, "Upper bound"), el("dd", { id: "form-bound" }, outcome.upper_bound === null ? "not computed" : fmt(outcome.upper_bound)),
          el("dt", {}, "Gap"), el("dd", {}, outcome.gap === null ? "—" : fmt(outcome.gap)),
          el("dt", {}, "Time"), el("dd", {}, `${fmt(outcome.duration_ms)} ms`),
          el("dt", {}, "Agents considered"), el("dd", {}, String(outcome.agents_considered)),
          el("dt", {}, "Unassigned agents"), el("dd", {}, String(outcome.unassigned_agents)),
          el("dt", {}, "Coalitions formed"), el("dd", { id: "form-count" }, String(outcome.coalitions.length)),
        ),
        outcome.structure.length
          ? el("ul", {}, outcome.structure.map((s) => el("li", {}, `${objectivesById.get(s.objective_id)?.name ?? s.objective_id}: ${s.members} members, value ${fmt(s.value)}${s.satisfied ? "" : " (requirements not met)"}`)))
          : el("p.muted", {}, "No coalition could be formed (no open objective, or no free running agent can meet one)."),
      );
      await guarded(errors, load);
    } finally {
      formButton.disabled = false;
    }
  });

  worldSelect.addEventListener("change", () => guarded(errors, load));
  guarded(errors, async () => {
    const worlds = await ctx.session.request("GET", "/worlds?limit=500");
    clear(worldSelect, worlds.items.map((w) => el("option", { value: w.id }, w.name)));
    const preferred = worlds.items.find((w) => w.name === "demo") || worlds.items[0];
    if (preferred) worldSelect.value = preferred.id;
    await load();
  });
  const timer = setInterval(() => guarded(errors, load), 3000);
  return () => clearInterval(timer);
}
