// Inside the selected run's model: the layer table, weight/gradient distributions over
// epochs (one heat strip per layer, as TensorBoard's distributions), the first conv
// layer's filters per epoch, and the feature maps of any image (drawn or a test sample).
import * as api from "./api.js";
import { $, MISSING, el } from "./dom.js";

const fmt = (n) => n.toLocaleString("en-US");

// What the inside views say while there is nothing to show: before training starts, or
// for good once a run ended without training a batch (cancelled while it waited).
const PENDING = {
  summary: "written when the run starts training",
  layers: "recorded when training starts and after each epoch",
  filters: "when training starts",
};
const NEVER_TRAINED = "none: the run ended before it trained";

export function renderModelSummary(container, summary, pending = PENDING.summary) {
  if (!summary) {
    container.replaceChildren(el("p", { class: "muted" }, pending));
    return;
  }
  const rows = summary.layers.map((l) =>
    el(
      "tr",
      { class: l.params ? "" : "muted" },
      el("td", {}, l.name),
      el("td", {}, l.type),
      el("td", {}, l.output_shape.join("×")),
      el("td", { class: "num" }, l.params ? fmt(l.params) : MISSING),
      el("td", { class: "num" }, l.macs ? fmt(l.macs) : MISSING),
    ),
  );
  container.replaceChildren(
    el(
      "table",
      { class: "model-table" },
      el("thead", {}, el("tr", {}, ...["layer", "type", "output", "params", "MACs / image"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows),
      el(
        "tfoot",
        {},
        el(
          "tr",
          {},
          el("td", {}, "total"),
          el("td", {}),
          el("td", {}, summary.input_shape.join("×") + " in"),
          el("td", { class: "num" }, fmt(summary.total_params)),
          el("td", { class: "num" }, fmt(summary.total_macs)),
        ),
      ),
    ),
  );
}

// Sequential colour for a 0..1 intensity (dark blue → teal → yellow, close to viridis).
function heat(t) {
  const stops = [
    [13, 8, 135],
    [33, 145, 140],
    [253, 231, 37],
  ];
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  return stops[i].map((c, k) => Math.round(c + (stops[i + 1][k] - c) * f));
}

// Epochs on x, bins on y (low values at the bottom); counts on a log colour scale.
export function drawStrip(canvas, counts) {
  const epochs = counts.length,
    bins = counts[0]?.length || 0;
  canvas.width = Math.max(epochs, 1);
  canvas.height = Math.max(bins, 1);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  counts.forEach((column, x) => {
    const top = Math.log1p(Math.max(...column));
    column.forEach((c, b) => {
      const [r, g, bl] = c ? heat(Math.log1p(c) / top) : [245, 246, 250];
      image.data.set([r, g, bl, 255], ((bins - 1 - b) * canvas.width + x) * 4);
    });
  });
  ctx.putImageData(image, 0, 0);
}

const sci = (v) => (v == null ? MISSING : Math.abs(v) >= 0.01 && Math.abs(v) < 1000 ? v.toPrecision(3) : v.toExponential(1));

// What the pointer is over in a strip: the epoch, the bin's range of values and how many
// weights (or gradients) fell in it. Gradient bins are in signed-log units
// t = sign(g)·(log10|g| − grad_log_min) (shared.layer_stats).
function hoverStrip(canvas, layer, kind, out) {
  const value = kind === "weights" ? (e) => e : (t) => (t === 0 ? 0 : Math.sign(t) * 10 ** (Math.abs(t) + layer.grad_log_min));
  canvas.addEventListener("pointermove", (e) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.min(layer.counts.length - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * layer.counts.length)));
    const bins = layer.counts[x].length;
    const b = bins - 1 - Math.min(bins - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * bins)));
    out.textContent =
      `epoch ${layer.epochs[x]} · ${sci(value(layer.edges[b]))} … ${sci(value(layer.edges[b + 1]))}: ` +
      `${layer.counts[x][b].toLocaleString()} ${kind}`;
  });
  canvas.addEventListener("pointerleave", () => {
    out.textContent = "";
  });
}

export class LayersView {
  constructor(container, kindSelect, { pending = () => PENDING.layers } = {}) {
    this.container = container;
    this.kindSelect = kindSelect;
    this.pending = pending;
    this.runId = null;
    this.ticket = 0;
    kindSelect.addEventListener("change", () => this.refresh());
  }

  open(runId) {
    this.runId = runId;
    this.container.replaceChildren();
    this.refresh();
  }

