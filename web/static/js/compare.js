// Overlay of several runs, each drawn from its own series (the same curves the run
// view opens from). Active runs are fetched again when the server says they moved
// (run_update), at most every REFRESH_MS, so any number of long runs stays cheap.
import * as api from "./api.js";
import { POINTS, REFRESH_MS } from "./dom.js";
import { CompareChart, comparedRun } from "./plots.js";

export class CompareView {
  constructor(card, lossEl, accEl, axisSelect) {
    this.card = card;
    this.chart = new CompareChart(lossEl, accEl);
    axisSelect.addEventListener("change", () => { this.chart.setAxis(axisSelect.value); this.draw(); });
    this.runs = new Map(); // id -> {run, loss, accuracy, fetchedAt}
    this.pending = false;
  }

  has(id) { return this.runs.has(id); }

  toggle(run) {
    if (this.runs.has(run.id)) {
      this.runs.delete(run.id);
    } else {
      this.runs.set(run.id, { run, loss: null, accuracy: null, fetchedAt: 0 });
      this.fetch(run.id);
    }
    this.card.hidden = this.runs.size === 0;
    if (this.runs.size === 0) this.chart.clear(); else this.draw();
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
        api.series(id, "batch_loss", { points: POINTS.compare }), api.series(id, "test_accuracy")]);
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
