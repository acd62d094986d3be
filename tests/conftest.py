"""Test settings: the `cuda` marker skips cleanly where no GPU is present."""

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA, and this machine has none")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
