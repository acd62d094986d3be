"""array-api-strict: the Array API standard's strict reference library (contract section 10).

Its arrays offer only what the standard names (``__dlpack__``,
``__array_namespace__``, ``device``, ``to_device``) on several devices that
all lie in host memory, so it checks that nothing here relies on NumPy's or
JAX's extras.
"""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, to_like, to_numpy, to_torch, torch_inside, trace

xp = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
OTHER = xp.Device("device1")


def test_into_torch_and_numpy_zero_copy_its_arrays_are_writable_memory():
    x = xp.asarray([1.0, 2.0, 3.0])
    t = to_torch(x)
    assert t.dtype is torch.float64 and t.tolist() == [1.0, 2.0, 3.0]
    t[0] = 7.0
    assert float(x[0]) == 7.0  # the same memory: array-api-strict arrays are mutable
    a = to_numpy(xp.asarray([1, 2], device=OTHER))  # a device NumPy refuses to view: through DLPack
    assert type(a) is np.ndarray and a.tolist() == [1, 2]


def test_a_torch_function_gives_the_callers_library_back_on_its_device():
    @torch_inside
    def scores(x, labels):
        assert isinstance(x, torch.Tensor) and isinstance(labels, torch.Tensor)
        return torch.softmax(x.double(), -1), labels + 1

    x = xp.asarray([0.0, 0.0], dtype=xp.float32, device=OTHER)
    probs, labels = scores(x, xp.asarray([1, 2], device=OTHER))
    assert probs.__array_namespace__() is xp and labels.__array_namespace__() is xp
    assert probs.dtype == xp.float32 and probs.device == OTHER  # the first floating value's dtype
    assert labels.dtype == xp.int64 and labels.device == OTHER
    assert xp.all(probs == xp.asarray([0.5, 0.5], dtype=xp.float32, device=OTHER))


def test_restore_dtype_false_keeps_the_bodys_dtype_and_bfloat16_goes_back_through_numpy():
    @numpy_inside(restore_dtype=False)
    def mean(x):
        return x.mean(dtype=np.float64)

    out = mean(xp.asarray([1.0, 2.0], dtype=xp.float32))
    assert out.__array_namespace__() is xp and out.dtype == xp.float64 and float(out) == 1.5

    @torch_inside
    def half(n):
        return torch.ones(2, dtype=torch.bfloat16) * n  # a dtype its DLPack import refuses

    out = half(xp.asarray(3))
    assert out.__array_namespace__() is xp and out.dtype == xp.float32 and float(out[0]) == 3.0


def test_to_like_an_array_api_strict_array():
    like = xp.zeros(1, dtype=xp.float32, device=OTHER)
    out = to_like({"a": np.ones(2), "t": torch.arange(2), "n": 1}, like)
    assert out["a"].dtype == xp.float32 and out["a"].device == OTHER
    assert out["t"].dtype == xp.int64 and out["t"].device == OTHER
    assert out["n"] == 1
    assert to_like(xp.asarray([1.0]), np.zeros(1, np.float32)).dtype == np.float32


def test_the_trace_holds_results_against_the_memory_they_were_given():
    @torch_inside
    def f(x):
        return x * 2, torch.ones(2, dtype=torch.bfloat16)

    with trace() as t:
        f(xp.asarray([1.0, 2.0]))
    given, shared, cast = t.records
    assert not given.copied  # in: zero copy
    assert not shared.copied and shared.nbytes == 16  # back through from_dlpack: zero copy
    assert cast.copied and cast.reason == "dtype bfloat16 -> float64"


def test_float16_results_to_a_library_without_float16_are_float32_and_other_devices_are_zero_copy():
    @torch_inside(restore_dtype=False)
    def half(x):
        return x.half()

    out = half(xp.asarray([1.0, 2.0], dtype=xp.float32))
    assert out.dtype == xp.float32 and float(out[1]) == 2.0  # array-api-strict has no float16
    seen = {}

    @torch_inside
    def double(x):
        seen["out"] = x * 2
        return seen["out"]

    out = double(xp.asarray([1.0, 2.0], device=OTHER))
    assert out.device == OTHER
    seen["out"][0] = 42.0  # zero copy onto its other device: the write shows
    assert float(xp.asarray(out, device=xp.Device("CPU_DEVICE"))[0]) == 42.0
