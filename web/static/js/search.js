// A search's own card in the sweep view (sweeps.js draws the rest): how it is searching,
// the best result so far against trials and against GPU time, each searched field's
// importance (Optuna's evaluator, computed by the conductor), PBT's lineage — every
// member's runs as one curve each, a branch where a bottom member forked from a top one —
// and the best settings started as a new run in one click.
import uPlot from "/vendor/uPlot.esm.js";
import * as api from "./api.js";
import { el, formatDuration, plural } from "./dom.js";

const BY_EPOCH = { test_accuracy: "accuracy_by_epoch", test_loss: "loss_by_epoch" };
const MEMBER_COLOURS = ["#1f5fbf", "#d33682", "#2aa198", "#b58900", "#6c71c4", "#cb4b16", "#859900", "#268bd2"];

// The run's objective per epoch: [[epoch, value], ...] in epoch order (accuracy in %).
export function objectiveCurve(run, objective) {
  const scale = objective === "test_accuracy" ? 100 : 1;
  return Object.entries(run[BY_EPOCH[objective]] || {})
    .filter(([, v]) => v != null)
    .map(([e, v]) => [Number(e), v * scale])
    .sort((a, b) => a[0] - b[0]);
}

// A trial's result: its best objective over the epochs it trained (null: none yet).
export function trialValue(run, objective) {
  const values = objectiveCurve(run, objective).map(([, v]) => v);
  if (!values.length) return null;
  return objective === "test_accuracy" ? Math.max(...values) : Math.min(...values);
}

// Ended trials in the order they ended, each with the best so far and the GPU time spent
// (the sum of every ended trial's training time) when it ended.
export function bestSoFar(sweep) {
  const maximise = sweep.objective === "test_accuracy";
  const ended = sweep.runs
    .filter((r) => r.finished_at && r.started_at && trialValue(r, sweep.objective) != null)
    .sort((a, b) => a.finished_at - b.finished_at);
  let best = null,
    gpu = 0;
  return ended.map((run, i) => {
    const value = trialValue(run, sweep.objective);
    best = best == null || (maximise ? value > best : value < best) ? value : best;
    gpu += run.finished_at - run.started_at;
    return { n: i + 1, gpu, value, best, run };
  });
}

export class SearchPanel {
  constructor($, { onOpenRun, onStarted }) {
    this.$ = $;
    this.onOpenRun = onOpenRun;
    this.onStarted = onStarted;
    this.plot = null;
    this.axis = "trials";
    $("search-x").addEventListener("change", (e) => {
      this.axis = e.target.value;
      if (this.sweep) this.drawBest();
    });
    $("search-best-run").addEventListener("click", () => this.startBest());
  }

  render(sweep) {
    this.sweep = sweep;
    const card = this.$("sweep-search");
    card.hidden = !sweep.proposals;
    if (card.hidden) return;
    this.drawSummary();
    this.drawBest();
    this.drawImportance();
    this.drawLineage();
  }

  drawSummary() {
    const s = this.sweep;
    const goal = s.objective === "test_accuracy" ? "test accuracy, maximised" : "test loss, minimised";
    const pruner =
      s.pruner?.type && s.pruner.type !== "none"
        ? ` · pruner ${s.pruner.type}${s.pruner.type === "median" ? "" : ` (η ${s.pruner.eta}, first rung at epoch ${s.pruner.min_epochs})`}`
        : "";
    const budget =
      s.method === "pbt"
        ? `population ${s.population}, a generation every ${plural(s.interval, "epoch")}`
        : `${s.proposals.length} of ${plural(s.trials, "trial")} proposed${s.cancelled ? " (cancelled)" : ""}`;
    const stopped = s.runs.filter((r) => r.stopped_early).length;
    this.$("search-summary").textContent =
      `${s.method} · ${budget} · ${goal}${pruner}` +
      (s.method === "pbt" ? "" : ` · at most ${s.parallelism ?? "one per live worker"} in flight`) +
      (stopped ? ` · ${stopped} stopped early` : "");
    const best = s.runs.find((r) => r.id === s.best_run_id);
    const button = this.$("search-best-run");
    button.hidden = !best;
    button.textContent = !best
      ? ""
      : s.method === "pbt"
        ? `Start a run with the best member's last settings (${best.name}; a fresh run, not its PBT schedule)`
        : `Start a run with the best settings (${best.name})`;
  }

