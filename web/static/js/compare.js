// Overlay of several runs: each followed live over the shared socket.
import { RunFollower } from "./follower.js";
import { CompareChart } from "./plots.js";

export class CompareView {
  constructor(socket, card, lossEl, accEl, legendName) {
    this.socket = socket;
    this.card = card;
    this.chart = new CompareChart(lossEl, accEl);
    this.legendName = legendName;
    this.runs = new Map(); // id -> {follower, losses, epochs}
    this.pending = false;
  }

  has(id) { return this.runs.has(id); }

  toggle(run) {
    if (this.runs.has(run.id)) {
      this.runs.get(run.id).follower.stop();
      this.runs.delete(run.id);
    } else {
      const entry = { run, losses: [], epochs: [] };
      entry.follower = new RunFollower(this.socket, (e) => this.apply(entry, e));
      this.runs.set(run.id, entry);
      entry.follower.follow(run.id);
    }
    this.card.hidden = this.runs.size === 0;
    if (this.runs.size === 0) this.chart.clear(); else this.draw();
  }

  apply(entry, event) {
    if (event.type === "progress") {
      entry.steps = event.steps_per_epoch;
      entry.losses.push(...event.losses);
    }
    if (event.type === "status" && event.resumed_from_epoch != null && entry.steps) {
      entry.losses.length = Math.min(entry.losses.length, event.resumed_from_epoch * entry.steps);
    }
    if (event.type === "epoch") entry.epochs.push(event);
    this.draw();
  }

  draw() {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.chart.render([...this.runs.values()].map((e) => ({
        label: this.legendName(e.run), losses: e.losses, epochs: e.epochs,
      })));
    }, 250);
  }
}
