// Charts (uPlot from npm), drawn from the run's series plus its live tail.
//
// A run of any length opens from GET /series/<name>: at most POINTS min/max/mean
// buckets, so a five-hour run costs the same to draw as a five-minute one. Live
// progress events append raw points after the series' last x (x only moves
// forward, as on the server); once enough live points pile up the chart fetches
// the series again so memory stays bounded however long the page stays open.
import uPlot from "/vendor/uPlot.esm.js";
import { Curve, formatDecades, joinTables } from "./curve.js";
import { smooth } from "./downsample.js";
import { POINTS } from "./dom.js";

const LIVE_REFETCH = 3 * POINTS.run;

export function size(el) {
  return { width: Math.max(el.clientWidth - 8, 280), height: 240 };
}

// A fork's parent's curve has a legend entry only when there is one to draw.
function showParentInLegend(plot, index, shown) {
  const row = plot.root.querySelectorAll(".u-legend .u-series")[index];
  if (row) row.hidden = !shown;
}

// An empty chart says what is coming rather than showing a blank box.
function placeholder(el, text) {
  const note = document.createElement("p");
  note.className = "chart-empty muted";
  note.textContent = text;
  el.append(note);
  return note;
}

export const WAITING_FOR_BATCHES = "waiting for the first batch…";
export const WAITING_FOR_EPOCHS = "waiting for the first epoch to finish…";

// Accuracy in %: never above 100, and a single point still gets a readable span.
export function accuracyRange(u, lo, hi) {
  if (lo == null || hi == null) return [0, 100];
  const pad = Math.max(1, (hi - lo) * 0.1);
  return [Math.max(0, Math.floor(lo - pad)), Math.min(100, Math.ceil(hi + pad))];
}

// Epoch axes: integer ticks only.
export const epochAxis = {
  label: "epoch",
  incrs: [1, 2, 5, 10, 20, 50, 100],
  values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : "")),
};
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
    this.plot = new uPlot(
      {
        ...size(el),
        scales: { x: { time: false }, y: { distr: 3 } }, // log scale: late progress stays visible
        axes: [{ label: "batch" }, { label: "loss (log)", values: (u, ticks) => ticks.map(formatDecades) }],
        series: [
          { label: "batch" },
          { label: "min", stroke: "rgba(70,130,220,0.25)", width: 1, spanGaps: true, points: { show: false } },
          { label: "max", stroke: "rgba(70,130,220,0.25)", width: 1, spanGaps: true, points: { show: false } },
          { label: "batch loss (smoothed)", stroke: "#1f5fbf", width: 2, spanGaps: true, points: { show: false } },
          { label: "epoch train loss", stroke: "#e08a1e", width: 2, spanGaps: true, points: { size: 7 } },
          { label: "epoch test loss", stroke: "#c0392b", width: 2, spanGaps: true, points: { size: 7 } },
          {
            label: "parent run (to the fork)",
            stroke: "rgba(110,120,135,0.5)",
            width: 2,
            dash: [6, 4],
            spanGaps: true,
            points: { show: false },
          },
        ],
        bands: [{ series: [2, 1], fill: "rgba(70,130,220,0.15)" }],
        hooks: {
          // Drag to zoom: the x axis takes the dragged range at once, then the range's
          // finer buckets (raw losses when few enough) replace the coarse ones.
          setSelect: [
            (u) => {
              if (u.select.width <= 4) return;
              const start = Math.max(1, Math.floor(u.posToVal(u.select.left, "x")));
              const end = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              if (end - start < 2) return;
              this.zoomed = [start, end];
              this.render();
              this.onZoom(start, end);
            },
          ],
        },
        cursor: { drag: { x: true, y: false, setScale: false } },
      },
      [[], [], [], [], [], [], []],
      el,
    );
    this.ancestor = null; // [x, y]: a fork's parent curve up to the fork, in this run's batches
    this.empty = placeholder(el, WAITING_FOR_BATCHES);
    el.title = "drag across to zoom in, double-click to zoom out";
    el.addEventListener("dblclick", () => {
      this.zoomed = null;
      this.onZoom(null, null);
    });
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
    this.ancestor = [
      keep.map(([x]) => (x * stepsPerEpoch) / theirs),
      smooth(
        keep.map(([, i]) => series.mean[i]),
        this.weight,
      ),
    ];
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
    if (this.zoomed) {
      this.batch.total += losses.length;
      return;
    }
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

  get needsRefetch() {
    return !this.zoomed && this.batch.live > LIVE_REFETCH;
  }

  setSmoothing(weight) {
    this.weight = weight;
    this.render();
  }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    setTimeout(() => {
      this.dirty = false;
      this.render();
    }, 200);
  }

  render() {
    const c = this.batch;
    this.el.dataset.points = String(c.total); // for tests and curious users
    // Epoch marks sit on the last batch of their epoch; uPlot.join merges their x
    // into the buckets' x (the batch curves span the inserted nulls).
    const epochs = this.stepsPerEpoch ? [...this.epochTrain.keys()].sort((a, b) => a - b) : [];
    const marks = [
      epochs.map((e) => e * this.stepsPerEpoch),
      epochs.map((e) => this.epochTrain.get(e)),
      epochs.map((e) => this.epochTest.get(e) ?? null),
    ];
    const batch = [c.x, c.min, c.max, smooth(c.mean, this.weight)];
    this.plot.setData(joinTables([batch, marks, this.ancestor || [[], []]]));
    if (this.zoomed) this.plot.setScale("x", { min: this.zoomed[0], max: this.zoomed[1] });
    this.el.dataset.zoomed = this.zoomed ? this.zoomed.join("-") : "";
    this.empty.hidden = c.x.length > 0 || Boolean(this.ancestor);
    showParentInLegend(this.plot, 6, Boolean(this.ancestor));
  }

  // What the empty chart says: coming batches, or (an ended run) that there are none.
  setWaiting(text) {
    this.empty.textContent = text;
  }
}

