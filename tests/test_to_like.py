"""to_like(data, like): every array leaf in like's kind, device and floating dtype (contract section 1)."""

import collections

import numpy as np
import pytest
import torch

from toolkit import to_like


def test_a_tensor_like_gives_tensors_on_its_device_in_its_floating_dtype():
    like = torch.empty(0, dtype=torch.float16, device="meta")
    batch = {"x": np.ones(3), "t": torch.ones(2, dtype=torch.float64), "ids": np.arange(3), "n": 4}
    out = to_like(batch, like)
    assert out["x"].device.type == "meta" and out["x"].dtype is torch.float16
    assert out["t"].device.type == "meta" and out["t"].dtype is torch.float16  # tensors cast too
    assert out["ids"].dtype is torch.int64 and out["ids"].device.type == "meta"  # integers keep theirs
    assert out["n"] == 4  # Python values are not arrays


def test_a_numpy_like_gives_numpy_in_its_floating_dtype():
    like = np.zeros(1, dtype=">f4")  # big-endian: the native float32
    data = [torch.ones(2, dtype=torch.float64), np.ones(2), torch.arange(2), np.ones(2, dtype=np.complex128)]
    out = to_like(data, like)
    assert [type(v) for v in out] == [np.ndarray] * 4
    assert [v.dtype for v in out] == [np.float32, np.float32, np.int64, np.complex128]
    assert out[0].dtype.isnative


def test_a_non_floating_like_keeps_floating_dtypes_and_complex_is_kept():
    out = to_like((np.ones(2, np.float64), np.ones(2, np.complex64)), torch.zeros(1, dtype=torch.int32))
    assert out[0].dtype is torch.float64 and out[1].dtype is torch.complex64
    assert type(to_like(np.float64(1.0), np.int8(0))) is np.float64  # a NumPy scalar is a like too


def test_nothing_that_matches_is_copied_and_containers_keep_their_types():
    a = np.ones(4, np.float32)
    t = torch.ones(4)
    assert to_like(a, np.zeros(1, np.float32)) is a
    assert to_like(t, torch.zeros(1)) is t
    shared = to_like(a, torch.zeros(1))
    assert shared.data_ptr() == a.ctypes.data  # zero copy, as to_torch
    Pair = collections.namedtuple("Pair", "a b")
    out = to_like(Pair(a, [t]), np.zeros(1))
    assert type(out) is Pair and out.b[0].dtype == np.float64 and out.a.dtype == np.float64
    assert a.dtype == np.float32 and t.dtype is torch.float32  # the caller's objects are unchanged


@pytest.mark.parametrize("like", [[1.0, 2.0], 1.0, "float32", None])
def test_a_like_that_is_not_an_array_is_a_clear_error(like):
    with pytest.raises(
        TypeError, match=r"^to_like\(\): like must be an array \(a torch tensor, a NumPy array or scalar, or another"
    ):
        to_like(np.ones(2), like)


def test_a_failing_leaf_names_its_path():
    with pytest.raises(TypeError, match=r"to_like\(\) argument 'data'\['bad'\]"):
        to_like({"bad": np.array(["a"], dtype=object)}, torch.zeros(1))


def test_a_like_that_hides_where_its_memory_lives_is_a_clear_error():
    class Opaque:  # __dlpack__ and __array_namespace__, but no __dlpack_device__: not a conforming array
        def __dlpack__(self, **kwargs):
            raise AssertionError("never asked")

        def __array_namespace__(self):
            return np

    with pytest.raises(TypeError, match=r"^to_like\(\) argument 'like': .* no __dlpack_device__"):
        to_like(np.ones(2), Opaque())
