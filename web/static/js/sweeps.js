// Sweeps on the page (forms.js reads and checks the form): the list, and a sweep's view —
// a search's own card (search.js), every run overlaid, parallel coordinates (brush an axis to keep a range of runs), final
// accuracy against each swept field, a sortable table with the best run marked — kept live
// as runs finish.
import uPlot from "/vendor/uPlot.esm.js";
import * as api from "./api.js";
import { el, pct, ACTIVE, BEST, MISSING, POINTS, REFRESH_MS, SERIES, STATUS } from "./dom.js";
import { ParallelCoordinates } from "./parallel.js";
import { CompareChart, comparedRun } from "./compare.js";
import { SearchPanel } from "./search.js";

export class SweepView {
  constructor($, { onOpenRun, onStarted }) {
    this.$ = $;
    this.onOpenRun = onOpenRun;
    this.search = new SearchPanel($, { onOpenRun, onStarted });
    this.chart = new CompareChart($("sweep-loss"), $("sweep-acc"));
    this.kept = null; // ids inside the parallel coordinates' brushes (null: no brush)
    this.parallel = new ParallelCoordinates($("sweep-parallel"), {
      onFilter: (kept) => {
        this.kept = kept;
        this.drawRuns();
      },
    });
    $("sweep-axis").addEventListener("change", (e) => {
      this.chart.setAxis(e.target.value);
      if (this.sweep?.runs) this.drawRuns();
    });
    $("sweep-clear-brush").addEventListener("click", () => {
      this.parallel.clear();
      this.kept = null;
      this.draw();
    });
    this.sweep = null;
    this.series = new Map(); // run id -> {loss, accuracy, status}
    this.sortKey = "best";
    this.sortDown = true;
    this.timer = null;
    this.scatters = [];
  }

  get id() {
    return this.sweep?.id ?? null;
  }

  async open(id) {
    this.sweep = { id };
    this.series.clear();
    this.parallel.clear();
    this.kept = null;
    await this.refresh();
    return this.sweep?.runs !== undefined; // false: there is no such sweep
  }

  close() {
    this.sweep = null;
    clearTimeout(this.timer);
    this.timer = null;
  }

  // A run changed. If it is one of ours, the pushed record is the newest word on it: the
  // summary and the table take it at once, as the run list does; curves, plots and the
  // best run follow with a refresh (at most every REFRESH_MS).
  changed(run) {
    if (!this.sweep || run.sweep_id !== this.sweep.id) return;
    const runs = this.sweep.runs || [];
    const i = runs.findIndex((r) => r.id === run.id);
    if (i >= 0) {
      runs[i] = { ...runs[i], ...run };
      this.sweep.counts = {};
      for (const r of runs) this.sweep.counts[r.status] = (this.sweep.counts[r.status] || 0) + 1;
      this.drawSummary();
      this.drawTable();
    }
    if (!this.timer)
      this.timer = setTimeout(() => {
        this.timer = null;
        this.refresh();
      }, REFRESH_MS);
  }

