// One curve of a run as the charts hold it: the series' min/max/mean buckets, then raw
// live points after them; and the helpers the charts share to put curves on one x axis.
import uPlot from "/vendor/uPlot.esm.js";

// Values that span decades (learning rates, a log-scale loss axis): 1e-3 reads better
// than 0.001000, and 1e-5 better than the 0 a fixed-point label would round it to.
export function formatDecades(v) {
  if (v == null) return "";
  if (v === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(v)));
  if (exp >= -2 && exp <= 2) return String(Number(v.toPrecision(2)));
  return `${Number((v / 10 ** exp).toPrecision(2))}e${exp}`;
}

// One curve as min/max/mean buckets (or raw points, min = max = mean).
export class Curve {
  constructor() {
    this.clear();
  }

  clear() {
    this.x = [];
    this.min = [];
    this.max = [];
    this.mean = [];
    this.total = 0;
    this.live = 0;
    this.seq = 0;
  }

  load(series) {
    this.x = series.x.slice();
    this.min = series.min.slice();
    this.max = series.max.slice();
    this.mean = series.mean.slice();
    this.total = series.total;
    this.live = 0;
    this.seq = series.last_seq; // live events up to here are already in the series
  }

  get lastX() {
    return this.x.length ? this.x[this.x.length - 1] : 0;
  }

  // Raw live point; a point at or before the last x replaces what came from there on.
  add(x, y) {
    if (x <= this.lastX) this.truncate(x - 1);
    this.x.push(x);
    this.min.push(y);
    this.max.push(y);
    this.mean.push(y);
    this.total += 1;
    this.live += 1;
  }

  truncate(maxX) {
    let keep = this.x.length;
    while (keep && this.x[keep - 1] > maxX) keep -= 1;
    const dropped = this.x.length - keep;
    if (!dropped) return;
    for (const a of [this.x, this.min, this.max, this.mean]) a.length = keep;
    // Raw points (live or zoomed-in) count one each; a bucket's count is unknown, so
    // the next refetch corrects the total.
    this.total = Math.max(0, this.total - dropped);
  }
}

// uPlot.join over tables [x, ...ys] of which some may be empty: their columns are nulls.
export function joinTables(tables) {
  const full = tables.filter((t) => t[0].length);
  if (!full.length) return [[], ...tables.flatMap((t) => t.slice(1).map(() => []))];
  const joined = full.length === 1 ? full[0] : uPlot.join(full);
  const n = joined[0].length;
  const out = [joined[0]];
  let column = 1;
  for (const t of tables) {
    for (let k = 1; k < t.length; k++) out.push(t[0].length ? joined[column++] : new Array(n).fill(null));
  }
  return out;
}
