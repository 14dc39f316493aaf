// Loss and accuracy charts (uPlot from npm). The loss chart holds every batch
// loss of the run and draws a min/max-downsampled view of the visible range.
import uPlot from "/vendor/uPlot.esm.js";
import { minMaxIndices, smooth } from "./downsample.js";

const BUCKETS = 1500;

function size(el) {
  return { width: Math.max(el.clientWidth - 8, 280), height: 240 };
}

export class LossChart {
  constructor(el) {
    this.el = el;
    this.losses = [];
    this.epochEnds = new Map(); // batch index -> {train, test}
    this.weight = 0.6;
    this.view = null; // [lo, hi) zoomed batch range, null = all
    this.dirty = false;
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false }, y: { distr: 3 } }, // log scale: late progress stays visible
      axes: [{ label: "batch" }, { label: "loss (log)" }],
      series: [
        { label: "batch" },
        { label: "batch loss", stroke: "rgba(70,130,220,0.35)", width: 1, points: { show: false } },
        { label: "smoothed", stroke: "#1f5fbf", width: 2, points: { show: false } },
        { label: "epoch train loss", stroke: "#e08a1e", width: 2, spanGaps: true, points: { size: 7 } },
        { label: "epoch test loss", stroke: "#c0392b", width: 2, spanGaps: true, points: { size: 7 } },
      ],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width > 4) {
            const lo = Math.floor(u.posToVal(u.select.left, "x"));
            const hi = Math.ceil(u.posToVal(u.select.left + u.select.width, "x")) + 1;
            this.view = [Math.max(lo, 0), hi];
            this.render();
          }
        }],
      },
      cursor: { drag: { x: true, y: false, setScale: false } },
    }, [[], [], [], [], []], el);
    el.addEventListener("dblclick", () => { this.view = null; this.render(); });
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() {
    this.losses = [];
    this.epochEnds.clear();
    this.view = null;
    this.render();
  }

  addLosses(values) {
    for (const v of values) this.losses.push(v);
    this.schedule();
  }

  // A resumed run retrains from its last epoch checkpoint: drop the losses of the
  // interrupted partial epoch so the curve shows the run's actual history.
  truncate(count) {
    if (count >= this.losses.length) return;
    this.losses.length = count;
    for (const i of [...this.epochEnds.keys()]) if (i >= count) this.epochEnds.delete(i);
    this.schedule();
  }

  addEpoch(train, test) {
    this.epochEnds.set(this.losses.length - 1, { train, test });
    this.schedule();
  }

  setSmoothing(weight) {
    this.weight = weight;
    this.render();
  }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    setTimeout(() => { this.dirty = false; this.render(); }, 200);
  }

  render() {
    this.el.dataset.points = String(this.losses.length); // for tests and curious users
    const [lo, hi] = this.view || [0, this.losses.length];
    const ends = [...this.epochEnds.keys()];
    const idx = minMaxIndices(this.losses, lo, hi, BUCKETS, ends);
    const smoothed = smooth(this.losses, this.weight);
    const ep = (i, key) => (this.epochEnds.has(i) ? this.epochEnds.get(i)[key] : null);
    this.plot.setData([
      idx.map((i) => i + 1),
      idx.map((i) => this.losses[i]),
      idx.map((i) => smoothed[i]),
      idx.map((i) => ep(i, "train")),
      idx.map((i) => ep(i, "test")),
    ]);
  }

  get pointCount() { return this.losses.length; }
}

export class AccuracyChart {
  constructor(el) {
    this.el = el;
    this.points = [];
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false } },
      axes: [{ label: "epoch" }, { label: "accuracy %" }],
      series: [{ label: "epoch" }, { label: "test accuracy %", stroke: "#27ae60", width: 2, points: { size: 7 } }],
    }, [[], []], el);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() { this.points = []; this.plot.setData([[], []]); }

  add(epoch, accuracy) {
    this.points.push([epoch, accuracy * 100]);
    this.plot.setData([this.points.map((p) => p[0]), this.points.map((p) => p[1])]);
  }
}

