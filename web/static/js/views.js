// DOM rendering of the run list, the confusion matrix and workers.
import { el, pct, formatDuration, ACTIVE, BEST, STATUS, WAITING } from "./dom.js";
import { etaSeconds, position } from "./throughput.js";

export function renderRunList(listEl, runs, { selectedId, onSelect, onCancel, compared, onCompare }) {
  listEl.replaceChildren();
  for (const run of runs) {
    const live = ACTIVE.has(run.status) && run.progress ? run.progress : null;
    // A run that stopped early (cancelled, failed) shows where it stopped.
    const stopped = !live && run.status !== STATUS.SUCCEEDED && run.progress ? run.progress : null;
    const at = position(run, { live: live || stopped, succeeded: run.status === STATUS.SUCCEEDED });
    const done = at.fraction;
    const meta = [
      stopped ? `stopped in epoch ${at.epoch}/${run.spec.epochs}` : `epoch ${live ? at.epoch : run.epoch}/${run.spec.epochs}`,
    ];
    if (live) {
      meta.unshift(`${(done * 100).toFixed(0)}%`);
      const eta = run.status === STATUS.RUNNING ? etaSeconds(run, at.batches, at.total) : null;
      if (eta != null) meta.push(`ETA ${formatDuration(eta)}`);
    }
    if (run.parent_run_id) meta.push(`fork@${run.forked_from_epoch}`);
    if (run.metrics && run.metrics[BEST] != null) meta.push(`best ${pct(run.metrics[BEST])}`);
    if (run.queue_position != null && WAITING.has(run.status)) {
      meta.push(`#${run.queue_position} in queue`);
    }
    if (run.worker) meta.push(run.worker);
    if (run.restarts) meta.push(`restarted ${run.restarts}×`);
    const item = el(
      "li",
      {
        class: `run ${run.id === selectedId ? "selected" : ""}`,
        tabindex: "0",
        "data-run-id": run.id,
        "data-status": run.status,
        onclick: () => onSelect(run.id),
        onkeydown: (e) => {
          if (e.key === "Enter") onSelect(run.id);
        },
      },
      el(
        "div",
        { class: "row" },
        el("span", { class: "run-name" }, run.name),
        el("span", { class: `badge badge-${run.status}` }, run.status),
      ),
      el("div", { class: "progress small" }, el("div", { style: `width:${Math.round(done * 100)}%` })),
      el(
        "div",
        { class: "row" },
        el(
          "span",
          { class: "muted" },
          meta.join(" · "),
          run.started_at
            ? el(
                "span",
                {
                  class: "elapsed",
                  "data-start": run.started_at,
                  "data-end": ACTIVE.has(run.status) ? "" : (run.finished_at ?? ""),
                },
                "",
              )
            : "",
        ),
        (() => {
          const box = el("input", { type: "checkbox", "aria-label": `Compare ${run.name}` });
          box.checked = compared.has(run.id);
          box.addEventListener("click", (e) => e.stopPropagation());
          box.addEventListener("change", () => onCompare(run));
          return el("label", { class: "compare-toggle", onclick: (e) => e.stopPropagation() }, box, "compare");
        })(),
      ),
    );
    if (ACTIVE.has(run.status)) {
      item.querySelector(".row").append(
        el(
          "button",
          {
            class: "danger small",
            type: "button",
            "aria-label": `Cancel ${run.name}`,
            onclick: (e) => {
              e.stopPropagation();
              onCancel(run.id);
            },
          },
          "Cancel",
        ),
      );
    }
    listEl.append(item);
  }
}

// Elapsed times in the run list tick in place, without re-rendering the list.
export function tickElapsed(root) {
  const now = Date.now() / 1000;
  for (const span of root.querySelectorAll(".elapsed")) {
    const end = span.dataset.end ? Number(span.dataset.end) : now;
    span.textContent = ` · ${formatDuration(end - Number(span.dataset.start))}`;
  }
}

export function renderConfusion(container, matrix) {
  if (!matrix) {
    container.replaceChildren();
    return;
  }
  const max = Math.max(1, ...matrix.flatMap((row, i) => row.filter((_, j) => j !== i)));
  const head = el("tr", {}, el("th", {}, "true \\ pred"), ...matrix.map((_, j) => el("th", {}, String(j))), el("th", {}, "acc"));
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el(
      "tr",
      {},
      el("th", {}, String(i)),
      ...row.map((n, j) => {
        const heat = i === j ? 0 : n / max;
        return el("td", { style: i === j ? "background:#e3f4e8" : `background:rgba(192,57,43,${heat * 0.8})` }, String(n));
      }),
      el("td", {}, `${((row[i] / total) * 100).toFixed(1)}%`),
    );
  });
  container.replaceChildren(el("table", { class: "confusion" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function loadText(load) {
  if (!load) return "";
  let text = ` · cpu ${Math.round(load.cpu_percent)}% · ${Math.round(load.memory_mb)} MiB`;
  if (load.gpu_memory_mb != null) {
    text +=
      ` · gpu ${load.gpu_util_percent != null ? `${load.gpu_util_percent}% ` : ""}` +
      `${(load.gpu_memory_mb / 1024).toFixed(1)}/${(load.gpu_memory_total_mb / 1024).toFixed(0)} GiB`;
  }
  return text;
}

// A tiny line of recent values (CPU % over the last minute), as inline SVG.
function sparkline(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", "60");
  svg.setAttribute("height", "14");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("aria-hidden", "true");
  const top = Math.max(100, ...values);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute(
    "points",
    values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 60},${14 - (v / top) * 13}`).join(" "),
  );
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "1.2");
  svg.append(line);
  return svg;
}

export function renderWorkers(container, workers, runName = (id) => id.slice(0, 8), history = new Map()) {
  container.replaceChildren(
    ...(workers.length
      ? workers.map((w) =>
          el(
            "span",
            {
              class: "worker",
              "data-worker": w.name,
              title: `${w.host} pid ${w.pid} · last seen ${new Date(w.last_seen * 1000).toLocaleTimeString()}`,
            },
            `${w.name} · ${w.device} · ${w.current_run ? `running ${runName(w.current_run)}` : "idle"}${loadText(w.load)}`,
            ...(history.get(w.name)?.length > 1 ? [sparkline(history.get(w.name))] : []),
          ),
        )
      : [el("span", { class: "muted" }, "no workers")]),
  );
}
