"""to_torch: leaves, copy semantics, zero copy, silent copies and every refusal."""

import warnings

import numpy as np
import pytest
import torch
from helpers import DLPackOnly

from toolkit import ConversionError, CopyError, _producers, default_device, default_float_dtype, to_torch, torch_dtype


def shares(array, tensor):
    return np.shares_memory(array, tensor.numpy())


# -- zero copy and copies ---------------------------------------------------------


def test_contiguous_array_shares_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = to_torch(a)
    assert t.dtype is torch.float64 and t.shape == (2, 3)
    t[0, 0] = 42.0
    assert a[0, 0] == 42.0


@pytest.mark.parametrize("view", [lambda a: a[:, 1:], lambda a: a.T, lambda a: a[::2], lambda a: a[:, ::3]])
def test_positive_stride_views_share_memory(view):
    v = view(np.arange(24.0).reshape(4, 6))
    t = to_torch(v)
    assert shares(v, t)
    np.testing.assert_array_equal(t.numpy(), v)


def test_256_mib_array_shares_memory():
    big = np.zeros(256 * 2**20 // 8)
    t = to_torch(big)
    assert t.data_ptr() == big.ctypes.data
    assert shares(big, t)


def test_subclasses_convert_and_share(tmp_path):
    mm = np.memmap(tmp_path / "m.bin", dtype=np.float32, mode="w+", shape=(4,))
    mm[:] = [1, 2, 3, 4]
    t = to_torch(mm)
    assert type(t) is torch.Tensor and shares(mm, t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = np.matrix([[1.0, 2.0]])
    assert to_torch(m).shape == (1, 2)


def test_read_only_memmap_is_copied(tmp_path):
    np.arange(3.0).tofile(tmp_path / "r.bin")
    mm = np.memmap(tmp_path / "r.bin", dtype=np.float64, mode="r")
    t = to_torch(mm)
    assert not shares(mm, t)
    t[0] = 9.0
    assert mm[0] == 0.0


def negative_strides():
    return np.arange(6.0)[::-1]


def length_one_negative():
    # ascontiguousarray keeps a negative stride on a length-1 axis
    a = np.ascontiguousarray(np.zeros((1, 3))[::-1])
    assert a.strides[0] < 0
    return a


def byte_swapped():
    return np.arange(6, dtype=">f4")


def read_only():
    a = np.arange(6.0)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("make", [negative_strides, length_one_negative, byte_swapped, read_only])
def test_silent_copies(make):
    a = make()
    before = a.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning reaches the user
        t = to_torch(a)
    np.testing.assert_array_equal(t.numpy(), before)
    assert not shares(a, t)
    assert all(s >= 0 for s in t.stride())
    t.add_(1)
    np.testing.assert_array_equal(a, before)  # the caller's data is unchanged
    if make is byte_swapped:
        assert t.dtype is torch.float32


@pytest.mark.parametrize("make", [negative_strides, length_one_negative, byte_swapped, read_only])
def test_copy_false_refuses_what_must_copy(make):
    with pytest.raises(CopyError, match=r"to_torch\(\) argument 'data': copy=False"):
        to_torch(make(), copy=False)


def test_copy_false_refuses_dtype_change_device_change_and_scalars():
    a = np.zeros(3)
    with pytest.raises(ValueError, match="changing dtype"):
        to_torch(a, dtype="float32", copy=False)
    with pytest.raises(ValueError, match="moving the array to meta"):
        to_torch(a, device="meta", copy=False)
    with pytest.raises(ValueError, match="NumPy scalar"):
        to_torch(np.float32(1), copy=False)


def test_copy_false_shares_when_it_can():
    a = np.zeros(3)
    assert shares(a, to_torch(a, copy=False))


def test_copy_true_always_returns_new_memory():
    a = np.zeros(3)
    t = to_torch(a, copy=True)
    assert not shares(a, t)
    x = torch.zeros(3)
    y = to_torch(x, copy=True)
    assert y is not x and y.data_ptr() != x.data_ptr()


def test_dtype_change_copies_once_with_the_right_values():
    a = np.linspace(0, 1, 7)
    t = to_torch(a, dtype=torch.float32)
    assert t.dtype is torch.float32
    np.testing.assert_allclose(t.numpy(), a.astype(np.float32))


def test_dtype_numpy_lacks_is_cast_by_torch():
    t = to_torch(np.array([1.5, 2.5]), dtype="bfloat16")
    assert t.dtype is torch.bfloat16
    assert t.float().tolist() == [1.5, 2.5]


def test_read_only_and_cast_to_bfloat16():
    a = read_only()
    t = to_torch(a, dtype="bfloat16")
    assert t.dtype is torch.bfloat16 and t.float().tolist() == a.tolist()


# -- dtype options ---------------------------------------------------------------------


def test_float_dtype_casts_only_real_floats():
    data = {"f": np.zeros(2), "i": np.zeros(2, np.int64), "b": np.zeros(2, bool), "c": np.zeros(2, np.complex128)}
    out = to_torch(data, float_dtype="float32")
    assert out["f"].dtype is torch.float32
    assert out["i"].dtype is torch.int64
    assert out["b"].dtype is torch.bool
    assert out["c"].dtype is torch.complex128


def test_dtype_casts_every_leaf():
    out = to_torch([np.zeros(2), np.zeros(2, np.int64), torch.zeros(2, dtype=torch.bool)], dtype="float16")
    assert [t.dtype for t in out] == [torch.float16] * 3


def test_dtype_and_float_dtype_together_raise():
    with pytest.raises(TypeError, match="not both"):
        to_torch(np.zeros(1), dtype="float32", float_dtype="float64")


def test_float_dtype_must_be_floating():
    with pytest.raises(ValueError, match="floating"):
        to_torch(np.zeros(1), float_dtype="int32")


def test_bad_dtype_option_names_the_function():
    with pytest.raises(ValueError, match=r"to_torch\(\).*ambiguous"):
        to_torch(np.zeros(1), dtype="float")


def test_default_float_dtype_context_is_the_default():
    with default_float_dtype("float32"):
        assert to_torch(np.zeros(2)).dtype is torch.float32
        assert to_torch(np.zeros(2), float_dtype="float16").dtype is torch.float16
        assert to_torch(np.zeros(2), dtype="float64").dtype is torch.float64
    assert to_torch(np.zeros(2)).dtype is torch.float64


# -- tensors ----------------------------------------------------------------------------------


def test_tensor_that_needs_nothing_is_the_same_object_with_its_graph():
    w = torch.ones(2, requires_grad=True)
    y = w * 3
    assert to_torch(y) is y
    to_torch(y).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_tensors_stay_put_without_an_explicit_device():
    t = torch.zeros(2)
    try:
        torch.set_default_device("meta")
        out = to_torch({"np": np.zeros(2), "t": t})
    finally:
        torch.set_default_device(None)
    assert out["np"].device.type == "meta"  # NumPy data lands on torch's default device
    assert out["t"] is t  # tensors stay where they are


def test_tensors_move_when_a_device_is_asked_for():
    t = torch.zeros(2)
    assert to_torch(t, device="meta").device.type == "meta"
    with default_device("meta"):
        assert to_torch(t).device.type == "meta"
        assert to_torch(np.zeros(2)).device.type == "meta"


def test_tensor_cast_keeps_graph():
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    out = to_torch(w, float_dtype="float32")
    assert out.dtype is torch.float32 and out.requires_grad
    out.sum().backward()
    assert w.grad is not None


def test_copy_false_refuses_tensor_move():
    with pytest.raises(CopyError, match="moving it from cpu to meta"):
        to_torch(torch.zeros(2), device="meta", copy=False)


@pytest.mark.parametrize("device", [torch.device("meta"), "meta"])
def test_device_forms(device):
    assert to_torch(np.zeros(1), device=device).device.type == "meta"


def test_int_device_means_cuda_index():
    if torch.cuda.is_available():
        assert to_torch(np.zeros(1), device=0).device == torch.device("cuda", 0)
    else:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            to_torch(np.zeros(1), device=0)


def test_auto_device_picks_cpu_without_accelerators():
    if torch.cuda.is_available():
        pytest.skip("an accelerator is present")
    assert to_torch(np.zeros(1), device="auto").device.type in ("cpu", "mps")


# -- other leaves -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scalar", "dtype"),
    [
        (np.float32(1.5), torch.float32),
        (np.float64(2.5), torch.float64),
        (np.complex128(1j), torch.complex128),
        (np.int16(3), torch.int16),
        (np.bool_(True), torch.bool),
    ],
)
def test_numpy_scalars_become_0d_tensors(scalar, dtype):
    t = to_torch(scalar)
    assert isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype is dtype
    assert t.item() == scalar.item()


@pytest.mark.parametrize("value", [1, 2.5, 1j, True, None, "text", b"bytes", np.str_("s"), np.bytes_(b"b"), object()])
def test_pass_through_leaves(value):
    assert to_torch(value) is value
    assert to_torch([value])[0] is value


class ArrayLike:
    def __init__(self, data):
        self.data = data

    def __array__(self, dtype=None, copy=None):
        return self.data


class InterfaceOnly:
    def __init__(self, data):
        self.__array_interface__ = data.__array_interface__
        self._keep = data


def test_array_likes_convert_through_numpy():
    base = np.arange(3.0)
    t = to_torch(ArrayLike(base))
    assert shares(base, t)
    t2 = to_torch(InterfaceOnly(base))
    assert t2.tolist() == [0.0, 1.0, 2.0]


def test_dlpack_objects_convert_without_copy():
    source = torch.arange(4.0)
    t = to_torch(DLPackOnly(source))
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    # NumPy 1 imports DLPack read-only (it cannot tell), so there the tensor is a copy.
    assert (t.data_ptr() == source.data_ptr()) is (np.lib.NumpyVersion(np.__version__) >= "2.0.0")


def test_cpu_dlpack_object_with_negative_strides_is_copied_not_crashed():
    base = np.arange(4.0)
    t = to_torch(DLPackOnly(base[::-1]))
    assert t.tolist() == [3.0, 2.0, 1.0, 0.0]
    t[0] = 9.0
    assert base.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_numpy_arrays_never_use_dlpack(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("from_dlpack used for a NumPy array")

    monkeypatch.setattr(torch, "from_dlpack", boom)
    monkeypatch.setattr(_producers, "from_dlpack", boom)
    to_torch([negative_strides(), read_only(), np.zeros(2)])


# -- refusals ------------------------------------------------------------------------------------

REFUSED = [
    (np.array([1, None], dtype=object), "object"),
    (np.array(["a", "bc"]), "<U2"),
    (np.array([b"a"]), "|S1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
    (np.array([1], dtype="timedelta64[s]"), "timedelta64[s]"),
    (np.zeros(2, dtype="i4,f4"), "structured"),
    (np.datetime64("2020-01-01"), "datetime64[D]"),
    (np.timedelta64(3, "s"), "timedelta64[s]"),
]


@pytest.mark.parametrize(("value", "dtype_text"), REFUSED, ids=[r[1] for r in REFUSED])
def test_refusals_name_dtype_and_path(value, dtype_text):
    with pytest.raises(TypeError) as info:
        to_torch({"images": [0, 1, value]})
    message = str(info.value)
    assert message.startswith("to_torch() argument 'data'['images'][2]: cannot convert a NumPy")
    assert dtype_text in message
    assert isinstance(info.value, ConversionError)
    assert info.value.__cause__ is not None


def test_refusal_of_a_bare_value_is_rooted_at_data():
    with pytest.raises(TypeError, match=r"^to_torch\(\) argument 'data': cannot convert a NumPy array of dtype object"):
        to_torch(np.array([None]))


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 on this platform")
def test_wide_longdouble_is_refused():
    with pytest.raises(TypeError, match=r"float128|longdouble"):
        to_torch(np.zeros(2, dtype=np.longdouble))


def test_masked_arrays_are_refused():
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match=r"masked array of dtype float64.*mask would be lost"):
        to_torch([masked])


def test_refused_input_is_left_unchanged():
    data = {"ok": np.zeros(2), "bad": np.array([None])}
    snapshot = dict(data)
    with pytest.raises(TypeError):
        to_torch(data)
    assert data == snapshot and data["ok"].tolist() == [0.0, 0.0]


def test_copy_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="copy must be"):
        to_torch(np.zeros(1), copy="yes")


def test_array_like_of_objects_is_refused_naming_its_type():
    class Table:
        def __array__(self, dtype=None, copy=None):
            return np.array(["a", 1], dtype=object)

    with pytest.raises(TypeError, match=r"'data'\[0\]: cannot convert a Table viewed as a NumPy array of dtype object"):
        to_torch([Table()])


def test_classes_are_not_array_likes():
    assert to_torch([np.ndarray, torch.Tensor]) == [np.ndarray, torch.Tensor]


def test_dtypes_equal_to_a_supported_one_convert_whatever_their_character_code():
    q = np.frombuffer(np.arange(3, dtype=np.uint64).tobytes(), dtype="Q")  # uint64 by another code
    assert q.dtype == np.uint64 and q.dtype.char == "Q"
    t = to_torch(q)
    assert t.dtype is torch.uint64 and t.tolist() == [0, 1, 2]
    writable = np.array(q)  # writable: shared as is, under the name torch knows
    t = to_torch(writable)
    assert t.data_ptr() == writable.ctypes.data
    assert torch_dtype(np.dtype("Q")) is torch.uint64


NUMPY1 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def test_a_dlpack_producer_over_read_only_memory_never_yields_a_writable_view():
    base = np.arange(4.0)
    base.flags.writeable = False
    if NUMPY1:  # NumPy 1 refuses to export read-only memory through DLPack at all
        with pytest.raises(BufferError, match="readonly"):
            to_torch(DLPackOnly(base))
        return
    t = to_torch(DLPackOnly(base))  # NumPy 2 marks its DLPack export read-only
    t[0] = 9.0
    assert base.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert t.data_ptr() != base.ctypes.data


def test_a_read_only_memmap_behind_a_dlpack_producer_is_copied(tmp_path):
    path = tmp_path / "data.bin"
    np.arange(8.0).tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r")
    if NUMPY1:
        with pytest.raises(BufferError, match="readonly"):
            to_torch(DLPackOnly(mapped))
        return
    t = to_torch(DLPackOnly(mapped))
    t += 1  # would segfault on read-only pages if it were a view
    assert np.fromfile(path).tolist() == list(map(float, range(8)))


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy 1 cannot ask __array__ for a view")
def test_copy_false_passes_on_to_an_array_producer_that_refuses():
    class CopiesOnly:
        def __array__(self, dtype=None, copy=None):
            if copy is False:
                raise ValueError("this producer cannot give a view")
            return np.zeros(2)

    with pytest.raises(CopyError, match="cannot give a view"):
        to_torch(CopiesOnly(), copy=False)
    assert to_torch(CopiesOnly()).tolist() == [0.0, 0.0]


def test_misaligned_complex_data_is_copied_aligned():
    raw = np.arange(33, dtype=np.float64)
    misaligned = raw[1:].view(np.complex128)  # 8 bytes past a 16-byte boundary: NumPy calls it aligned
    t = to_torch(misaligned)
    assert t.data_ptr() % 16 == 0 and t.data_ptr() != misaligned.ctypes.data
    assert torch.equal(t, torch.from_numpy(misaligned.copy()))
    assert (t * 2).sum().item() == (misaligned * 2).sum()  # a kernel runs on it
    with pytest.raises(CopyError, match="not aligned"):
        to_torch(misaligned, copy=False)
