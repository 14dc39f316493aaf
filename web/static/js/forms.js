// Strict forms: the new-run form, the fork dialog and the sweep form. Every input is
// checked against its field's bounds (shared.spec and shared.sweeps, rendered into the
// page) before anything is sent, so an empty required field is an error, never a silent
// default. A message names the field by its visible label, sits next to it and
// highlights it. The server's errors name API fields ("batch_size", "base.epochs",
// "grid.lr[1]"): they are mapped back onto the same inputs and said the same way.
import { el, FORM_RULES } from "./dom.js";

const RULES = new Map(FORM_RULES.fields.map((f) => [f.name, f]));
const SWEEP_RULES = new Map(FORM_RULES.sweep_fields.map((f) => [f.name, f]));
// A search's own fields (shared.search_space): their inputs are named search_<field> and
// pruner_<field>, so the search's seed never meets the runs' seed.
const SEARCH_RULES = new Map([
  ...(FORM_RULES.search_fields || []).map((f) => [`search_${f.name}`, f]),
  ...(FORM_RULES.pruner_fields || []).map((f) => [`pruner_${f.name}`, f]),
]);
const NUMERIC = new Set(["int", "number"]);

// What a numeric field accepts, in the form's words.
function accepts(f) {
  const range =
    f.kind === "int"
      ? `a whole number from ${f.low} to ${f.high}`
      : f.exclusive_low
        ? `a number greater than ${f.low} and at most ${f.high}`
        : `a number from ${f.low} to ${f.high}`;
  return f.nullable ? `${range}, or empty (${f.placeholder})` : range;
}

// One typed-in value: {value} (undefined: empty and allowed to be) or {error}.
export function parseValue(f, text, { emptyOk = false } = {}) {
  const raw = text.trim();
  if (raw === "") return f.nullable || emptyOk ? { value: undefined } : { error: "is required" };
  if (f.kind === "choice") return f.choices.includes(raw) ? { value: raw } : { error: `must be one of ${f.choices.join(", ")}` };
  if (!NUMERIC.has(f.kind)) return { value: raw }; // names and URLs: the server's checks say the rest
  const n = Number(raw);
  const fits =
    Number.isFinite(n) &&
    (f.kind === "number" || Number.isInteger(n)) &&
    (f.exclusive_low ? n > f.low : n >= f.low) &&
    n <= f.high;
  return fits ? { value: n } : { error: `must be ${accepts(f)}` };
}

// A run spec from a run form: {spec, errors} (errors: input name -> what is wrong).
// Inputs that are not spec fields (the fork's "From epoch") are left to their form.
export function readRunForm(form) {
  const spec = {};
  const errors = new Map();
  for (const input of form.elements) {
    const f = RULES.get(input.name);
    if (!f) continue;
    const { value, error } = parseValue(f, input.value);
    if (error) errors.set(input.name, error);
    else if (value !== undefined) spec[input.name] = value;
  }
  return { spec, errors };
}

// A sweep from the sweep form: several comma-separated values sweep a field, one value
// applies to every run, empty keeps the default. {body, errors, count, problem}: count
// is the number of runs it makes, problem what is wrong with the sweep as a whole.
export function readSweepForm(form) {
  const method = form.elements.method?.value || "grid";
  if (method !== "grid") return readSearchForm(form, method);
  const body = {},
    base = {},
    grid = {};
  const errors = new Map();
  for (const input of form.elements) {
    const own = input.dataset.sweepLevel ? SWEEP_RULES.get(input.name) : null;
    const f = own || RULES.get(input.name);
    if (!f || !input.name || input.dataset.searchLevel || input.dataset.prunerLevel) continue;
    if (own) {
      const { value, error } = parseValue(own, input.value, { emptyOk: true });
      if (error) errors.set(input.name, error);
      else if (value !== undefined) body[input.name] = value;
      continue;
    }
    const values = [];
    if (input.value.includes("..")) {
      errors.set(input.name, "is a range: a grid takes values (a,b,c); pick random or tpe to search a range");
      continue;
    }
    for (const piece of input.value
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean)) {
      const { value, error } = parseValue(f, piece);
      if (error) {
        errors.set(input.name, `value “${piece}” ${error}`);
        break;
      }
      values.push(value);
    }
    if (values.length > FORM_RULES.max_values)
      errors.set(input.name, `has ${values.length} values; at most ${FORM_RULES.max_values}`);
    if (values.length > 1) grid[input.name] = values;
    else if (values.length) base[input.name] = values[0];
  }
  const swept = Object.values(grid);
  const count = swept.length ? swept.reduce((n, values) => n * values.length, 1) : 0;
  const problem = !swept.length
    ? "give some field several values, e.g. Learning rate 0.001,0.003"
    : count > FORM_RULES.max_sweep_runs
      ? `${count} runs: a sweep may make at most ${FORM_RULES.max_sweep_runs}`
      : null;
  return { body: { ...body, base, grid }, errors, count, problem, swept: Object.keys(grid) };
}

