// The selected run: opened from its series (any length costs the same), then followed
// live. This class opens, follows and hands each event to its panels: the header
// (runheader.js), the charts (runcurves.js), samples (samples.js), the confusion matrix,
// files and exports (runfiles.js), draw-a-digit (draw.js), inside the model (inspect.js)
// and forking (fork.js).
import * as api from "./api.js";
import { $, ACTIVE, EVENT, POINTS, SERIES } from "./dom.js";
import { DigitPanel } from "./draw.js";
import { ForkDialog, fillForm } from "./fork.js";
import { InsidePanel } from "./inspect.js";
import { RunCharts } from "./runcurves.js";
import { RunFiles, exportMetrics } from "./runfiles.js";
import { RunHeader } from "./runheader.js";
import { cancelRun } from "./runlist.js";
import { nextState, openState } from "./runstate.js";
import { observe } from "./throughput.js";
import { SamplesView } from "./samples.js";
import { renderConfusion } from "./views.js";

// The series a run view opens from; `detail` is the per-epoch detail (GET /epochs).
const CURVES = Object.values(SERIES);
// Live progress events kept for re-applying after the loss series is fetched again.
const TAIL_KEPT = 300;

export class RunView {
  constructor({ follower, list, onOpenRun }) {
    this.follower = follower;
    this.list = list;
    this.onOpenRun = onOpenRun; // select another run (a fork's parent or child)
    this.id = null;
    this.current = null; // the open run's per-epoch detail and live tail
    this.state = null; // what its header says (runstate.js)
    this.opening = 0;
    this.header = new RunHeader({ list, onOpenRun });
    this.header.redraw = () => this.drawHeader();
    this.charts = new RunCharts({ tail: () => this.current?.recent ?? [] });
    this.samples = new SamplesView();
    this.files = new RunFiles();
    this.inside = new InsidePanel({
      standing: () => ({ ended: !ACTIVE.has(this.run()?.status), trained: this.state?.batches > 0 }),
    });
    this.digit = new DigitPanel(() => this.run());
    this.fork = new ForkDialog({
      onForked: (parent, child) => {
        this.list.put(child);
        this.list.put({ id: parent.id, children: [...(parent.children || []), child.id] });
        this.onOpenRun(child.id);
      },
    });
    this.bind();
  }

  bind() {
    $("cancel-run").addEventListener("click", () => this.run() && cancelRun(this.run()));
    $("clone-run").addEventListener("click", () => this.cloneIntoForm());
    const epochs = () => [...this.current.epochs.keys()].sort((a, b) => a - b).map((e) => this.current.epochs.get(e));
    $("export-csv").addEventListener("click", () => this.run() && exportMetrics(this.run(), epochs(), "csv"));
    $("export-json").addEventListener("click", () => this.run() && exportMetrics(this.run(), epochs(), "json"));
    $("smoothing").addEventListener("input", (e) => this.charts.loss.setSmoothing(Number(e.target.value)));
    $("fork-run").addEventListener("click", () => {
      const run = this.run();
      this.fork.open(run, this.files.forkEpochs.length ? this.files.forkEpochs : [run.epoch]);
    });
  }

  run() {
    return this.list.get(this.id);
  }

  open(id) {
    this.id = id;
    this.digit.open();
    this.files.refresh(id);
    this.inside.open(id);
    return this.load(id);
  }

  close() {
    this.id = null;
    this.inside.close();
    this.follower.stop();
  }

