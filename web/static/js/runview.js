// The selected run: opened from its series (any length costs the same), then followed
// live; its charts, samples, confusion matrix, files, exports, draw-a-digit, what is
// inside its model (inspect.js), and forking it.
import * as api from "./api.js";
import { $, el, ACTIVE, EVENT, MISSING, POINTS, SERIES, STATUS } from "./dom.js";
import { DigitPanel } from "./draw.js";
import { ForkDialog, fillForm } from "./fork.js";
import { FiltersView, LayersView, renderModelSummary } from "./inspect.js";
import { LossChart, AccuracyChart, RateChart, WAITING_FOR_BATCHES, WAITING_FOR_EPOCHS } from "./plots.js";
import { exportMetrics } from "./runfiles.js";
import { cancelRun } from "./runlist.js";
import { headline, nextState, openState, specLine } from "./runstate.js";
import { observe } from "./throughput.js";
import { SamplesView } from "./samples.js";
import { renderConfusion } from "./views.js";

// The series a run view opens from; `detail` is the per-epoch detail (GET /epochs).
const CURVES = Object.values(SERIES);
// Least time between two asks for a model summary that was not there.
const MODEL_RETRY_MS = 5000;

export class RunView {
  constructor({ follower, list, onOpenRun }) {
    this.follower = follower;
    this.list = list;
    this.onOpenRun = onOpenRun; // select another run (a fork's parent or child)
    this.id = null;
    this.current = null; // the open run's per-epoch detail and live tail
    this.state = null; // what its header says (runstate.js)
    this.names = new Map(); // run id -> name, for runs not in the list
    this.opening = 0;
    this.refetching = false;
    this.samples = new SamplesView();
    this.lossChart = new LossChart($("loss-chart"), { onZoom: (a, b) => this.zoomLoss(a, b) });
    this.accChart = new AccuracyChart($("acc-chart"));
    this.rateChart = new RateChart($("rate-chart"));
    this.layers = new LayersView($("layers"), $("layers-kind"));
    this.filters = new FiltersView($("filters"), $("filters-slider"), $("filters-epoch"), {
      readout: $("filters-readout"),
      scaleMin: $("filters-min"),
      scaleMax: $("filters-max"),
    });
    this.digit = new DigitPanel(() => this.run());
    this.forkEpochs = [];
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
    $("smoothing").addEventListener("input", (e) => this.lossChart.setSmoothing(Number(e.target.value)));
    $("fork-run").addEventListener("click", () => {
      const run = this.run();
      this.fork.open(run, this.forkEpochs.length ? this.forkEpochs : [run.epoch]);
    });
  }

  run() {
    return this.list.get(this.id);
  }

  open(id) {
    this.id = id;
    this.digit.open();
    this.refreshArtifacts();
    this.layers.open(id);
    this.filters.open(id);
    this.modelShown = false;
    this.modelRetryAt = 0;
    renderModelSummary($("model-summary"), null);
    return this.load(id);
  }

