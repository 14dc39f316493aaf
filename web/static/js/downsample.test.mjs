// Run with: node --test web/static/js/ (part of `make test`).
import test from "node:test";
import assert from "node:assert/strict";
import { minMaxIndices, smooth } from "./downsample.js";

test("small ranges are returned whole", () => {
  assert.deepEqual(minMaxIndices([3, 1, 2], 0, 3, 10), [0, 1, 2]);
});

test("100,000 points reduce to at most two per bucket and keep every spike", () => {
  const values = Array.from({ length: 100_000 }, (_, i) => Math.sin(i / 50));
  values[12_345] = 50; // a spike
  values[67_890] = -50; // a dip
  const kept = minMaxIndices(values, 0, values.length, 1000);
  assert.ok(kept.length <= 2000, `kept ${kept.length}`);
  assert.ok(kept.includes(12_345) && kept.includes(67_890));
  assert.deepEqual(kept, [...kept].sort((a, b) => a - b));
});

test("a zoomed range shows full detail and 'always' indices survive", () => {
  const values = Array.from({ length: 100_000 }, (_, i) => i % 7);
  const kept = minMaxIndices(values, 500, 900, 1000);
  assert.equal(kept.length, 400);
  const coarse = minMaxIndices(values, 0, values.length, 10, [4242]);
  assert.ok(coarse.includes(4242));
});

test("smoothing with weight 0 is the identity and is debiased", () => {
  assert.deepEqual(smooth([1, 2, 3], 0), [1, 2, 3]);
  const s = smooth([5, 5, 5], 0.9);
  s.forEach((v) => assert.ok(Math.abs(v - 5) < 1e-9));
});