  drawBest() {
    const s = this.sweep;
    const points = bestSoFar(s);
    const holder = this.$("search-best");
    this.plot?.destroy();
    this.plot = null;
    holder.replaceChildren();
    if (!points.length) {
      holder.append(el("p", { class: "muted" }, "No trial has ended yet."));
      return;
    }
    const x = points.map((p) => (this.axis === "gpu" ? p.gpu / 60 : p.n));
    const unit = s.objective === "test_accuracy" ? "test accuracy %" : "test loss";
    const pruned = points.map((p) => (p.run.stopped_early ? p.value : null));
    const kept = points.map((p) => (p.run.stopped_early ? null : p.value));
    this.plot = new uPlot(
      {
        width: Math.max(280, holder.clientWidth || 600),
        height: 220,
        legend: { show: false }, // the note below says it
        scales: { x: { time: false } },
        axes: [
          this.axis === "gpu"
            ? { label: "GPU time, minutes (ended runs)" }
            : { label: s.method === "pbt" ? "runs ended" : "trials ended", incrs: [1, 2, 5, 10, 20, 50, 100] },
          { label: unit },
        ],
        series: [
          { label: this.axis === "gpu" ? "min" : "trial" },
          {
            label: "best so far",
            stroke: "#e0a800",
            width: 2,
            paths: uPlot.paths.stepped({ align: 1 }),
            points: { show: false },
          },
          { label: "trial", stroke: "#1f5fbf", width: 0, points: { size: 7, fill: "#1f5fbf" } },
          { label: "stopped early", stroke: "#c0392b", width: 0, points: { size: 7, fill: "#fff", stroke: "#c0392b" } },
        ],
      },
      [x, points.map((p) => p.best), kept, pruned],
      holder,
    );
    const last = points[points.length - 1];
    this.$("search-best-note").textContent =
      `Line: the best so far; dots: each trial's best (hollow red: stopped early). ` +
      `Best ${last.best.toFixed(s.objective === "test_accuracy" ? 2 : 4)}` +
      `${s.objective === "test_accuracy" ? "%" : ""} after ${plural(last.n, "ended trial")} and ${formatDuration(last.gpu)} of training.`;
  }

  drawImportance() {
    const shares = this.sweep.importance;
    const holder = this.$("search-importance");
    if (!shares || !Object.keys(shares).length) {
      holder.replaceChildren(
        el(
          "p",
          { class: "muted" },
          this.sweep.method === "pbt"
            ? "Importance is not estimated for pbt (its settings change along each member)."
            : "Importance comes once four trials have run to their last epoch (runs stopped early do not count) and the space has two fields or more.",
        ),
      );
      return;
    }
    holder.replaceChildren(
      ...Object.entries(shares)
        .sort((a, b) => b[1] - a[1])
        .map(([name, share]) =>
          el(
            "div",
            { class: "bar-row", "data-field": name },
            el("span", { class: "bar-label" }, name),
            el("span", { class: "bar" }, el("span", { class: "bar-fill", style: `width: ${(share * 100).toFixed(1)}%` })),
            el("span", { class: "bar-value" }, `${(share * 100).toFixed(0)}%`),
          ),
        ),
    );
  }

