// The Trainboard page: wiring and routing. Each view is its own module — the run list
// (runlist.js), the selected run (runview.js), comparisons (compare.js), sweeps
// (sweeps.js) — and what they share is written once in dom.js.
import { io } from "/vendor/socket.io.esm.min.js";
import * as api from "./api.js";
import { CompareView } from "./compare.js";
import { $, confirmAction, ACTIVE, STATUS } from "./dom.js";
import { RunFollower } from "./follower.js";
import { TABS, formatAddress, go, parseAddress, toggled } from "./router.js";
import { RunList } from "./runlist.js";
import { clearField, focusFirstError, readRunForm, readSweepForm, showMethod, serverErrors, showErrors } from "./forms.js";
import { RunView } from "./runview.js";
import { SweepView, renderSweepList } from "./sweeps.js";
import { renderWorkers } from "./views.js";

let socketToken = "";
const socket = io({ reconnectionDelayMax: 5000, auth: (cb) => cb({ token: (socketToken = api.getToken()) }) });
// The server refuses a Socket.IO connection only for a missing or wrong token; a REST
// call may have asked for it meanwhile (askToken then just says to try again).
socket.on("connect_error", (err) => {
  if (/unauthorized|refused/i.test(String(err.message)) && api.askToken(socketToken)) socket.connect();
});

const compare = new CompareView($("compare-card"), $("compare-loss"), $("compare-acc"), $("compare-axis"));
const list = new RunList({ compare, onSelect: (id) => selectRun(id), onCompare: (run) => toggleCompare(run) });
const follower = new RunFollower(
  socket,
  (event) => runView.apply(event),
  () => runView.id && runView.load(runView.id),
);
const runView = new RunView({ follower, list, onOpenRun: (id) => selectRun(id) });
const openRun = (run) => {
  window.scrollTo(0, 0);
  list.put(run);
  list.draw();
  selectRun(run.id);
};
const sweepView = new SweepView($, { onOpenRun: openRun, onStarted: openRun });
// For debugging from the console, and for the browser tests.
window.trainboard = {
  lossChart: runView.charts.loss,
  accChart: runView.charts.accuracy,
  rateChart: runView.charts.rate,
  sweepView,
  compare,
};

socket.on("connect", () => setConnection(true));
socket.on("disconnect", () => setConnection(false));
socket.on("run_update", (run) => {
  sweepView.changed(run);
  compare.changed(run);
  if (run.sweep_id) scheduleSweepList();
  const listed = list.update(run);
  drawWorkers();
  if (!listed) return; // not in the list the user is looking at
  if (run.id === runView.id) runView.drawHeader();
});
socket.on("error", (e) => console.warn("server:", e.error));

function setConnection(ok) {
  $("connection").textContent = ok ? "live" : "reconnecting…";
  $("connection").className = `conn ${ok ? "conn-on" : "conn-off"}`;
  if (ok) list.refresh().then(() => runView.drawHeader());
}

// -- routing (router.js): what the address says is what is shown --------------------------
const selectRun = (id) => go({ run: id, sweep: null }, route);
const selectSweep = (id) => go({ run: null, sweep: id }, route);
const toggleCompare = (run) => go({ compare: toggled(parseAddress().compare, run.id) }, route);

function route() {
  const at = parseAddress();
  syncCompare(at.compare);
  if (at.run) {
    showTab(at);
    showRunById(at.run);
  } else if (at.sweep) showSweep(at.sweep);
  else if (at.missing) showNothing(notFound(at.missing.kind, at.missing.value));
  else showNothing();
}
window.addEventListener("hashchange", route);

// The run view's sections are links (each its own address), one shown at a time.
function showTab(at) {
  for (const key of TABS) {
    $(`tab-${key}`).href = formatAddress({ ...at, tab: key });
    $(`tab-${key}`).setAttribute("aria-selected", String(key === at.tab));
    $(`panel-${key}`).hidden = key !== at.tab;
  }
}

// The compared runs are the address's: records from the list, or fetched once.
async function syncCompare(ids) {
  for (const [id, entry] of [...compare.runs]) if (!ids.includes(id)) compare.toggle(entry.run);
  for (const id of ids) {
    if (compare.has(id)) continue;
    const run = list.get(id) ?? (await api.getRun(id).catch(() => null));
    if (run && !compare.has(id) && parseAddress().compare.includes(id)) compare.toggle(run);
  }
  list.draw();
}

const EMPTY_TEXT = $("empty-detail").textContent;

function show(which, text = EMPTY_TEXT) {
  $("empty-detail").textContent = text;
  $("empty-detail").hidden = which !== "empty";
  $("run-detail").hidden = which !== "run";
  $("sweep-detail").hidden = which !== "sweep";
}

const notFound = (kind, id) => `No ${kind} has the id ${id}; check the address.`;

function showNothing(text = EMPTY_TEXT) {
  runView.close();
  sweepView.close();
  list.selectedId = null;
  show("empty", text);
  list.draw();
  drawSweepList();
}

function showRun(id) {
  if (id === runView.id && $("sweep-detail").hidden && !$("run-detail").hidden) return;
  show("run");
  sweepView.close();
  drawSweepList();
  list.selectedId = id;
  list.draw();
  runView.open(id);
  // On a phone the run opens below the sidebar: bring it into view.
  if (matchMedia("(max-width: 800px)").matches) $("detail").scrollIntoView({ block: "start" });
}

