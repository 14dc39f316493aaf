// A run's files: its metrics to download (per-epoch metrics as CSV, or JSON with the batch
// losses too) and the list of its files (RunFiles).
import * as api from "./api.js";
import { $, el, EPOCH_METRICS, SERIES } from "./dom.js";

// `epochs`: the run's epoch events in order.
export async function exportMetrics(run, epochs, kind) {
  const columns = EPOCH_METRICS.map((m) => m.name);
  const download = (name, type, text) => api.saveBlob(name, new Blob([text], { type }));
  if (kind === "csv") {
    const rows = epochs.map((e) => columns.map((c) => e[c]).join(","));
    download(`${run.id}-metrics.csv`, "text/csv", [columns.join(","), ...rows].join("\n") + "\n");
    return;
  }
  const rows = epochs.map((e) => Object.fromEntries(columns.map((c) => [c, e[c]])));
  // Every batch loss up to 10,000 of them; longer runs export 10,000 min/max/mean buckets
  // (training_log.json in Files has them all).
  const loss = await api.series(run.id, SERIES.BATCH_LOSS, { points: 10000 });
  download(
    `${run.id}-metrics.json`,
    "application/json",
    JSON.stringify(
      {
        run: { id: run.id, name: run.name, spec: run.spec },
        epochs: rows,
        batch_loss: { total: loss.total, x: loss.x, min: loss.min, max: loss.max, mean: loss.mean },
      },
      null,
      1,
    ),
  );
}

// The run view's files card: every file of the run, each a download; and the epochs whose
// state was kept (state-epoch-NNN.pt), where a fork can start.
export class RunFiles {
  constructor() {
    this.id = null;
    this.forkEpochs = [];
  }

  async refresh(id) {
    this.id = id;
    const files = await api.listArtifacts(id).catch(() => []);
    if (id !== this.id) return;
    this.forkEpochs = files
      .map((f) => /^state-epoch-(\d+)\.pt$/.exec(f.name))
      .filter(Boolean)
      .map((m) => Number(m[1]));
    $("artifacts").replaceChildren(
      ...files.map((f) => {
        const a = el("a", { href: `/api/runs/${id}/artifacts/${encodeURIComponent(f.name)}` }, f.name);
        a.addEventListener("click", (e) => {
          e.preventDefault();
          api.downloadArtifact(id, f.name).catch((err) => alert(err.message));
        });
        return el("li", {}, a, ` (${(f.size / 1024).toFixed(1)} KiB)`);
      }),
    );
  }
}
