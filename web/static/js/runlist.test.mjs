// Run with: node --test web/static/js/ (part of `make test`).
import test from "node:test";
import assert from "node:assert/strict";

// The page renders the lifecycle into the document (web/pages.py); here, the same shape.
globalThis.document = {
  getElementById: (id) =>
    id === "lifecycle"
      ? {
          textContent: JSON.stringify({
            statuses: ["queued", "running", "resuming", "succeeded", "failed", "cancelled"],
            by_name: { QUEUED: "queued", RUNNING: "running", SUCCEEDED: "succeeded" },
            active: ["queued", "resuming", "running"],
            waiting: ["queued", "resuming"],
          }),
        }
      : null,
};
globalThis.window = { location: { href: "http://localhost/" } }; // api.js reads a token from the URL
const { mergeRecord } = await import("./runlist.js");

const at = (epoch, step) => ({ epoch, step, steps_per_epoch: 10, images_per_sec: 100 });

test("a late record never takes an ended run back to running", () => {
  const ended = { id: "a", status: "succeeded", epoch: 3, progress: at(3, 10) };
  const late = { id: "a", status: "running", epoch: 2, progress: at(2, 7) };
  assert.deepEqual(mergeRecord(ended, late), ended);
});

test("within one status, progress never goes backwards; a new status may reset it", () => {
  const now = { id: "a", status: "running", progress: at(2, 5) };
  assert.deepEqual(mergeRecord(now, { id: "a", status: "running", progress: at(2, 3) }).progress, at(2, 5));
  assert.deepEqual(mergeRecord(now, { id: "a", progress: at(2, 6) }).progress, at(2, 6));
  assert.deepEqual(mergeRecord(now, { id: "a", status: "resuming", progress: at(1, 10) }).status, "resuming");
});

test("an ended run still takes what ends it and later fields (a fork's children)", () => {
  const running = { id: "a", status: "running" };
  assert.equal(mergeRecord(running, { id: "a", status: "cancelled" }).status, "cancelled");
  const ended = { id: "a", status: "cancelled" };
  assert.deepEqual(mergeRecord(ended, { id: "a", children: ["b"] }).children, ["b"]);
});
