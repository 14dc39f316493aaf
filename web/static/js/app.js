// The Trainboard page: submit runs, list them, watch one live.
import { io } from "/vendor/socket.io.esm.min.js";
import * as api from "./api.js";
import { RunFollower } from "./follower.js";
import { LossChart, AccuracyChart, RateChart } from "./plots.js";
import { CompareView } from "./compare.js";
import { DigitPad, renderProbabilities } from "./draw.js";
import { renderRunList, renderSamples, renderConfusion, renderWorkers, tickElapsed, pct, ACTIVE } from "./views.js";

const $ = (id) => document.getElementById(id);
const runs = new Map();
let selectedId = null;
let current = null; // live state of the selected run

const socket = io({ reconnectionDelayMax: 5000, auth: (cb) => cb({ token: api.getToken() }) });
// The server refuses a Socket.IO connection only for a missing or wrong token.
socket.on("connect_error", (err) => {
  if (/unauthorized|refused/i.test(String(err.message)) && api.askToken()) socket.connect();
});
const follower = new RunFollower(socket, applyEvent);
const lossChart = new LossChart($("loss-chart"));
const accChart = new AccuracyChart($("acc-chart"));
const rateChart = new RateChart($("rate-chart"));
window.trainboard = { lossChart, accChart, rateChart }; // for debugging from the console
const legendName = (run) => `${run.name} — ${run.spec.optimizer} lr ${run.spec.lr} bs ${run.spec.batch_size}` +
  (run.spec.schedule !== "none" ? ` ${run.spec.schedule}` : "");
const compare = new CompareView(socket, $("compare-card"), $("compare-loss"), $("compare-acc"), legendName);
const pad = new DigitPad($("digit-pad"), () => {});

socket.on("connect", () => setConnection(true));
socket.on("disconnect", () => setConnection(false));
socket.on("run_update", (run) => { runs.set(run.id, { ...runs.get(run.id), ...run }); drawList(); if (run.id === selectedId) drawHeader(); });
socket.on("error", (e) => console.warn("server:", e.error));

function setConnection(ok) {
  $("connection").textContent = ok ? "live" : "reconnecting…";
  $("connection").className = `conn ${ok ? "conn-on" : "conn-off"}`;
  if (ok) refreshRuns();
}

async function refreshRuns() {
  const list = await api.listRuns();
  runs.clear();
  list.forEach((r) => runs.set(r.id, r));
  drawList();
  if (selectedId && runs.has(selectedId)) drawHeader();
}

function drawList() {
  const sorted = [...runs.values()].sort((a, b) => b.created_at - a.created_at);
  renderRunList($("run-list"), sorted, {
    selectedId, filter: $("status-filter").value, onSelect: select, onCancel: cancel,
    compared: compare, onCompare: (run) => { compare.toggle(run); drawList(); },
  });
  tickElapsed($("run-list"));
}

async function cancel(id) {
  try { await api.cancelRun(id); } catch (err) { alert(err.message); }
}

function select(id) {
  if (id === selectedId) return;
  selectedId = id;
  history.replaceState(null, "", `#run=${id}`);
  current = { epoch: 0, step: 0, steps: 0, rate: null, status: runs.get(id)?.status, message: "",
    epochs: [], samples: new Map() };
  $("empty-detail").hidden = true;
  $("run-detail").hidden = false;
  lossChart.reset();
  accChart.reset();
  rateChart.reset();
  $("samples").replaceChildren();
  $("mistakes").replaceChildren();
  $("digit-result").textContent = "";
  $("digit-probs").replaceChildren();
  $("samples-slider").max = "1";
  $("samples-slider").disabled = true;
  $("confusion").replaceChildren();
  $("samples-epoch").textContent = "";
  drawList();
  drawHeader();
  refreshArtifacts();
  follower.follow(id);
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
  $("stat-worker").textContent = run.worker ? `${run.worker} (${run.device})` : "–";
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

function applyEvent(event) {
  switch (event.type) {
    case "status":
      if (event.resumed_from_epoch != null && current.steps) {
        lossChart.truncate(event.resumed_from_epoch * current.steps);
        rateChart.truncate(event.resumed_from_epoch * current.steps);
      }
      current.status = event.status;
      current.message = event.message || "";
      if (runs.has(event.run_id)) runs.get(event.run_id).status = event.status;
      drawList();
      if (!ACTIVE.has(event.status)) refreshArtifacts();
      break;
    case "progress":
      Object.assign(current, { epoch: event.epoch, step: event.step, steps: event.steps_per_epoch, rate: event.images_per_sec });
      lossChart.addLosses(event.losses);
      rateChart.add((event.epoch - 1) * event.steps_per_epoch + event.step, event.images_per_sec, event.lr);
      $("stat-rate").textContent = Math.round(event.images_per_sec).toLocaleString();
      break;
    case "epoch":
      lossChart.addEpoch(event.train_loss, event.test_loss);
      accChart.add(event.epoch, event.test_accuracy);
      current.epochs.push(event);
      rateChart.flush();
      $("stat-epoch").textContent = String(event.epoch);
      $("stat-acc").textContent = pct(event.test_accuracy);
      $("stat-test-loss").textContent = event.test_loss.toFixed(4);
      renderConfusion($("confusion"), event.confusion);
      break;
    case "samples": {
      const slider = $("samples-slider");
      const following = slider.disabled || Number(slider.value) === Number(slider.max);
      current.samples.set(event.epoch, event);
      slider.max = String(event.epoch);
      slider.disabled = current.samples.size < 2;
      if (following) { slider.value = String(event.epoch); showSamples(event.epoch); }
      break;
    }
    case "checkpoint":
      refreshArtifacts();
      break;
  }
  drawHeader();
}

function showSamples(epoch) {
  const event = current.samples.get(epoch);
  if (!event) return;
  renderSamples($("samples"), event.items);
  renderSamples($("mistakes"), event.mistakes || []);
  $("samples-epoch").textContent = `epoch ${epoch}`;
}

function download(name, type, text) {
  api.saveBlob(name, new Blob([text], { type }));
}

const EPOCH_COLUMNS = ["epoch", "train_loss", "test_loss", "test_accuracy", "seconds", "lr"];

function exportMetrics(kind) {
  const run = runs.get(selectedId);
  if (!run || !current) return;
  if (kind === "csv") {
    const rows = current.epochs.map((e) => EPOCH_COLUMNS.map((c) => e[c]).join(","));
    download(`${run.id}-metrics.csv`, "text/csv", [EPOCH_COLUMNS.join(","), ...rows].join("\n") + "\n");
  } else {
    const epochs = current.epochs.map((e) => Object.fromEntries(EPOCH_COLUMNS.map((c) => [c, e[c]])));
    download(`${run.id}-metrics.json`, "application/json",
      JSON.stringify({ run: { id: run.id, name: run.name, spec: run.spec }, epochs, batch_losses: lossChart.losses }, null, 1));
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
    runs.set(run.id, run);
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
$("status-filter").addEventListener("change", drawList);
$("smoothing").addEventListener("input", (e) => lossChart.setSmoothing(Number(e.target.value)));

setInterval(() => tickElapsed($("run-list")), 1000);

// Workers: once over REST, then pushed by the server whenever they change.
const runName = (id) => runs.get(id)?.name ?? id.slice(0, 8);
api.listWorkers().then((w) => renderWorkers($("workers"), w, runName)).catch(() => {});
socket.on("workers", (msg) => renderWorkers($("workers"), msg.workers, runName));

refreshRuns().then(() => {
  const match = location.hash.match(/run=([0-9a-f]{32})/);
  if (match && runs.has(match[1])) select(match[1]);
});
