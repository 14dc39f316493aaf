// Parallel coordinates for a sweep: one vertical axis per swept field and one for the
// best accuracy, one line per run. Drag along an axis to keep a range (drag again to
// change it, click the axis to clear it); the kept runs are reported to onFilter.
//
// Plain SVG: uPlot draws x/y series only, and a dependency (d3 and its brush, or
// Plotly's parcoords at ~3.5 MB) would outweigh this one view of at most 200 lines.
const SVG = "http://www.w3.org/2000/svg";
const PAD = { top: 28, bottom: 26, side: 56 };
// Values keep off the axis ends, so a line at a field's extreme never lies on the frame
// (with two runs every line would otherwise trace the top or the bottom edge).
const INSET = 0.06;
const inset = (t) => (t == null ? null : INSET + (1 - 2 * INSET) * t);

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// Where a value sits on its axis, 0 (bottom) .. 1 (top), and the axis' tick labels.
export function axisScale(values) {
  const present = values.filter((v) => v != null);
  const numeric = present.length > 0 && present.every((v) => typeof v === "number");
  if (!numeric) {
    const levels = [...new Set(present.map(String))].sort();
    const at = (v) => inset(levels.length < 2 ? 0.5 : levels.indexOf(String(v)) / (levels.length - 1));
    return { at: (v) => (v == null ? null : at(v)), ticks: levels.map((l) => [at(l), l]) };
  }
  let lo = Math.min(...present),
    hi = Math.max(...present);
  const log = lo > 0 && hi / lo >= 10;
  const f = log ? Math.log10 : (v) => v;
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const at = (v) => (v == null ? null : inset((f(v) - f(lo)) / (f(hi) - f(lo) || 1)));
  const label = (v) => (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(0) : String(Number(v.toPrecision(3))));
  const ticks = [...new Set(present)].sort((a, b) => a - b);
  return { at, ticks: (ticks.length <= 6 ? ticks : [lo, hi]).map((v) => [at(v), label(v)]) };
}

export class ParallelCoordinates {
  constructor(container, { onFilter }) {
    this.container = container;
    this.onFilter = onFilter;
    this.brushes = new Map(); // axis name -> [lo, hi] in 0..1 of the axis
    this.key = "";
  }

  // axes: [{name, label, value: (run) => v}]; runs: records.
  render(runs, axes, highlight = null) {
    const key = axes.map((a) => a.name).join("|");
    if (key !== this.key) {
      this.brushes.clear();
      this.key = key;
    }
    const width = Math.max(this.container.clientWidth - 8, 360),
      height = 260;
    const x = (i) => PAD.side + (i * (width - 2 * PAD.side)) / Math.max(axes.length - 1, 1);
    const y = (t) => PAD.top + (1 - t) * (height - PAD.top - PAD.bottom);
    const scales = axes.map((a) => axisScale(runs.map(a.value)));
    this.positions = new Map(runs.map((r) => [r.id, axes.map((a, i) => scales[i].at(a.value(r)))]));
    const root = svg("svg", {
      width,
      height,
      class: "parcoords",
      role: "img",
      "aria-label": "Parallel coordinates of the sweep",
    });
    const kept = this.kept();
    for (const run of runs) {
      const points = this.positions
        .get(run.id)
        .map((t, i) => (t == null ? null : `${x(i)},${y(t)}`))
        .filter(Boolean);
      const on = !kept || kept.has(run.id);
      root.append(
        svg("polyline", {
          points: points.join(" "),
          "data-run-id": run.id,
          class: `pc-line${on ? "" : " pc-out"}${run.id === highlight ? " pc-best" : ""}`,
        }),
      );
    }
    axes.forEach((axis, i) => {
      const g = svg("g", { class: "pc-axis", "data-axis": axis.name });
      g.append(svg("line", { x1: x(i), x2: x(i), y1: y(0), y2: y(1) }));
      const title = svg("text", { x: x(i), y: PAD.top - 12, "text-anchor": "middle", class: "pc-title" });
      title.textContent = axis.label;
      g.append(title);
      for (const [t, label] of scales[i].ticks) {
        const tick = svg("text", { x: x(i) - 6, y: y(t) + 4, "text-anchor": "end", class: "pc-tick" });
        tick.textContent = label;
        g.append(tick);
      }
      const brush = this.brushes.get(axis.name);
      if (brush)
        g.append(svg("rect", { x: x(i) - 8, width: 16, y: y(brush[1]), height: y(brush[0]) - y(brush[1]), class: "pc-brush" }));
      const hit = svg("rect", { x: x(i) - 14, width: 28, y: y(1), height: y(0) - y(1), class: "pc-hit" });
      this.dragOn(
        hit,
        axis.name,
        (py) => 1 - (py - PAD.top) / (height - PAD.top - PAD.bottom),
        () => this.render(runs, axes, highlight),
      );
      g.append(hit);
      root.append(g);
    });
    this.container.replaceChildren(root);
  }

  dragOn(hit, name, toT, redraw) {
    hit.addEventListener("pointerdown", (down) => {
      down.preventDefault();
      hit.setPointerCapture(down.pointerId);
      const box = hit.ownerSVGElement.getBoundingClientRect();
      const start = toT(down.clientY - box.top);
      // Within a few pixels of an axis end counts as the end (its values sit exactly there).
      const snap = (t) => (t > 0.97 ? 1 : t < 0.03 ? 0 : t);
      const move = (e) => {
        const t = toT(e.clientY - box.top);
        this.brushes.set(name, [snap(Math.min(start, t)), snap(Math.max(start, t))]);
      };
      const up = (e) => {
        hit.removeEventListener("pointermove", move);
        hit.removeEventListener("pointerup", up);
        if (Math.abs(toT(e.clientY - box.top) - start) < 0.02)
          this.brushes.delete(name); // a click clears
        else move(e);
        redraw();
        this.onFilter(this.kept());
      };
      hit.addEventListener("pointermove", move);
      hit.addEventListener("pointerup", up);
    });
  }

  // Ids of the runs inside every brush, or null when nothing is brushed.
  kept() {
    if (!this.brushes.size || !this.positions) return null;
    const names = this.key.split("|");
    const ids = new Set();
    for (const [id, ts] of this.positions) {
      const inside = [...this.brushes].every(([name, [lo, hi]]) => {
        const t = ts[names.indexOf(name)];
        return t != null && t >= lo - 1e-9 && t <= hi + 1e-9;
      });
      if (inside) ids.add(id);
    }
    return ids;
  }

  clear() {
    this.brushes.clear();
  }
}
