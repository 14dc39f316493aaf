"""The on-volume log's seq index: pages read only their lines, and it repairs itself."""

import json

from shared import eventfile

RUN = "c" * 32


def write_log(folder, n, index=True):
    log_path, index_path = folder / "events.jsonl", folder / "events.idx"
    for seq in range(1, n + 1):
        line = json.dumps({"seq": seq, "type": "progress", "pad": "x" * (seq % 50)})
        if index:
            eventfile.append(log_path, index_path, seq, line)
        else:
            with open(log_path, "a") as f:
                f.write(line + "\n")
    return log_path, index_path


def test_a_page_is_exactly_the_requested_seqs(tmp_path):
    log_path, index_path = write_log(tmp_path, 5000)
    page = eventfile.read_page(log_path, index_path, after=1234, limit=100)
    assert [e["seq"] for e in page] == list(range(1235, 1335))
    assert eventfile.read_page(log_path, index_path, after=4990, limit=100)[-1]["seq"] == 5000
    assert eventfile.read_page(log_path, index_path, after=5000, limit=100) == []


def test_a_log_without_index_is_indexed_on_first_read(tmp_path):
    log_path, index_path = write_log(tmp_path, 3000, index=False)
    assert not index_path.exists()
    assert [e["seq"] for e in eventfile.read_page(log_path, index_path, 2000, 3)] == [2001, 2002, 2003]
    assert index_path.stat().st_size == 3000 * eventfile.ENTRY


def test_lines_written_without_their_index_entry_are_caught_up(tmp_path):
    log_path, index_path = write_log(tmp_path, 100)
    with open(log_path, "a") as f:  # a writer died between the line and the index
        f.write(json.dumps({"seq": 101, "type": "status"}) + "\n")
    assert [e["seq"] for e in eventfile.read_page(log_path, index_path, 99, 10)] == [100, 101]


def test_a_torn_last_line_is_ignored(tmp_path):
    log_path, index_path = write_log(tmp_path, 10)
    with open(log_path, "a") as f:
        f.write('{"seq": 11, "ty')
    assert eventfile.last_line_seq(log_path) == 10
    assert [e["seq"] for e in eventfile.read_page(log_path, index_path, 8, 10)] == [9, 10]


def test_a_seq_written_twice_reads_as_its_newest_line(tmp_path):
    log_path, index_path = write_log(tmp_path, 3)
    eventfile.append(log_path, index_path, 3, json.dumps({"seq": 3, "type": "again"}))
    page = eventfile.read_page(log_path, index_path, 0, 10)
    assert [e["seq"] for e in page] == [1, 2, 3] and page[-1]["type"] == "again"
