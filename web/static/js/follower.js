// Follows one run's event log over Socket.IO: in seq order, no gaps, no repeats.
//
// The page opens a run from its series and follows from the series' last_seq.
// The server replays a bounded tail, then sends live events, maybe repeating some
// around the switch-over or losing some (pub/sub): drop any seq we have, hold back
// any that skips ahead, and if a gap stays open for a moment fetch it over REST.
// If the subscribe ack says we are further behind than a replay covers (e.g. after
// a long disconnect), `onBehind` reloads the run from its series instead.
import { eventsAfter } from "./api.js";

const GAP_WAIT_MS = 1500;

// Several followers may share one socket and one run's room: leave the room only
// when the last of them stops following it.
const interest = new Map();

export class RunFollower {
  constructor(socket, onEvent, onBehind = null) {
    this.socket = socket;
    this.onEvent = onEvent;
    this.onBehind = onBehind;
    this.runId = null;
    this.lastSeq = 0;
    this.held = new Map();
    this.gapTimer = null;
    socket.on("run_event", (event) => this.receive(event));
    socket.on("connect", () => this.subscribe());
  }

  follow(runId, after = 0) {
    this.stop();
    interest.set(runId, (interest.get(runId) || 0) + 1);
    this.runId = runId;
    this.lastSeq = after;
    this.held.clear();
    this.subscribe();
  }

  stop() {
    if (!this.runId) return;
    const left = (interest.get(this.runId) || 1) - 1;
    if (left <= 0) {
      interest.delete(this.runId);
      if (this.socket.connected) this.socket.emit("unsubscribe", { run_id: this.runId });
    } else {
      interest.set(this.runId, left);
    }
    this.runId = null;
  }

  subscribe() {
    if (!this.runId || !this.socket.connected) return;
    const runId = this.runId;
    const after = this.lastSeq;
    this.socket.emit("subscribe", { run_id: runId, after }, (ack) => {
      if (!ack || !ack.ok || runId !== this.runId) return;
      if (ack.first_seq > after + 1 && this.onBehind) {
        this.onBehind(ack); // too far behind for a replay: reopen from the series
      } else if (ack.first_seq > after + 1) {
        this.fillGap();
      }
    });
  }

  receive(event) {
    if (event.run_id !== this.runId || event.seq <= this.lastSeq) return;
    this.held.set(event.seq, event);
    this.drain();
  }

  drain() {
    while (this.held.has(this.lastSeq + 1)) {
      const next = this.held.get(this.lastSeq + 1);
      this.held.delete(next.seq);
      this.lastSeq = next.seq;
      this.onEvent(next);
    }
    if (this.held.size && !this.gapTimer) {
      this.gapTimer = setTimeout(() => this.fillGap(), GAP_WAIT_MS);
    }
  }

  async fillGap() {
    this.gapTimer = null;
    const runId = this.runId;
    try {
      const events = await eventsAfter(runId, this.lastSeq);
      if (runId === this.runId) events.forEach((e) => this.receive(e));
    } catch (err) {
      console.warn("could not fetch missing events", err);
      this.drain();
    }
  }
}
