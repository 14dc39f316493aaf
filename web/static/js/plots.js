// Charts (uPlot from npm), drawn from the run's series plus its live tail.
//
// A run of any length opens from GET /series/<name>: at most POINTS min/max/mean
// buckets, so a five-hour run costs the same to draw as a five-minute one. Live
// progress events append raw points after the series' last x (x only moves
// forward, as on the server); once enough live points pile up the chart fetches
// the series again so memory stays bounded however long the page stays open.
import uPlot from "/vendor/uPlot.esm.js";
import { smooth } from "./downsample.js";
import { POINTS } from "./dom.js";

const LIVE_REFETCH = 3 * POINTS.run;

function size(el) {
  return { width: Math.max(el.clientWidth - 8, 280), height: 240 };
}

// Epoch axes: integer ticks only.
const epochAxis = { label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100], values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")) };
// Learning rates span decades: 1e-3 reads better than 0.001000.
export function formatLr(v) {
  if (v == null) return "";
  if (v === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(v)));
  if (exp >= -2 && exp <= 2) return String(Number(v.toPrecision(2)));
  return `${Number((v / 10 ** exp).toPrecision(2))}e${exp}`;
}

// One curve as min/max/mean buckets (or raw points, min = max = mean).
export class Curve {
  constructor() { this.clear(); }

  clear() {
    this.x = []; this.min = []; this.max = []; this.mean = [];
    this.total = 0; this.live = 0; this.seq = 0;
  }

  load(series) {
    this.x = series.x.slice(); this.min = series.min.slice();
    this.max = series.max.slice(); this.mean = series.mean.slice();
    this.total = series.total; this.live = 0;
    this.seq = series.last_seq; // live events up to here are already in the series
  }

  get lastX() { return this.x.length ? this.x[this.x.length - 1] : 0; }

  // Raw live point; a point at or before the last x replaces what came from there on.
  add(x, y) {
    if (x <= this.lastX) this.truncate(x - 1);
    this.x.push(x); this.min.push(y); this.max.push(y); this.mean.push(y);
    this.total += 1; this.live += 1;
  }

  truncate(maxX) {
    let keep = this.x.length;
    while (keep && this.x[keep - 1] > maxX) keep -= 1;
    const dropped = this.x.length - keep;
    if (!dropped) return;
    for (const a of [this.x, this.min, this.max, this.mean]) a.length = keep;
    // Raw points (live or zoomed-in) count one each; a bucket's count is unknown, so
    // the next refetch corrects the total.
    this.total = Math.max(0, this.total - dropped);
  }
}