  // Open from the series, then follow the live tail from the series' last_seq. Also
  // called when the follower falls too far behind.
  async load(id) {
    const ticket = ++this.opening;
    this.follower.stop();
    // Per-epoch detail and the live tail of this run only; the header's state is made anew.
    this.current = { epochs: new Map(), recent: [] };
    this.state = openState(id);
    this.charts.reset(id);
    $("confusion").replaceChildren();
    this.samples.open(id);
    $("run-message").textContent = "";
    this.drawHeader();
    let curves, detail;
    try {
      [curves, detail] = await Promise.all([
        Promise.all(CURVES.map((name) => api.series(id, name, name === SERIES.BATCH_LOSS ? { points: POINTS.run } : {}))).then(
          (loaded) => Object.fromEntries(CURVES.map((name, i) => [name, loaded[i]])),
        ),
        api.epochs(id),
      ]);
    } catch (err) {
      if (ticket === this.opening) $("run-message").textContent = `could not load the run's history: ${err.message}`;
      return;
    }
    if (ticket !== this.opening) return; // another run was picked meanwhile
    this.charts.load(curves);
    // Per-epoch detail in bulk: the tables and sample images are drawn for the last epoch only.
    detail.epochs.forEach((e) => this.current.epochs.set(e.epoch, e));
    if (detail.epochs.length) this.showEpoch(detail.epochs[detail.epochs.length - 1]);
    this.samples.load(detail.samples);
    // Where the run stands: its last batch. A bucket's x is its first batch, so count on
    // from the first x (a run's batches are contiguous from its start, or from a fork's).
    const loss = curves[SERIES.BATCH_LOSS];
    const last = loss.x.length ? Math.max(loss.x[loss.x.length - 1], loss.x[0] + loss.total - 1) : 0;
    this.state = openState(id, {
      batches: last,
      steps: loss.steps_per_epoch || 0,
      lastEpoch: detail.epochs[detail.epochs.length - 1] ?? null,
      loaded: true,
    });
    if (loss.total) this.inside.showModel();
    this.drawHeader();
    const run = this.run();
    if (run?.parent_run_id) this.charts.drawAncestor(run, loss.steps_per_epoch, () => ticket === this.opening);
    this.follower.follow(id, Math.min(...Object.values(curves).map((s) => s.last_seq), detail.last_seq));
  }

  drawHeader() {
    const run = this.run();
    if (!run || !this.state || this.state.runId !== run.id) return;
    const h = this.header.draw(run, this.state, { forkable: this.current.epochs.size > 0 });
    const ended = !ACTIVE.has(h.status);
    this.charts.setWaiting(ended);
    if (ended && this.state.loaded && !this.state.batches) this.inside.showNeverTrained();
  }

  showEpoch(event) {
    this.current.epochs.set(event.epoch, event);
    this.charts.addEpoch(event);
    renderConfusion($("confusion"), event.confusion);
  }

  // One event of the followed run (RunFollower hands them over in seq order).
  apply(event) {
    if (event.run_id !== this.id) return;
    const cur = this.current;
    this.state = nextState(this.state, event);
    switch (event.type) {
      case EVENT.STATUS:
        if (event.resumed_from_epoch != null) this.charts.truncate(event.resumed_from_epoch);
        if (this.run()) {
          this.list.put({ id: event.run_id, status: event.status });
          this.list.draw();
        }
        if (!ACTIVE.has(event.status)) {
          this.files.refresh(this.id);
          this.inside.refresh();
        }
        break;
      case EVENT.PROGRESS:
        observe(event.run_id, event.ts, this.state.batches, event.images_per_sec, { fromEvents: true });
        // The list's row of this run moves with the header (one ETA, one position).
        this.list.put({
          id: event.run_id,
          progress: {
            epoch: event.epoch,
            step: event.step,
            steps_per_epoch: event.steps_per_epoch,
            images_per_sec: event.images_per_sec,
          },
        });
        this.list.drawSoon();
        cur.recent.push(event);
        if (cur.recent.length > TAIL_KEPT) cur.recent.splice(0, 100);
        this.charts.addLive(event);
        this.inside.showModel();
        break;
      case EVENT.EPOCH:
        this.showEpoch(event);
        break;
      case EVENT.SAMPLES:
        this.samples.add(event);
        break;
      case EVENT.CHECKPOINT:
        this.files.refresh(this.id);
        this.inside.refresh();
        break;
    }
    this.drawHeader();
  }

  cloneIntoForm() {
    const run = this.run();
    fillForm($("run-form"), run.spec);
    $("run-form").elements.name.value = `${run.name} (copy)`;
    $("run-form").elements.name.focus();
  }
}