// Which parts of the sweep form a method shows (data-when on each label or note).
export function showMethod(form) {
  const method = form.elements.method.value;
  const on = {
    grid: method === "grid",
    search: method !== "grid",
    adaptive: method === "random" || method === "tpe",
    pbt: method === "pbt",
  };
  form.querySelectorAll("[data-when]").forEach((node) => {
    node.hidden = !on[node.dataset.when];
  });
  // Eta only for the rung pruners; the first epoch for them and the median rule.
  const pruner = form.elements.pruner_type?.value;
  const eta = form.elements.pruner_eta?.closest("label");
  const first = form.elements.pruner_min_epochs?.closest("label");
  if (eta && on.adaptive) eta.hidden = !["asha", "hyperband"].includes(pruner);
  if (first && on.adaptive) first.hidden = pruner === "none";
}

// One space entry from its text (the grammar of shared.search_space.parse_text):
// "a,b,c" choices; "LO..HI" a range, then optionally "log" or "step S".
// {value} (a list, a {min, max[, log | step]} object, or a single value for base), or {error}.
export function parseSpace(f, text) {
  const raw = text.trim();
  const m = /^(\S+?)\s*\.\.\s*(\S+)(?:\s+(log|step\s+(\S+)))?$/.exec(raw);
  if (!m && raw.includes(".."))
    return { error: "is not a range: write LO..HI, then optionally log or step S (e.g. 1e-4..3e-2 log)" };
  if (!m) {
    const values = [];
    for (const piece of raw
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean)) {
      const { value, error } = parseValue(f, piece);
      if (error) return { error: `value “${piece}” ${error}` };
      values.push(value);
    }
    if (values.length > FORM_RULES.max_choices)
      return { error: `has ${values.length} choices; at most ${FORM_RULES.max_choices}` };
    return { value: values.length === 1 ? values[0] : values };
  }
  if (!NUMERIC.has(f.kind)) return { error: "is not a number: give choices separated by commas" };
  const lo = parseValue(f, m[1]),
    hi = parseValue(f, m[2]);
  if (lo.error) return { error: `from “${m[1]}” ${lo.error}` };
  if (hi.error) return { error: `to “${m[2]}” ${hi.error}` };
  if (!(lo.value < hi.value)) return { error: `is an empty range: ${m[1]} must be less than ${m[2]}` };
  const range = { min: lo.value, max: hi.value };
  if (m[3] === "log") range.log = true;
  if (m[4] !== undefined) {
    const step = Number(m[4]);
    if (!(step > 0) || (f.kind === "int" && !Number.isInteger(step)))
      return { error: `step “${m[4]}” must be a positive ${f.kind === "int" ? "whole " : ""}number` };
    const steps = (hi.value - lo.value) / step;
    if (Math.abs(steps - Math.round(steps)) > 1e-9 || steps < 1) {
      const end = lo.value + Math.max(1, Math.floor(steps)) * step;
      return {
        error: `from ${m[1]} in steps of ${m[4]} does not land on ${m[2]} (e.g. ${m[1]}..${Number(end.toPrecision(6))} step ${m[4]})`,
      };
    }
    range.step = step;
  }
  return { value: range };
}

// A search from the sweep form (a method other than grid): {body, errors, count, problem}.
function readSearchForm(form, method) {
  const body = { method },
    base = {},
    space = {},
    pruner = {};
  const errors = new Map();
  for (const input of form.elements) {
    if (!input.name || input.closest("[hidden]")) continue;
    const own = input.dataset.sweepLevel ? SWEEP_RULES.get(input.name) : SEARCH_RULES.get(input.name);
    if (own) {
      const { value, error } = parseValue(own, input.value, { emptyOk: true });
      if (error) errors.set(input.name, error);
      else if (value !== undefined) (input.dataset.prunerLevel ? pruner : body)[input.dataset.field || input.name] = value;
      continue;
    }
    const f = RULES.get(input.name);
    if (!f || !input.value.trim()) continue;
    const { value, error } = parseSpace(f, input.value);
    if (error) errors.set(input.name, error);
    else if (Array.isArray(value) || (value && typeof value === "object")) space[input.name] = value;
    else base[input.name] = value;
  }
  if (Object.keys(pruner).length && method !== "pbt") body.pruner = pruner;
  const swept = Object.keys(space);
  const count = !swept.length ? 0 : method === "pbt" ? (body.population ?? 4) : (body.trials ?? 16);
  const problem = swept.length ? null : "give some field a range or several choices, e.g. Learning rate 1e-4..3e-2 log";
  return { body: { ...body, base, space }, errors, count, problem, swept, search: true };
}

