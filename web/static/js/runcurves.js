// The run view's charts: batch loss (with train/test loss per epoch), test accuracy, and
// throughput with the learning rate; a fork's parent dimmed before its own curves.
import * as api from "./api.js";
import { $, POINTS, SERIES } from "./dom.js";
import { LossChart, AccuracyChart, RateChart, WAITING_FOR_BATCHES, WAITING_FOR_EPOCHS } from "./plots.js";

export class RunCharts {
  // `tail()`: the open run's live progress events kept since its series was fetched.
  constructor({ tail }) {
    this.tail = tail;
    this.id = null;
    this.refetching = false;
    this.loss = new LossChart($("loss-chart"), { onZoom: (a, b) => this.zoom(a, b) });
    this.accuracy = new AccuracyChart($("acc-chart"));
    this.rate = new RateChart($("rate-chart"));
  }

  get stepsPerEpoch() {
    return this.loss.stepsPerEpoch;
  }

  reset(id) {
    this.id = id;
    this.loss.reset();
    this.accuracy.reset();
    this.rate.reset();
  }

  // The run's series as fetched (by name).
  load(curves) {
    this.loss.stepsPerEpoch = curves[SERIES.BATCH_LOSS].steps_per_epoch || 0;
    this.loss.load(curves[SERIES.BATCH_LOSS]);
    this.loss.setEpochs(curves[SERIES.TRAIN_LOSS], curves[SERIES.TEST_LOSS]);
    this.accuracy.load(curves[SERIES.TEST_ACCURACY]);
    this.rate.load(curves[SERIES.IMAGES_PER_SEC], curves[SERIES.LR]);
  }

  // A fork: its parent's curves up to the fork point, dimmed. False when it could not be
  // drawn (the parent's series unreachable, or another run opened meanwhile).
  async drawAncestor(run, steps, stillOpen) {
    const [loss, acc] = await Promise.all([
      api.series(run.parent_run_id, SERIES.BATCH_LOSS, { points: POINTS.run }),
      api.series(run.parent_run_id, SERIES.TEST_ACCURACY),
    ]).catch(() => [null, null]);
    if (!loss || !stillOpen()) return;
    const perEpoch = steps || this.loss.stepsPerEpoch || loss.steps_per_epoch;
    if (!this.loss.stepsPerEpoch) this.loss.stepsPerEpoch = perEpoch;
    this.loss.setAncestor(loss, run.forked_from_epoch, perEpoch);
    this.accuracy.setAncestor(acc, run.forked_from_epoch);
  }

  async zoom(start, end) {
    const id = this.id;
    const range = start == null ? { points: POINTS.run } : { start, end, points: POINTS.run };
    const data = await api.series(id, SERIES.BATCH_LOSS, range).catch(() => null);
    if (!data || id !== this.id) return;
    this.loss.load(data);
    if (start == null) for (const e of this.tail()) if (e.seq > data.last_seq) this.addProgress(e);
  }

  addProgress(event) {
    const end = (event.epoch - 1) * event.steps_per_epoch + event.step;
    this.loss.addLosses(event.seq, end, event.losses, event.steps_per_epoch);
    this.rate.add(event.seq, end, event.images_per_sec, event.lr);
  }

  // A live progress event: added, and the loss series fetched again once its tail has grown long.
  addLive(event) {
    this.addProgress(event);
    if (this.loss.needsRefetch) this.refetchLoss();
  }

  // Compact the live tail: fetch the series again and re-apply what came after it.
  async refetchLoss() {
    if (this.refetching) return;
    this.refetching = true;
    await this.zoom(null, null);
    this.refetching = false;
  }

  addEpoch(event) {
    this.loss.addEpoch(event.epoch, event.train_loss, event.test_loss);
    this.accuracy.add(event.epoch, event.test_accuracy);
  }

  // A resumed run: everything after the epoch it resumed from goes.
  truncate(epoch) {
    this.loss.truncate(epoch);
    this.accuracy.truncate(epoch);
    if (this.loss.stepsPerEpoch) this.rate.truncate(epoch * this.loss.stepsPerEpoch);
  }

  // An ended run's empty chart has nothing coming.
  setWaiting(ended) {
    this.loss.setWaiting(ended ? "no batches were trained" : WAITING_FOR_BATCHES);
    this.rate.setWaiting(ended ? "no batches were trained" : WAITING_FOR_BATCHES);
    this.accuracy.setWaiting(ended ? "no epoch finished" : WAITING_FOR_EPOCHS);
  }
}
