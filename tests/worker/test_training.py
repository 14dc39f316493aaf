"""Training logic without servers: shapes, learning, determinism, resume equivalence."""

import pytest
import torch

from tests.worker.conftest import Collect
from worker import checkpoints, training
from worker.data import RAW_FILES, load_mnist, normalize, read_split, training_subset
from worker.model import Net
from worker.progress import ProgressReporter


def test_model_maps_a_batch_of_digits_to_ten_logits():
    model = Net()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16, 32, 64, 128]


def test_data_is_loaded_once_as_uint8_tensors(mnist, dataset):
    assert mnist.train_x.dtype == torch.uint8 and mnist.train_x.shape[1:] == (28, 28)
    assert load_mnist(str(dataset), torch.device("cpu")) is mnist
    x = normalize(mnist.train_x[:4])
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    images, labels = training_subset(mnist, 100, seed=3)
    assert len(images) == len(labels) == 100


@pytest.mark.parametrize("train", [True, False])
def test_the_files_read_as_torchvisions_mnist_reads_them(dataset, train):
    from torchvision import datasets

    theirs = datasets.MNIST(str(dataset), train=train, download=False)
    x, y = read_split(str(dataset), train=train, download=False)
    assert x.dtype == theirs.data.dtype and y.dtype == theirs.targets.dtype
    assert torch.equal(x, theirs.data) and torch.equal(y, theirs.targets)


