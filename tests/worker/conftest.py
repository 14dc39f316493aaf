"""What the worker's unit tests share: the generated dataset on the CPU, and a batch sink."""

import pytest
import torch

from worker.data import load_mnist


class Collect:
    """A BatchSink that keeps every loss (as floats) and never asks to stop."""

    def __init__(self):
        self.losses = []

    def batch(self, loss, step, images):
        self.losses.append(float(loss))
        return True


@pytest.fixture(scope="module")
def mnist(dataset):
    return load_mnist(str(dataset), torch.device("cpu"), download=False)
