"""Round trips of every supported dtype through every kind of view, by Hypothesis."""

import numpy as np
import torch
from hostile import DTYPES, HOSTILE, hostile, seen, shares
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from toolkit import ConversionError, numpy_dtype, to_numpy, to_torch, torch_dtype

dtypes = st.sampled_from(DTYPES).flatmap(
    lambda t: st.sampled_from([np.dtype(t), np.dtype(t).newbyteorder(">" if np.little_endian else "<")])
)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def arrays_and_views(draw):
    """An array, then a view of it: sliced, transposed, reversed or read-only."""
    dtype = draw(dtypes)
    # finite values in a range every target dtype holds: overflowing casts are
    # undefined behaviour in C, and NumPy and torch disagree about them
    floats = {"allow_nan": False, "allow_infinity": False, "min_value": -1000, "max_value": 1000}
    base = draw(hnp.arrays(dtype, shapes, elements=floats if dtype.kind in "fc" else None))
    view = base
    if view.ndim:
        for axis in range(view.ndim):
            step = draw(st.sampled_from([1, 2, -1, -2]))
            index = [slice(None)] * view.ndim
            index[axis] = slice(None, None, step)
            view = view[tuple(index)]
        if draw(st.booleans()):
            view = view.T
    if draw(st.booleans()):
        view = view.view()
        view.flags.writeable = False
    return view


def same_values(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@settings(max_examples=300, deadline=None)
@given(arrays_and_views())
def test_numpy_torch_numpy_round_trip(a):
    before = a.copy()
    t = to_torch(a)
    assert t.dtype is torch_dtype(a.dtype)
    assert tuple(t.shape) == a.shape
    back = to_numpy(t)
    if a.ndim == 0:
        assert isinstance(back, np.generic)
    assert np.asarray(back).dtype == numpy_dtype(a.dtype)
    same_values(back, before)
    same_values(a, before)  # the input is unchanged
    assert a.dtype == before.dtype


@settings(max_examples=200, deadline=None)
@given(arrays_and_views())
def test_memory_is_shared_exactly_where_promised(a):
    t = to_torch(a)
    promised = a.flags.writeable and a.dtype.isnative and all(s >= 0 for s in a.strides)
    if a.size and t.numel():
        assert np.shares_memory(a, t.numpy()) == promised


@settings(max_examples=200, deadline=None)
@given(arrays_and_views(), st.sampled_from(["float32", "float64", "int64", "bfloat16", "complex128"]))
def test_dtype_option_gives_that_dtype_and_the_cast_values(a, dtype):
    if a.dtype.kind == "c" and dtype not in ("complex128",):
        return  # complex -> real discards; NumPy warns, torch refuses: not our contract
    t = to_torch(a, dtype=dtype)
    assert t.dtype is torch_dtype(dtype)
    expected = torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="))).to(torch_dtype(dtype))
    assert torch.equal(t, expected)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [
            torch.float32,
            torch.float64,
            torch.bfloat16,
            torch.float16,
            torch.complex64,
            torch.int32,
            torch.bool,
            torch.uint8,
        ]
    ),
    shapes,
    st.booleans(),
)
def test_torch_numpy_torch_round_trip(dtype, shape, grad):
    t = (torch.rand(shape) * 10).to(dtype)
    if grad and (dtype.is_floating_point or dtype.is_complex):
        t.requires_grad_(True)
    a = to_numpy(t)
    assert np.asarray(a).shape == tuple(shape)
    back = to_torch(a)
    assert back.dtype is torch_dtype(numpy_dtype(dtype))
    assert torch.equal(back.to(dtype), t.detach())


def _values(x):
    """A value's elements as Python numbers (bits resolved, bfloat16 widened), or ``None`` for meta."""
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta":
            return None
        x = x.detach().resolve_conj().resolve_neg()
        return (x.float() if x.dtype == torch.bfloat16 else x).tolist()
    if hasattr(type(x), "__array_namespace__") and not isinstance(x, (np.ndarray, np.generic)):
        return _values(seen(x))  # another library's array (array-api-strict refuses NumPy off its CPU)
    a = np.asarray(x)
    return (a.astype(np.float32) if a.dtype.kind == "V" or a.dtype.name == "bfloat16" else a).tolist()


@settings(max_examples=150, deadline=None)
@given(hostile(), st.sampled_from(["to_torch", "to_numpy"]), st.sampled_from([None, True]))
def test_every_hostile_value_converts_or_says_why_and_is_never_written_to(value, function, copy):
    before = _values(value)
    convert = to_torch if function == "to_torch" else to_numpy
    try:
        out = convert(value, copy=copy)
    except ConversionError as exc:  # refused: only a meta tensor to NumPy, named at 'data'
        assert str(exc).startswith(f"{function}() argument 'data'")
        assert isinstance(value, torch.Tensor) and value.device.type == "meta"
        return
    assert _values(value) == before  # the caller's value is unchanged
    assert _values(out) == before  # and the result holds its values
    if copy:
        assert not shares(out, value)  # copy=True: new memory


def test_the_shared_hostile_inputs_cover_what_broke_before():
    for name in (
        "ulonglong array",
        "np.flip 2-D",
        "negative stride, length-1 axis",
        "misaligned complex128",
        "big-endian float32",
        "requires grad",
        "conjugate bit",
        "negative bit",
        "meta tensor",
        "bfloat16 tensor",
        "0-d array",
        "empty array",
    ):
        assert name in HOSTILE