export class AccuracyChart {
  constructor(el) {
    this.el = el;
    this.points = new Map();
    this.plot = new uPlot(
      {
        ...size(el),
        scales: { x: { time: false }, y: { range: accuracyRange } },
        axes: [epochAxis, { label: "accuracy %" }],
        series: [
          { label: "epoch" },
          { label: "test accuracy %", stroke: "#27ae60", width: 2, points: { size: 7 } },
          { label: "parent run (to the fork)", stroke: "rgba(110,120,135,0.5)", width: 2, dash: [6, 4], points: { size: 5 } },
        ],
      },
      [[], [], []],
      el,
    );
    this.ancestor = new Map();
    this.empty = placeholder(el, WAITING_FOR_EPOCHS);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  setWaiting(text) {
    this.empty.textContent = text;
  }

  reset() {
    this.points.clear();
    this.ancestor.clear();
    this.draw();
  }

  setAncestor(series, untilEpoch) {
    this.ancestor = new Map(series.x.map((e, i) => [e, series.mean[i] * 100]).filter(([e]) => e <= untilEpoch));
    this.draw();
  }

  load(series) {
    series.x.forEach((e, i) => this.points.set(e, series.mean[i] * 100));
    this.draw();
  }

  add(epoch, accuracy) {
    for (const e of [...this.points.keys()]) if (e >= epoch) this.points.delete(e);
    this.points.set(epoch, accuracy * 100);
    this.draw();
  }

  truncate(epoch) {
    for (const e of [...this.points.keys()]) if (e > epoch) this.points.delete(e);
    this.draw();
  }

  draw() {
    const epochs = [...new Set([...this.ancestor.keys(), ...this.points.keys()])].sort((a, b) => a - b);
    this.plot.setData([epochs, epochs.map((e) => this.points.get(e) ?? null), epochs.map((e) => this.ancestor.get(e) ?? null)]);
    this.empty.hidden = epochs.length > 0;
    showParentInLegend(this.plot, 2, this.ancestor.size > 0);
  }
}

// Images/s and learning rate over batches (two y axes).
export class RateChart {
  constructor(el) {
    this.el = el;
    this.rate = new Curve();
    this.lr = new Curve();
    this.plot = new uPlot(
      {
        ...size(el),
        scales: { x: { time: false }, rate: {}, lr: {} },
        axes: [
          { label: "batch" },
          { scale: "rate", label: "images/s" },
          {
            scale: "lr",
            side: 1,
            label: "learning rate",
            size: 70,
            grid: { show: false },
            values: (u, ticks) => ticks.map(formatDecades),
          },
        ],
        series: [
          { label: "batch" },
          { label: "images/s", scale: "rate", stroke: "#8e44ad", width: 2, points: { show: false } },
          {
            label: "learning rate",
            scale: "lr",
            stroke: "#16a085",
            width: 2,
            points: { show: false },
            value: (u, v) => (v == null ? "--" : formatDecades(v)),
          },
        ],
      },
      [[], [], []],
      el,
    );
    this.empty = placeholder(el, WAITING_FOR_BATCHES);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  setWaiting(text) {
    this.empty.textContent = text;
  }

  reset() {
    this.rate.clear();
    this.lr.clear();
    this.draw();
  }

  load(rate, lr) {
    this.rate.load(rate);
    this.lr.load(lr);
    this.draw();
  }

  add(seq, x, rate, lr) {
    if (seq <= this.rate.seq) return;
    this.rate.add(x, rate);
    if (lr != null) this.lr.add(x, lr);
    if (this.rate.live % 5 === 1) this.draw();
  }

  truncate(maxX) {
    this.rate.truncate(maxX);
    this.lr.truncate(maxX);
    this.draw();
  }

  get x() {
    return this.rate.x;
  }

  draw() {
    const joined = uPlot.join([
      [this.rate.x, this.rate.mean],
      [this.lr.x, this.lr.mean],
    ]);
    this.plot.setData(joined);
    this.empty.hidden = this.rate.x.length > 0;
  }
}
