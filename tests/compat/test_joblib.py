"""joblib's Parallel with the loky backend: decorated functions reach worker processes decorated."""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, torch_in_numpy_out

joblib = pytest.importorskip("joblib", reason="joblib is not installed")
pytestmark = pytest.mark.slow


@torch_in_numpy_out(float_dtype="float32")
def module_level(x):
    assert isinstance(x, torch.Tensor) and x.dtype is torch.float32
    return x * 2


def test_parallel_loky_with_two_workers():
    @numpy_inside
    def local(x):  # a local function: cloudpickle carries it by value
        assert isinstance(x, np.ndarray)
        return x + 1

    with joblib.parallel_config(backend="loky", n_jobs=2):
        doubled = joblib.Parallel()(joblib.delayed(module_level)(np.full(2, i, np.float64)) for i in range(4))
        bumped = joblib.Parallel()(joblib.delayed(local)(torch.full((2,), float(i))) for i in range(4))
        pids = set(joblib.Parallel()(joblib.delayed(__import__("os").getpid)() for _ in range(8)))
    assert all(isinstance(d, np.ndarray) and d.dtype == np.float32 for d in doubled)
    assert [d.tolist() for d in doubled] == [[2.0 * i] * 2 for i in range(4)]
    assert all(isinstance(b, torch.Tensor) for b in bumped)
    assert [b.tolist() for b in bumped] == [[i + 1.0] * 2 for i in range(4)]
    assert len(pids) >= 1
