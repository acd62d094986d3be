"""Functions defined at module level, so worker processes can import them by name."""

from __future__ import annotations

import numpy as np
import torch

from toolkit import numpy_inside, torch_in_numpy_out, torch_inside


@torch_in_numpy_out(float_dtype="float32")
def double(x: torch.Tensor) -> torch.Tensor:
    """Receives a tensor (float32), returns it doubled."""
    assert isinstance(x, torch.Tensor), type(x)
    return x * 2


@numpy_inside
def legacy_sum(x: np.ndarray) -> np.ndarray:
    assert isinstance(x, np.ndarray), type(x)
    return x.sum(keepdims=True)


def block_kind(block: np.ndarray) -> np.ndarray:
    """A Dask block function: records that it ran on a tensor, returns the block plus one."""
    return tensor_plus_one(block)


@torch_inside
def tensor_plus_one(x: torch.Tensor) -> torch.Tensor:
    assert isinstance(x, torch.Tensor), type(x)
    return x + 1


class Scaler:
    def __init__(self, factor: float) -> None:
        self.factor = factor

    @torch_in_numpy_out
    def scale(self, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(x, torch.Tensor), type(x)
        return x * self.factor

    @classmethod
    @torch_in_numpy_out
    def make(cls, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(x, torch.Tensor), type(x)
        return x + 0


def call_double(x: np.ndarray) -> object:
    """Run in a worker: returns what the decorated function gave back."""
    return double(x)


class Runner:
    """A decorated method stored under another name than its function's."""

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(x, torch.Tensor), type(x)
        return x * 2

    run = torch_in_numpy_out(_raw)


class DLPackOnly:
    """A foreign array that offers only DLPack (as CuPy or JAX do), over a tensor's or an array's memory."""

    def __init__(self, data):
        self._data = data

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()


class Model:
    """A class whose decorated methods are reached through the class (``Model.scale``)."""

    @torch_in_numpy_out
    def scale(self, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(x, torch.Tensor), type(x)
        return x * 3

    @staticmethod
    @torch_in_numpy_out
    def outer(x: torch.Tensor) -> torch.Tensor:  # staticmethod around the decorated function
        assert isinstance(x, torch.Tensor), type(x)
        return x + 1

    @torch_in_numpy_out
    @staticmethod
    def inner(x: torch.Tensor) -> torch.Tensor:  # the decorator around the staticmethod
        assert isinstance(x, torch.Tensor), type(x)
        return x + 2
