// The Trainboard page: submit runs, list them, watch one live.
import { io } from "/vendor/socket.io.esm.min.js";
import * as api from "./api.js";
import { RunFollower } from "./follower.js";
import { LossChart, AccuracyChart, RateChart, POINTS } from "./plots.js";
import { CompareView } from "./compare.js";
import { DigitPad, renderProbabilities } from "./draw.js";
import { renderRunList, renderSamples, renderConfusion, renderWorkers, tickElapsed, pct, ACTIVE, WAITING } from "./views.js";
import { SweepView, readSweepForm, runCount, renderSweepList } from "./sweeps.js";

const $ = (id) => document.getElementById(id);
const runs = new Map();
let selectedId = null;
let current = null; // live state of the selected run

let socketToken = "";
const socket = io({ reconnectionDelayMax: 5000, auth: (cb) => cb({ token: (socketToken = api.getToken()) }) });
// The server refuses a Socket.IO connection only for a missing or wrong token; a REST
// call may have asked for it meanwhile (askToken then just says to try again).
socket.on("connect_error", (err) => {
  if (/unauthorized|refused/i.test(String(err.message)) && api.askToken(socketToken)) socket.connect();
});
const follower = new RunFollower(socket, applyEvent, () => selectedId && openRun(selectedId));
const lossChart = new LossChart($("loss-chart"), { onZoom: zoomLoss });
const accChart = new AccuracyChart($("acc-chart"));
const rateChart = new RateChart($("rate-chart"));
window.trainboard = { lossChart, accChart, rateChart }; // for debugging from the console and tests
const legendName = (run) => `${run.name} — ${run.spec.optimizer} lr ${run.spec.lr} bs ${run.spec.batch_size}` +
  (run.spec.schedule !== "none" ? ` ${run.spec.schedule}` : "");
const compare = new CompareView($("compare-card"), $("compare-loss"), $("compare-acc"), legendName);
const sweepView = new SweepView($, { legendName, onOpenRun: (run) => { runs.set(run.id, { ...runs.get(run.id), ...run }); select(run.id); } });
const pad = new DigitPad($("digit-pad"), () => {});

socket.on("connect", () => setConnection(true));
socket.on("disconnect", () => setConnection(false));
socket.on("run_update", (run) => {
  const known = runs.get(run.id);
  if (!known && !matchesQuery(run)) return; // not in the list the user is looking at
  noteStatus(run, known?.status);
  runs.set(run.id, { ...known, ...run });
  drawList();
  if (run.id === selectedId) drawHeader();
  compare.changed(run);
  sweepView.changed(run);
  if (run.sweep_id) scheduleSweepList();
});
socket.on("error", (e) => console.warn("server:", e.error));

function setConnection(ok) {
  $("connection").textContent = ok ? "live" : "reconnecting…";
  $("connection").className = `conn ${ok ? "conn-on" : "conn-off"}`;
  if (ok) refreshRuns();
}

// The run list is paged by the server (newest first; status filter and name search are
// server-side too), so thousands of runs cost one page; "Load more" follows the cursor.
let nextCursor = null;
const listQuery = () => ({ status: $("status-filter").value, q: $("run-search").value.trim() });

async function refreshRuns() {
  const query = listQuery();
  const page = await api.listRuns(query);
  if (JSON.stringify(query) !== JSON.stringify(listQuery())) return; // typed on meanwhile
  runs.clear();
  page.runs.forEach((r) => runs.set(r.id, r));
  nextCursor = page.next_cursor;
  drawList();
  if (selectedId && runs.has(selectedId)) drawHeader();
}

async function loadMore() {
  if (!nextCursor) return;
  const page = await api.listRuns({ ...listQuery(), cursor: nextCursor });
  page.runs.forEach((r) => runs.set(r.id, r));
  nextCursor = page.next_cursor;
  drawList();
}

function matchesQuery(run) {
  const { status, q } = listQuery();
  return (!status || run.status === status) && (!q || run.name.toLowerCase().includes(q.toLowerCase()));
}

