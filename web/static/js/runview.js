// The selected run: opened from its series (any length costs the same), then followed
// live; its charts, samples, confusion matrix, files, exports, draw-a-digit, what is
// inside its model (inspect.js), and forking it.
import * as api from "./api.js";
import { $, el, pct, progressOf, ACTIVE, EPOCH_METRICS, POINTS } from "./dom.js";
import { DigitPad, renderProbabilities } from "./draw.js";
import { FiltersView, LayersView, canvasPixels, renderActivations, renderModelSummary } from "./inspect.js";
import { LossChart, AccuracyChart, RateChart } from "./plots.js";
import { renderSamples, renderConfusion } from "./views.js";

// The series a run view opens from; `detail` is the per-epoch detail (GET /epochs).
const CURVES = ["batch_loss", "lr", "images_per_sec", "train_loss", "test_loss", "test_accuracy"];

export class RunView {
  constructor({ follower, list, onOpenRun }) {
    this.follower = follower;
    this.list = list;
    this.onOpenRun = onOpenRun; // select another run (a fork's parent or child)
    this.id = null;
    this.current = null; // live state of the open run
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
    this.bind();
  }

  bind() {
    $("cancel-run").addEventListener("click", () => this.id && api.cancelRun(this.id).catch((err) => alert(err.message)));
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
    $("fork-run").addEventListener("click", () => this.openForkDialog());
    $("cancel-fork").addEventListener("click", () => $("fork-dialog").close());
    $("fork-form").addEventListener("submit", (e) => { e.preventDefault(); this.submitFork(); });
    $("fork-epoch").addEventListener("change", () => this.suggestForkEpochs());
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
    api.modelSummary(id).then((s) => renderModelSummary($("model-summary"), s)).catch(() => renderModelSummary($("model-summary"), null));
    return this.load(id);
  }

  close() { this.id = null; this.follower.stop(); }

