// R runs × C browsers-worth of Socket.IO clients (the real socket.io-client from npm),
// each subscribed to one run, measuring publish → client latency of every live event
// (client clock minus the event's ts, same machine) and checking seqs are gap-free.
// Usage: node fanout_clients.mjs <url> <clients-per-run> <run_id>...  → JSON on stdout.
import { createRequire } from "node:module";

const require = createRequire(new URL("../web/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, perRun, ...runIds] = process.argv.slice(2);
const clients = [];
const latencies = [];
const bySize = { small: [], large: [] };
let gaps = 0, repeats = 0, connected = 0, done = 0;
const total = runIds.length * Number(perRun);

for (const runId of runIds) {
  for (let i = 0; i < Number(perRun); i++) {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: true });
    const state = { last: null, finished: false };
    socket.on("connect", () => {
      socket.emit("subscribe", { run_id: runId, after: 2 ** 52 }, () => {
        connected += 1;
        if (connected === total) console.error(`all ${total} clients subscribed`);
      });
    });
    socket.on("run_event", (e) => {
      const now = Date.now() / 1000;
      if (state.last !== null && e.seq <= state.last) { repeats += 1; return; }
      if (state.last !== null && e.seq !== state.last + 1) gaps += e.seq - state.last - 1;
      state.last = e.seq;
      if (e.type === "status" && e.status === "succeeded") {
        if (!state.finished) { state.finished = true; done += 1; }
        if (done === total) finish();
        return;
      }
      const ms = (now - e.ts) * 1000;
      latencies.push(ms);
      (e.type === "samples" ? bySize.large : bySize.small).push(ms);
    });
    clients.push(socket);
  }
}

function pct(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1));
}

function finish() {
  const out = {
    clients: total, events_received: latencies.length, gaps, repeats,
    p50_ms: pct(latencies, 50), p90_ms: pct(latencies, 90), p99_ms: pct(latencies, 99), max_ms: pct(latencies, 100),
    samples_p99_ms: pct(bySize.large, 99), other_p99_ms: pct(bySize.small, 99),
  };
  console.log(JSON.stringify(out));
  clients.forEach((c) => c.close());
  process.exit(0);
}

setTimeout(() => { console.error("timed out"); finish(); }, 600_000);
