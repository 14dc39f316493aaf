"""A store that blinks at a run's start does not fail the run: reads are retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.artifacts import ArtifactError, fetch_retrying


class Blinking:
    """An artifact store unreachable for its first ``down`` reads."""

    def __init__(self, down: int):
        self.down, self.calls = down, 0

    def fetch(self, run_id: str, name: str, dest: Path) -> bool:
        self.calls += 1
        if self.calls <= self.down:
            raise ArtifactError("could not connect to the endpoint")
        return name == "checkpoint.pt"


def test_a_read_is_retried_while_the_store_is_away_and_then_answers():
    store = Blinking(down=3)
    assert fetch_retrying(store, "r", "checkpoint.pt", Path("/tmp/x"), sleep=lambda _s: None)  # type: ignore[arg-type]
    assert store.calls == 4
    missing = Blinking(down=0)
    assert not fetch_retrying(missing, "r", "other.pt", Path("/tmp/x"), sleep=lambda _s: None)  # type: ignore[arg-type]
    assert missing.calls == 1  # a missing artifact is an answer, not an error


def test_a_store_that_stays_away_raises_after_the_last_try():
    store = Blinking(down=100)
    with pytest.raises(ArtifactError):
        fetch_retrying(store, "r", "checkpoint.pt", Path("/tmp/x"), tries=3, sleep=lambda _s: None)  # type: ignore[arg-type]
    assert store.calls == 3