// Queue positions come from the server; when a run leaves the queue, the ones behind it move up.
function noteStatus(run, before) {
  const waiting = (s) => WAITING.has(s);
  if (waiting(before) && !waiting(run.status)) {
    const left = runs.get(run.id)?.queue_position;
    for (const other of runs.values()) {
      if (left != null && other.queue_position > left) other.queue_position -= 1;
    }
    run.queue_position = null;
  } else if (!waiting(before) && waiting(run.status)) {
    run.queue_position = [...runs.values()].filter((r) => waiting(r.status) && r.id !== run.id).length + 1;
  }
}

function drawList() {
  const sorted = [...runs.values()].filter((r) => matchesQuery(r) || r.id === selectedId)
    .sort((a, b) => b.created_at - a.created_at);
  renderRunList($("run-list"), sorted, {
    selectedId, onSelect: select, onCancel: cancel,
    compared: compare, onCompare: (run) => { compare.toggle(run); drawList(); },
  });
  $("load-more").hidden = !nextCursor;
  tickElapsed($("run-list"));
}

async function cancel(id) {
  try { await api.cancelRun(id); } catch (err) { alert(err.message); }
}

function select(id) {
  if (id === selectedId && $("sweep-detail").hidden) return;
  selectedId = id;
  history.replaceState(null, "", `#run=${id}`);
  $("empty-detail").hidden = true;
  $("sweep-detail").hidden = true;
  sweepView.close();
  drawSweepList();
  $("run-detail").hidden = false;
  $("digit-result").textContent = "";
  $("digit-probs").replaceChildren();
  drawList();
  refreshArtifacts();
  openRun(id);
}

// Open a run from its series (any length costs the same), then follow its live tail
// from the series' last_seq. Also used when the follower falls too far behind.
let opening = 0;
async function openRun(id) {
  const ticket = ++opening;
  follower.stop();
  current = { epoch: 0, step: 0, steps: 0, rate: null, status: runs.get(id)?.status, message: "",
    epochs: new Map(), samples: new Map(), recent: [] };
  lossChart.reset();
  accChart.reset();
  rateChart.reset();
  for (const name of ["samples", "mistakes", "confusion"]) $(name).replaceChildren();
  $("samples-slider").max = "1";
  $("samples-slider").disabled = true;
  $("samples-epoch").textContent = "";
  drawHeader();
  let loaded;
  try {
    loaded = await Promise.all([
      api.series(id, "batch_loss", { points: POINTS }), api.series(id, "lr"), api.series(id, "images_per_sec"),
      api.series(id, "train_loss"), api.series(id, "test_loss"), api.series(id, "test_accuracy"), api.epochs(id)]);
  } catch (err) {
    if (ticket === opening) $("run-message").textContent = `could not load the run's history: ${err.message}`;
    return;
  }
  if (ticket !== opening) return; // another run was picked meanwhile
  const [loss, lr, rate, train, test, acc, detail] = loaded;
  lossChart.stepsPerEpoch = loss.steps_per_epoch || 0;
  lossChart.load(loss);
  lossChart.setEpochs(train, test);
  accChart.load(acc);
  rateChart.load(rate, lr);
  // Per-epoch detail in bulk: the tables and sample images are drawn for the last epoch only.
  detail.epochs.forEach((e) => current.epochs.set(e.epoch, e));
  if (detail.epochs.length) showEpoch(detail.epochs[detail.epochs.length - 1]);
  detail.samples.forEach((e) => current.samples.set(e.epoch, e));
  if (detail.samples.length) addSamples(detail.samples[detail.samples.length - 1]);
  drawHeader();
  follower.follow(id, Math.min(...loaded.map((s) => s.last_seq)));
}

async function zoomLoss(start, end) {
  const id = selectedId;
  const range = start == null ? { points: POINTS } : { start, end, points: POINTS };
  const data = await api.series(id, "batch_loss", range).catch(() => null);
  if (!data || id !== selectedId) return;
  lossChart.load(data);
  if (start == null) replayRecent(data.last_seq);
}

// Compact the live tail: fetch the series again and re-apply what came after it.
let refetching = false;
async function refetchLoss() {
  if (refetching) return;
  refetching = true;
  await zoomLoss(null, null);
  refetching = false;
}

function replayRecent(afterSeq) {
  for (const e of current.recent) if (e.seq > afterSeq) addProgress(e);
}

