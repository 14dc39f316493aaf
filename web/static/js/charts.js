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
