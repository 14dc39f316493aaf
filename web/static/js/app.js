// The Trainboard page: submit runs, list them, watch one live.
import { io } from "/vendor/socket.io.esm.min.js";
import * as api from "./api.js";
import { RunFollower } from "./follower.js";
import { LossChart, AccuracyChart } from "./charts.js";
import { renderRunList, renderSamples, renderConfusion, renderWorkers, pct, ACTIVE } from "./views.js";

const $ = (id) => document.getElementById(id);
const runs = new Map();
let selectedId = null;
let current = null; // live state of the selected run

const socket = io({ reconnectionDelayMax: 5000 });
const follower = new RunFollower(socket, applyEvent);
const lossChart = new LossChart($("loss-chart"));
const accChart = new AccuracyChart($("acc-chart"));

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
  });
}

async function cancel(id) {
  try { await api.cancelRun(id); } catch (err) { alert(err.message); }
}

function select(id) {
  if (id === selectedId) return;
  selectedId = id;
  history.replaceState(null, "", `#run=${id}`);
  current = { epoch: 0, step: 0, steps: 0, rate: null, status: runs.get(id)?.status, message: "" };
  $("empty-detail").hidden = true;
  $("run-detail").hidden = false;
  lossChart.reset();
  accChart.reset();
  $("samples").replaceChildren();
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
      current.status = event.status;
      current.message = event.message || "";
      if (runs.has(event.run_id)) runs.get(event.run_id).status = event.status;
      drawList();
      if (!ACTIVE.has(event.status)) refreshArtifacts();
      break;
    case "progress":
      Object.assign(current, { epoch: event.epoch, step: event.step, steps: event.steps_per_epoch, rate: event.images_per_sec });
      lossChart.addLosses(event.losses);
      $("stat-rate").textContent = Math.round(event.images_per_sec).toLocaleString();
      break;
    case "epoch":
      lossChart.addEpoch(event.train_loss, event.test_loss);
      accChart.add(event.epoch, event.test_accuracy);
      $("stat-epoch").textContent = String(event.epoch);
      $("stat-acc").textContent = pct(event.test_accuracy);
      $("stat-test-loss").textContent = event.test_loss.toFixed(4);
      renderConfusion($("confusion"), event.confusion);
      break;
    case "samples":
      renderSamples($("samples"), event.items);
      $("samples-epoch").textContent = `epoch ${event.epoch}`;
      break;
    case "checkpoint":
      refreshArtifacts();
      break;
  }
  drawHeader();
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
$("status-filter").addEventListener("change", drawList);
$("smoothing").addEventListener("input", (e) => lossChart.setSmoothing(Number(e.target.value)));

async function refreshWorkers() {
  renderWorkers($("workers"), await api.listWorkers().catch(() => []));
}
refreshWorkers();
setInterval(refreshWorkers, 5000);

refreshRuns().then(() => {
  const match = location.hash.match(/run=([0-9a-f]{32})/);
  if (match && runs.has(match[1])) select(match[1]);
});
