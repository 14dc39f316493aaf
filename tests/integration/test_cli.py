"""The `trainboard` CLI against a real stack, as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.integration


def cli(stack, *args, token=None, check=True):
    cmd = [sys.executable, "-m", "trainboard_cli", "--url", stack.url, *(["--token", token] if token else []), *args]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_submit_watch_list_show_logs_and_cancel(make_stack):
    stack = make_stack(workers=1, API_TOKEN="tok")
    denied = cli(stack, "submit", "--epochs", "1", check=False)
    assert denied.returncode == 2 and "API token" in denied.stderr

    bad = cli(stack, "submit", "--epochs", "0", token="tok", check=False)
    assert bad.returncode == 2 and "epochs" in bad.stderr

    run = cli(
        stack,
        "submit",
        "--name",
        "from cli",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--train-samples",
        "1000",
        "--watch",
        token="tok",
    )
    run_id = run.stdout.strip().splitlines()[0]
    assert len(run_id) == 32
    assert "epoch 2/2" in run.stderr and "[succeeded]" in run.stderr

    listed = cli(stack, "list", token="tok").stdout
    assert run_id in listed and "from cli" in listed and "succeeded" in listed
    assert '"status": "succeeded"' in cli(stack, "show", run_id, token="tok").stdout
    assert cli(stack, "show", run_id, check=False).returncode == 2, "reads need the token too"
    csv_lines = cli(stack, "logs", run_id, "--csv", token="tok").stdout.strip().splitlines()
    assert csv_lines[0] == "epoch,train_loss,test_loss,test_accuracy,seconds,lr"
    assert [line.split(",")[0] for line in csv_lines[1:]] == ["1", "2"]

    queued = cli(stack, "submit", "--epochs", "50", "--train-samples", "3000", token="tok").stdout.strip()
    assert cli(stack, "cancel", queued, token="tok").returncode == 0
    stack.wait_status(queued, "cancelled", timeout=60)
    again = cli(stack, "cancel", queued, token="tok", check=False)
    assert again.returncode == 2 and "409" in again.stderr


def test_watch_survives_a_web_restart(make_stack):
    stack = make_stack(workers=1)
    port = int(stack.url.rsplit(":", 1)[1])
    run = stack.submit(epochs=3, batch_size=32, train_samples=2000)
    cmd = [sys.executable, "-m", "trainboard_cli", "--url", stack.url, "watch", run["id"]]
    watcher = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    from tests.processes import wait_for

    wait_for(lambda: stack.run(run["id"])["epoch"] >= 1, 60, "first epoch")
    stack.webs[0].stop()
    stack.start_web(port)
    out, err = watcher.communicate(timeout=120)
    assert watcher.returncode == 0, err
    assert "reconnected" in err
    epoch_lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == [f"epoch {i}/3" for i in range(1, 4)], err