  async refresh() {
    const id = this.id;
    const sweep = await api.getSweep(id).catch(() => null);
    if (!sweep || id !== this.id) return;
    this.sweep = sweep;
    await Promise.all(
      sweep.runs.map(async (run) => {
        const known = this.series.get(run.id);
        if (known && known.status === run.status && !ACTIVE.has(run.status)) return;
        const [loss, accuracy] = await Promise.all([
          api.series(run.id, SERIES.BATCH_LOSS, { points: POINTS.sweep }),
          api.series(run.id, SERIES.TEST_ACCURACY),
        ]).catch(() => [null, null]);
        if (loss) this.series.set(run.id, { loss, accuracy, status: run.status });
      }),
    );
    if (id !== this.id) return;
    this.draw();
    // A search proposes runs and finishes between run changes (its conductor): look again.
    if (sweep.proposals && !sweep.finished && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.refresh();
      }, 2 * REFRESH_MS);
    }
  }

  drawSummary() {
    const { $ } = this;
    const s = this.sweep;
    $("sweep-title").textContent = `Sweep: ${s.name}`;
    const counts = Object.entries(s.counts)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
    const made = s.proposals ? `${s.method} search, ${(s.runs || []).length} runs so far` : `${s.count} runs`;
    $("sweep-summary").textContent =
      `${made} over ${s.swept.join(", ")}${counts ? ` · ${counts}` : ""}` +
      (s[BEST] != null ? ` · best ${pct(s[BEST])}` : "") +
      (s.finished ? (s.cancelled ? " · cancelled, finished" : " · finished") : s.cancelled ? " · cancelling" : "");
    const best = (s.runs || []).find((r) => r.id === s.best_run_id);
    if (best)
      $("sweep-summary").append(
        " · ",
        el("a", { href: `#run=${best.id}`, class: "best-run" }, `open the best run: ${best.name}`),
      );
    $("cancel-sweep").hidden = s.finished;
  }

  draw() {
    const s = this.sweep;
    this.drawSummary();
    this.search.render(s);
    this.parallel.render(
      s.runs,
      [
        ...s.swept.map((f) => ({ name: f, label: f, value: (r) => r.spec[f] })),
        { name: "best", label: "best acc %", value: (r) => (r.metrics?.[BEST] != null ? r.metrics[BEST] * 100 : null) },
      ],
      s.best_run_id,
    );
    this.kept = this.parallel.kept();
    this.drawScatter();
    this.drawRuns();
  }

  // The overlay and the table: with a brush, the kept runs stand out and the rest fade
  // (overlay) or leave the table.
  drawRuns() {
    const s = this.sweep;
    const drawn = s.runs.filter((r) => this.series.has(r.id));
    this.chart.render(
      drawn.map((r) => {
        const { loss, accuracy } = this.series.get(r.id);
        return comparedRun(r, loss, accuracy, this.kept != null && !this.kept.has(r.id));
      }),
    );
    const shown = this.kept ? s.runs.filter((r) => this.kept.has(r.id)).length : s.runs.length;
    this.$("sweep-brush-note").textContent = this.kept ? `${shown} of ${s.runs.length} runs in the brushed ranges` : "";
    this.$("sweep-clear-brush").hidden = !this.kept;
    this.drawTable();
  }

  drawScatter() {
    const container = this.$("sweep-scatter");
    this.scatters.forEach((p) => p.destroy());
    this.scatters = [];
    container.replaceChildren();
    const scored = this.sweep.runs.filter((r) => r.metrics?.[BEST] != null);
    // One or two plots a row, as wide as the card allows.
    const width = Math.max(240, Math.floor((container.clientWidth - 16) / Math.min(2, this.sweep.swept.length || 1)) - 12);
    for (const field of this.sweep.swept) {
      const values = [...new Set(this.sweep.runs.map((r) => r.spec[field]))];
      const numeric = values.every((v) => typeof v === "number");
      const sorted = numeric ? values.sort((a, b) => a - b) : values;
      const xOf = (v) => (numeric ? v : sorted.indexOf(v));
      const pts = scored.map((r) => [xOf(r.spec[field]), r.metrics[BEST] * 100]).sort((a, b) => a[0] - b[0]);
      const best = scored.find((r) => r.id === this.sweep.best_run_id);
      const holder = el("div", { class: "scatter", "data-field": field });
      container.append(holder);
      const logX = numeric && field === "lr";
      this.scatters.push(
        new uPlot(
          {
            width,
            height: 220,
            title: field,
            legend: { show: false },
            // Room around the dots, so the best (drawn larger) is never clipped at the top.
            scales: {
              x: { time: false, distr: logX ? 3 : 1, range: padded(logX) },
              y: {
                range: (u, lo, hi) =>
                  lo == null
                    ? [0, 100]
                    : [Math.max(0, lo - Math.max(1, (hi - lo) * 0.15)), Math.min(101, hi + Math.max(1, (hi - lo) * 0.15))],
              },
            },
            axes: [
              { label: field, values: numeric ? undefined : (u, ticks) => ticks.map((t) => sorted[t] ?? "") },
              { label: "best acc %" },
            ],
            series: [
              {},
              { label: "runs", stroke: "#1f5fbf", width: 0, points: { size: 8, fill: "#1f5fbf" } },
              { label: "best", stroke: "#e0a800", width: 0, points: { size: 14, fill: "#e0a800" } },
            ],
          },
          [
            pts.map((p) => p[0]),
            pts.map((p) => p[1]),
            pts.map((p) => (best && p[0] === xOf(best.spec[field]) && p[1] === best.metrics[BEST] * 100 ? p[1] : null)),
          ],
          holder,
        ),
      );
    }
  }

  drawTable() {
    const s = this.sweep;
    const cols = [["name", "run"], ["status", "status"], ...s.swept.map((f) => [f, f]), ["best", "best acc"]];
    const value = (run, key) =>
      key === "best" ? (run.metrics?.[BEST] ?? -1) : key === "name" || key === "status" ? run[key] : run.spec[key];
    const rows = s.runs
      .filter((r) => !this.kept || this.kept.has(r.id))
      .sort((a, b) => {
        const x = value(a, this.sortKey),
          y = value(b, this.sortKey);
        return (x < y ? -1 : x > y ? 1 : 0) * (this.sortDown ? -1 : 1);
      });
    const head = el(
      "tr",
      {},
      ...cols.map(([key, label]) =>
        el(
          "th",
          {
            "data-key": key,
            onclick: () => {
              this.sortDown = this.sortKey === key ? !this.sortDown : true;
              this.sortKey = key;
              this.drawTable();
            },
          },
          label + (this.sortKey === key ? (this.sortDown ? " ▼" : " ▲") : ""),
        ),
      ),
    );
    this.$("sweep-table").replaceChildren(
      el("thead", {}, head),
      el(
        "tbody",
        {},
        ...rows.map((run) =>
          el(
            "tr",
            {
              "data-run-id": run.id,
              class: run.id === s.best_run_id ? "best" : "",
              onclick: () => this.onOpenRun(run),
            },
            ...cols.map(([key]) =>
              el(
                "td",
                {},
                key === "best"
                  ? `${run.metrics?.[BEST] != null ? pct(run.metrics[BEST]) : MISSING}${run.id === s.best_run_id ? " ★" : ""}`
                  : key === "status"
                    ? statusCell(run, s)
                    : shown(value(run, key)),
              ),
            ),
          ),
        ),
      ),
    );
  }
}