// Images/s and learning rate over batches (two y axes), from progress events.
export class RateChart {
  constructor(el) {
    this.el = el;
    this.x = []; this.rate = []; this.lr = [];
    this.plot = new uPlot({
      ...size(el),
      scales: { x: { time: false }, rate: {}, lr: {} },
      axes: [{ label: "batch" }, { scale: "rate", label: "images/s" },
             { scale: "lr", side: 1, label: "learning rate", grid: { show: false } }],
      series: [{ label: "batch" },
        { label: "images/s", scale: "rate", stroke: "#8e44ad", width: 2, points: { show: false } },
        { label: "learning rate", scale: "lr", stroke: "#16a085", width: 2, points: { show: false } }],
    }, [[], [], []], el);
    new ResizeObserver(() => this.plot.setSize(size(el))).observe(el);
  }

  reset() { this.x = []; this.rate = []; this.lr = []; this.plot.setData([[], [], []]); }

  add(batch, rate, lr) {
    this.x.push(batch); this.rate.push(rate); this.lr.push(lr ?? null);
    if (this.x.length % 5 === 1) this.plot.setData([this.x, this.rate, this.lr]);
  }

  flush() { this.plot.setData([this.x, this.rate, this.lr]); }

  truncate(count) { // see LossChart.truncate
    const keep = this.x.findIndex((x) => x > count);
    if (keep < 0) return;
    this.x.length = this.rate.length = this.lr.length = keep;
    this.flush();
  }
}

const PALETTE = ["#1f5fbf", "#c0392b", "#27ae60", "#8e44ad", "#e08a1e", "#16a085", "#7f8c8d", "#d35400"];

// Several runs on the same axes: smoothed batch loss, sampled on a shared grid of
// at most GRID points so any number of long runs stays cheap to draw.
export class CompareChart {
  constructor(lossEl, accEl) {
    this.lossEl = lossEl; this.accEl = accEl;
    this.lossPlot = null; this.accPlot = null;
    this.weight = 0.9;
  }

  render(runs) { // runs: [{label, losses: [], epochs: [{epoch, test_accuracy}]}]
    const GRID = 800;
    const longest = Math.max(1, ...runs.map((r) => r.losses.length));
    const step = Math.max(1, Math.ceil(longest / GRID));
    const xs = [];
    for (let i = 0; i < longest; i += step) xs.push(i + 1);
    const lossData = [xs, ...runs.map((r) => {
      const s = smooth(r.losses, this.weight);
      return xs.map((x) => (x - 1 < s.length ? s[x - 1] : null));
    })];
    const maxEpoch = Math.max(1, ...runs.map((r) => r.epochs.length));
    const ex = Array.from({ length: maxEpoch }, (_, i) => i + 1);
    const accData = [ex, ...runs.map((r) => ex.map((e) => {
      const hit = r.epochs.find((p) => p.epoch === e);
      return hit ? hit.test_accuracy * 100 : null;
    }))];
    const series = (unit) => [{ label: unit }, ...runs.map((r, i) => ({
      label: r.label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: unit === "epoch" },
    }))];
    const key = runs.map((r) => r.label).join("|");
    if (key !== this.key) {
      this.key = key;
      this.lossPlot?.destroy(); this.accPlot?.destroy();
      this.lossPlot = new uPlot({ ...size(this.lossEl), scales: { x: { time: false }, y: { distr: 3 } },
        axes: [{ label: "batch" }, { label: "smoothed loss (log)" }], series: series("batch") }, lossData, this.lossEl);
      this.accPlot = new uPlot({ ...size(this.accEl), scales: { x: { time: false } },
        axes: [{ label: "epoch" }, { label: "test accuracy %" }], series: series("epoch") }, accData, this.accEl);
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