  async refresh() {
    const id = this.runId,
      ticket = ++this.ticket,
      kind = this.kindSelect.value;
    if (!id) return;
    const index = await api.layers(id).catch(() => null);
    if (!index || ticket !== this.ticket) return;
    if (!index.epochs.length) {
      this.container.replaceChildren(el("p", { class: "muted" }, this.pending()));
      return;
    }
    const layers = await Promise.all(index.layers.map((l) => api.layers(id, l.name, kind).catch(() => null)));
    if (ticket !== this.ticket) return;
    this.container.replaceChildren(
      ...layers.filter(Boolean).map((layer) => {
        // Epoch 0 (the initial weights) has no gradients: that strip starts with epoch 1.
        if (!layer.counts.length) {
          return el(
            "div",
            { class: "layer", "data-layer": layer.layer },
            el("strong", {}, layer.layer),
            el("p", { class: "muted small" }, "gradients after the first epoch"),
          );
        }
        const canvas = el("canvas", { class: "strip", "aria-label": `${layer.layer} ${kind} by epoch` });
        drawStrip(canvas, layer.counts);
        const last = layer.stats[layer.stats.length - 1];
        const flag = layer.latest;
        const edges = layer.edges;
        const axis =
          kind === "weights"
            ? `${sci(edges[0])} … ${sci(edges[edges.length - 1])}`
            : `±1e${layer.grad_log_min} … ±1e${layer.grad_log_min + edges[edges.length - 1]}`;
        const ratio = layer.update_ratio ? layer.update_ratio[layer.update_ratio.length - 1] : null;
        const readout = el("div", { class: "small readout" }, "");
        hoverStrip(canvas, layer, kind, readout);
        return el(
          "div",
          { class: "layer", "data-layer": layer.layer, "data-flag": flag || "" },
          el(
            "div",
            { class: "row" },
            el("strong", {}, layer.layer),
            flag
              ? el(
                  "span",
                  { class: `badge badge-flag-${flag}`, title: `gradients ${flag} in epochs ${layer[flag].join(", ")}` },
                  flag,
                )
              : "",
          ),
          canvas,
          readout,
          el("div", { class: "muted small" }, `epochs ${layer.epochs[0]}–${layer.epochs[layer.epochs.length - 1]} · ${axis}`),
          el(
            "div",
            { class: "muted small" },
            `last: mean ${sci(last.mean)} · std ${sci(last.std)} · rms ${sci(last.rms)}` +
              (ratio != null ? ` · update/weight ${sci(ratio)}` : ""),
          ),
        );
      }),
    );
  }
}

// Diverging colour for a -1..1 value: blue (negative), white, red (positive).
function diverging(v) {
  const t = Math.min(Math.abs(v), 1);
  return v < 0
    ? [Math.round(255 - 190 * t), Math.round(255 - 150 * t), 255]
    : [255, Math.round(255 - 170 * t), Math.round(255 - 190 * t)];
}

export class FiltersView {
  constructor(container, slider, label, { readout, scaleMin, scaleMax, pending = () => PENDING.filters }) {
    this.container = container;
    this.pending = pending;
    this.slider = slider;
    this.label = label;
    this.readout = readout; // the value under the pointer
    this.scaleLabels = { min: scaleMin, max: scaleMax }; // the colour bar's ends
    this.data = null;
    slider.addEventListener("input", () => this.show(Number(slider.value)));
  }

  async open(runId) {
    this.data = null;
    this.container.replaceChildren();
    this.slider.disabled = true;
    const data = await api.filters(runId).catch(() => null);
    if (!data || !data.epochs.length) {
      this.label.textContent = this.pending();
      return;
    }
    this.data = data;
    this.scale = Math.max(...data.filters.flat(2).map(Math.abs)) || 1; // one scale for every epoch
    this.slider.min = "0";
    this.slider.max = String(data.epochs.length - 1);
    this.slider.value = this.slider.max;
    this.slider.disabled = data.epochs.length < 2;
    this.show(data.epochs.length - 1);
  }

  show(i) {
    const { data } = this;
    if (!data) return;
    const [, , kh, kw] = data.shape;
    this.label.textContent = data.epochs[i] === 0 ? "initial weights (epoch 0)" : `epoch ${data.epochs[i]}`;
    this.scaleLabels.min.textContent = `−${sci(this.scale)}`;
    this.scaleLabels.max.textContent = `+${sci(this.scale)}`;
    this.container.replaceChildren(
      ...data.filters[i].map((kernel, k) => {
        const canvas = el("canvas", { width: kw, height: kh, class: "filter", title: `filter ${k}` });
        canvas.addEventListener("pointermove", (e) => {
          const r = canvas.getBoundingClientRect();
          const row = Math.min(kh - 1, Math.floor(((e.clientY - r.top) / r.height) * kh));
          const col = Math.min(kw - 1, Math.floor(((e.clientX - r.left) / r.width) * kw));
          this.readout.textContent = `filter ${k} · row ${row + 1}, column ${col + 1}: ${sci(kernel[row * kw + col])}`;
        });
        canvas.addEventListener("pointerleave", () => {
          this.readout.textContent = "";
        });
        const ctx = canvas.getContext("2d");
        const image = ctx.createImageData(kw, kh);
        kernel.forEach((v, p) => image.data.set([...diverging(v / this.scale), 255], p * 4));
        ctx.putImageData(image, 0, 0);
        return canvas;
      }),
    );
  }
}