export class LossChart {
  constructor(el, { onZoom } = {}) {
    this.el = el;
    this.onZoom = onZoom || (() => {});
    this.batch = new Curve();
    this.epochTrain = new Map(); // epoch -> loss
    this.epochTest = new Map();
    this.stepsPerEpoch = 0;
    this.weight = 0.6;
    this.zoomed = null; // [start, end] batch range while zoomed in
    this.dirty = false;
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false }, y: { distr: 3 } }, // log scale: late progress stays visible
      axes: [{ label: "batch" }, { label: "loss (log)" }],
      series: [
        { label: "batch" },
        { label: "min", stroke: "rgba(70,130,220,0.25)", width: 1, spanGaps: true, points: { show: false } },
        { label: "max", stroke: "rgba(70,130,220,0.25)", width: 1, spanGaps: true, points: { show: false } },
        { label: "batch loss (smoothed)", stroke: "#1f5fbf", width: 2, spanGaps: true, points: { show: false } },
        { label: "epoch train loss", stroke: "#e08a1e", width: 2, spanGaps: true, points: { size: 7 } },
        { label: "epoch test loss", stroke: "#c0392b", width: 2, spanGaps: true, points: { size: 7 } },
        { label: "parent run (to the fork)", stroke: "rgba(110,120,135,0.5)", width: 2, dash: [6, 4], spanGaps: true, points: { show: false } },
      ],
      bands: [{ series: [2, 1], fill: "rgba(70,130,220,0.15)" }],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width > 4) {
            const start = Math.max(1, Math.floor(u.posToVal(u.select.left, "x")));
            const end = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
            this.zoomed = [start, end];
            this.onZoom(start, end);
          }
        }],
      },
      cursor: { drag: { x: true, y: false, setScale: false } },
    }, [[], [], [], [], [], [], []], el);
    this.ancestor = null; // [x, y]: a fork's parent curve up to the fork, in this run's batches
    el.addEventListener("dblclick", () => { this.zoomed = null; this.onZoom(null, null); });
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() {
    this.batch.clear();
    this.epochTrain.clear();
    this.epochTest.clear();
    this.stepsPerEpoch = 0;
    this.zoomed = null;
    this.ancestor = null;
    this.render();
  }

  // A fork's parent: its batch-loss series up to the fork, scaled to this run's batches
  // (the batch size may differ), drawn dimmed before this run's own curve.
  setAncestor(series, untilEpoch, stepsPerEpoch) {
    const theirs = series.steps_per_epoch || 1;
    const keep = series.x.map((x, i) => [x, i]).filter(([x]) => x <= untilEpoch * theirs);
    this.ancestor = [keep.map(([x]) => (x * stepsPerEpoch) / theirs), smooth(keep.map(([, i]) => series.mean[i]), this.weight)];
    this.schedule();
  }

  // The full-range series (or, zoomed, the finer buckets of the range).
  load(series) {
    this.batch.load(series);
    this.render();
  }

  setEpochs(train, test) {
    train.x.forEach((e, i) => this.epochTrain.set(e, train.mean[i]));
    test.x.forEach((e, i) => this.epochTest.set(e, test.mean[i]));
    this.schedule();
  }

  // Live progress event: its losses end at global batch `end`.
  addLosses(seq, end, losses, stepsPerEpoch) {
    this.stepsPerEpoch = stepsPerEpoch;
    if (seq <= this.batch.seq) return;
    if (this.zoomed) { this.batch.total += losses.length; return; }
    losses.forEach((v, i) => this.batch.add(end - losses.length + 1 + i, v));
    this.schedule();
  }

  addEpoch(epoch, train, test) {
    this.epochTrain.set(epoch, train);
    this.epochTest.set(epoch, test);
    this.schedule();
  }

  // A resumed run retrains from its last epoch checkpoint: drop the interrupted partial epoch.
  truncate(epoch) {
    if (!this.stepsPerEpoch) return;
    this.batch.truncate(epoch * this.stepsPerEpoch);
    for (const m of [this.epochTrain, this.epochTest]) for (const e of [...m.keys()]) if (e > epoch) m.delete(e);
    this.schedule();
  }

  get needsRefetch() { return !this.zoomed && this.batch.live > LIVE_REFETCH; }

  setSmoothing(weight) { this.weight = weight; this.render(); }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    setTimeout(() => { this.dirty = false; this.render(); }, 200);
  }

  render() {
    const c = this.batch;
    this.el.dataset.points = String(c.total); // for tests and curious users
    // Epoch marks sit on the last batch of their epoch; uPlot.join merges their x
    // into the buckets' x (the batch curves span the inserted nulls).
    const epochs = this.stepsPerEpoch ? [...this.epochTrain.keys()].sort((a, b) => a - b) : [];
    const marks = [epochs.map((e) => e * this.stepsPerEpoch),
      epochs.map((e) => this.epochTrain.get(e)), epochs.map((e) => this.epochTest.get(e) ?? null)];
    const batch = [c.x, c.min, c.max, smooth(c.mean, this.weight)];
    this.plot.setData(joinTables([batch, marks, this.ancestor || [[], []]]));
  }
}

// uPlot.join over tables [x, ...ys] of which some may be empty: their columns are nulls.
export function joinTables(tables) {
  const full = tables.filter((t) => t[0].length);
  if (!full.length) return [[], ...tables.flatMap((t) => t.slice(1).map(() => []))];
  const joined = full.length === 1 ? full[0] : uPlot.join(full);
  const n = joined[0].length;
  const out = [joined[0]];
  let column = 1;
  for (const t of tables) {
    for (let k = 1; k < t.length; k++) out.push(t[0].length ? joined[column++] : new Array(n).fill(null));
  }
  return out;
}

export class AccuracyChart {
  constructor(el) {
    this.el = el;
    this.points = new Map();
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false } },
      axes: [epochAxis, { label: "accuracy %" }],
      series: [{ label: "epoch" }, { label: "test accuracy %", stroke: "#27ae60", width: 2, points: { size: 7 } },
        { label: "parent run (to the fork)", stroke: "rgba(110,120,135,0.5)", width: 2, dash: [6, 4], points: { size: 5 } }],
    }, [[], [], []], el);
    this.ancestor = new Map();
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() { this.points.clear(); this.ancestor.clear(); this.draw(); }

  setAncestor(series, untilEpoch) {
    this.ancestor = new Map(series.x.map((e, i) => [e, series.mean[i] * 100]).filter(([e]) => e <= untilEpoch));
    this.draw();
  }

  load(series) { series.x.forEach((e, i) => this.points.set(e, series.mean[i] * 100)); this.draw(); }

  add(epoch, accuracy) {
    for (const e of [...this.points.keys()]) if (e >= epoch) this.points.delete(e);
    this.points.set(epoch, accuracy * 100);
    this.draw();
  }

  truncate(epoch) { for (const e of [...this.points.keys()]) if (e > epoch) this.points.delete(e); this.draw(); }

  draw() {
    const epochs = [...new Set([...this.ancestor.keys(), ...this.points.keys()])].sort((a, b) => a - b);
    this.plot.setData([epochs, epochs.map((e) => this.points.get(e) ?? null), epochs.map((e) => this.ancestor.get(e) ?? null)]);
  }
}