function drawHeader() {
  const run = runs.get(selectedId);
  if (!run || !current) return;
  const status = current.status || run.status;
  $("run-title").textContent = run.name;
  $("run-status").textContent = status;
  $("run-status").className = `badge badge-${status}`;
  $("cancel-run").hidden = !ACTIVE.has(status);
  $("draw-card").hidden = status !== "succeeded";
  const s = run.spec;
  $("run-spec").textContent = `${s.optimizer} · lr ${s.lr} · schedule ${s.schedule} · batch ${s.batch_size} · ${s.epochs} epochs · seed ${s.seed} · ${s.train_samples ?? 60000} samples`;
  $("stat-worker").textContent = run.worker ? `${run.worker} (${run.device})` +
    (run.peak_gpu_memory_mb != null ? ` · peak ${Math.round(run.peak_gpu_memory_mb)} MiB GPU` : "") : "–";
  const total = s.epochs;
  const done = current.steps ? (current.epoch - 1 + current.step / current.steps) : run.epoch;
  const fraction = status === "succeeded" ? 1 : Math.min(1, Math.max(0, done / total));
  $("progress-bar").style.width = `${(fraction * 100).toFixed(1)}%`;
  let text = `${(fraction * 100).toFixed(1)}%`;
  if (current.steps) text += ` · epoch ${current.epoch}/${total}, batch ${current.step}/${current.steps}`;
  if (ACTIVE.has(status) && current.rate && current.steps) {
    const batchesLeft = (total - done) * current.steps;
    const eta = (batchesLeft * s.batch_size) / current.rate;
    text += ` · ETA ${eta < 90 ? `${Math.round(eta)} s` : `${Math.round(eta / 60)} min`}`;
  }
  $("progress-text").textContent = text;
  $("run-message").textContent = current.message;
}

function addProgress(event) {
  const end = (event.epoch - 1) * event.steps_per_epoch + event.step;
  lossChart.addLosses(event.seq, end, event.losses, event.steps_per_epoch);
  rateChart.add(event.seq, end, event.images_per_sec, event.lr);
}

function showEpoch(event) {
  current.epochs.set(event.epoch, event);
  lossChart.addEpoch(event.epoch, event.train_loss, event.test_loss);
  accChart.add(event.epoch, event.test_accuracy);
  $("stat-epoch").textContent = String(event.epoch);
  $("stat-acc").textContent = pct(event.test_accuracy);
  $("stat-test-loss").textContent = event.test_loss.toFixed(4);
  renderConfusion($("confusion"), event.confusion);
}

function addSamples(event) {
  const slider = $("samples-slider");
  const following = slider.disabled || Number(slider.value) === Number(slider.max);
  current.samples.set(event.epoch, event);
  slider.max = String(Math.max(...current.samples.keys()));
  slider.disabled = current.samples.size < 2;
  if (following) { slider.value = slider.max; showSamples(Number(slider.max)); }
}

function applyEvent(event) {
  switch (event.type) {
    case "status":
      if (event.resumed_from_epoch != null) {
        const epoch = event.resumed_from_epoch;
        lossChart.truncate(epoch);
        accChart.truncate(epoch);
        if (lossChart.stepsPerEpoch) rateChart.truncate(epoch * lossChart.stepsPerEpoch);
      }
      current.status = event.status;
      current.message = event.message || "";
      if (runs.has(event.run_id)) runs.get(event.run_id).status = event.status;
      drawList();
      if (!ACTIVE.has(event.status)) refreshArtifacts();
      break;
    case "progress":
      Object.assign(current, { epoch: event.epoch, step: event.step, steps: event.steps_per_epoch, rate: event.images_per_sec });
      current.recent.push(event);
      if (current.recent.length > 300) current.recent.splice(0, 100);
      addProgress(event);
      if (lossChart.needsRefetch) refetchLoss();
      $("stat-rate").textContent = Math.round(event.images_per_sec).toLocaleString();
      break;
    case "epoch":
      showEpoch(event);
      break;
    case "samples":
      addSamples(event);
      break;
    case "checkpoint":
      refreshArtifacts();
      break;
  }
  drawHeader();
}

const sprites = new Map(); // "<run>/<sprite>" -> Promise<HTMLImageElement>

