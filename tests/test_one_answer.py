"""The cases where a shortcut once gave another answer than the rules (each failed on 0.2's main).

``test_call_forms.py`` holds every decorator and call form to the general
path over the shared hostile inputs; the tests here name each case a user
met, so a regression says what broke.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import tracemalloc
import warnings

import ml_dtypes  # with the test extras (through jax)
import numpy as np
import pytest
import torch
from helpers import DLPackOnly
from PIL import Image

import toolkit
from toolkit import (
    ConversionError,
    ScopeError,
    autoconvert,
    default_device,
    default_float_dtype,
    get_default_float_dtype,
    numpy_in_numpy_out,
    numpy_in_torch_out,
    numpy_inside,
    to_numpy,
    to_torch,
    torch_in_numpy_out,
    torch_in_torch_out,
    torch_inside,
)

IMG = np.arange(24.0).reshape(2, 3, 4)
NUMPY_BODIES = [numpy_in_numpy_out, numpy_in_torch_out, numpy_inside]


# -- negative strides ----------------------------------------------------------------------


@pytest.mark.parametrize("decorator", [torch_in_numpy_out, torch_in_torch_out, torch_inside], ids=lambda d: d.__name__)
@pytest.mark.parametrize(
    "view", [np.flip, lambda a: a[::-1], lambda a: a[:, ::-1, ::2]], ids=["flip", "[::-1]", "mixed"]
)
def test_a_negative_stride_view_converts_positionally_as_by_keyword(decorator, view):
    f = decorator(lambda x: x * 1)
    by_position, by_keyword = f(view(IMG)), f(x=view(IMG))
    np.testing.assert_array_equal(np.asarray(by_position), view(IMG))
    np.testing.assert_array_equal(np.asarray(by_position), np.asarray(by_keyword))


@pytest.mark.parametrize("decorator", [numpy_in_torch_out, numpy_inside], ids=lambda d: d.__name__)
def test_a_numpy_body_returning_a_flipped_array_to_a_torch_caller(decorator):
    f = decorator(np.flip)
    out = f(torch.from_numpy(IMG.copy()))
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(out.numpy(), np.flip(IMG))


def test_reversed_integers_with_a_float_dtype_keep_their_dtype_everywhere():
    labels = np.arange(5)
    want = torch.arange(5).flip(0)
    assert torch.equal(to_torch(labels[::-1], float_dtype="float32"), want)
    with default_float_dtype("float32"):
        assert torch.equal(to_torch(labels[::-1]), want)
    f = torch_in_torch_out(float_dtype="float32")(lambda x: x)
    assert torch.equal(f(labels[::-1]), want)


# -- grad, dtypes, bits --------------------------------------------------------------------


@pytest.mark.parametrize("decorator", NUMPY_BODIES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("form", ["positional", "keyword", "in a dict", "twice"])
def test_under_no_grad_a_tensor_that_requires_grad_reaches_a_numpy_body_as_a_copy(decorator, form):
    def zero(x, y=None):
        (x["k"] if isinstance(x, dict) else x)[...] = 0

    f = decorator(zero)
    t = torch.ones(3, requires_grad=True)
    calls = {
        "positional": lambda: f(t),
        "keyword": lambda: f(x=t),
        "in a dict": lambda: f({"k": t}),
        "twice": lambda: f(t, t),
    }
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.GradientDetachedWarning)
        calls[form]()
    assert torch.equal(t.detach(), torch.ones(3))


def test_ulonglong_arrays_convert_positionally():
    u = np.frombuffer(array.array("Q", [1, 2, 3]), dtype=np.ulonglong).copy()
    assert u.dtype.char == "Q"
    f = torch_in_numpy_out(lambda x: x.to(torch.int64) + 1)  # torch has few uint64 kernels
    assert f(u).tolist() == f(x=u).tolist() == [2, 3, 4]
    assert to_torch(u).dtype == torch.uint64


@pytest.mark.parametrize(
    "result, want",
    [
        (lambda: torch.ones(3, dtype=torch.bfloat16), np.ones(3, np.float32)),
        (lambda: torch.tensor([1 + 2j, 3j]).conj(), np.array([1 - 2j, -3j], np.complex64)),
        (lambda: torch.tensor([1 + 2j, 3j]).conj().imag, np.array([-2.0, -3.0], np.float32)),
    ],
    ids=["bfloat16", "conjugate bit", "negative bit"],
)
def test_torch_inside_returns_every_result_to_a_numpy_caller(result, want):
    f = torch_inside(restore_dtype=False)(lambda x: result())
    out = f(np.ones(3, np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == want.dtype
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("dtype", ["qint8", "quint8", "int4", "uint4", "bits8"])
def test_a_dtype_no_tensor_can_be_cast_to_is_refused_when_applied(dtype):
    with pytest.raises(ValueError, match=rf"@torch_in_numpy_out: dtype torch.{dtype} is a"):
        torch_in_numpy_out(dtype=getattr(torch, dtype))
    with pytest.raises(ValueError, match=rf"@numpy_in_numpy_out: dtype torch.{dtype}"):
        numpy_in_numpy_out(dtype=getattr(torch, dtype))
    with pytest.raises(ValueError, match=r"to_torch\(\): dtype"):
        to_torch(np.ones(2), dtype=getattr(torch, dtype))


def test_a_sub_byte_float_dtype_is_refused_as_float_dtype_too():
    fd = torch.float4_e2m1fn_x2
    with pytest.raises(ValueError, match=r"@torch_in_numpy_out: dtype torch.float4_e2m1fn_x2 is a sub-byte"):
        torch_in_numpy_out(float_dtype=fd)
    with pytest.raises(ValueError, match=r"to_torch\(\): dtype torch.float4_e2m1fn_x2"):
        to_torch(np.ones(2, np.float32), float_dtype=fd)
    with pytest.raises(ValueError, match="sub-byte"):
        default_float_dtype(fd)


# -- autoconvert -----------------------------------------------------------------------------


def test_autoconvert_with_mixed_annotations_names_function_and_argument_positionally():
    @autoconvert
    def mixed(x: torch.Tensor, y: np.ndarray) -> np.ndarray:
        return x

    for call in (lambda: mixed(np.array(["a"]), np.ones(2)), lambda: mixed(x=np.array(["a"]), y=np.ones(2))):
        with pytest.raises(ConversionError, match=r"^mixed\(\) argument 'x': cannot convert a NumPy array of dtype"):
            call()


def test_autoconvert_with_no_arguments_converts_a_structured_result():
    @autoconvert
    def pair() -> tuple[np.ndarray, np.ndarray]:
        return torch.ones(1), torch.zeros(2)

    out = pair()
    assert type(out) is tuple and all(isinstance(v, np.ndarray) for v in out)


def test_autoconvert_errors_inside_tuple_and_list_parameters_name_the_item():
    @autoconvert
    def f(pair: tuple[torch.Tensor, torch.Tensor], items: list[torch.Tensor] | None = None) -> None:
        return None

    with pytest.raises(ConversionError, match=r"^f\(\) argument 'pair'\[1\]: cannot convert"):
        f((np.ones(1), np.array(["a"])))
    with pytest.raises(ConversionError, match=r"^f\(\) argument 'items'\[2\]: cannot convert"):
        f((np.ones(1), np.ones(1)), items=[np.ones(1), np.ones(1), np.array(["a"])])


# -- devices -----------------------------------------------------------------------------------


def test_a_device_asked_for_moves_tensors_even_when_it_is_the_cpu():
    meta = torch.empty(3, device="meta")
    no_data = r"argument 'data': cannot move a meta tensor to cpu: meta tensors have a shape and dtype but no data"
    with pytest.raises(ConversionError, match=no_data):
        to_torch(meta, device="cpu")  # asked for the CPU: never handed back on meta
    with default_device("cpu"), pytest.raises(ConversionError, match=no_data):
        to_torch(meta)
    assert to_torch(meta).device.type == "meta"  # nothing asked: tensors stay where they are


def test_mirror_results_go_back_to_the_first_tensors_device():
    to_meta = torch_inside(lambda x: torch.ones(3))
    assert to_meta(torch.empty(3, device="meta")).device.type == "meta"
    to_cpu = torch_inside(lambda x: torch.ones(3, device="meta"))  # a result elsewhere than the caller's CPU
    with pytest.raises(ConversionError, match=r"<lambda>\(\) return value: cannot move a meta tensor to cpu"):
        to_cpu(torch.arange(3))  # meta has no data to bring back: never handed back on meta


BF16 = ml_dtypes.bfloat16


def test_the_mirror_rule_counts_ml_dtypes_bfloat16_as_floating():
    bf = np.arange(3, dtype=np.float32).astype(BF16)
    assert torch_inside(lambda x: x)(bf).dtype == BF16  # the first floating value's dtype
    make_bf = lambda x: np.arange(3, dtype=np.float32).astype(BF16)  # noqa: E731
    assert numpy_inside(make_bf)(np.ones(2, np.float32)).dtype == np.float32
    assert torch_inside(make_bf)(np.ones(2, np.float32)).dtype == np.float32
    assert numpy_inside(lambda x, y: np.ones(2))(bf, np.ones(2, np.float32)).dtype == BF16


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: to_torch(torch.empty(2, dtype=torch.uint1), copy=True), "cannot copy a tensor of dtype torch.uint1"),
        (
            lambda: to_torch(
                torch.ones(2).to(torch.float8_e4m3fn).view(torch.uint8).view(torch.bits8), dtype="float32"
            ),
            "cannot convert a tensor of dtype torch.bits8",
        ),
        (lambda: to_torch(np.arange(4).astype(ml_dtypes.int4)), "torch's int4 has no kernels to compute with"),
    ],
    ids=["uint1 copy", "bits8 cast", "ml_dtypes int4"],
)
def test_dtypes_torch_cannot_compute_with_get_a_conversion_error_not_torchs(make, message):
    with pytest.raises(ConversionError, match=rf"^to_torch\(\) argument 'data': .*{message}"):
        make()


# -- copies ------------------------------------------------------------------------------------


class SameArray:
    """A producer that hands out one array on every call, whatever it is asked."""

    def __init__(self) -> None:
        self.data = np.arange(4.0)

    def __array__(self, dtype=None, copy=None):
        return self.data


def test_copy_true_never_shares_a_producers_memory():
    same = SameArray()
    out = to_torch(same, copy=True)
    out[0] = 99
    assert same.data[0] == 0
    t = torch.arange(4.0)
    via = to_torch(DLPackOnly(t), copy=True)
    via[0] = 99
    assert t[0] == 0
    arr = np.arange(4.0)
    back = to_numpy(DLPackOnly(arr), copy=True)
    back[0] = 99
    assert arr[0] == 0


def test_a_read_only_array_bound_for_another_device_is_copied_once():
    big = np.ones(2**20)  # 8 MiB
    big.flags.writeable = False
    tracemalloc.start()
    try:
        out = to_torch(big, device="meta")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.device.type == "meta" and out.dtype == torch.float64
    assert peak < big.nbytes // 4  # no host copy on the way (NumPy's allocations are traced)


# -- dataclasses with property fields ----------------------------------------------------------


@dataclasses.dataclass
class Normalising:
    x: object
    _x: object = dataclasses.field(init=False, repr=False, default=None)
    setter_calls = 0

    @property  # type: ignore[no-redef]
    def x(self):
        return self._x

    @x.setter
    def x(self, value):
        type(self).setter_calls += 1
        self._x = np.asarray(value)


def test_a_property_field_is_never_set_through_its_setter():
    source = Normalising(np.ones(2))
    before = Normalising.setter_calls
    out = to_torch(source)
    assert Normalising.setter_calls == before
    assert isinstance(out.x, torch.Tensor) and isinstance(source.x, np.ndarray)


@dataclasses.dataclass
class Computed:
    x: object = None


Computed.x = property(lambda self: np.asarray(self.__dict__["raw"]) + 0)  # a fresh array each read


def test_a_property_field_that_cannot_read_back_the_converted_value_raises_naming_it():
    obj = Computed.__new__(Computed)
    obj.__dict__["raw"] = [1.0, 2.0]
    with pytest.raises(ConversionError, match=r"argument 'data'\.x: cannot rebuild the Computed: its field 'x'"):
        to_torch(obj)


# -- trace() -----------------------------------------------------------------------------------


class Counting:
    def __init__(self, fresh: bool) -> None:
        self.calls, self.fresh, self.data = 0, fresh, np.arange(4.0)

    def __array__(self, dtype=None, copy=None):
        self.calls += 1
        return np.arange(4.0) if self.fresh else self.data


@pytest.mark.parametrize("fresh", [False, True], ids=["same array", "fresh array per call"])
def test_a_trace_asks_a_producer_once_and_records_what_the_memory_says(fresh):
    producer = Counting(fresh)
    with toolkit.trace() as log:
        to_torch(producer)
    assert producer.calls == 1
    assert not log[0].copied  # the tensor shares the array the producer gave
    assert log[0].source_library.endswith("Counting") and log[0].source_dtype == "float64"


def test_a_trace_records_a_zero_copy_dlpack_producer_as_shared():
    t = torch.arange(3.0)
    with toolkit.trace() as log:
        out = to_torch(DLPackOnly(t))
    shared = out.data_ptr() == t.data_ptr()
    assert log[0].copied is not shared  # what the memory says
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":  # NumPy 1 imports DLPack read-only: a copy there
        assert shared and log[0].reason == ""


def test_a_trace_names_a_grad_tensor_copied_into_an_ndarray_parameter():
    @autoconvert
    def f(x: np.ndarray) -> np.ndarray:
        return x

    with toolkit.trace() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.GradientDetachedWarning)
        f(torch.ones(2, requires_grad=True))
    assert log[0].copied and log[0].reason == "requires grad (NumPy body)"


def test_a_trace_names_other_libraries_sources_by_library_and_type():
    with toolkit.trace() as log:
        to_torch(Image.new("RGB", (2, 3)))
    assert (log[0].source_library, log[0].source_dtype, log[0].source_shape) == ("PIL.Image.Image", "uint8", (3, 2, 3))
    assert "?" not in str(log[0])


# -- scopes and hostile objects ----------------------------------------------------------------


def test_a_child_task_cannot_leave_a_scope_it_inherited():
    async def main():
        scope = default_float_dtype("float32")
        scope.__enter__()

        async def child():
            with pytest.raises(ScopeError, match="inherited the scope"):
                scope.__exit__(None, None, None)
            return get_default_float_dtype()

        seen = await asyncio.create_task(child())
        assert seen == get_default_float_dtype() == torch.float32  # nothing changed, in either
        scope.__exit__(None, None, None)
        return get_default_float_dtype()

    assert asyncio.run(main()) is None


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __hash__(self):
        return 1


def test_a_mapping_key_whose_repr_raises_still_gives_the_conversion_error():
    with pytest.raises(ConversionError, match=r"argument 'data'\[<BadRepr key whose repr\(\) raised>\]: cannot"):
        to_torch({BadRepr(): np.array(["a"])})


def test_a_deeply_nested_value_gives_a_short_path_and_says_why():
    value = np.ones(1)
    for _ in range(5000):
        value = [value]
    with pytest.raises(RecursionError) as info:
        to_torch(value)
    message = str(info.value)
    assert len(message) < 400 and "more steps" in message and "recursion limit" in message