// A run that may not be on the loaded page (a fork's parent, an old link): fetch it first.
async function showRunById(id) {
  if (!list.get(id)) {
    const run = await api.getRun(id).catch(() => null);
    if (parseAddress().run !== id) return; // another view was picked meanwhile
    if (!run) {
      showNothing(notFound("run", id));
      return;
    }
    list.put(run);
  }
  showRun(id);
}

function showSweep(id) {
  runView.close();
  list.selectedId = null;
  show("sweep");
  list.draw();
  sweepView.open(id).then((found) => {
    if (!found && sweepView.id === id) show("empty", notFound("sweep", id));
    drawSweepList();
  });
  drawSweepList();
  if (matchMedia("(max-width: 800px)").matches) $("detail").scrollIntoView({ block: "start" });
}

// -- the run form: checked before sending, errors next to their fields ------------------
$("run-form").addEventListener("input", (e) => clearField(e.target, $("form-error")));
$("run-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const { spec, errors } = readRunForm(form);
  if (!showErrors(form, $("form-error"), errors)) {
    focusFirstError(form);
    return;
  }
  try {
    const run = await api.submitRun(spec);
    list.put(run); // shown even when the filter would hide it: it is selected
    selectRun(run.id);
  } catch (err) {
    const { errors: fields, problem } = serverErrors(form, err);
    showErrors(form, $("form-error"), fields, problem);
  }
});

// -- workers: once over REST, then pushed by the server whenever they change -------------
const runName = (id) => list.get(id)?.name ?? id.slice(0, 8);
const workerLoad = new Map(); // each worker's recent CPU %, from the pushes, for its sparkline
let workersNow = [];
function showWorkers(workers) {
  workersNow = workers;
  for (const w of workers) {
    const points = workerLoad.get(w.name) || [];
    if (w.load) points.push(w.load.cpu_percent);
    workerLoad.set(w.name, points.slice(-30));
  }
  drawWorkers();
}
// A worker's heartbeat names its run every few seconds; the run records say it at once,
// so the chip agrees with the list: never "idle" beside a run it trains, never "running"
// a run that has ended.
function drawWorkers() {
  const running = new Map(
    [...list.runs.values()].filter((r) => r.status === STATUS.RUNNING && r.worker).map((r) => [r.worker, r.id]),
  );
  const ended = (id) => list.get(id) && !ACTIVE.has(list.get(id).status);
  const current = (w) => (w.current_run && !ended(w.current_run) ? w.current_run : running.get(w.name) || null);
  renderWorkers(
    $("workers"),
    workersNow.map((w) => ({ ...w, current_run: current(w) })),
    runName,
    workerLoad,
  );
}
api
  .listWorkers()
  .then(showWorkers)
  .catch(() => {});
socket.on("workers", (msg) => showWorkers(msg.workers));

// -- sweeps: the list and the form -------------------------------------------------------
let sweeps = [];
let sweepListTimer = null;
function drawSweepList() {
  renderSweepList($("sweep-list"), sweeps, sweepView.id, selectSweep);
}
async function refreshSweeps() {
  sweeps = await api.listSweeps().catch(() => sweeps);
  drawSweepList();
}
function scheduleSweepList() {
  if (!sweepListTimer)
    sweepListTimer = setTimeout(() => {
      sweepListTimer = null;
      refreshSweeps();
    }, 2000);
}

// The preview counts only what would be sent: a bad value or too many runs is an error
// here, before submitting, with the field highlighted.
function previewSweep() {
  const form = $("sweep-form");
  const sweep = readSweepForm(form);
  const bad = sweep.errors.size || (sweep.problem && sweep.count);
  showErrors(form, $("sweep-error"), sweep.errors, sweep.count ? sweep.problem : null, sweep.swept);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const made = !sweep.search
    ? `→ ${plural(sweep.count, "run")}`
    : sweep.body.method === "pbt"
      ? `→ a population of ${sweep.count}, forking every ${plural(sweep.body.interval ?? 1, "epoch")}`
      : `→ ${plural(sweep.count, "trial")}, proposed as results come back`;
  $("sweep-count").textContent = bad ? "" : sweep.problem || made;
  return bad ? null : sweep;
}
$("sweep-form").addEventListener("input", previewSweep);
$("sweep-form").elements.pruner_type.addEventListener("change", () => showMethod($("sweep-form")));
$("sweep-method").addEventListener("change", () => {
  showMethod($("sweep-form"));
  previewSweep();
});
showMethod($("sweep-form"));
$("sweep-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const sweep = previewSweep();
  if (sweep?.problem) showErrors(e.target, $("sweep-error"), new Map(), sweep.problem);
  if (!sweep || sweep.problem) {
    focusFirstError(e.target);
    return;
  }
  try {
    const created = await api.createSweep(sweep.body);
    created.runs.forEach((r) => list.put(r));
    list.draw();
    await refreshSweeps();
    selectSweep(created.id);
  } catch (err) {
    const { errors, problem } = serverErrors(e.target, err);
    showErrors(e.target, $("sweep-error"), errors, problem);
  }
});
$("cancel-sweep").addEventListener("click", async () => {
  const sweep = sweepView.sweep;
  if (!sweep?.id) return;
  const left = Object.entries(sweep.counts || {}).reduce((n, [status, k]) => n + (ACTIVE.has(status) ? k : 0), 0);
  const sure = await confirmAction(
    `Cancel the sweep “${sweep.name}”? Its ${left} queued and running runs stop; finished runs are kept.`,
    "Cancel sweep",
    "Keep it running",
  );
  if (sure)
    api
      .cancelSweep(sweep.id)
      .then(() => sweepView.refresh())
      .catch((err) => alert(err.message));
});
previewSweep();
refreshSweeps();

list.refresh().then(route);
