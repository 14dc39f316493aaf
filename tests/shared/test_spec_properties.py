"""Property-based tests of the spec validator (hypothesis): it never crashes, never
accepts what it should not, and what it accepts is complete and in bounds."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.spec import DEFAULTS, SpecError, validate_spec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=200),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
spec_like = st.dictionaries(st.sampled_from(list(DEFAULTS) + ["bogus", "lr ", ""]), json_values, max_size=8)


@settings(max_examples=600, deadline=None)
@given(spec_like)
def test_validator_either_rejects_with_fields_or_returns_a_complete_bounded_spec(raw):
    try:
        spec = validate_spec(raw)
    except SpecError as exc:
        assert exc.fields and all(isinstance(v, str) for v in exc.fields.values())
        return
    assert set(spec) == set(DEFAULTS)
    assert 1 <= spec["epochs"] <= 100 and 1 <= spec["batch_size"] <= 4096
    assert isinstance(spec["lr"], float) and math.isfinite(spec["lr"]) and 0 < spec["lr"] <= 10
    assert not isinstance(spec["epochs"], bool) and not isinstance(spec["seed"], bool)
    assert spec["train_samples"] is None or 100 <= spec["train_samples"] <= 60000
    assert 1 <= len(spec["name"]) <= 100


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_anything_that_is_not_an_object_is_rejected(raw):
    if isinstance(raw, dict):
        return
    try:
        validate_spec(raw)
    except SpecError:
        return
    raise AssertionError("accepted a non-object")
