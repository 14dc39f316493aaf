"""Seeing inside the model without servers: the summary, the histograms, the layer
watch in a real training epoch, the gradient flags, and how a fork starts."""

import math

import pytest
import torch

from shared import layer_stats as ls
from tests.worker.conftest import Collect
from worker import checkpoints, forks, training
from worker.data import training_subset
from worker.layer_watch import LayerWatch, gradient_histogram, weight_histogram
from worker.model import Net
from worker.model_summary import summarize


def test_the_summary_is_read_from_the_module():
    model = Net()
    summary = summarize(model)
    assert summary["total_params"] == sum(p.numel() for p in model.parameters()) == 394_890
    assert sum(layer["params"] for layer in summary["layers"]) == summary["total_params"]
    by_name = {layer["name"]: layer for layer in summary["layers"]}
    assert by_name["conv1"]["type"] == "Conv2d" and by_name["conv1"]["output_shape"] == [16, 28, 28]
    assert by_name["conv1"]["macs"] == 16 * 28 * 28 * 9
    assert by_name["conv4"]["output_shape"] == [128, 3, 3]
    assert by_name["fc1"]["macs"] == 1152 * 256 and by_name["fc2"]["output_shape"] == [10]
    types = [layer["type"] for layer in summary["layers"]]
    assert types.count("relu") == 5 and types.count("max_pool2d") == 3 and "flatten" in types
    assert summary["total_macs"] == sum(layer["macs"] for layer in summary["layers"])


def test_weight_histogram_of_a_known_tensor():
    counts = weight_histogram(torch.tensor([-1.0, -0.99, 0.0, 0.5, 0.999, 7.0, -9.0]), 1.0)
    assert len(counts) == ls.BINS and sum(counts) == 7
    width = 2 / ls.BINS
    expected = [0] * ls.BINS
    for v in (-1.0, -0.99, 0.0, 0.5, 0.999, 1.0, -1.0):  # out of range: clamped to the edges
        expected[min(int((v + 1) / width), ls.BINS - 1)] += 1
    assert counts == expected


def test_gradient_histogram_bins_by_signed_log_magnitude():
    counts = gradient_histogram(torch.tensor([1e-3, -1e-3, 0.0, 1e-12, 1e5, float("nan")]))
    span = ls.GRAD_LOG_MAX - ls.GRAD_LOG_MIN

    def bin_of(t):
        return min(int((t + span) / (2 * span) * ls.BINS), ls.BINS - 1)

    expected = [0] * ls.BINS
    for t in (7.0, -7.0, 0.0, 0.0, span, 0.0):  # 1e-3 → log 7 decades above 1e-10; nan → 0
        expected[bin_of(t)] += 1
    assert counts == expected
    assert ls.grad_edges()[0] == -span and ls.grad_edges()[-1] == span and len(ls.grad_edges()) == 65


def test_the_watch_records_every_layer_each_epoch_on_fixed_bins(mnist):
    images, labels = training_subset(mnist, 320, seed=0)
    training.seed_everything(0)
    model = Net()
    opt = training.build_optimizer(model, "adam", 1e-3, torch.device("cpu"))
    watch = LayerWatch(model, last_batches=1)
    ranges = dict(watch.ranges)
    initial = watch.initial()
    first_kernel = model.conv1.weight[0].flatten().tolist()
    entries = []
    for epoch in (1, 2):
        training.train_epoch(model, images, labels, opt, None, 64, 0, epoch, Collect(), watch=watch)
        entries.append(watch.collect(epoch))
        # last_batches=1: the recorded gradient is exactly the last batch's, still in .grad
        assert entries[-1]["layers"]["fc2"]["gradients"]["mean"] == pytest.approx(
            model.fc2.weight.grad.mean().item(), rel=1e-4, abs=1e-12
        )
    assert watch.ranges == ranges, "the bins do not move between epochs"
    assert list(entries[0]["layers"]) == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2"]
    for entry in entries:
        for name, layer in entry["layers"].items():
            numel = dict(model.named_parameters())[f"{name}.weight"].numel()
            assert sum(layer["weights"]["counts"]) == numel == sum(layer["gradients"]["counts"])
            assert 0 < layer["update_ratio"] < 1
            assert layer["gradients"]["rms"] > 0
    assert len(entries[1]["filters"]) == 16 and len(entries[1]["filters"][0]) == 9
    assert entries[1]["filters"][0][0] == round(model.conv1.weight[0, 0, 0, 0].item(), 4)
    assert ls.nice_range(0.33) == 1.0 and ls.nice_range(0.05) == 0.2
    # Epoch 0: the weights before any batch, on the same bins, and no gradients yet.
    assert initial["epoch"] == 0 and initial["filters"][0] == [round(v, 4) for v in first_kernel]
    for name, layer in initial["layers"].items():
        assert sum(layer["weights"]["counts"]) == dict(model.named_parameters())[f"{name}.weight"].numel()
        assert layer["gradients"] is None and layer["update_ratio"] is None
    assert initial["layers"]["fc2"]["weights"]["counts"] != entries[1]["layers"]["fc2"]["weights"]["counts"]
    assert ls.flags([initial, *entries]) == ls.flags(entries)


