// Charts (uPlot from npm), drawn from the run's series plus its live tail.
//
// A run of any length opens from GET /series/<name>: at most POINTS min/max/mean
// buckets, so a five-hour run costs the same to draw as a five-minute one. Live
// progress events append raw points after the series' last x (x only moves
// forward, as on the server); once enough live points pile up the chart fetches
// the series again so memory stays bounded however long the page stays open.
import uPlot from "/vendor/uPlot.esm.js";
import { smooth } from "./downsample.js";

export const POINTS = 1500;
const LIVE_REFETCH = 3 * POINTS;

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
    }, [[], [], [], [], [], []], el);
    el.addEventListener("dblclick", () => { this.zoomed = null; this.onZoom(null, null); });
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() {
    this.batch.clear();
    this.epochTrain.clear();
    this.epochTest.clear();
    this.stepsPerEpoch = 0;
    this.zoomed = null;
    this.render();
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
    this.plot.setData(epochs.length && c.x.length ? uPlot.join([batch, marks]) : [...batch, [], []].map(
      (a, i) => (i < 4 ? a : new Array(c.x.length).fill(null))));
  }

  epochMarks() { return [...this.epochTrain.keys()].map((e) => e * this.stepsPerEpoch - 1); }
}

export class AccuracyChart {
  constructor(el) {
    this.el = el;
    this.points = new Map();
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false } },
      axes: [epochAxis, { label: "accuracy %" }],
      series: [{ label: "epoch" }, { label: "test accuracy %", stroke: "#27ae60", width: 2, points: { size: 7 } }],
    }, [[], []], el);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() { this.points.clear(); this.draw(); }

  load(series) { series.x.forEach((e, i) => this.points.set(e, series.mean[i] * 100)); this.draw(); }

  add(epoch, accuracy) {
    for (const e of [...this.points.keys()]) if (e >= epoch) this.points.delete(e);
    this.points.set(epoch, accuracy * 100);
    this.draw();
  }

  truncate(epoch) { for (const e of [...this.points.keys()]) if (e > epoch) this.points.delete(e); this.draw(); }

  draw() {
    const epochs = [...this.points.keys()].sort((a, b) => a - b);
    this.plot.setData([epochs, epochs.map((e) => this.points.get(e))]);
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

// Several runs on the same axes, each from its own series (bucket means, smoothed).
export class CompareChart {
  constructor(lossEl, accEl) {
    this.lossEl = lossEl; this.accEl = accEl;
    this.lossPlot = null; this.accPlot = null;
    this.weight = 0.9;
  }

  render(runs) { // runs: [{label, loss: series, accuracy: series}]
    const lossData = runs.length
      ? uPlot.join(runs.map((r) => [r.loss.x, smooth(r.loss.mean, this.weight)]))
      : [[]];
    const accData = runs.length
      ? uPlot.join(runs.map((r) => [r.accuracy.x, r.accuracy.mean.map((v) => (v == null ? null : v * 100))]))
      : [[]];
    const series = (unit) => [{ label: unit }, ...runs.map((r, i) => ({
      label: r.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
      points: { show: unit === "epoch" },
    }))];
    const key = runs.map((r) => r.label).join("|");
    if (key !== this.key) {
      this.key = key;
      this.lossPlot?.destroy(); this.accPlot?.destroy();
      this.lossPlot = new uPlot({ ...size(this.lossEl), scales: { x: { time: false }, y: { distr: 3 } },
        axes: [{ label: "batch" }, { label: "smoothed loss (log)" }], series: series("batch") }, lossData, this.lossEl);
      this.accPlot = new uPlot({ ...size(this.accEl), scales: { x: { time: false } },
        axes: [epochAxis, { label: "test accuracy %" }], series: series("epoch") }, accData, this.accEl);
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