  // PBT: every run a curve (objective against epoch), starting where it forked; a branch
  // (dashed) where a bottom member took a top member's state.
  drawLineage() {
    const s = this.sweep;
    const holder = this.$("search-lineage");
    holder.hidden = s.method !== "pbt";
    if (holder.hidden) return;
    const byId = new Map(s.runs.map((r) => [r.id, r]));
    const proposals = new Map(s.proposals.map((p) => [p.run_id, p]));
    const epochs = Number(s.base?.epochs ?? 10);
    const curves = s.runs
      .map((run) => ({ run, points: objectiveCurve(run, s.objective), proposal: proposals.get(run.id) }))
      .filter((c) => c.proposal);
    const values = curves.flatMap((c) => c.points.map(([, v]) => v));
    const svg = el("svg", {});
    holder.replaceChildren(el("h4", {}, "Population: each member's runs, and where one forked from another"), svg);
    if (!values.length) return;
    const w = Math.max(300, holder.clientWidth || 600),
      h = 240,
      pad = 40;
    const lo = Math.min(...values),
      hi = Math.max(...values);
    // From epoch 1 (the first any run reports) to the last.
    const X = (e) => pad + (w - 2 * pad) * ((e - 1) / Math.max(1, epochs - 1));
    const Y = (v) => h - pad - (h - 2 * pad) * ((v - lo) / (hi - lo || 1));
    const ns = "http://www.w3.org/2000/svg";
    const make = (tag, attrs) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      return n;
    };
    const root = make("svg", { width: w, height: h, role: "img", "aria-label": "PBT lineage" });
    for (let e = 1; e <= epochs; e += 1) {
      root.append(make("line", { x1: X(e), x2: X(e), y1: pad / 2, y2: h - pad, stroke: "#eee" }));
      const t = make("text", { x: X(e), y: h - pad + 14, "text-anchor": "middle", "font-size": 11 });
      t.textContent = e;
      root.append(t);
    }
    for (const v of [lo, hi]) {
      const t = make("text", { x: pad - 4, y: Y(v) + (v === lo ? -2 : 8), "text-anchor": "end", "font-size": 11 });
      t.textContent = s.objective === "test_accuracy" ? `${v.toFixed(1)}%` : v.toFixed(3);
      root.append(t);
    }
    const title = (text, attrs) => {
      const t = make("text", { "font-size": 11, fill: "#555", ...attrs });
      t.textContent = text;
      root.append(t);
    };
    title("epoch", { x: w / 2, y: h - 6, "text-anchor": "middle" });
    title(s.objective === "test_accuracy" ? "test accuracy" : "test loss", { x: 4, y: 12 });
    for (const { run, points, proposal } of curves) {
      const colour = MEMBER_COLOURS[proposal.member % MEMBER_COLOURS.length];
      const parent = run.parent_run_id ? byId.get(run.parent_run_id) : null;
      const start = parent ? objectiveCurve(parent, s.objective).find(([e]) => e === run.forked_from_epoch) : null;
      const line = [...(start ? [start] : []), ...points];
      if (!line.length) continue;
      if (start && proposal.exploit) {
        root.append(make("circle", { cx: X(start[0]), cy: Y(start[1]), r: 4, fill: "none", stroke: colour }));
      }
      const path = make("polyline", {
        points: line.map(([e, v]) => `${X(e)},${Y(v)}`).join(" "),
        fill: "none",
        stroke: colour,
        "stroke-width": 2,
        "stroke-dasharray": proposal.exploit ? "5 3" : "",
        class: "lineage-run",
        "data-run-id": run.id,
        "data-member": proposal.member,
      });
      const title = make("title", {});
      title.textContent = `${run.name}${proposal.exploit ? ` (forked from ${parent?.name ?? "a top member"})` : ""}`;
      path.append(title);
      path.addEventListener("click", () => this.onOpenRun(run));
      root.append(path);
      for (const [e, v] of points) root.append(make("circle", { cx: X(e), cy: Y(v), r: 3, fill: colour }));
    }
    svg.replaceWith(root);
    holder.append(
      el(
        "p",
        { class: "muted" },
        "Dashed: a run that took a better member's state at a generation's end (exploit) with nudged settings (explore); a circle marks where.",
      ),
      el(
        "div",
        { class: "lineage-key" },
        ...[...new Set(s.proposals.map((p) => p.member))].map((m) =>
          el("span", { style: `color: ${MEMBER_COLOURS[m % MEMBER_COLOURS.length]}` }, `━ member ${m}`),
        ),
      ),
    );
  }

  async startBest() {
    const s = this.sweep;
    const best = s.runs.find((r) => r.id === s.best_run_id);
    if (!best) return;
    const spec = { ...best.spec };
    delete spec.name;
    delete spec.notify_url; // write-only: answered masked
    try {
      const run = await api.submitRun({ ...spec, name: `best of ${s.name}`.slice(0, 100) });
      this.onStarted(run);
    } catch (err) {
      this.$("search-best-note").textContent = `Could not start it: ${err.message}`;
    }
  }
}