def test_the_watch_costs_nothing_it_does_not_say():
    """Off (watch=None), train_epoch is the plain loop: the same losses as with a watch."""
    x = torch.randint(0, 255, (128, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (128,))

    def losses(with_watch):
        training.seed_everything(3)
        model = Net()
        opt = training.build_optimizer(model, "sgd", 0.05, torch.device("cpu"))
        sink = Collect()
        watch = LayerWatch(model) if with_watch else None
        training.train_epoch(model, x, y, opt, None, 32, 3, 1, sink, watch=watch)
        return sink.losses

    assert losses(True) == losses(False)


def test_gradient_flags():
    def epoch(n, **rms):
        return {"epoch": n, "layers": {k: {"gradients": {"rms": v}} for k, v in rms.items()}}

    flags = ls.flags([epoch(1, a=1e-3, b=2e-3, c=5e-4), epoch(2, a=1e-3, b=3.0, c=1e-9), epoch(3, a=1e-3, b=None, c=1e-8)])
    assert flags["b"]["exploding"] == [2, 3] and flags["b"]["latest"] == "exploding"
    assert flags["c"]["vanishing"] == [2, 3]
    assert flags["a"] == {"vanishing": [], "exploding": [], "latest": None}
    assert ls.gradient_flag(float("inf"), 1.0) == "exploding"
    assert ls.gradient_flag(1e-6, 1e-1) == "vanishing"  # 1e-5 of the largest layer
    assert math.isclose(ls.weight_edges(0.5)[0], -0.5)


def _state_after_epoch(mnist, tmp_path, spec, epochs_before):
    images, labels = training_subset(mnist, 384, seed=spec["seed"])
    steps = training.steps_per_epoch(len(labels), spec["batch_size"])

    def fresh(s):
        training.seed_everything(s["seed"])
        model = Net()
        opt = training.build_optimizer(model, s["optimizer"], s["lr"], torch.device("cpu"))
        sched = training.build_scheduler(opt, s["schedule"], s["lr"], s["epochs"], steps)
        return model, opt, sched

    model, opt, sched = fresh(spec)
    for epoch in range(1, epochs_before + 1):
        training.train_epoch(model, images, labels, opt, sched, spec["batch_size"], spec["seed"], epoch, Collect())
    path = tmp_path / "state.pt"
    checkpoints.save_checkpoint(
        path,
        model=model,
        optimizer=opt,
        scheduler=sched,
        epoch=epochs_before,
        spec=spec,
        history={"epochs": [], "batch_losses": []},
    )
    return (model, opt, sched), checkpoints.load_checkpoint(path, torch.device("cpu")), fresh, images, labels, steps


SPEC = {
    "seed": 4,
    "optimizer": "adam",
    "lr": 2e-3,
    "schedule": "onecycle",
    "epochs": 3,
    "batch_size": 64,
    "train_samples": 384,
}


def test_a_fork_with_no_overrides_continues_bit_exactly(mnist, tmp_path):
    (parent, p_opt, p_sched), state, fresh, images, labels, steps = _state_after_epoch(mnist, tmp_path, SPEC, 1)
    model, opt, _ = fresh(SPEC)  # the child's worker: fresh objects, state from the store
    sched = forks.restore_fork(state, SPEC, model, opt, steps)
    parent_sink, child_sink = Collect(), Collect()
    training.train_epoch(parent, images, labels, p_opt, p_sched, 64, 4, 2, parent_sink)
    training.train_epoch(model, images, labels, opt, sched, 64, 4, 2, child_sink)
    assert child_sink.losses == parent_sink.losses
    for a, b in zip(parent.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_fork_overrides_lr_schedule_and_optimizer(mnist, tmp_path):
    _, state, fresh, _, _, steps = _state_after_epoch(mnist, tmp_path, SPEC, 1)
    longer = {**SPEC, "epochs": 6}  # the schedule changes shape: rebuilt and advanced
    model, opt, _ = fresh(longer)
    forks.restore_fork(state, longer, model, opt, steps)
    _, ref_opt, ref_sched = fresh(longer)
    for _ in range(steps):
        ref_opt.step()
        ref_sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])
    assert opt.state_dict()["state"], "same optimizer: its moments carry over"

    lower = {**SPEC, "schedule": "none", "lr": 3e-4}
    model, opt, _ = fresh(lower)
    sched = forks.restore_fork(state, lower, model, opt, steps)
    assert sched is None and opt.param_groups[0]["lr"] == 3e-4
    assert torch.equal(model.conv1.weight, state["model"]["conv1.weight"])

    switched = {**SPEC, "optimizer": "sgd", "schedule": "none"}
    model, opt, _ = fresh(switched)
    forks.restore_fork(state, switched, model, opt, steps)
    assert not opt.state_dict()["state"], "another optimizer starts with fresh state"
