// What every view of the page shares, written once: DOM helpers, what the server tells
// the page (statuses, epoch metrics), number formats, a run's progress and ETA, and how
// much each view fetches and how often.
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

const embedded = (id, fallback) => JSON.parse((typeof document !== "undefined" && document.getElementById(id)?.textContent) || fallback);
// Statuses come from shared.lifecycle and epoch metrics from shared.metrics, through the
// page (see index.html): the page reads them, never spells them.
const LIFECYCLE = embedded("lifecycle", '{"statuses": [], "active": [], "waiting": []}');
export const ACTIVE = new Set(LIFECYCLE.active);
export const WAITING = new Set(LIFECYCLE.waiting);
export const EPOCH_METRICS = embedded("epoch-metrics", "[]");

// Buckets fetched per curve: the run view's charts, a comparison, a sweep's overlay.
export const POINTS = { run: 1500, compare: 800, sweep: 300 };
// Least time between two refetches of a compared or swept run's curves.
export const REFRESH_MS = 2000;

export const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(2)}%`);

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// How far a run is, in epochs done (fractional), as a fraction, and its ETA in seconds
// (null unless it is training). `live` is the latest progress {epoch, step, steps, rate};
// by default the one the run record carries (the run list's view).
export function progressOf(run, live = run.progress && {
  epoch: run.progress.epoch, step: run.progress.step, steps: run.progress.steps_per_epoch, rate: run.progress.images_per_sec,
}) {
  const total = run.spec.epochs;
  const moving = ACTIVE.has(run.status) && live && live.steps ? live : null;
  const done = run.status === "succeeded" ? total : moving ? moving.epoch - 1 + moving.step / moving.steps : run.epoch;
  const fraction = Math.min(1, Math.max(0, done / total));
  const eta = moving && moving.rate > 0 ? ((total - done) * moving.steps * run.spec.batch_size) / moving.rate : null;
  return { done, fraction, eta, live: moving };
}
