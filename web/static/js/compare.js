// Overlay of several runs, each drawn from its own series (the same curves the run
// view opens from). Active runs are fetched again when the server says they moved
// (run_update), at most every REFRESH_MS, so any number of long runs stays cheap.
import uPlot from "/vendor/uPlot.esm.js";
import * as api from "./api.js";
import { POINTS, REFRESH_MS, SERIES, TRAIN_IMAGES } from "./dom.js";
import { smooth } from "./downsample.js";
import { accuracyRange, epochAxis, size } from "./plots.js";

export class CompareView {
  constructor(card, lossEl, accEl, axisSelect) {
    this.card = card;
    this.chart = new CompareChart(lossEl, accEl);
    axisSelect.addEventListener("change", () => {
      this.chart.setAxis(axisSelect.value);
      this.draw();
    });
    this.runs = new Map(); // id -> {run, loss, accuracy, fetchedAt}
    this.pending = false;
  }

  has(id) {
    return this.runs.has(id);
  }

  toggle(run) {
    if (this.runs.has(run.id)) {
      this.runs.delete(run.id);
    } else {
      this.runs.set(run.id, { run, loss: null, accuracy: null, fetchedAt: 0 });
      this.fetch(run.id);
    }
    this.card.hidden = this.runs.size === 0;
    if (this.runs.size === 0) this.chart.clear();
    else this.draw();
  }

  // A run changed (status, epoch, progress): refresh its curves if it is compared.
  changed(run) {
    const entry = this.runs.get(run.id);
    if (!entry) return;
    entry.run = { ...entry.run, ...run };
    if (Date.now() - entry.fetchedAt >= REFRESH_MS) this.fetch(run.id);
  }

  async fetch(id) {
    const entry = this.runs.get(id);
    entry.fetchedAt = Date.now();
    try {
      const [loss, accuracy] = await Promise.all([
        api.series(id, SERIES.BATCH_LOSS, { points: POINTS.compare }),
        api.series(id, SERIES.TEST_ACCURACY),
      ]);
      if (this.runs.get(id) !== entry) return; // untoggled meanwhile
      Object.assign(entry, { loss, accuracy });
      this.draw();
    } catch (err) {
      console.warn("could not load series for comparison", err);
    }
  }

  draw() {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      const ready = [...this.runs.values()].filter((e) => e.loss && e.accuracy);
      this.chart.render(ready.map((e) => comparedRun(e.run, e.loss, e.accuracy)));
    }, 100);
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
  return {
    label: run.name,
    loss,
    accuracy,
    steps: loss.steps_per_epoch || 1,
    perEpoch: run.spec.train_samples ?? TRAIN_IMAGES,
    dim,
  };
}

// Several runs on the same axes, each from its own series (bucket means, smoothed).
// runs: [{label, loss: series, accuracy: series, steps, perEpoch, dim}]
export class CompareChart {
  constructor(lossEl, accEl) {
    this.lossEl = lossEl;
    this.accEl = accEl;
    this.lossPlot = null;
    this.accPlot = null;
    this.weight = 0.9;
    this.axis = "epochs";
  }

  setAxis(axis) {
    this.axis = axis;
    this.key = null;
  }

  render(runs) {
    const axis = X_AXES[this.axis];
    const withSteps = (r) => ({ ...r, steps: r.steps || r.loss.steps_per_epoch || 1 });
    runs = runs.map(withSteps);
    const lossData = runs.length
      ? uPlot.join(runs.map((r) => [r.loss.x.map((b) => axis.of(b, r)), smooth(r.loss.mean, this.weight)]))
      : [[]];
    // Accuracy is per epoch already; on the images axis, at epoch × images per epoch.
    // Accuracy is per epoch: on the loss chart's x axis, at the end of its epoch.
    const accX = (r, e) => axis.of(e * r.steps, r);
    const accData = runs.length
      ? uPlot.join(
          runs.map((r) => [r.accuracy.x.map((e) => accX(r, e)), r.accuracy.mean.map((v) => (v == null ? null : v * 100))]),
        )
      : [[]];
    const series = (unit) => [
      { label: unit },
      ...runs.map((r, i) => ({
        label: r.label,
        stroke: r.dim ? "rgba(150,160,175,0.45)" : PALETTE[i % PALETTE.length],
        width: r.dim ? 1 : 2,
        spanGaps: true,
        points: { show: unit !== "loss" && !r.dim },
      })),
    ];
    const key = [this.axis, ...runs.map((r) => `${r.label}${r.dim ? "~" : ""}`)].join("|");
    if (key !== this.key) {
      this.key = key;
      this.lossPlot?.destroy();
      this.accPlot?.destroy();
      const accAxis = this.axis === "epochs" ? epochAxis : { label: axis.label };
      this.lossPlot = new uPlot(
        {
          ...size(this.lossEl),
          scales: { x: { time: false }, y: { distr: 3 } },
          axes: [{ label: axis.label }, { label: "smoothed loss (log)" }],
          series: series("loss"),
        },
        lossData,
        this.lossEl,
      );
      this.lossEl.dataset.axis = this.axis;
      this.accPlot = new uPlot(
        {
          ...size(this.accEl),
          scales: { x: { time: false }, y: { range: accuracyRange } },
          axes: [accAxis, { label: "test accuracy %" }],
          series: series("accuracy"),
        },
        accData,
        this.accEl,
      );
    } else {
      this.lossPlot.setData(lossData);
      this.accPlot.setData(accData);
    }
  }

  clear() {
    this.lossPlot?.destroy();
    this.accPlot?.destroy();
    this.lossPlot = this.accPlot = null;
    this.key = null;
  }
}
