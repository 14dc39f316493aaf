// The selected run: opened from its series (any length costs the same), then followed
// live; its charts, samples, confusion matrix, files, exports, draw-a-digit, what is
// inside its model (inspect.js), and forking it.
import * as api from "./api.js";
import { $, el, ACTIVE, EPOCH_METRICS, POINTS } from "./dom.js";
import { DigitPad, renderProbabilities } from "./draw.js";
import { ForkDialog, fillForm } from "./fork.js";
import { FiltersView, LayersView, canvasPixels, renderActivations, renderModelSummary } from "./inspect.js";
import { LossChart, AccuracyChart, RateChart } from "./plots.js";
import { cancelRun } from "./runlist.js";
import { headline, nextState, openState, specLine } from "./runstate.js";
import { observe } from "./throughput.js";
import { renderSamples, renderConfusion } from "./views.js";

// The series a run view opens from; `detail` is the per-epoch detail (GET /epochs).
const CURVES = ["batch_loss", "lr", "images_per_sec", "train_loss", "test_loss", "test_accuracy"];

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
    this.sprites = new Map(); // "<run>/<sprite>" -> Promise<HTMLImageElement>
    this.lossChart = new LossChart($("loss-chart"), { onZoom: (a, b) => this.zoomLoss(a, b) });
    this.accChart = new AccuracyChart($("acc-chart"));
    this.rateChart = new RateChart($("rate-chart"));
    this.layers = new LayersView($("layers"), $("layers-kind"));
    this.filters = new FiltersView($("filters"), $("filters-slider"), $("filters-epoch"));
    this.pad = new DigitPad($("digit-pad"), () => {});
    this.forkEpochs = [];
    this.fork = new ForkDialog({ onForked: (parent, child) => {
      this.list.put(child);
      this.list.put({ id: parent.id, children: [...(parent.children || []), child.id] });
      this.onOpenRun(child.id);
    } });
    this.bind();
  }

  bind() {
    $("cancel-run").addEventListener("click", () => this.run() && cancelRun(this.run()));
    $("clone-run").addEventListener("click", () => this.cloneIntoForm());
    $("export-csv").addEventListener("click", () => this.exportMetrics("csv"));
    $("export-json").addEventListener("click", () => this.exportMetrics("json"));
    $("samples-slider").addEventListener("input", (e) => this.showSamples(Number(e.target.value)));
    $("predict-digit").addEventListener("click", () => this.predictDigit());
    $("digit-fmaps").addEventListener("click", () => {
      const pixels = this.pad.pixels();
      if (pixels) this.showActivations(pixels, "the drawn digit"); else $("digit-result").textContent = "draw a digit first";
    });
    $("clear-digit").addEventListener("click", () => { this.pad.clear(); $("digit-result").textContent = ""; $("digit-probs").replaceChildren(); });
    $("smoothing").addEventListener("input", (e) => this.lossChart.setSmoothing(Number(e.target.value)));
    for (const id of ["samples", "mistakes"]) {
      $(id).addEventListener("click", (e) => {
        const figure = e.target.closest("figure.sample");
        if (!figure || this.run()?.status !== "succeeded") return;
        this.showActivations(canvasPixels(figure.querySelector("canvas")), `test image #${figure.dataset.index}`);
      });
    }
    $("fork-run").addEventListener("click", () => {
      const run = this.run();
      this.fork.open(run, this.forkEpochs.length ? this.forkEpochs : [run.epoch]);
    });
  }

  run() { return this.list.get(this.id); }

  open(id) {
    this.id = id;
    $("digit-result").textContent = "";
    $("digit-probs").replaceChildren();
    $("fmaps-card").hidden = true;
    this.refreshArtifacts();
    this.layers.open(id);
    this.filters.open(id);
    this.modelShown = false;
    renderModelSummary($("model-summary"), null);
    return this.load(id);
  }

  close() { this.id = null; this.follower.stop(); }

  // Open from the series, then follow the live tail from the series' last_seq. Also
  // called when the follower falls too far behind.
  async load(id) {
    const ticket = ++this.opening;
    this.follower.stop();
    // Per-epoch detail and the live tail of this run only; the header's state is made anew.
    this.current = { epochs: new Map(), samples: new Map(), recent: [] };
    this.state = openState(id);
    this.lossChart.reset();
    this.accChart.reset();
    this.rateChart.reset();
    for (const name of ["samples", "mistakes", "confusion"]) $(name).replaceChildren();
    $("samples-slider").max = "1";
    $("samples-slider").disabled = true;
    $("samples-epoch").textContent = "";
    $("run-message").textContent = "";
    this.drawHeader();
    let curves, detail;
    try {
      [curves, detail] = await Promise.all([
        Promise.all(CURVES.map((name) => api.series(id, name, name === "batch_loss" ? { points: POINTS.run } : {})))
          .then((loaded) => Object.fromEntries(CURVES.map((name, i) => [name, loaded[i]]))),
        api.epochs(id)]);
    } catch (err) {
      if (ticket === this.opening) $("run-message").textContent = `could not load the run's history: ${err.message}`;
      return;
    }
    if (ticket !== this.opening) return; // another run was picked meanwhile
    this.lossChart.stepsPerEpoch = curves.batch_loss.steps_per_epoch || 0;
    this.lossChart.load(curves.batch_loss);
    this.lossChart.setEpochs(curves.train_loss, curves.test_loss);
    this.accChart.load(curves.test_accuracy);
    this.rateChart.load(curves.images_per_sec, curves.lr);
    // Per-epoch detail in bulk: the tables and sample images are drawn for the last epoch only.
    detail.epochs.forEach((e) => this.current.epochs.set(e.epoch, e));
    if (detail.epochs.length) this.showEpoch(detail.epochs[detail.epochs.length - 1]);
    detail.samples.forEach((e) => this.current.samples.set(e.epoch, e));
    if (detail.samples.length) this.addSamples(detail.samples[detail.samples.length - 1]);
    const loss = curves.batch_loss;
    this.state = openState(id, { batches: loss.x.length ? loss.x[loss.x.length - 1] : 0, steps: loss.steps_per_epoch || 0,
      lastEpoch: detail.epochs[detail.epochs.length - 1] ?? null });
    if (loss.total) this.showModel();
    this.drawHeader();
    this.drawAncestor(id, ticket, curves.batch_loss.steps_per_epoch);
    this.follower.follow(id, Math.min(...Object.values(curves).map((s) => s.last_seq), detail.last_seq));
  }

  // A fork: its parent's curves up to the fork point, dimmed, before its own.
  async drawAncestor(id, ticket, steps) {
    const run = this.run();
    if (!run?.parent_run_id) return;
    const [loss, acc] = await Promise.all([api.series(run.parent_run_id, "batch_loss", { points: POINTS.run }),
      api.series(run.parent_run_id, "test_accuracy")]).catch(() => [null, null]);
    if (!loss || ticket !== this.opening) return;
    const perEpoch = steps || this.lossChart.stepsPerEpoch || loss.steps_per_epoch;
    if (!this.lossChart.stepsPerEpoch) this.lossChart.stepsPerEpoch = perEpoch;
    this.lossChart.setAncestor(loss, run.forked_from_epoch, perEpoch);
    this.accChart.setAncestor(acc, run.forked_from_epoch);
  }

  async zoomLoss(start, end) {
    const id = this.id;
    const range = start == null ? { points: POINTS.run } : { start, end, points: POINTS.run };
    const data = await api.series(id, "batch_loss", range).catch(() => null);
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
    $("draw-card").hidden = h.status !== "succeeded";
    $("fork-run").hidden = !(run.epoch >= 1 || this.current.epochs.size);
    $("run-spec").textContent = specLine(run.spec);
    this.drawLineage(run);
    $("stat-worker").textContent = run.worker ? `${run.worker} (${run.device})` +
      (run.peak_gpu_memory_mb != null ? ` · peak ${Math.round(run.peak_gpu_memory_mb)} MiB GPU` : "") : "–";
    $("progress-bar").style.width = `${(h.fraction * 100).toFixed(1)}%`;
    $("progress-text").textContent = h.progress;
    $("stat-epoch").textContent = h.epoch;
    $("stat-acc").textContent = h.accuracy;
    $("stat-test-loss").textContent = h.testLoss;
    $("stat-rate").textContent = h.rate;
    $("stat-rate").title = h.rateNote;
    // The worker names a fork's parent by id: say its name.
    $("run-message").textContent = run.parent_run_id ? h.message.replaceAll(run.parent_run_id, `“${this.nameOf(run.parent_run_id)}”`) : h.message;
  }

  // A run named by its name: from the list, or fetched once (a parent on another page).
  nameOf(id) {
    const known = this.list.get(id)?.name ?? this.names.get(id);
    if (known != null) return known;
    this.names.set(id, id.slice(0, 8));
    api.getRun(id).then((r) => { this.names.set(id, r.name); this.drawHeader(); }).catch(() => {});
    return this.names.get(id);
  }

  drawLineage(run) {
    const parts = [];
    const link = (id, text) => el("a", { href: `#run=${id}`, "data-run-id": id, onclick: (e) => { e.preventDefault(); this.onOpenRun(id); } }, text);
    if (run.parent_run_id) {
      parts.push(`forked at epoch ${run.forked_from_epoch} from `, link(run.parent_run_id, this.nameOf(run.parent_run_id)),
        " (its curve, dimmed, up to the fork)");
    }
    if (run.children?.length) {
      if (parts.length) parts.push(" · ");
      parts.push(`forks: `);
      run.children.forEach((id, i) => { if (i) parts.push(", "); parts.push(link(id, this.nameOf(id))); });
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

  addSamples(event) {
    const slider = $("samples-slider");
    const following = slider.disabled || Number(slider.value) === Number(slider.max);
    this.current.samples.set(event.epoch, event);
    slider.max = String(Math.max(...this.current.samples.keys()));
    slider.disabled = this.current.samples.size < 2;
    if (following) { slider.value = slider.max; this.showSamples(Number(slider.max)); }
  }

  // One event of the followed run (RunFollower hands them over in seq order).
  apply(event) {
    if (event.run_id !== this.id) return;
    const cur = this.current;
    this.state = nextState(this.state, event);
    switch (event.type) {
      case "status":
        if (event.resumed_from_epoch != null) {
          const epoch = event.resumed_from_epoch;
          this.lossChart.truncate(epoch);
          this.accChart.truncate(epoch);
          if (this.lossChart.stepsPerEpoch) this.rateChart.truncate(epoch * this.lossChart.stepsPerEpoch);
        }
        if (this.run()) { this.list.put({ id: event.run_id, status: event.status }); this.list.draw(); }
        if (!ACTIVE.has(event.status)) { this.refreshArtifacts(); this.refreshInside(); }
        break;
      case "progress":
        observe(event.run_id, event.ts, this.state.batches, event.images_per_sec, { fromEvents: true });
        cur.recent.push(event);
        if (cur.recent.length > 300) cur.recent.splice(0, 100);
        this.addProgress(event);
        if (this.lossChart.needsRefetch) this.refetchLoss();
        if (!this.modelShown) this.showModel();
        break;
      case "epoch":
        this.showEpoch(event);
        break;
      case "samples":
        this.addSamples(event);
        break;
      case "checkpoint":
        this.refreshArtifacts();
        this.refreshInside();
        break;
    }
    this.drawHeader();
  }

  // The model summary exists once a worker has started training the run.
  showModel() {
    const id = this.id;
    this.modelShown = true;
    api.modelSummary(id).then((s) => id === this.id && renderModelSummary($("model-summary"), s))
      .catch(() => { if (id === this.id) this.modelShown = false; });
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

  sprite(runId, name) {
    const key = `${runId}/${name}`;
    if (!this.sprites.has(key)) {
      this.sprites.set(key, api.artifactUrl(runId, name).then((url) => {
        const img = new Image();
        img.src = url;
        return img.decode().then(() => img);
      }).catch((err) => { this.sprites.delete(key); throw err; }));
    }
    return this.sprites.get(key);
  }

  async showSamples(epoch) {
    const event = this.current.samples.get(epoch);
    if (!event) return;
    const runId = this.id;
    let img = null;
    if (event.sprite) img = await this.sprite(runId, event.sprite).catch(() => null);
    if (runId !== this.id) return;
    renderSamples($("samples"), event.items, img);
    renderSamples($("mistakes"), event.mistakes || [], img);
    $("samples-epoch").textContent = `epoch ${epoch}`;
  }

  async exportMetrics(kind) {
    const run = this.run();
    if (!run || !this.current) return;
    const columns = EPOCH_METRICS.map((m) => m.name);
    const epochs = [...this.current.epochs.keys()].sort((a, b) => a - b).map((e) => this.current.epochs.get(e));
    const download = (name, type, text) => api.saveBlob(name, new Blob([text], { type }));
    if (kind === "csv") {
      const rows = epochs.map((e) => columns.map((c) => e[c]).join(","));
      download(`${run.id}-metrics.csv`, "text/csv", [columns.join(","), ...rows].join("\n") + "\n");
      return;
    }
    const rows = epochs.map((e) => Object.fromEntries(columns.map((c) => [c, e[c]])));
    // Every batch loss up to 10,000 of them; longer runs export 10,000 min/max/mean buckets
    // (training_log.json in Files has them all).
    const loss = await api.series(run.id, "batch_loss", { points: 10000 });
    download(`${run.id}-metrics.json`, "application/json",
      JSON.stringify({ run: { id: run.id, name: run.name, spec: run.spec }, epochs: rows,
        batch_loss: { total: loss.total, x: loss.x, min: loss.min, max: loss.max, mean: loss.mean } }, null, 1));
  }

  cloneIntoForm() {
    const run = this.run();
    fillForm($("run-form"), run.spec);
    $("run-form").elements.name.value = `${run.name} (copy)`;
    $("run-form").elements.name.focus();
  }

  async predictDigit() {
    const pixels = this.pad.pixels();
    if (!pixels) { $("digit-result").textContent = "draw a digit first"; return; }
    try {
      const result = await api.predict(this.id, pixels);
      $("digit-result").textContent = `${result.pred}`;
      renderProbabilities($("digit-probs"), result.probabilities);
    } catch (err) {
      $("digit-result").textContent = "";
      $("digit-probs").textContent = err.message;
    }
  }

  async showActivations(pixels, source) {
    const id = this.id;
    $("fmaps-card").hidden = false;
    try {
      const result = await api.activations(id, pixels);
      if (id === this.id) renderActivations($("fmaps"), result, source);
    } catch (err) {
      $("fmaps").textContent = err.message;
    }
  }

  async refreshArtifacts() {
    const id = this.id;
    const files = await api.listArtifacts(id).catch(() => []);
    if (id !== this.id) return;
    // Epoch states (state-epoch-NNN.pt) are where a fork can start.
    this.forkEpochs = files.map((f) => /^state-epoch-(\d+)\.pt$/.exec(f.name)).filter(Boolean).map((m) => Number(m[1]));
    $("artifacts").replaceChildren(...files.map((f) => {
      const a = el("a", { href: `/api/runs/${id}/artifacts/${encodeURIComponent(f.name)}` }, f.name);
      a.addEventListener("click", (e) => {
        e.preventDefault();
        api.downloadArtifact(id, f.name).catch((err) => alert(err.message));
      });
      return el("li", {}, a, ` (${(f.size / 1024).toFixed(1)} KiB)`);
    }));
  }
}
