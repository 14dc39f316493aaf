// A run's throughput and ETA, defined once for the run list and the run view.
//
// Live: batches per second over the last WINDOW_S seconds of wall-clock time, measured
// from where the run stood at each moment. The pauses to evaluate each epoch count (they
// are part of what is left), and one slow or fast batch does not swing the figure.
// Finished: images trained over the run's whole wall-clock time, started to finished.
// ETA: the batches left at the live rate. `trainboard watch` prints the same figures
// (trainboard_cli/progress.py); both windows come from shared.metrics.
import { MEASURES, STATUS, TRAIN_IMAGES } from "./dom.js";

export const WINDOW_S = MEASURES.throughput_window_s;
// Too short a span says little: below it, the worker's own last figure stands in.
const MIN_SPAN_S = MEASURES.throughput_min_span_s;
// A followed run's events (server timestamps) outrank its pushed record (browser clock)
// while they keep coming; the two clocks are never mixed in one window.
const EVENTS_FRESH_MS = 5000;

const tracks = new Map(); // run id -> {samples: [[t, batch]], fromEvents, fedAt, reported}

// One sighting of a run: `batch` global batches done at time `t` (seconds); `reported`
// the worker's images/s over its last few batches.
export function observe(runId, t, batch, reported, { fromEvents = false } = {}) {
  let track = tracks.get(runId);
  const now = Date.now();
  if (track && !fromEvents && track.fromEvents && now - track.fedAt < EVENTS_FRESH_MS) return;
  if (!track || track.fromEvents !== fromEvents) {
    track = { samples: [], fromEvents, fedAt: now, reported: null };
    tracks.set(runId, track);
  }
  const last = track.samples[track.samples.length - 1];
  if (last && (batch < last[1] || t < last[0])) track.samples = []; // resumed from a checkpoint
  if (last && t === last[0]) track.samples.pop();
  track.samples.push([t, batch]);
  while (track.samples.length > 2 && track.samples[1][0] <= t - WINDOW_S) track.samples.shift();
  track.fedAt = now;
  track.reported = reported;
}

export function forget(runId) {
  tracks.delete(runId);
}

// Batches per second over the window, or null before the run has been seen training.
function batchRate(run) {
  const track = tracks.get(run.id);
  if (!track?.samples.length) return null;
  const [t0, b0] = track.samples[0];
  const [t1, b1] = track.samples[track.samples.length - 1];
  if (t1 - t0 >= MIN_SPAN_S && b1 > b0) return (b1 - b0) / (t1 - t0);
  return track.reported ? track.reported / run.spec.batch_size : null;
}

// The epochs a run trains itself (a fork starts after its parent's epoch).
const ownEpochs = (run) => run.spec.epochs - (run.forked_from_epoch || 0);

// Images a run has trained by global batch `batches` (its own: a fork's start excluded).
export function imagesTrained(run, batches, steps) {
  if (!steps) return 0;
  const perEpoch = run.spec.train_samples ?? TRAIN_IMAGES;
  const own = Math.max(0, batches - (run.forked_from_epoch || 0) * steps);
  const whole = Math.floor(own / steps);
  return whole * perEpoch + Math.min((own - whole * steps) * run.spec.batch_size, perEpoch);
}

// Images per second: live over the window, or over the whole run once it has ended.
export function imagesPerSecond(run, { active, batches, steps }) {
  if (active) {
    const rate = batchRate(run);
    return rate == null ? null : rate * run.spec.batch_size;
  }
  const seconds = (run.finished_at ?? 0) - (run.started_at ?? 0);
  // A run that succeeded trained every image of its own epochs, whatever events this page
  // saw; one that stopped early, what its batches say.
  const images =
    run.status === STATUS.SUCCEEDED
      ? ownEpochs(run) * (run.spec.train_samples ?? TRAIN_IMAGES)
      : imagesTrained(run, batches, steps);
  return run.started_at && run.finished_at && seconds > 0 && images ? images / seconds : null;
}

// Seconds left for a training run at global batch `batches` of `total`, or null.
export function etaSeconds(run, batches, total) {
  const rate = batchRate(run);
  return rate && total > batches ? (total - batches) / rate : rate ? 0 : null;
}

// A run's position: {epoch, step, steps, batches, total, fraction}. `live` is its latest
// progress ({epoch, step, steps_per_epoch}), by default what the record carries.
export function position(run, { live = run.progress, batches = null, steps = null, succeeded = false } = {}) {
  const perEpoch = steps || live?.steps_per_epoch || 0;
  const total = run.spec.epochs * perEpoch;
  let done = batches;
  if (done == null) done = live && perEpoch ? (live.epoch - 1) * perEpoch + live.step : (run.epoch || 0) * perEpoch;
  const epoch = perEpoch && done ? Math.floor((done - 1) / perEpoch) + 1 : run.epoch || 0;
  const step = perEpoch ? done - (epoch - 1) * perEpoch : 0;
  const fraction = succeeded ? 1 : total ? Math.min(1, done / total) : (run.epoch || 0) / run.spec.epochs;
  return { epoch, step, steps: perEpoch, batches: done, total, fraction };
}
