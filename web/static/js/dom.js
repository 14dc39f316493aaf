// What every view of the page shares, written once: DOM helpers, what the server tells
// the page (statuses, epoch metrics), number formats, and how much each view fetches and
// how often (a run's progress, throughput and ETA: throughput.js).
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

const embedded = (id, fallback) =>
  JSON.parse((typeof document !== "undefined" && document.getElementById(id)?.textContent) || fallback);
// Statuses come from shared.lifecycle and epoch metrics from shared.metrics, through the
// page (see index.html): the page reads them, never spells them.
const LIFECYCLE = embedded("lifecycle", '{"statuses": [], "by_name": {}, "active": [], "waiting": []}');
// Each status by name: STATUS.SUCCEEDED, never "succeeded".
export const STATUS = LIFECYCLE.by_name;
export const ACTIVE = new Set(LIFECYCLE.active);
export const WAITING = new Set(LIFECYCLE.waiting);
export const EPOCH_METRICS = embedded("epoch-metrics", "[]");
// The missing-value mark and the throughput window (shared.metrics; `trainboard watch` too).
export const MEASURES = embedded("measures", "{}");
export const MISSING = MEASURES.missing;
// The record's derived metric: the best test accuracy so far (shared.metrics.BEST_ACCURACY).
export const BEST = MEASURES.best;
// Images in an epoch when a spec names no train_samples (all of MNIST's, shared.spec).
export const TRAIN_IMAGES = MEASURES.train_images;
// Event types (shared.events.EventType) and series names (web.history.series.NAMES) by name.
const VOCABULARY = embedded("vocabulary", '{"events": {}, "series": {}}');
export const EVENT = VOCABULARY.events;
export const SERIES = VOCABULARY.series;
// Every form field's bounds (shared.spec.FIELDS, shared.sweeps.SWEEP_FIELDS) and a sweep's limits.
export const FORM_RULES = embedded("form-rules", '{"fields": [], "sweep_fields": [], "max_sweep_runs": 0, "max_values": 0}');

// Buckets fetched per curve: the run view's charts, a comparison, a sweep's overlay.
export const POINTS = { run: 1500, compare: 800, sweep: 300 };
// Least time between two refetches of a compared or swept run's curves.
export const REFRESH_MS = 2000;

export const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
export const pct = (x) => (x == null ? MISSING : `${(x * 100).toFixed(2)}%`);

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// Asks before something that cannot be undone (cancelling a run or a sweep), in the
// page's own dialog: resolves true only when the user picks `yes`.
export function confirmAction(text, yes, no) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-no").textContent = no;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
}
