"""Inside the model and branching runs, against real processes: a worker on one box
trains a run; the web tier serves its summary, layer histograms, filters and
activations from the S3 store; forks start from its stored epoch states (on another
box), bad forks create nothing, and the CLI forks too."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests import processes
from tests.processes import ROOT

pytestmark = pytest.mark.integration

SPEC = dict(epochs=3, batch_size=32, train_samples=640, seed=11)


@pytest.fixture
def store_stack(make_stack, tmp_path):
    s3_proc, s3_env = processes.start_s3(tmp_path / "s3")
    # Two epoch states kept: epoch 1's is pruned when epoch 3 lands.
    stack = make_stack(workers=0, ARTIFACTS_URL="s3://trainboard/runs", KEEP_CHECKPOINTS="2", **s3_env)
    stack.box_a = stack.add_worker("box-a", RESULTS_DIR=str(tmp_path / "box-a"))
    yield stack
    s3_proc.stop()


def api(stack, method, path, **kwargs):
    return requests.request(method, stack.url + path, headers=stack.auth, timeout=30, **kwargs)


def epoch_events(stack, run_id):
    return {e["epoch"]: e for e in stack.events(run_id) if e["type"] == "epoch"}


def test_inspect_a_run_and_fork_it(store_stack, tmp_path):
    stack = store_stack
    parent = stack.submit(**SPEC)
    stack.wait_status(parent["id"], "succeeded", timeout=180)
    pid = parent["id"]

    model = api(stack, "GET", f"/api/runs/{pid}/model").json()
    assert model["total_params"] == 394_890 and model["layers"][0]["output_shape"] == [16, 28, 28]
    index = api(stack, "GET", f"/api/runs/{pid}/layers").json()
    assert index["epochs"] == [0, 1, 2, 3]  # 0: the initial weights, before any batch
    assert [layer["name"] for layer in index["layers"]] == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2"]
    grads = api(stack, "GET", f"/api/runs/{pid}/layers", params={"layer": "conv2", "kind": "gradients"}).json()
    assert grads["epochs"] == [1, 2, 3] and all(sum(row) == 32 * 16 * 9 for row in grads["counts"])
    assert grads["scale"] == "signed-log10" and len(grads["edges"]) == grads["bins"] + 1 == 65
    weights = api(stack, "GET", f"/api/runs/{pid}/layers", params={"layer": "fc2"}).json()
    assert weights["kind"] == "weights" and weights["epochs"] == [0, 1, 2, 3]
    assert weights["update_ratio"][0] is None and all(r > 0 for r in weights["update_ratio"][1:])
    assert sum(weights["counts"][0]) == 10 * 256 and weights["counts"][0] != weights["counts"][3]
    assert api(stack, "GET", f"/api/runs/{pid}/layers", params={"layer": "nope"}).status_code == 404
    assert api(stack, "GET", f"/api/runs/{pid}/layers", params={"layer": "fc2", "kind": "x"}).status_code == 400
    filters = api(stack, "GET", f"/api/runs/{pid}/filters").json()
    assert filters["shape"] == [16, 1, 3, 3] and filters["epochs"] == [0, 1, 2, 3]
    acts = api(stack, "POST", f"/api/runs/{pid}/activations", json={"pixels": [0] * 392 + [255] * 392}).json()
    assert [(a["name"], a["shape"]) for a in acts["layers"]] == [
        ("conv1", [16, 28, 28]),
        ("conv2", [32, 14, 14]),
        ("conv3", [64, 7, 7]),
        ("conv4", [128, 3, 3]),
    ]
    assert len(acts["layers"][0]["maps"][0]) == 784 and abs(sum(acts["probabilities"]) - 1) < 1e-4

    runs_before = len(api(stack, "GET", "/api/runs").json()["runs"])
    for body, field in (
        ({"from_epoch": 0}, "from_epoch"),
        ({"from_epoch": 4}, "from_epoch"),
        ({"from_epoch": 1}, "from_epoch"),  # pruned: KEEP_CHECKPOINTS=2
        ({"from_epoch": 3}, "epochs"),  # nothing left to train
        ({"from_epoch": 2, "lr": -1}, "lr"),
        ({"from_epoch": 2, "colour": 1}, "colour"),
        ({"from_epoch": True}, "from_epoch"),
    ):
        answer = api(stack, "POST", f"/api/runs/{pid}/fork", json=body)
        assert answer.status_code == 400 and field in answer.json()["fields"], (body, answer.text)
    assert "pruned" in api(stack, "POST", f"/api/runs/{pid}/fork", json={"from_epoch": 1}).json()["error"]
    assert api(stack, "POST", f"/api/runs/{'0' * 32}/fork", json={}).status_code == 404
    assert len(api(stack, "GET", "/api/runs").json()["runs"]) == runs_before, "bad forks create nothing"

    # The fork trains on another box, from the state box-a put in the store.
    stack.box_a.stop()
    stack.add_worker("box-b", RESULTS_DIR=str(tmp_path / "box-b"))
    same = api(stack, "POST", f"/api/runs/{pid}/fork", json={"from_epoch": 2})
    assert same.status_code == 201, same.text
    child = same.json()
    assert child["parent_run_id"] == pid and child["forked_from_epoch"] == 2
    stack.wait_status(child["id"], "succeeded", timeout=180)
    ours, theirs = epoch_events(stack, child["id"]), epoch_events(stack, pid)
    assert list(ours) == [3], "the fork trains epochs 3.. only"
    for key in ("train_loss", "test_loss", "test_accuracy", "confusion", "lr"):
        assert ours[3][key] == theirs[3][key], f"bit-exact continuation: {key}"
    running = next(e for e in stack.events(child["id"]) if e.get("status") == "running")
    assert "forked from epoch 2" in running["message"] and running["resumed_from_epoch"] == 2
    # Inside the fork: the weights it started from (the parent's after epoch 2), then its own.
    fork_filters = api(stack, "GET", f"/api/runs/{child['id']}/filters").json()
    assert fork_filters["epochs"] == [2, 3] and fork_filters["filters"][0] == filters["filters"][2]

    # Continue: from the last epoch (the default) with more epochs and a lower lr, by the CLI.
    cmd = [sys.executable, "-m", "trainboard_cli", "--url", stack.url, "fork", pid, "--epochs", "5", "--lr", "0.0003"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    cont = result.stdout.strip()
    stack.wait_status(cont, "succeeded", timeout=180)
    record = stack.run(cont)
    assert record["forked_from_epoch"] == 3 and record["spec"]["epochs"] == 5 and record["epoch"] == 5
    assert sorted(epoch_events(stack, cont)) == [4, 5]
    assert all(e["lr"] == 0.0003 for e in epoch_events(stack, cont).values())
    assert stack.run(pid)["children"] == [child["id"], cont]
    bad = subprocess.run([*cmd[:-4], "--from-epoch", "9"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "from_epoch" in bad.stderr