function sprite(runId, name) {
  const key = `${runId}/${name}`;
  if (!sprites.has(key)) {
    sprites.set(key, api.artifactUrl(runId, name).then((url) => {
      const img = new Image();
      img.src = url;
      return img.decode().then(() => img);
    }).catch((err) => { sprites.delete(key); throw err; }));
  }
  return sprites.get(key);
}

async function showSamples(epoch) {
  const event = current.samples.get(epoch);
  if (!event) return;
  const runId = selectedId;
  let img = null;
  if (event.sprite) img = await sprite(runId, event.sprite).catch(() => null);
  if (runId !== selectedId) return;
  renderSamples($("samples"), event.items, img);
  renderSamples($("mistakes"), event.mistakes || [], img);
  $("samples-epoch").textContent = `epoch ${epoch}`;
}

function download(name, type, text) {
  api.saveBlob(name, new Blob([text], { type }));
}

// The epoch metrics come from shared.metrics through the page (see index.html).
const EPOCH_COLUMNS = JSON.parse(document.getElementById("epoch-metrics")?.textContent || "[]").map((m) => m.name);

async function exportMetrics(kind) {
  const run = runs.get(selectedId);
  if (!run || !current) return;
  const epochs = [...current.epochs.keys()].sort((a, b) => a - b).map((e) => current.epochs.get(e));
  if (kind === "csv") {
    const rows = epochs.map((e) => EPOCH_COLUMNS.map((c) => e[c]).join(","));
    download(`${run.id}-metrics.csv`, "text/csv", [EPOCH_COLUMNS.join(","), ...rows].join("\n") + "\n");
  } else {
    const rows = epochs.map((e) => Object.fromEntries(EPOCH_COLUMNS.map((c) => [c, e[c]])));
    // Every batch loss up to 10,000 of them; longer runs export 10,000 min/max/mean buckets
    // (training_log.json in Files has them all).
    const loss = await api.series(run.id, "batch_loss", { points: 10000 });
    download(`${run.id}-metrics.json`, "application/json",
      JSON.stringify({ run: { id: run.id, name: run.name, spec: run.spec }, epochs: rows,
        batch_loss: { total: loss.total, x: loss.x, min: loss.min, max: loss.max, mean: loss.mean } }, null, 1));
  }
}

function cloneIntoForm() {
  const run = runs.get(selectedId);
  const form = $("run-form");
  for (const [key, value] of Object.entries(run.spec)) {
    const input = form.elements[key];
    if (input) input.value = value ?? "";
  }
  form.elements.name.value = `${run.name} (copy)`;
  form.elements.name.focus();
}

async function predictDigit() {
  const pixels = pad.pixels();
  if (!pixels) { $("digit-result").textContent = "draw a digit first"; return; }
  try {
    const result = await api.predict(selectedId, pixels);
    $("digit-result").textContent = `${result.pred}`;
    renderProbabilities($("digit-probs"), result.probabilities);
  } catch (err) {
    $("digit-result").textContent = "";
    $("digit-probs").textContent = err.message;
  }
}