// Feature maps: per conv layer a grid of its maps (bytes scaled per map, see the API).
export function renderActivations(container, result, source) {
  container.replaceChildren(
    el("p", { class: "muted" }, `${source} → predicted ${result.pred}`),
    ...result.layers.map((layer) => {
      const [, h, w] = layer.shape;
      const tiles = layer.maps.map((bytes) => {
        const canvas = el("canvas", { width: w, height: h, class: "fmap" });
        const ctx = canvas.getContext("2d");
        const image = ctx.createImageData(w, h);
        bytes.forEach((v, p) => image.data.set([v, v, v, 255], p * 4));
        ctx.putImageData(image, 0, 0);
        return canvas;
      });
      return el(
        "div",
        { class: "fmaps", "data-layer": layer.name },
        el("h4", {}, `${layer.name} · ${layer.shape[0]} maps of ${h}×${w}`),
        el("div", { class: "fmap-grid" }, ...tiles),
      );
    }),
  );
}

// The 784 grey values of a sample tile (its 28×28 canvas), for the activations request.
export function canvasPixels(canvas) {
  const data = canvas.getContext("2d").getImageData(0, 0, 28, 28).data;
  return Array.from({ length: 784 }, (_, i) => data[i * 4]);
}

// Least time between two asks for a model summary that was not there.
const MODEL_RETRY_MS = 5000;

// The run view's "inside the model" card: the model summary, layer histograms and
// first-layer filters, following the run's epochs. `standing()` says whether the open
// run has ended and whether it trained a batch.
export class InsidePanel {
  constructor({ standing }) {
    this.standing = standing;
    this.id = null;
    this.neverTrained = false;
    this.layers = new LayersView($("layers"), $("layers-kind"), {
      pending: () => (this.neverTrained ? NEVER_TRAINED : PENDING.layers),
    });
    this.filters = new FiltersView($("filters"), $("filters-slider"), $("filters-epoch"), {
      readout: $("filters-readout"),
      scaleMin: $("filters-min"),
      scaleMax: $("filters-max"),
      pending: () => (this.neverTrained ? NEVER_TRAINED : PENDING.filters),
    });
  }

  open(id) {
    this.id = id;
    this.neverTrained = false;
    this.layers.open(id);
    this.filters.open(id);
    this.modelShown = false;
    this.modelRetryAt = 0;
    renderModelSummary($("model-summary"), null);
  }

  // The model summary exists once a worker has started training the run. Missing, it is
  // asked for again after MODEL_RETRY_MS, not on every event; a run that has ended without
  // one says why instead of asking on.
  showModel() {
    const id = this.id;
    if (this.modelShown || Date.now() < this.modelRetryAt) return;
    this.modelShown = true;
    api
      .modelSummary(id)
      .then((s) => id === this.id && renderModelSummary($("model-summary"), s))
      .catch(() => {
        if (id !== this.id) return;
        this.modelShown = false;
        this.modelRetryAt = Date.now() + MODEL_RETRY_MS;
        const { ended, trained } = this.standing();
        if (ended && trained) {
          // it trained, yet no summary
          $("model-summary").replaceChildren(
            el(
              "p",
              { class: "muted" },
              "No model summary: the files its worker wrote cannot be reached from this web tier (see ARTIFACTS_URL).",
            ),
          );
        }
      });
  }

  // Layers and filters follow the epochs (at most one refresh in flight per second).
  refresh() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.id) return;
      this.layers.refresh();
      this.filters.open(this.id);
      if ($("model-summary").querySelector("table") == null) this.showModel();
    }, 1000);
  }

  // The open run ended without training a batch: nothing will ever be recorded.
  showNeverTrained() {
    if (this.neverTrained) return;
    this.neverTrained = true;
    renderModelSummary($("model-summary"), null, NEVER_TRAINED);
    this.layers.refresh();
    this.filters.open(this.id);
  }

  close() {
    this.id = null;
  }
}
