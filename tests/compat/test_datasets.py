"""Hugging Face datasets, built in memory: `map(batched=True)` hands columns as lists of numbers."""

import numpy as np
import pytest
import torch

from toolkit import autoconvert

datasets = pytest.importorskip("datasets", reason="datasets is not installed")


@autoconvert
def normalise(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    x = batch["x"]
    assert isinstance(x, torch.Tensor), type(x)
    return {"z": (x - x.mean()) / x.std()}


@autoconvert
def scale(x: torch.Tensor, factor: float) -> np.ndarray:
    assert isinstance(x, torch.Tensor) and x.dtype is torch.float32, (type(x), getattr(x, "dtype", None))
    return x * factor


def test_map_batched_with_an_autoconvert_function():
    data = datasets.Dataset.from_dict({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1]})
    out = data.map(lambda b: {"y": scale(b["x"], 2.0)}, batched=True, batch_size=2)
    assert out["y"] == [2.0, 4.0, 6.0, 8.0]
    assert out["label"] == [0, 1, 0, 1]


def test_a_dict_of_columns_annotated_as_tensors():
    data = datasets.Dataset.from_dict({"x": [1.0, 2.0, 3.0]})
    out = data.map(lambda b: normalise({"x": b["x"]}), batched=True)
    np.testing.assert_allclose(out["z"], [-1.0, 0.0, 1.0], rtol=1e-6)
