// The run view's header: name, status badge, buttons, spec, lineage, worker and the
// numbers (runstate.js says what they read), and the message under them.
import * as api from "./api.js";
import { $, el, ACTIVE, MISSING, STATUS } from "./dom.js";
import { headline, specLine } from "./runstate.js";

export class RunHeader {
  constructor({ list, onOpenRun }) {
    this.list = list;
    this.onOpenRun = onOpenRun; // select another run (a fork's parent or child)
    this.names = new Map(); // run id -> name, for runs not in the list
    this.redraw = () => {};
  }

  // From the record and the state alone; `forkable`: an epoch has been seen. Returns the
  // headline (its status says whether the run has ended).
  draw(run, state, { forkable }) {
    const h = headline(state, run);
    $("run-title").textContent = run.name;
    $("run-title").title = run.name;
    $("run-status").textContent = h.status;
    $("run-status").className = `badge badge-${h.status}`;
    $("cancel-run").hidden = !ACTIVE.has(h.status);
    $("draw-card").hidden = h.status !== STATUS.SUCCEEDED;
    $("fork-run").hidden = !(run.epoch >= 1 || forkable);
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
    // The worker names a fork's parent by id: say its name.
    $("run-message").textContent = run.parent_run_id
      ? h.message.replaceAll(run.parent_run_id, `“${this.nameOf(run.parent_run_id)}”`)
      : h.message;
    return h;
  }

  // A run named by its name: from the list, or fetched once (a parent on another page);
  // the header is drawn again when the name arrives.
  nameOf(id) {
    const known = this.list.get(id)?.name ?? this.names.get(id);
    if (known != null) return known;
    this.names.set(id, id.slice(0, 8));
    api
      .getRun(id)
      .then((r) => {
        this.names.set(id, r.name);
        this.redraw();
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
}