// The visible label of an input: its <label>'s own text.
export function labelOf(input) {
  const label = input.closest("label");
  return label?.firstChild?.textContent.trim() || input.name;
}

// A field edited after a refused submit: its mark goes, and with the form's last mark
// the summary line (`summary`) that named them.
export function clearField(input, summary = null) {
  if (!input?.classList?.contains("invalid")) return;
  input.classList.remove("invalid");
  input.removeAttribute("aria-invalid");
  input.removeAttribute("aria-describedby");
  const note = input.nextElementSibling;
  if (note?.classList.contains("field-error")) note.remove();
  if (summary && !input.form?.querySelector(".invalid")) {
    summary.hidden = true;
    summary.textContent = "";
  }
}

export function clearErrors(form, summary) {
  form.querySelectorAll(".invalid").forEach((input) => clearField(input));
  summary.hidden = true;
  summary.textContent = "";
}

function mark(form, input, message) {
  input.classList.add("invalid");
  input.setAttribute("aria-invalid", "true");
  if (!message) return;
  const note = el("span", { class: "field-error", id: `${form.id}-${input.name}-error` }, message);
  input.after(note);
  input.setAttribute("aria-describedby", note.id);
}

// Marks each bad input and says what is wrong next to it; the summary line (the form's
// alert) names the fields, or says what is wrong with the form as a whole. `highlight`:
// inputs to mark without a message of their own (a sweep's swept fields when it makes
// too many runs). True when there was nothing to show.
export function showErrors(form, summary, errors, problem = null, highlight = []) {
  clearErrors(form, summary);
  const names = [];
  for (const [name, text] of errors) {
    const input = form.elements[name];
    const label = input ? labelOf(input) : name;
    if (input) mark(form, input, `${label} ${text}`);
    names.push(label);
  }
  if (problem) highlight.forEach((name) => form.elements[name] && mark(form, form.elements[name], ""));
  const lines = names.length ? [`Check ${names.length > 1 ? "these fields" : "this field"}: ${names.join(", ")}.`] : [];
  if (problem) lines.push(problem);
  if (!lines.length) return true;
  summary.textContent = lines.join(" ");
  summary.hidden = false;
  return false;
}

// After a refused submit: the first bad field takes the focus (never while typing elsewhere).
export function focusFirstError(form) {
  form.querySelector(".invalid")?.focus();
}

// The server's error, onto the form: {errors, problem} as showErrors takes them.
export function serverErrors(form, err) {
  const errors = new Map();
  const rest = [];
  for (const [key, text] of Object.entries(err.fields || {})) {
    // "pruner.eta" → pruner_eta; a search's own top-level field ("trials", "seed") → search_<it>.
    const m = /^(base\.|grid\.|random\.|space\.|pruner\.)?([a-z_]+)(?:\[(\d+)\])?$/.exec(key);
    const name = !m
      ? null
      : m[1] === "pruner."
        ? `pruner_${m[2]}`
        : !m[1] && SEARCH_RULES.has(`search_${m[2]}`)
          ? `search_${m[2]}`
          : m[2];
    const input = name && form.elements[name];
    if (!input || input.name !== name) {
      rest.push(key === "grid" || key === "space" ? `The sweep ${text}` : text);
      continue;
    }
    const f = input.dataset.sweepLevel ? SWEEP_RULES.get(name) : SEARCH_RULES.get(name) || RULES.get(name);
    const ranged = key.startsWith("space.");
    // A bounds message is said in the form's words; any other (e.g. "must be less than the
    // runs' epochs") is the server's own.
    const bounds = /^must be (null or )?(an integer|a number) /.test(text);
    const words =
      !ranged && bounds && f && NUMERIC.has(f.kind)
        ? `must be ${accepts(f)}`
        : text.replace(/^must be null or /, "must be empty or ");
    errors.set(name, m[3] != null ? `value ${Number(m[3]) + 1} ${words}` : words);
  }
  const problem = rest.length ? rest.join(" · ") : errors.size ? null : err.message;
  return { errors, problem };
}
