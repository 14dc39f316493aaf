// Follows one run's event log over Socket.IO: in seq order, no gaps, no repeats.
//
// The server sends history then the live tail, and may repeat events around the
// switch-over; pub/sub may lose some. So: drop any seq we have, hold back any that
// skips ahead, and if a gap is still open after a moment fetch it over REST.
// After a reconnect we subscribe again with the last seq we applied.
import { eventsAfter } from "./api.js";

const GAP_WAIT_MS = 1500;

// Several followers (the watched run, runs in a comparison) may share one socket and
// one run's room: leave the room only when the last of them stops following it.
const interest = new Map();

export class RunFollower {
  constructor(socket, onEvent) {
    this.socket = socket;
    this.onEvent = onEvent;
    this.runId = null;
    this.lastSeq = 0;
    this.held = new Map();
    this.gapTimer = null;
    socket.on("run_event", (event) => this.receive(event));
    socket.on("connect", () => this.subscribe());
  }

  follow(runId) {
    if (this.runId === runId) return;
    this.stop();
    interest.set(runId, (interest.get(runId) || 0) + 1);
    this.runId = runId;
    this.lastSeq = 0;
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
    if (this.runId && this.socket.connected) {
      this.socket.emit("subscribe", { run_id: this.runId, after: this.lastSeq });
    }
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
    if (!this.held.size) return;
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