// A swept value as the table shows it: numbers to 6 significant digits (as run names).
const shown = (v) => (typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(6))) : String(v));

// A run's status in a sweep's table, with what the search did to it: stopped at a rung,
// or a PBT member that took another's state.
function statusCell(run, sweep) {
  const proposal = sweep.proposals?.find((p) => p.run_id === run.id);
  const note = run.stopped_early
    ? `stopped at epoch ${run.stopped_at_epoch ?? run.epoch}`
    : proposal?.exploit
      ? "forked from a top member"
      : proposal?.generation
        ? `generation ${proposal.generation}`
        : "";
  return el(
    "span",
    {},
    el("span", { class: `badge badge-${run.status}` }, run.status),
    note ? el("span", { class: `search-mark${run.stopped_early ? " pruned" : ""}` }, ` ${note}`) : "",
  );
}

// An x range with a margin on each side (in log space on a log axis).
function padded(log) {
  return (u, lo, hi) => {
    if (lo == null || (log && !(lo > 0))) return log ? [1e-4, 1e-2] : [0, 1]; // nothing to draw yet
    if (log) return [lo / 1.5, hi * 1.5];
    const pad = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.05, 0.5);
    return [lo - pad, hi + pad];
  };
}

export function renderSweepList(listEl, sweeps, selectedId, onSelect) {
  listEl.replaceChildren(
    ...(sweeps.length
      ? sweeps.map((s) =>
          el(
            "li",
            {
              class: `run ${s.id === selectedId ? "selected" : ""}`,
              tabindex: "0",
              "data-sweep-id": s.id,
              onclick: () => onSelect(s.id),
              onkeydown: (e) => {
                if (e.key === "Enter") onSelect(s.id);
              },
            },
            el(
              "div",
              { class: "row" },
              el("span", { class: "run-name" }, s.name),
              el(
                "span",
                { class: `badge badge-${s.cancelled ? STATUS.CANCELLED : s.finished ? STATUS.SUCCEEDED : STATUS.RUNNING}` },
                s.cancelled ? (s.finished ? "cancelled" : "cancelling") : s.finished ? "done" : "active",
              ),
            ),
            el(
              "div",
              { class: "muted" },
              `${s.proposals ? `${s.method} search, ${s.run_ids.length} runs` : `${s.count} runs`} · ${Object.entries(s.counts)
                .map(([k, n]) => `${n} ${k}`)
                .join(", ")}` + (s[BEST] != null ? ` · best ${pct(s[BEST])}` : ""),
            ),
          ),
        )
      : [el("li", { class: "muted" }, "no sweeps yet")]),
  );
}