  // Open from the series, then follow the live tail from the series' last_seq. Also
  // called when the follower falls too far behind.
  async load(id) {
    const ticket = ++this.opening;
    this.follower.stop();
    this.current = { epoch: 0, step: 0, steps: 0, rate: null, status: this.run()?.status, message: "",
      epochs: new Map(), samples: new Map(), recent: [] };
    this.lossChart.reset();
    this.accChart.reset();
    this.rateChart.reset();
    for (const name of ["samples", "mistakes", "confusion"]) $(name).replaceChildren();
    $("samples-slider").max = "1";
    $("samples-slider").disabled = true;
    $("samples-epoch").textContent = "";
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

  drawHeader() {
    const run = this.run();
    const cur = this.current;
    if (!run || !cur) return;
    const status = cur.status || run.status;
    $("run-title").textContent = run.name;
    $("run-status").textContent = status;
    $("run-status").className = `badge badge-${status}`;
    $("cancel-run").hidden = !ACTIVE.has(status);
    $("draw-card").hidden = status !== "succeeded";
    $("fork-run").hidden = !(run.epoch >= 1 || cur.epochs.size);
    const s = run.spec;
    $("run-spec").textContent = `${s.optimizer} · lr ${s.lr} · schedule ${s.schedule} · batch ${s.batch_size} · ${s.epochs} epochs · seed ${s.seed} · ${s.train_samples ?? 60000} samples`;
    this.drawLineage(run);
    $("stat-worker").textContent = run.worker ? `${run.worker} (${run.device})` +
      (run.peak_gpu_memory_mb != null ? ` · peak ${Math.round(run.peak_gpu_memory_mb)} MiB GPU` : "") : "–";
    const live = cur.steps ? { epoch: cur.epoch, step: cur.step, steps: cur.steps, rate: cur.rate } : null;
    const { fraction, eta } = progressOf({ ...run, status }, live);
    $("progress-bar").style.width = `${(fraction * 100).toFixed(1)}%`;
    let text = `${(fraction * 100).toFixed(1)}%`;
    if (cur.steps) text += ` · epoch ${cur.epoch}/${s.epochs}, batch ${cur.step}/${cur.steps}`;
    if (eta != null) text += ` · ETA ${eta < 90 ? `${Math.round(eta)} s` : `${Math.round(eta / 60)} min`}`;
    $("progress-text").textContent = text;
    $("run-message").textContent = cur.message;
  }

  drawLineage(run) {
    const parts = [];
    const link = (id, text) => el("a", { href: `#run=${id}`, "data-run-id": id, onclick: (e) => { e.preventDefault(); this.onOpenRun(id); } }, text);
    if (run.parent_run_id) {
      parts.push(`forked at epoch ${run.forked_from_epoch} from `,
        link(run.parent_run_id, this.list.get(run.parent_run_id)?.name ?? run.parent_run_id.slice(0, 8)),
        " (its curve, dimmed, up to the fork)");
    }
    if (run.children?.length) {
      if (parts.length) parts.push(" · ");
      parts.push(`forks: `);
      run.children.forEach((id, i) => { if (i) parts.push(", "); parts.push(link(id, this.list.get(id)?.name ?? id.slice(0, 8))); });
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
    $("stat-epoch").textContent = String(event.epoch);
    $("stat-acc").textContent = pct(event.test_accuracy);
    $("stat-test-loss").textContent = event.test_loss == null ? "–" : event.test_loss.toFixed(4);
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
    const cur = this.current;
    switch (event.type) {
      case "status":
        if (event.resumed_from_epoch != null) {
          const epoch = event.resumed_from_epoch;
          this.lossChart.truncate(epoch);
          this.accChart.truncate(epoch);
          if (this.lossChart.stepsPerEpoch) this.rateChart.truncate(epoch * this.lossChart.stepsPerEpoch);
        }
        cur.status = event.status;
        cur.message = event.message || "";
        if (this.run()) { this.list.put({ id: event.run_id, status: event.status }); this.list.draw(); }
        if (!ACTIVE.has(event.status)) { this.refreshArtifacts(); this.refreshInside(); }
        break;
      case "progress":
        Object.assign(cur, { epoch: event.epoch, step: event.step, steps: event.steps_per_epoch, rate: event.images_per_sec });
        cur.recent.push(event);
        if (cur.recent.length > 300) cur.recent.splice(0, 100);
        this.addProgress(event);
        if (this.lossChart.needsRefetch) this.refetchLoss();
        $("stat-rate").textContent = Math.round(event.images_per_sec).toLocaleString();
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

  // Layers and filters follow the epochs (at most one refresh in flight per second).
  refreshInside() {
    if (this.insideTimer) return;
    this.insideTimer = setTimeout(() => {
      this.insideTimer = null;
      if (!this.id) return;
      this.layers.refresh();
      this.filters.open(this.id);
      if ($("model-summary").querySelector("table") == null) {
        api.modelSummary(this.id).then((s) => renderModelSummary($("model-summary"), s)).catch(() => {});
      }
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

  openForkDialog() {
    const run = this.run();
    const epochs = this.forkEpochs.length ? this.forkEpochs : [run.epoch];
    $("fork-epoch").replaceChildren(...epochs.map((e) => el("option", { value: String(e) }, `epoch ${e}`)));
    $("fork-epoch").value = String(epochs[epochs.length - 1]);
    fillForm($("fork-form"), run.spec);
    $("fork-form").elements.name.value = "";
    $("fork-form").elements.name.placeholder = "default: the parent's name ↳ fork@epoch";
    this.suggestForkEpochs();
    $("fork-error").hidden = true;
    $("fork-dialog").showModal();
  }

  // From the last epoch the parent's epoch count leaves nothing to train: suggest more.
  suggestForkEpochs() {
    const run = this.run();
    const from = Number($("fork-epoch").value);
    const input = $("fork-form").elements.epochs;
    if (Number(input.value) <= from) input.value = String(Math.min(100, Math.max(run.spec.epochs, from) + 5));
  }

  async submitFork() {
    const run = this.run();
    const form = $("fork-form");
    const body = { from_epoch: Number($("fork-epoch").value) };
    for (const [key, value] of Object.entries(readForm(form))) {
      if (key !== "from_epoch" && value !== run.spec[key]) body[key] = value; // only what changes
    }
    try {
      const child = await api.forkRun(run.id, body);
      $("fork-dialog").close();
      this.list.put(child);
      this.list.put({ id: run.id, children: [...(run.children || []), child.id] });
      this.onOpenRun(child.id);
    } catch (err) {
      const details = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
      $("fork-error").textContent = details ? `${err.message} — ${details}` : err.message;
      $("fork-error").hidden = false;
    }
  }
}

export function readForm(form) {
  const spec = {};
  for (const input of form.elements) {
    if (!input.name || input.value.trim() === "") continue;
    spec[input.name] = input.type === "number" ? Number(input.value) : input.value.trim();
  }
  return spec;
}

function fillForm(form, spec) {
  for (const [key, value] of Object.entries(spec)) {
    const input = form.elements[key];
    if (input) input.value = value ?? "";
  }
}