  close() {
    this.id = null;
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
    this.lossChart.reset();
    this.accChart.reset();
    this.rateChart.reset();
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
    this.lossChart.stepsPerEpoch = curves[SERIES.BATCH_LOSS].steps_per_epoch || 0;
    this.lossChart.load(curves[SERIES.BATCH_LOSS]);
    this.lossChart.setEpochs(curves[SERIES.TRAIN_LOSS], curves[SERIES.TEST_LOSS]);
    this.accChart.load(curves[SERIES.TEST_ACCURACY]);
    this.rateChart.load(curves[SERIES.IMAGES_PER_SEC], curves[SERIES.LR]);
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
    });
    if (loss.total) this.showModel();
    this.drawHeader();
    this.drawAncestor(id, ticket, curves[SERIES.BATCH_LOSS].steps_per_epoch);
    this.follower.follow(id, Math.min(...Object.values(curves).map((s) => s.last_seq), detail.last_seq));
  }

  // A fork: its parent's curves up to the fork point, dimmed, before its own.
  async drawAncestor(id, ticket, steps) {
    const run = this.run();
    if (!run?.parent_run_id) return;
    const [loss, acc] = await Promise.all([
      api.series(run.parent_run_id, SERIES.BATCH_LOSS, { points: POINTS.run }),
      api.series(run.parent_run_id, SERIES.TEST_ACCURACY),
    ]).catch(() => [null, null]);
    if (!loss || ticket !== this.opening) return;
    const perEpoch = steps || this.lossChart.stepsPerEpoch || loss.steps_per_epoch;
    if (!this.lossChart.stepsPerEpoch) this.lossChart.stepsPerEpoch = perEpoch;
    this.lossChart.setAncestor(loss, run.forked_from_epoch, perEpoch);
    this.accChart.setAncestor(acc, run.forked_from_epoch);
  }

  async zoomLoss(start, end) {
    const id = this.id;
    const range = start == null ? { points: POINTS.run } : { start, end, points: POINTS.run };
    const data = await api.series(id, SERIES.BATCH_LOSS, range).catch(() => null);
    if (!data || id !== this.id) return;
    this.lossChart.load(data);
    if (start == null) for (const e of this.current.recent) if (e.seq > data.last_seq) this.addProgress(e);
  }

  // Compact the live tail: fetch the series again and re-apply what came after it.
  async refetchLoss() {
    if (this.refetching) return;
    this.refetching = true;
    await this.zoomLoss(null, null);
    this.refetching = false;
  }

  // The header, from the record and the state alone (runstate.js).
  drawHeader() {
    const run = this.run();
    if (!run || !this.state || this.state.runId !== run.id) return;
    const h = headline(this.state, run);
    $("run-title").textContent = run.name;
    $("run-title").title = run.name;
    $("run-status").textContent = h.status;
    $("run-status").className = `badge badge-${h.status}`;
    $("cancel-run").hidden = !ACTIVE.has(h.status);
    $("draw-card").hidden = h.status !== STATUS.SUCCEEDED;
    $("fork-run").hidden = !(run.epoch >= 1 || this.current.epochs.size);
    $("run-spec").textContent = specLine(run.spec);
    this.drawLineage(run);
    $("stat-worker").textContent = run.worker
      ? `${run.worker} (${run.device})` +
        (run.peak_gpu_memory_mb != null ? ` · peak ${Math.round(run.peak_gpu_memory_mb)} MiB GPU` : "")
      : MISSING;
    $("progress-bar").style.width = `${(h.fraction * 100).toFixed(1)}%`;
    $("progress-text").textContent = h.progress;
    $("stat-epoch").textContent = h.epoch;
    $("stat-acc").textContent = h.accuracy;
    $("stat-test-loss").textContent = h.testLoss;
    $("stat-rate").textContent = h.rate;
    $("stat-rate").title = h.rateNote;
    const ended = !ACTIVE.has(h.status); // an ended run's empty chart has nothing coming
    this.lossChart.setWaiting(ended ? "no batches were trained" : WAITING_FOR_BATCHES);
    this.rateChart.setWaiting(ended ? "no batches were trained" : WAITING_FOR_BATCHES);
    this.accChart.setWaiting(ended ? "no epoch finished" : WAITING_FOR_EPOCHS);
    // The worker names a fork's parent by id: say its name.
    $("run-message").textContent = run.parent_run_id
      ? h.message.replaceAll(run.parent_run_id, `“${this.nameOf(run.parent_run_id)}”`)
      : h.message;
  }

  // A run named by its name: from the list, or fetched once (a parent on another page).
  nameOf(id) {
    const known = this.list.get(id)?.name ?? this.names.get(id);
    if (known != null) return known;
    this.names.set(id, id.slice(0, 8));
    api
      .getRun(id)
      .then((r) => {
        this.names.set(id, r.name);
        this.drawHeader();
      })
      .catch(() => {});
    return this.names.get(id);
  }

  drawLineage(run) {
    const parts = [];
    const link = (id, text) =>
      el(
        "a",
        {
          href: `#run=${id}`,
          "data-run-id": id,
          onclick: (e) => {
            e.preventDefault();
            this.onOpenRun(id);
          },
        },
        text,
      );
    if (run.parent_run_id) {
      parts.push(
        `forked at epoch ${run.forked_from_epoch} from `,
        link(run.parent_run_id, this.nameOf(run.parent_run_id)),
        " (its curve, dimmed, up to the fork)",
      );
    }
    if (run.children?.length) {
      if (parts.length) parts.push(" · ");
      parts.push(`forks: `);
      run.children.forEach((id, i) => {
        if (i) parts.push(", ");
        parts.push(link(id, this.nameOf(id)));
      });
    }
    $("run-lineage").replaceChildren(...parts);
    $("run-lineage").hidden = !parts.length;
  }

  addProgress(event) {
    const end = (event.epoch - 1) * event.steps_per_epoch + event.step;
    this.lossChart.addLosses(event.seq, end, event.losses, event.steps_per_epoch);
    this.rateChart.add(event.seq, end, event.images_per_sec, event.lr);
  }

  showEpoch(event) {
    this.current.epochs.set(event.epoch, event);
    this.lossChart.addEpoch(event.epoch, event.train_loss, event.test_loss);
    this.accChart.add(event.epoch, event.test_accuracy);
    renderConfusion($("confusion"), event.confusion);
  }

  // One event of the followed run (RunFollower hands them over in seq order).
  apply(event) {
    if (event.run_id !== this.id) return;
    const cur = this.current;
    this.state = nextState(this.state, event);
    switch (event.type) {
      case EVENT.STATUS:
        if (event.resumed_from_epoch != null) {
          const epoch = event.resumed_from_epoch;
          this.lossChart.truncate(epoch);
          this.accChart.truncate(epoch);
          if (this.lossChart.stepsPerEpoch) this.rateChart.truncate(epoch * this.lossChart.stepsPerEpoch);
        }
        if (this.run()) {
          this.list.put({ id: event.run_id, status: event.status });
          this.list.draw();
        }
        if (!ACTIVE.has(event.status)) {
          this.refreshArtifacts();
          this.refreshInside();
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
        if (cur.recent.length > 300) cur.recent.splice(0, 100);
        this.addProgress(event);
        if (this.lossChart.needsRefetch) this.refetchLoss();
        this.showModel();
        break;
      case EVENT.EPOCH:
        this.showEpoch(event);
        break;
      case EVENT.SAMPLES:
        this.samples.add(event);
        break;
      case EVENT.CHECKPOINT:
        this.refreshArtifacts();
        this.refreshInside();
        break;
    }
    this.drawHeader();
  }

  // The model summary exists once a worker has started training the run. Missing, it is
  // asked for again after MODEL_RETRY_MS, not on every event; a run that has ended without
  // one says why instead of asking on.
  showModel() {
    const id = this.id;
    if (this.modelShown || Date.now() < this.modelRetryAt) return;
    this.modelShown = true;
    api
      .modelSummary(id)
      .then((s) => id === this.id && renderModelSummary($("model-summary"), s))
      .catch(() => {
        if (id !== this.id) return;
        this.modelShown = false;
        this.modelRetryAt = Date.now() + MODEL_RETRY_MS;
        if (!ACTIVE.has(this.run()?.status) && this.state?.batches > 0) {
          // it trained, yet no summary
          $("model-summary").replaceChildren(
            el(
              "p",
              { class: "muted" },
              "No model summary: the files its worker wrote cannot be reached from this web tier (see ARTIFACTS_URL).",
            ),
          );
        }
      });
  }

  // Layers and filters follow the epochs (at most one refresh in flight per second).
  refreshInside() {
    if (this.insideTimer) return;
    this.insideTimer = setTimeout(() => {
      this.insideTimer = null;
      if (!this.id) return;
      this.layers.refresh();
      this.filters.open(this.id);
      if ($("model-summary").querySelector("table") == null) this.showModel();
    }, 1000);
  }

  cloneIntoForm() {
    const run = this.run();
    fillForm($("run-form"), run.spec);
    $("run-form").elements.name.value = `${run.name} (copy)`;
    $("run-form").elements.name.focus();
  }

  async refreshArtifacts() {
    const id = this.id;
    const files = await api.listArtifacts(id).catch(() => []);
    if (id !== this.id) return;
    // Epoch states (state-epoch-NNN.pt) are where a fork can start.
    this.forkEpochs = files
      .map((f) => /^state-epoch-(\d+)\.pt$/.exec(f.name))
      .filter(Boolean)
      .map((m) => Number(m[1]));
    $("artifacts").replaceChildren(
      ...files.map((f) => {
        const a = el("a", { href: `/api/runs/${id}/artifacts/${encodeURIComponent(f.name)}` }, f.name);
        a.addEventListener("click", (e) => {
          e.preventDefault();
          api.downloadArtifact(id, f.name).catch((err) => alert(err.message));
        });
        return el("li", {}, a, ` (${(f.size / 1024).toFixed(1)} KiB)`);
      }),
    );
  }
}
