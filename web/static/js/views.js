// DOM rendering of the run list, sample predictions and the confusion matrix.
const pct = (x) => (x == null ? "–" : `${(x * 100).toFixed(2)}%`);
// Statuses come from shared.lifecycle through the page (see index.html), written once.
const LIFECYCLE = JSON.parse(document.getElementById("lifecycle")?.textContent || '{"active": [], "waiting": []}');
const ACTIVE = new Set(LIFECYCLE.active);
export const WAITING = new Set(LIFECYCLE.waiting);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

export function renderRunList(listEl, runs, { selectedId, onSelect, onCancel, compared, onCompare }) {
  listEl.replaceChildren();
  for (const run of runs) {
    const p = run.progress;
    const live = ACTIVE.has(run.status) && p && p.steps_per_epoch;
    const done = run.status === "succeeded" ? 1
      : live ? (p.epoch - 1 + p.step / p.steps_per_epoch) / run.spec.epochs : run.epoch / run.spec.epochs;
    const meta = [`epoch ${live ? p.epoch : run.epoch}/${run.spec.epochs}`];
    if (live) {
      meta.unshift(`${(done * 100).toFixed(0)}%`);
      const left = (1 - done) * run.spec.epochs * p.steps_per_epoch * run.spec.batch_size;
      if (p.images_per_sec > 0) meta.push(`ETA ${formatDuration(left / p.images_per_sec)}`);
    }
    if (run.metrics && run.metrics.best_test_accuracy != null) meta.push(`best ${pct(run.metrics.best_test_accuracy)}`);
    if (run.queue_position != null && WAITING.has(run.status)) {
      meta.push(`#${run.queue_position} in queue`);
    }
    if (run.worker) meta.push(run.worker);
    if (run.restarts) meta.push(`restarted ${run.restarts}×`);
    const item = el("li", {
      class: `run ${run.id === selectedId ? "selected" : ""}`, tabindex: "0",
      "data-run-id": run.id, "data-status": run.status,
      onclick: () => onSelect(run.id),
      onkeydown: (e) => { if (e.key === "Enter") onSelect(run.id); },
    },
    el("div", { class: "row" },
      el("span", { class: "run-name" }, run.name),
      el("span", { class: `badge badge-${run.status}` }, run.status)),
    el("div", { class: "progress small" }, el("div", { style: `width:${Math.round(done * 100)}%` })),
    el("div", { class: "row" }, el("span", { class: "muted" }, meta.join(" · "),
        run.started_at ? el("span", { class: "elapsed", "data-start": run.started_at,
          "data-end": ACTIVE.has(run.status) ? "" : (run.finished_at ?? "") }, "") : ""),
      (() => {
        const box = el("input", { type: "checkbox", "aria-label": `Compare ${run.name}` });
        box.checked = compared.has(run.id);
        box.addEventListener("click", (e) => e.stopPropagation());
        box.addEventListener("change", () => onCompare(run));
        return el("label", { class: "compare-toggle", onclick: (e) => e.stopPropagation() }, box, "compare");
      })()));
    if (ACTIVE.has(run.status)) {
      item.querySelector(".row").append(el("button", {
        class: "danger small", type: "button", "aria-label": `Cancel ${run.name}`,
        onclick: (e) => { e.stopPropagation(); onCancel(run.id); },
      }, "Cancel"));
    }
    listEl.append(item);
  }
}

function drawDigit(canvas, item, sprite) {
  const ctx = canvas.getContext("2d");
  if (item.slot != null) {
    if (sprite) ctx.drawImage(sprite, item.slot * 28, 0, 28, 28, 0, 0, 28, 28);
    return;
  }
  const image = item.image || [];
  const data = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = image[i];
    data.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(data, 0, 0);
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// Elapsed times in the run list tick in place, without re-rendering the list.
export function tickElapsed(root) {
  const now = Date.now() / 1000;
  for (const span of root.querySelectorAll(".elapsed")) {
    const end = span.dataset.end ? Number(span.dataset.end) : now;
    span.textContent = ` · ${formatDuration(end - Number(span.dataset.start))}`;
  }
}

export function renderSamples(container, items, sprite = null) {
  container.replaceChildren();
  for (const item of items) {
    const canvas = el("canvas", { width: "28", height: "28", "aria-hidden": "true" });
    drawDigit(canvas, item, sprite);
    const wrong = item.pred !== item.label;
    container.append(el("figure", { class: `sample ${wrong ? "wrong" : ""}`, "data-pred": item.pred, "data-label": item.label },
      canvas,
      el("figcaption", {}, `pred ${item.pred} (${Math.round(item.confidence * 100)}%)`, el("br"), `true ${item.label}`)));
  }
}

export function renderConfusion(container, matrix) {
  if (!matrix) { container.replaceChildren(); return; }
  const max = Math.max(1, ...matrix.flatMap((row, i) => row.filter((_, j) => j !== i)));
  const head = el("tr", {}, el("th", {}, "true \\ pred"), ...matrix.map((_, j) => el("th", {}, String(j))), el("th", {}, "acc"));
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el("tr", {}, el("th", {}, String(i)),
      ...row.map((n, j) => {
        const heat = i === j ? 0 : n / max;
        return el("td", { style: i === j ? "background:#e3f4e8" : `background:rgba(192,57,43,${heat * 0.8})` }, String(n));
      }),
      el("td", {}, `${((row[i] / total) * 100).toFixed(1)}%`));
  });
  container.replaceChildren(el("table", { class: "confusion" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function loadText(load) {
  if (!load) return "";
  let text = ` · cpu ${Math.round(load.cpu_percent)}% · ${Math.round(load.memory_mb)} MiB`;
  if (load.gpu_memory_mb != null) {
    text += ` · gpu ${load.gpu_util_percent != null ? `${load.gpu_util_percent}% ` : ""}` +
      `${(load.gpu_memory_mb / 1024).toFixed(1)}/${(load.gpu_memory_total_mb / 1024).toFixed(0)} GiB`;
  }
  return text;
}

// A tiny line of recent values (CPU % over the last minute), as inline SVG.
function sparkline(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", "60"); svg.setAttribute("height", "14"); svg.setAttribute("class", "sparkline");
  svg.setAttribute("aria-hidden", "true");
  const top = Math.max(100, ...values);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 60},${14 - (v / top) * 13}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "currentColor"); line.setAttribute("stroke-width", "1.2");
  svg.append(line);
  return svg;
}

export function renderWorkers(container, workers, runName = (id) => id.slice(0, 8), history = new Map()) {
  container.replaceChildren(...(workers.length ? workers.map((w) =>
    el("span", { class: "worker", "data-worker": w.name, title: `${w.host} pid ${w.pid} · last seen ${new Date(w.last_seen * 1000).toLocaleTimeString()}` },
      `${w.name} · ${w.device} · ${w.current_run ? `running ${runName(w.current_run)}` : "idle"}${loadText(w.load)}`,
      ...(history.get(w.name)?.length > 1 ? [sparkline(history.get(w.name))] : [])))
    : [el("span", { class: "muted" }, "no workers")]));
}

export { pct, ACTIVE };
