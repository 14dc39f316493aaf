// What the run view's header says, derived from one state: the run record plus what the
// run's own events and series said. The state is made anew when a run is opened, and
// each event makes the next one, so opening another run (a fork, its parent) or a
// status arriving twice cannot leave another run's epoch, accuracy or images/s behind.
import { ACTIVE, BEST, EVENT, MISSING, STATUS, TRAIN_IMAGES, formatDuration, pct, plural } from "./dom.js";
import { WINDOW_S, etaSeconds, imagesPerSecond, position } from "./throughput.js";

// `batches`: global batches the opened series hold; `steps`: batches per epoch;
// `lastEpoch`: the run's latest epoch event ({epoch, test_accuracy, test_loss}).
// `loaded`: the run's history has been read (until then, no batches means "not yet known").
export function openState(runId, { batches = 0, steps = 0, lastEpoch = null, loaded = false } = {}) {
  return { runId, batches, steps, lastEpoch, loaded, message: "" };
}

// The state after one of the run's events.
export function nextState(state, event) {
  if (event.run_id !== state.runId) return state;
  switch (event.type) {
    case EVENT.STATUS: {
      const next = { ...state, message: event.message || "" };
      const back = event.resumed_from_epoch;
      if (back != null && state.steps) next.batches = Math.min(state.batches, back * state.steps);
      if (back != null && state.lastEpoch?.epoch > back) next.lastEpoch = null;
      return next;
    }
    case EVENT.PROGRESS:
      return { ...state, batches: (event.epoch - 1) * event.steps_per_epoch + event.step, steps: event.steps_per_epoch };
    case EVENT.EPOCH:
      return { ...state, lastEpoch: event };
    default:
      return state;
  }
}

// Everything the header shows, as text.
export function headline(state, run) {
  const status = run.status;
  const active = ACTIVE.has(status);
  const at = position(run, {
    batches: state.steps ? state.batches : null,
    steps: state.steps,
    succeeded: status === STATUS.SUCCEEDED,
  });
  const rate = imagesPerSecond(run, { active, batches: at.batches, steps: at.steps });
  const eta = status === STATUS.RUNNING ? etaSeconds(run, at.batches, at.total) : null;
  let progress = `${(at.fraction * 100).toFixed(1)}%`;
  if (at.steps && at.batches) progress += ` · epoch ${at.epoch}/${run.spec.epochs}, batch ${at.step}/${at.steps}`;
  if (eta != null) progress += ` · ETA ${formatDuration(eta)}`;
  const last = state.lastEpoch;
  return {
    status,
    fraction: at.fraction,
    progress,
    epoch: last ? String(last.epoch) : run.epoch ? String(run.epoch) : MISSING,
    accuracy: last ? pct(last.test_accuracy) : MISSING,
    testLoss: last?.test_loss != null ? last.test_loss.toFixed(4) : MISSING,
    rate: rate == null ? MISSING : Math.round(rate).toLocaleString(),
    rateNote: active ? `over the last ${WINDOW_S} s` : "average over the whole run",
    message: message(state, run, at),
  };
}

function message(state, run, at) {
  if (run.status === STATUS.CANCELLED) {
    const total = run.spec.epochs;
    const when =
      !at.batches || !at.steps
        ? "before it trained a batch"
        : at.step === at.steps
          ? `after epoch ${at.epoch} of ${total}`
          : `in epoch ${at.epoch} of ${total}, at batch ${at.step} of ${at.steps}`;
    return `Cancelled ${when}.`;
  }
  if (run.status === STATUS.FAILED) return `Failed: ${run.error || state.message || "see the worker's log"}`;
  if (run.status === STATUS.SUCCEEDED && !state.message) {
    // opened after the fact: said from the record
    const best = run.metrics?.[BEST];
    return (
      `finished ${plural(run.epoch || run.spec.epochs, "epoch")}` + (best != null ? `, best test accuracy ${pct(best)}` : "")
    );
  }
  return state.message;
}

// The spec line: what the run was asked to do.
export function specLine(spec) {
  return (
    `${spec.optimizer} · lr ${spec.lr} · schedule ${spec.schedule} · batch ${spec.batch_size} · ` +
    `${plural(spec.epochs, "epoch")} · seed ${spec.seed} · ${(spec.train_samples ?? TRAIN_IMAGES).toLocaleString()} samples`
  );
}