async function refreshArtifacts() {
  const id = selectedId;
  const files = await api.listArtifacts(id).catch(() => []);
  if (id !== selectedId) return;
  $("artifacts").replaceChildren(...files.map((f) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/api/runs/${id}/artifacts/${encodeURIComponent(f.name)}`;
    a.textContent = f.name;
    a.addEventListener("click", (e) => {
      e.preventDefault();
      api.downloadArtifact(id, f.name).catch((err) => alert(err.message));
    });
    li.append(a, ` (${(f.size / 1024).toFixed(1)} KiB)`);
    return li;
  }));
}

function readForm(form) {
  const spec = {};
  for (const input of form.elements) {
    if (!input.name || input.value.trim() === "") continue;
    spec[input.name] = input.type === "number" ? Number(input.value) : input.value.trim();
  }
  return spec;
}

$("run-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  form.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
  $("form-error").hidden = true;
  try {
    const run = await api.submitRun(readForm(form));
    runs.set(run.id, run);  // shown even when the filter would hide it: it is selected
    select(run.id);
  } catch (err) {
    const details = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
    $("form-error").textContent = details ? `${err.message} — ${details}` : err.message;
    $("form-error").hidden = false;
    Object.keys(err.fields || {}).forEach((k) => form.elements[k]?.classList.add("invalid"));
  }
});

$("cancel-run").addEventListener("click", () => selectedId && cancel(selectedId));
$("clone-run").addEventListener("click", cloneIntoForm);
$("export-csv").addEventListener("click", () => exportMetrics("csv"));
$("export-json").addEventListener("click", () => exportMetrics("json"));
$("samples-slider").addEventListener("input", (e) => showSamples(Number(e.target.value)));
$("predict-digit").addEventListener("click", predictDigit);
$("clear-digit").addEventListener("click", () => { pad.clear(); $("digit-result").textContent = ""; $("digit-probs").replaceChildren(); });
$("status-filter").addEventListener("change", refreshRuns);
let searchTimer = null;
$("run-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refreshRuns, 250); });
$("load-more").addEventListener("click", loadMore);
$("smoothing").addEventListener("input", (e) => lossChart.setSmoothing(Number(e.target.value)));

setInterval(() => tickElapsed($("run-list")), 1000);

// Workers: once over REST, then pushed by the server whenever they change.
const runName = (id) => runs.get(id)?.name ?? id.slice(0, 8);
// Each worker's recent load (CPU %), kept here from the pushes, for its sparkline.
const workerLoad = new Map();
function showWorkers(workers) {
  for (const w of workers) {
    const points = workerLoad.get(w.name) || [];
    if (w.load) points.push(w.load.cpu_percent);
    workerLoad.set(w.name, points.slice(-30));
  }
  renderWorkers($("workers"), workers, runName, workerLoad);
}
api.listWorkers().then(showWorkers).catch(() => {});
socket.on("workers", (msg) => showWorkers(msg.workers));

// -- sweeps -------------------------------------------------------------------------
let sweeps = [];
let sweepListTimer = null;
function drawSweepList() { renderSweepList($("sweep-list"), sweeps, sweepView.id, selectSweep); }
async function refreshSweeps() { sweeps = await api.listSweeps().catch(() => sweeps); drawSweepList(); }
function scheduleSweepList() {
  if (!sweepListTimer) sweepListTimer = setTimeout(() => { sweepListTimer = null; refreshSweeps(); }, 2000);
}

function selectSweep(id) {
  selectedId = null;
  follower.stop();
  history.replaceState(null, "", `#sweep=${id}`);
  $("empty-detail").hidden = true;
  $("run-detail").hidden = true;
  $("sweep-detail").hidden = false;
  drawList();
  sweepView.open(id).then(drawSweepList);
  drawSweepList();
}

function showSweepCount() {
  const { grid } = readSweepForm($("sweep-form"));
  const n = Object.keys(grid).length ? runCount(grid) : 0;
  $("sweep-count").textContent = n ? `→ ${n} run${n === 1 ? "" : "s"}` : "give some field several values, e.g. lr 0.001,0.003";
}
$("sweep-form").addEventListener("input", showSweepCount);
$("sweep-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("sweep-error").hidden = true;
  try {
    const sweep = await api.createSweep(readSweepForm(e.target));
    sweep.runs.forEach((r) => runs.set(r.id, r));
    drawList();
    await refreshSweeps();
    selectSweep(sweep.id);
  } catch (err) {
    const details = Object.entries(err.fields || {}).map(([k, v]) => `${k}: ${v}`).join("; ");
    $("sweep-error").textContent = details ? `${err.message} — ${details}` : err.message;
    $("sweep-error").hidden = false;
  }
});
$("cancel-sweep").addEventListener("click", () => sweepView.id && api.cancelSweep(sweepView.id)
  .then(() => sweepView.refresh()).catch((err) => alert(err.message)));
showSweepCount();
refreshSweeps();
window.trainboard.sweepView = sweepView;

refreshRuns().then(async () => {
  const sweepMatch = location.hash.match(/sweep=([0-9a-f]{32})/);
  if (sweepMatch) { selectSweep(sweepMatch[1]); return; }
  const match = location.hash.match(/run=([0-9a-f]{32})/);
  if (!match) return;
  if (!runs.has(match[1])) { // an older run than the first page: fetch it by id
    const run = await api.getRun(match[1]).catch(() => null);
    if (!run) return;
    runs.set(run.id, run);
  }
  select(match[1]);
});