// Images/s and learning rate over batches (two y axes).
export class RateChart {
  constructor(el) {
    this.el = el;
    this.rate = new Curve();
    this.lr = new Curve();
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false }, rate: {}, lr: {} },
      axes: [{ label: "batch" }, { scale: "rate", label: "images/s" },
        { scale: "lr", side: 1, label: "learning rate", size: 70, grid: { show: false },
          values: (u, ticks) => ticks.map(formatLr) }],
      series: [{ label: "batch" },
        { label: "images/s", scale: "rate", stroke: "#8e44ad", width: 2, points: { show: false } },
        { label: "learning rate", scale: "lr", stroke: "#16a085", width: 2, points: { show: false }, value: (u, v) => formatLr(v) }],
    }, [[], [], []], el);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() { this.rate.clear(); this.lr.clear(); this.draw(); }

  load(rate, lr) { this.rate.load(rate); this.lr.load(lr); this.draw(); }

  add(seq, x, rate, lr) {
    if (seq <= this.rate.seq) return;
    this.rate.add(x, rate);
    if (lr != null) this.lr.add(x, lr);
    if (this.rate.live % 5 === 1) this.draw();
  }

  truncate(maxX) { this.rate.truncate(maxX); this.lr.truncate(maxX); this.draw(); }

  get x() { return this.rate.x; }

  draw() {
    const joined = uPlot.join([[this.rate.x, this.rate.mean], [this.lr.x, this.lr.mean]]);
    this.plot.setData(joined);
  }
}

const PALETTE = ["#1f5fbf", "#c0392b", "#27ae60", "#8e44ad", "#e08a1e", "#16a085", "#7f8c8d", "#d35400"];

// The x axes a comparison offers: a run's batches differ with its batch size, so
// epochs (fractional) are the default; "images" is epochs × images per epoch.
export const X_AXES = {
  epochs: { label: "epoch", of: (batch, run) => batch / run.steps },
  images: { label: "images seen", of: (batch, run) => (batch / run.steps) * run.perEpoch },
  batch: { label: "batch", of: (batch) => batch },
};

// A run as a comparison draws it: its name (names already say the spec or the swept
// values), its curves, and what converts batches to epochs and images.
export function comparedRun(run, loss, accuracy, dim = false) {
  return { label: run.name, loss, accuracy, steps: loss.steps_per_epoch || 1,
    perEpoch: run.spec.train_samples ?? 60000, dim };
}

// Several runs on the same axes, each from its own series (bucket means, smoothed).
// runs: [{label, loss: series, accuracy: series, steps, perEpoch, dim}]
export class CompareChart {
  constructor(lossEl, accEl) {
    this.lossEl = lossEl; this.accEl = accEl;
    this.lossPlot = null; this.accPlot = null;
    this.weight = 0.9;
    this.axis = "epochs";
  }

  setAxis(axis) { this.axis = axis; this.key = null; }

  render(runs) {
    const axis = X_AXES[this.axis];
    const withSteps = (r) => ({ ...r, steps: r.steps || r.loss.steps_per_epoch || 1 });
    runs = runs.map(withSteps);
    const lossData = runs.length
      ? uPlot.join(runs.map((r) => [r.loss.x.map((b) => axis.of(b, r)), smooth(r.loss.mean, this.weight)]))
      : [[]];
    // Accuracy is per epoch already; on the images axis, at epoch × images per epoch.
    const accX = (r, e) => (this.axis === "images" ? e * r.perEpoch : e);
    const accData = runs.length
      ? uPlot.join(runs.map((r) => [r.accuracy.x.map((e) => accX(r, e)), r.accuracy.mean.map((v) => (v == null ? null : v * 100))]))
      : [[]];
    const series = (unit) => [{ label: unit }, ...runs.map((r, i) => ({
      label: r.label, stroke: r.dim ? "rgba(150,160,175,0.45)" : PALETTE[i % PALETTE.length], width: r.dim ? 1 : 2,
      spanGaps: true, points: { show: unit !== "loss" && !r.dim },
    }))];
    const key = [this.axis, ...runs.map((r) => `${r.label}${r.dim ? "~" : ""}`)].join("|");
    if (key !== this.key) {
      this.key = key;
      this.lossPlot?.destroy(); this.accPlot?.destroy();
      const accAxis = this.axis === "images" ? { label: "images seen" } : epochAxis;
      this.lossPlot = new uPlot({ ...size(this.lossEl), scales: { x: { time: false }, y: { distr: 3 } },
        axes: [{ label: axis.label }, { label: "smoothed loss (log)" }], series: series("loss") }, lossData, this.lossEl);
      this.lossEl.dataset.axis = this.axis;
      this.accPlot = new uPlot({ ...size(this.accEl), scales: { x: { time: false } },
        axes: [accAxis, { label: "test accuracy %" }], series: series("accuracy") }, accData, this.accEl);
    } else {
      this.lossPlot.setData(lossData);
      this.accPlot.setData(accData);
    }
  }

  clear() {
    this.lossPlot?.destroy(); this.accPlot?.destroy();
    this.lossPlot = this.accPlot = null; this.key = null;
  }
}
