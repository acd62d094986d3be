"""torch_dtype / numpy_dtype: every form of dtype, every refusal."""

import numpy as np
import pytest
import torch

from toolkit import numpy_dtype, to_numpy, to_torch, torch_dtype

SHARED = [
    ("bool", np.bool_, torch.bool),
    ("uint8", np.uint8, torch.uint8),
    ("int8", np.int8, torch.int8),
    ("int16", np.int16, torch.int16),
    ("int32", np.int32, torch.int32),
    ("int64", np.int64, torch.int64),
    ("uint16", np.uint16, torch.uint16),
    ("uint32", np.uint32, torch.uint32),
    ("uint64", np.uint64, torch.uint64),
    ("float16", np.float16, torch.float16),
    ("float32", np.float32, torch.float32),
    ("float64", np.float64, torch.float64),
    ("complex64", np.complex64, torch.complex64),
    ("complex128", np.complex128, torch.complex128),
]


@pytest.mark.parametrize(("name", "np_type", "torch_type"), SHARED, ids=[s[0] for s in SHARED])
def test_every_form_maps_both_ways(name, np_type, torch_type):
    for form in (name, np_type, np.dtype(np_type), torch_type, f"torch.{name}"):
        assert torch_dtype(form) is torch_type
        assert numpy_dtype(form) == np.dtype(np_type)


@pytest.mark.parametrize(("name", "np_type", "torch_type"), SHARED, ids=[s[0] for s in SHARED])
def test_mapping_agrees_with_the_conversions(name, np_type, torch_type):
    array = np.zeros(2, dtype=np_type)
    assert to_torch(array).dtype is torch_dtype(array.dtype)
    assert to_numpy(torch.zeros(2, dtype=torch_type)).dtype == numpy_dtype(torch_type)


def test_python_types_mean_what_both_libraries_agree_on():
    assert torch_dtype(float) is torch.float64
    assert torch_dtype(int) is torch.int64
    assert torch_dtype(bool) is torch.bool
    assert torch_dtype(complex) is torch.complex128


def test_byte_swapped_dtype_maps_to_native():
    assert torch_dtype(">f4") is torch.float32
    assert numpy_dtype(np.dtype(">i8")) == np.dtype("int64")
    assert numpy_dtype(np.dtype(">i8")).isnative


@pytest.mark.parametrize(
    "dt",
    [
        "bfloat16",
        torch.bfloat16,
        *[d for d in vars(torch).values() if isinstance(d, torch.dtype) and str(d).startswith("torch.float8")],
    ],
)
def test_types_numpy_lacks_become_float32(dt):
    assert numpy_dtype(dt) == np.float32
    assert torch_dtype(dt) is (dt if isinstance(dt, torch.dtype) else torch.bfloat16)


def test_complex32_becomes_complex64():
    assert numpy_dtype(torch.complex32) == np.complex64
    assert numpy_dtype("complex32") == np.complex64


@pytest.mark.parametrize("name", ["float", "int", "complex"])
def test_bare_names_are_ambiguous(name):
    with pytest.raises(ValueError, match="ambiguous"):
        torch_dtype(name)
    with pytest.raises(ValueError, match="ambiguous"):
        numpy_dtype(name)


@pytest.mark.parametrize(
    "dt", [object, np.dtype("U3"), np.dtype("S2"), "datetime64[s]", "timedelta64[ms]", np.dtype("i4,f4"), "V8"]
)
def test_refused_numpy_dtypes_raise_value_error(dt):
    with pytest.raises(ValueError, match="torch_dtype"):
        torch_dtype(dt)
    with pytest.raises(ValueError, match="numpy_dtype"):
        numpy_dtype(dt)


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="longdouble is float64 on this platform")
def test_wide_longdouble_is_refused():
    with pytest.raises(ValueError, match="wider than 64 bits"):
        torch_dtype(np.longdouble)


@pytest.mark.parametrize("dt", [torch.qint8, torch.quint8, torch.qint32])
def test_quantized_has_no_numpy_dtype(dt):
    assert torch_dtype(dt) is dt
    with pytest.raises(ValueError, match="dequantize"):
        numpy_dtype(dt)


@pytest.mark.parametrize("name", ["int4", "uint3", "bits8", "float4_e2m1fn_x2"])
def test_sub_byte_and_bit_types_have_no_numpy_dtype(name):
    if not hasattr(torch, name):
        pytest.skip(f"this torch has no {name}")
    with pytest.raises(ValueError, match=f"NumPy has no dtype {name}"):
        numpy_dtype(getattr(torch, name))


def test_unknown_name_is_a_value_error_and_a_non_dtype_a_type_error():
    with pytest.raises(ValueError, match="unknown dtype"):
        torch_dtype("floaty32")
    with pytest.raises(ValueError, match="unknown torch dtype"):
        numpy_dtype("torch.nope")
    with pytest.raises(TypeError, match="expected a dtype"):
        torch_dtype(3.5)
    with pytest.raises(TypeError, match="expected a dtype"):
        numpy_dtype([1])
