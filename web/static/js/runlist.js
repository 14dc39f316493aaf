// The run list: paged by the server (newest first; status filter and name search are
// server-side too), so thousands of runs cost one page; "Load more" follows the cursor.
// Live run_update pushes keep it current, queue positions included.
import * as api from "./api.js";
import { $, confirmAction, ACTIVE, STATUS, WAITING } from "./dom.js";
import { observe } from "./throughput.js";
import { renderRunList, tickElapsed } from "./views.js";

export class RunList {
  constructor({ compare, onSelect, onCompare }) {
    this.runs = new Map(); // id -> record, the page of runs shown (and the selected run)
    this.compare = compare;
    this.onSelect = onSelect;
    this.onCompare = onCompare; // a run's "compare" box was ticked or unticked
    this.selectedId = null;
    this.nextCursor = null;
    $("status-filter").addEventListener("change", () => this.refresh());
    let timer = null;
    $("run-search").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.refresh(), 250);
    });
    $("load-more").addEventListener("click", () => this.loadMore());
    setInterval(() => tickElapsed($("run-list")), 1000);
  }

  query() {
    return { status: $("status-filter").value, q: $("run-search").value.trim() };
  }

  matches(run) {
    const { status, q } = this.query();
    return (!status || run.status === status) && (!q || run.name.toLowerCase().includes(q.toLowerCase()));
  }

  get(id) {
    return this.runs.get(id);
  }

  put(run) {
    this.runs.set(run.id, mergeRecord(this.runs.get(run.id), run));
  }

  async refresh() {
    const query = this.query();
    const page = await api.listRuns(query);
    if (JSON.stringify(query) !== JSON.stringify(this.query())) return; // typed on meanwhile
    const selected = this.runs.get(this.selectedId);
    this.runs.clear();
    if (selected) this.runs.set(selected.id, selected);
    page.runs.forEach((r) => this.runs.set(r.id, r));
    this.nextCursor = page.next_cursor;
    this.draw();
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const page = await api.listRuns({ ...this.query(), cursor: this.nextCursor });
    page.runs.forEach((r) => this.runs.set(r.id, r));
    this.nextCursor = page.next_cursor;
    this.draw();
  }

  // A pushed record: false when the run is not in the list the user is looking at.
  update(run) {
    const known = this.runs.get(run.id);
    if (!known && !this.matches(run)) return false;
    this.notePosition(run, known?.status);
    // Pushed records carry the run's progress about once a second: they feed its
    // throughput window (throughput.js) unless its events already do.
    const p = run.progress;
    if (p?.steps_per_epoch) observe(run.id, Date.now() / 1000, (p.epoch - 1) * p.steps_per_epoch + p.step, p.images_per_sec);
    this.put(run);
    this.draw();
    return true;
  }

  // Queue positions come from the server; when a run leaves the queue, the ones behind it move up.
  notePosition(run, before) {
    const waiting = (s) => WAITING.has(s);
    if (waiting(before) && !waiting(run.status)) {
      const left = this.runs.get(run.id)?.queue_position;
      for (const other of this.runs.values()) {
        if (left != null && other.queue_position > left) other.queue_position -= 1;
      }
      run.queue_position = null;
    } else if (!waiting(before) && waiting(run.status)) {
      run.queue_position = [...this.runs.values()].filter((r) => waiting(r.status) && r.id !== run.id).length + 1;
    }
  }

  // At most one redraw a second for live progress (a draw renders the whole page of runs).
  drawSoon() {
    if (this.drawTimer) return;
    this.drawTimer = setTimeout(() => {
      this.drawTimer = null;
      this.draw();
    }, 1000);
  }

  draw() {
    const sorted = [...this.runs.values()]
      .filter((r) => this.matches(r) || r.id === this.selectedId)
      .sort((a, b) => b.created_at - a.created_at);
    renderRunList($("run-list"), sorted, {
      selectedId: this.selectedId,
      onSelect: this.onSelect,
      onCancel: (id) => cancelRun(this.runs.get(id)),
      compared: this.compare,
      onCompare: (run) => this.onCompare(run),
    });
    $("load-more").hidden = !this.nextCursor;
    tickElapsed($("run-list"));
  }
}

// Cancelling cannot be undone: the page asks first (run list and run header alike).
export async function cancelRun(run) {
  const what =
    run.status === STATUS.RUNNING
      ? "It stops after its current batch; its finished epochs and checkpoints are kept."
      : "It leaves the queue without training.";
  if (!(await confirmAction(`Cancel “${run.name}”? ${what}`, "Cancel run", "Keep it"))) return;
  try {
    await api.cancelRun(run.id);
  } catch (err) {
    alert(err.message);
  }
}

// Is progress `a` ({epoch, step}) before `b`?
// What the list keeps when a run's record (or part of one) arrives. Records (run_update,
// progress copied once a second by its worker) and the followed run's events travel apart,
// so a record may arrive after newer events: it never takes the row back. A run that has
// ended stays ended (no status leads out of a terminal one, shared.lifecycle); within one
// status, progress never goes backwards (a new status, such as resuming from a checkpoint,
// may).
export function mergeRecord(old, run) {
  if (old && !ACTIVE.has(old.status) && ACTIVE.has(run.status)) return old;
  const merged = { ...old, ...run };
  if (old?.progress && run.progress && (run.status ?? old.status) === old.status && behind(run.progress, old.progress)) {
    merged.progress = old.progress;
  }
  return merged;
}

function behind(a, b) {
  return a.epoch < b.epoch || (a.epoch === b.epoch && a.step < b.step);
}
