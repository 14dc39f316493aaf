"""The web tier's NumPy forward pass gives what the PyTorch model gives."""

import numpy as np
import torch

from web.inference import predict_file, probabilities
from worker.checkpoints import save_weights_npz
from worker.model import Net


def test_numpy_forward_matches_torch(tmp_path):
    torch.manual_seed(3)
    model = Net().eval()
    path = tmp_path / "mnist_cnn.npz"
    save_weights_npz(path, model)
    rng = np.random.default_rng(0)
    for _ in range(5):
        pixels = rng.integers(0, 256, 784).astype(np.float32)
        x = ((torch.tensor(pixels).view(1, 1, 28, 28) / 255.0) - 0.1307) / 0.3081
        with torch.no_grad():
            expected = torch.softmax(model(x), dim=1)[0].numpy()
        got = predict_file(path, pixels)
        assert np.allclose(got, expected, atol=1e-5), (got, expected)
    weights = dict(np.load(path))
    assert abs(probabilities(weights, np.zeros(784)).sum() - 1) < 1e-6


def test_numpy_activations_match_torch_on_the_same_weights(tmp_path):
    from web.inference import forward, weights_file

    torch.manual_seed(5)
    model = Net().eval()
    path = tmp_path / "mnist_cnn.npz"
    save_weights_npz(path, model)
    seen = {}
    for name in ("conv1", "conv2", "conv3", "conv4"):  # torch's view: the conv output after ReLU
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, torch.relu(out)[0].numpy())
        )
    pixels = np.random.default_rng(1).integers(0, 256, 784).astype(np.float32)
    x = ((torch.tensor(pixels).view(1, 1, 28, 28) / 255.0) - 0.1307) / 0.3081
    with torch.no_grad():
        expected = torch.softmax(model(x), dim=1)[0].numpy()
    probs, maps = forward(weights_file(path), pixels)
    assert np.allclose(probs, expected, atol=1e-5)
    assert list(maps) == ["conv1", "conv2", "conv3", "conv4"]
    assert [m.shape for m in maps.values()] == [(16, 28, 28), (32, 14, 14), (64, 7, 7), (128, 3, 3)]
    for name, got in maps.items():
        assert np.allclose(got, seen[name], atol=1e-4), name
