"""Every place that prints an epoch metric goes through shared.metrics.show, so a
diverged run's null losses print as a dash instead of crashing (the CLI used
``:.4f`` on them)."""

import io
import json

from shared import metrics
from trainboard_cli import main as cli
from trainboard_cli.progress import ProgressLine

DIVERGED = {
    "type": "epoch",
    "epoch": 1,
    "train_loss": None,
    "test_loss": None,
    "test_accuracy": 0.098,
    "seconds": 1.5,
    "lr": 10.0,
}


def test_show_formats_values_and_dashes_nulls():
    assert metrics.show("train_loss", 0.123456) == "0.1235"
    assert metrics.show("test_accuracy", 0.9912) == "99.12%"
    assert metrics.show("test_loss", None) == metrics.MISSING


def test_watch_lines_survive_null_losses():
    out = io.StringIO()
    line = ProgressLine(1, out)
    line.tty = True  # draw the bar too
    line.update(
        {"type": "progress", "epoch": 1, "step": 3, "steps_per_epoch": 10, "losses": [None], "images_per_sec": 100.0}
    )
    line.update(DIVERGED)
    assert "train loss —, test loss —, accuracy 9.80%" in out.getvalue()


class OneRun:
    def epochs(self, run_id):
        return [DIVERGED]


def test_logs_table_and_csv_survive_null_losses(capsys, monkeypatch):
    args = type("Args", (), {"run_id": "a" * 32, "csv": False})()
    assert cli.cmd_logs(OneRun(), args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == " ".join(m.label.upper() for m in metrics.EPOCH_METRICS).split()
    row = table[1].split()
    assert row == [metrics.show(m.name, DIVERGED.get(m.name)) for m in metrics.EPOCH_METRICS]
    assert row[:6] == ["1", "—", "—", "9.80%", "1.5", "10"], "null losses are the missing mark, the rest formatted"
    args.csv = True
    cli.cmd_logs(OneRun(), args)
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == ",".join(metrics.NAMES) and rows[1].startswith("1,,,0.098,1.5,10.0")


def test_the_page_gets_the_same_table(monkeypatch, tmp_path):
    import re

    from shared.settings import Settings
    from web.app import create_app

    page = (
        create_app(Settings(async_mode="threading", results_dir=str(tmp_path))).test_client().get("/").get_data(as_text=True)
    )
    rendered = re.search(r'<script type="application/json" id="epoch-metrics">(.*?)</script>', page)
    assert rendered and json.loads(rendered.group(1)) == metrics.page_table()


def test_the_best_accuracy_is_derived_in_one_place():
    from shared.metrics import BEST_ACCURACY, best_accuracy, record_metrics

    first = record_metrics({"epoch": 1, "train_loss": 0.5, "test_loss": 0.4, "test_accuracy": 0.91})
    second = record_metrics({"epoch": 2, "train_loss": 0.6, "test_loss": 0.5, "test_accuracy": 0.88}, first)
    diverged = record_metrics({"epoch": 3, "train_loss": None, "test_loss": None, "test_accuracy": None}, second)
    assert [m[BEST_ACCURACY] for m in (first, second, diverged)] == [0.91, 0.91, 0.91]
    assert second["test_accuracy"] == 0.88, "the record keeps the last epoch's own figure beside the best"
    assert best_accuracy({"metrics": diverged}) == 0.91 and best_accuracy({"metrics": {}}) is None
    assert best_accuracy({}) is None and record_metrics({"epoch": 1})[BEST_ACCURACY] is None
