"""Checked by `mypy --strict` in CI; its output must match expected.txt beside it."""

import numpy as np
import torch

from toolkit import (
    default_device,
    numpy_dtype,
    numpy_inside,
    to_numpy,
    to_torch,
    torch_dtype,
    torch_in_numpy_out,
    trace,
)


@torch_in_numpy_out
def bare(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@torch_in_numpy_out(device="cpu", float_dtype="float32")
def configured(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x * scale


@numpy_inside(compile={"backend": "eager"}, restore_dtype=False)
def legacy(x: np.ndarray) -> np.ndarray:
    return x


reveal_type(bare)
reveal_type(configured)
reveal_type(torch_dtype("float32"))
reveal_type(numpy_dtype(torch.bfloat16))
reveal_type(to_torch(np.zeros(2)))
reveal_type(to_numpy(torch.zeros(2)))
with default_device("cpu") as dev:
    reveal_type(dev)
with trace() as log:
    reveal_type(log.bytes_copied)
torch_in_numpy_out(devce="cpu")  # a typo in an option name is a type error
numpy_inside(device="cpu")  # so is an option the decorator does not take
