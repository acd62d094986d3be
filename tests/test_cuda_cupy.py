"""CuPy on GPUs (contract section 10): needs CUDA and CuPy; skipped cleanly without either.

Run on a GPU machine with ``-m cuda``; tests that need a second GPU skip on one.
"""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, to_like, to_numpy, to_torch, torch_inside

pytestmark = pytest.mark.cuda


@pytest.fixture
def cp():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    return pytest.importorskip("cupy", reason="CuPy is not installed")


def _device(cp, index):
    if torch.cuda.device_count() <= index:
        pytest.skip(f"needs {index + 1} GPUs")
    return cp.cuda.Device(index)


def test_cupy_in_and_out_on_the_same_gpu_zero_copy_both_ways(cp):
    seen = {}

    @torch_inside
    def double(x):
        seen["x"] = x
        out = x * 2
        seen["out"] = out
        return out

    index = 1 if torch.cuda.device_count() > 1 else 0
    with _device(cp, index):
        x = cp.arange(4, dtype=cp.float32)
    y = double(x)
    assert isinstance(y, cp.ndarray) and y.device.id == index and y.dtype == cp.float32
    assert seen["x"].device == torch.device("cuda", index)
    assert seen["x"].data_ptr() == x.data.ptr  # in: zero copy
    assert seen["out"].data_ptr() == y.data.ptr  # out: zero copy
    assert y.tolist() == [0.0, 2.0, 4.0, 6.0]


def test_legacy_numpy_code_called_with_cupy_arrays(cp):
    @numpy_inside
    def legacy(x):
        assert type(x) is np.ndarray
        return x.astype(np.float64) + 1

    x = cp.ones(3, dtype=cp.float32)
    out = legacy(x)
    assert isinstance(out, cp.ndarray) and out.dtype == cp.float32 and out.tolist() == [2.0, 2.0, 2.0]


def test_to_like_a_cupy_array_and_to_torch_of_one(cp):
    with _device(cp, 0):
        like = cp.zeros(1, dtype=cp.float16)
    out = to_like({"a": np.ones(2), "t": torch.arange(2)}, like)
    assert isinstance(out["a"], cp.ndarray) and out["a"].dtype == cp.float16
    assert out["t"].dtype == cp.int64 and out["a"].device.id == 0
    t = to_torch(cp.arange(3.0))
    assert t.is_cuda and t.tolist() == [0.0, 1.0, 2.0]
    assert to_numpy(cp.arange(3.0)).tolist() == [0.0, 1.0, 2.0]
