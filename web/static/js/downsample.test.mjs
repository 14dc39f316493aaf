// Run with: node --test web/static/js/ (part of `make test`).
import test from "node:test";
import assert from "node:assert/strict";
import { smooth } from "./downsample.js";

test("smoothing skips nulls (a diverged loss) without poisoning the curve", () => {
  const s = smooth([1, null, 1], 0.5);
  assert.equal(s[1], null);
  assert.ok(Math.abs(s[2] - 1) < 1e-9);
});

test("smoothing with weight 0 is the identity and is debiased", () => {
  assert.deepEqual(smooth([1, 2, 3], 0), [1, 2, 3]);
  const s = smooth([5, 5, 5], 0.9);
  s.forEach((v) => assert.ok(Math.abs(v - 5) < 1e-9));
});