def test_a_truncated_or_foreign_file_is_an_error_naming_it(dataset, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = RAW_FILES[False]
    source = dataset / "MNIST" / "raw"
    (raw / labels).write_bytes((source / labels).read_bytes())
    (raw / images).write_bytes((source / images).read_bytes()[:-5])
    with pytest.raises(ValueError, match=f"{images}: .* bytes of data"):
        read_split(str(tmp_path), train=False, download=False)
    (raw / images).write_bytes(b"\x00\x00\x0d\x03" + (source / images).read_bytes()[4:])  # float32, not bytes
    with pytest.raises(ValueError, match=f"{images}: not an IDX file of unsigned bytes"):
        read_split(str(tmp_path), train=False, download=False)
    (raw / images).write_bytes((source / images).read_bytes()[:10])
    with pytest.raises(ValueError, match=f"{images}: cut off inside its header"):
        read_split(str(tmp_path), train=False, download=False)


def test_a_worker_starts_without_importing_torchvision():
    """torchvision's import is 1.4 s of a worker's start; it is needed only to download MNIST."""
    import subprocess
    import sys

    code = (
        "import sys, worker.tasks, worker.runner, worker.epochs, worker.data, worker.checkpoints, worker.presence;"
        "print('torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_sprite_is_a_png_of_the_images_side_by_side(tmp_path):
    from PIL import Image

    images = [[i * 10 % 256] * 784 for i in range(3)]
    images[1][28 * 5 + 7] = 255  # row 5, column 7 of the second tile
    checkpoints.save_sprite(tmp_path / "s.png", images)
    with Image.open(tmp_path / "s.png") as png:
        assert png.format == "PNG" and png.mode == "L" and png.size == (84, 28)
        assert png.getpixel((0, 0)) == 0 and png.getpixel((28, 0)) == 10 and png.getpixel((56, 27)) == 20
        assert png.getpixel((28 + 7, 5)) == 255


def test_training_steps_lower_the_loss_on_a_small_batch(mnist):
    torch.manual_seed(0)
    model = Net()
    x, y = mnist.train_x[:32], mnist.train_y[:32]
    opt = training.build_optimizer(model, "adam", 2e-3, torch.device("cpu"))
    sink = Collect()
    for epoch in range(1, 21):
        training.train_epoch(model, x, y, opt, None, 32, 0, epoch, sink)
    assert sink.losses[-1] < sink.losses[0] * 0.5


def test_same_seed_gives_the_same_losses_twice(mnist):
    def run():
        training.seed_everything(1)
        model = Net()
        opt = training.build_optimizer(model, "sgd", 0.05, torch.device("cpu"))
        images, labels = training_subset(mnist, 512, seed=1)
        sink = Collect()
        training.train_epoch(model, images, labels, opt, None, 64, 1, 1, sink)
        return sink.losses

    assert run() == run()


def test_evaluate_reports_accuracy_and_a_consistent_confusion_matrix(mnist):
    model = Net()
    metrics = training.evaluate(model, mnist.test_x, mnist.test_y)
    matrix = torch.tensor(metrics["confusion"])
    assert matrix.sum() == len(mnist.test_y)
    assert metrics["test_accuracy"] == pytest.approx(matrix.diagonal().sum().item() / len(mnist.test_y))
    items = training.sample_predictions(model, mnist.test_x, mnist.test_y, 16, 0, 1)
    assert len(items) == 16 and all(len(i["image"]) == 784 and 0 <= i["confidence"] <= 1 for i in items)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(mnist, tmp_path):
    images, labels = training_subset(mnist, 640, seed=0)

    def fresh():
        training.seed_everything(0)
        model = Net()
        opt = training.build_optimizer(model, "adam", 2e-3, torch.device("cpu"))
        sched = training.build_scheduler(opt, "onecycle", 2e-3, 2, 10)
        return model, opt, sched

    model, opt, sched = fresh()
    for epoch in (1, 2):
        training.train_epoch(model, images, labels, opt, sched, 64, 0, epoch, Collect())

    m2, o2, s2 = fresh()
    training.train_epoch(m2, images, labels, o2, s2, 64, 0, 1, Collect())
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(
        path, model=m2, optimizer=o2, scheduler=s2, epoch=1, spec={"seed": 0}, history={"epochs": []}
    )
    m3, o3, s3 = fresh()  # a new process: fresh objects, state only from the file
    state = checkpoints.load_checkpoint(path, torch.device("cpu"))
    checkpoints.restore(state, m3, o3, s3)
    assert state["epoch"] == 1
    training.train_epoch(m3, images, labels, o3, s3, 64, 0, 2, Collect())
    for a, b in zip(model.state_dict().values(), m3.state_dict().values()):
        assert torch.equal(a, b)
    assert o3.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_progress_batches_every_loss_into_few_events():
    sent = []
    reporter = ProgressReporter(lambda t, **f: sent.append(f), steps_per_epoch=1000, interval=3600)
    reporter.start_epoch(1)
    for step in range(1, 1001):
        assert reporter.batch(torch.tensor(float(step)), step, 64)
    assert len(sent) == 1, "one event at the epoch end when the interval never passed"
    assert sent[0]["losses"] == [float(s) for s in range(1, 1001)] and sent[0]["step"] == 1000


def test_progress_asks_to_stop_when_told():
    reporter = ProgressReporter(lambda t, **f: None, steps_per_epoch=10, interval=0, should_stop=lambda: True)
    reporter.start_epoch(1)
    assert reporter.batch(torch.tensor(1.0), 1, 64) is False


@pytest.mark.parametrize(
    "capability, precision",
    [
        (None, "fp32"),
        ((9, 0), "bf16"),
        ((8, 0), "bf16"),
        ((8, 6), "bf16"),  # CPU; H100; A100; RTX 30xx
        ((7, 5), "fp16"),
        ((7, 0), "fp16"),  # T4 / RTX 20xx; V100: no native bf16
        ((6, 1), "fp32"),
        ((5, 2), "fp32"),  # GTX 10xx and older: slow or no fp16
    ],
)
def test_precision_follows_the_compute_capability(capability, precision):
    assert training.precision_for_capability(capability) == precision


def test_the_grad_scaler_path_trains(mnist):
    """The fp16 path's step (scale, unscaled step, update) run with a real GradScaler:
    on CUDA it is the one pre-Ampere GPUs take; here it runs on the CPU in fp32."""
    torch.manual_seed(0)
    model = Net()
    opt = training.build_optimizer(model, "adam", 1e-3, torch.device("cpu"))
    images, labels = training_subset(mnist, 1000, 0)
    sink = Collect()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    training.train_epoch(model, images, labels, opt, None, 50, 0, 1, sink, scaler)
    assert len(sink.losses) == 20 and sink.losses[-1] < sink.losses[0]
    assert scaler.get_scale() > 0 and training.grad_scaler(torch.device("cpu")) is None


def test_the_grad_scaler_state_survives_a_checkpoint(tmp_path):
    """fp16 runs resume with the loss scale they had settled on, not the initial one."""
    model = Net()
    opt = training.build_optimizer(model, "adam", 1e-3, torch.device("cpu"))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    x, y = torch.randint(0, 255, (64, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (64,))
    training.train_epoch(model, x, y, opt, None, 16, 0, 1, Collect(), scaler)
    assert scaler.get_scale() == 2.0**14, "grown once per step"
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(
        path, model=model, optimizer=opt, scheduler=None, epoch=1, spec={}, history={}, scaler=scaler
    )
    fresh = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    checkpoints.restore(checkpoints.load_checkpoint(path, torch.device("cpu")), Net(), opt, None, fresh)
    assert fresh.get_scale() == 2.0**14
