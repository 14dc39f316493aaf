"""The relay's promises to a run's watchers, against a real Redis and a real event log:
gaps filled from the log in order, repeats dropped, replays bounded to the newest events and
ended by a newer subscribe. The Socket.IO server is replaced by a recorder of what it was
told to send; the integration tests (test_end_to_end, test_history_scale) run the real one."""

from __future__ import annotations

import json

from shared import keys
from shared.eventlog import EventWriter
from shared.events import EventType
from shared.settings import Settings
from web.relay import REPLAY_CHUNK, Relay, room_of

RUN = "b" * 32
PROGRESS = {"epoch": 1, "steps_per_epoch": 10_000, "losses": [0.5], "images_per_sec": 1.0}


class Sent:
    """Stands in for flask_socketio.SocketIO: keeps every emit."""

    def __init__(self) -> None:
        self.emits: list[tuple[str, str | None, dict]] = []

    def emit(self, name: str, data: dict, to: str | None = None) -> None:
        self.emits.append((name, to, data))

    def sleep(self, seconds: float = 0) -> None:
        pass

    def seqs(self, to: str) -> list[int]:
        return [data["seq"] for name, where, data in self.emits if name == "run_event" and where == to]


def relay_with_events(r, tmp_path, count: int, **settings) -> tuple[Relay, Sent, list[dict]]:
    writer = EventWriter(r, str(tmp_path), RUN)
    events = [writer.append(EventType.PROGRESS, **PROGRESS, step=i) for i in range(count)]
    sent = Sent()
    return Relay(sent, r, Settings(results_dir=str(tmp_path), **settings)), sent, events  # type: ignore[arg-type]


def test_a_skipped_seq_is_filled_from_the_log_before_the_event_and_repeats_are_dropped(r, tmp_path):
    relay, sent, events = relay_with_events(r, tmp_path, 6)
    for seq in (1, 2, 5, 4, 5, 6, 2):  # pub/sub lost 3 and 4, then delivered 4 late and 5 and 2 twice
        relay.deliver(RUN, events[seq - 1])
    assert sent.seqs(room_of(RUN)) == [1, 2, 3, 4, 5, 6]
    assert relay.cursors[RUN] == 6


def test_a_subscriber_joins_the_room_before_the_log_is_read_and_gets_the_newest_events(r, tmp_path):
    relay, sent, _ = relay_with_events(r, tmp_path, 30, replay_limit=10)
    writer = EventWriter(r, str(tmp_path), RUN)  # continues at seq 31

    def join() -> None:
        # An event published while the subscriber joins: had the log been read before the
        # join, the replay would end at 30 and the room would not have had it yet either.
        assert sent.emits == [], "the room is joined before anything is sent"
        writer.append(EventType.PROGRESS, **PROGRESS, step=99)

    ack = relay.replay(RUN, 0, "sid-1", join=join)
    assert sent.seqs("sid-1") == list(range(22, 32)), "the newest replay_limit events, in order"
    assert ack == {"replayed": 10, "first_seq": 22, "last_seq": 31}


def test_a_subscriber_that_has_everything_gets_nothing_and_an_ack_that_says_so(r, tmp_path):
    relay, sent, _ = relay_with_events(r, tmp_path, 4)
    assert relay.replay(RUN, 4, "sid-1", join=lambda: None) == {"replayed": 0, "first_seq": 5, "last_seq": 4}
    assert relay.replay(RUN, 2, "sid-1", join=lambda: None) == {"replayed": 2, "first_seq": 3, "last_seq": 4}
    assert sent.seqs("sid-1") == [3, 4]


def test_a_replay_superseded_by_a_newer_subscribe_stops_at_the_next_chunk(r, tmp_path):
    relay, sent, _ = relay_with_events(r, tmp_path, 3 * REPLAY_CHUNK, replay_limit=1000)
    ack = relay.replay(RUN, 0, "sid-1", join=lambda: None, keep=lambda: False)
    assert ack["replayed"] == REPLAY_CHUNK and sent.seqs("sid-1") == list(range(1, REPLAY_CHUNK + 1))


def test_after_a_reconnect_every_followed_run_gets_what_it_missed(r, tmp_path):
    relay, sent, events = relay_with_events(r, tmp_path, 7)
    relay.deliver(RUN, events[0])
    relay.deliver(RUN, events[1])
    relay._catch_up_all()  # what the loop does when pub/sub comes back
    assert sent.seqs(room_of(RUN)) == list(range(1, 8))


def test_run_updates_go_to_every_page_and_events_to_their_runs_room(r, tmp_path):
    relay, sent, events = relay_with_events(r, tmp_path, 1)
    update = {"id": RUN, "status": "running"}
    relay._dispatch({"channel": keys.RUN_UPDATES_CHANNEL.encode(), "data": json.dumps(update)})
    relay._dispatch({"channel": keys.run_channel(RUN).encode(), "data": json.dumps(events[0])})
    assert sent.emits == [("run_update", None, update), ("run_event", room_of(RUN), events[0])]
