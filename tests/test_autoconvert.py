"""autoconvert: each parameter gets what its annotation names (string annotations here)."""

from __future__ import annotations

import typing

import numpy as np
import numpy.typing as npt
import pytest
import torch

from toolkit import GradientDetachedWarning, autoconvert, default_device, default_float_dtype


@autoconvert
def kinds(
    t: torch.Tensor,
    a: np.ndarray,
    typed: npt.NDArray[np.float32],
    maybe: torch.Tensor | None = None,
    union: torch.Tensor | None = None,
    free=None,
    other: int = 0,
) -> dict:
    return {
        "t": type(t),
        "a": type(a),
        "typed": (type(typed), typed.dtype),
        "maybe": type(maybe),
        "union": type(union),
        "free": type(free),
        "other": other,
    }


def test_plain_annotations():
    x = np.ones(2)
    out = kinds(x, torch.ones(2), torch.ones(2, dtype=torch.float64), maybe=x, union=x, free=x, other=3)
    assert out == {
        "t": torch.Tensor,
        "a": np.ndarray,
        "typed": (np.ndarray, np.float32),
        "maybe": torch.Tensor,
        "union": torch.Tensor,
        "free": np.ndarray,
        "other": 3,
    }


def test_optional_none_stays_none():
    out = kinds(np.ones(1), np.ones(1), np.ones(1, np.float32))
    assert out["maybe"] is type(None) and out["union"] is type(None)


@autoconvert
def containers(
    tensors: list[torch.Tensor],
    arrays: list[np.ndarray],
    pair: tuple[torch.Tensor, np.ndarray],
    many: tuple[torch.Tensor, ...],
    table: dict[str, torch.Tensor],
    old_table: dict[str, np.ndarray],
    nested: list[tuple[torch.Tensor, np.ndarray]],
) -> tuple[np.ndarray, torch.Tensor]:
    assert all(isinstance(v, torch.Tensor) for v in tensors)
    assert all(isinstance(v, np.ndarray) for v in arrays)
    assert isinstance(pair[0], torch.Tensor) and isinstance(pair[1], np.ndarray)
    assert all(isinstance(v, torch.Tensor) for v in many)
    assert all(isinstance(v, torch.Tensor) for v in table.values())
    assert all(isinstance(v, np.ndarray) for v in old_table.values())
    assert all(isinstance(a, torch.Tensor) and isinstance(b, np.ndarray) for a, b in nested)
    return tensors[0], arrays[0]


def test_container_annotations_and_tuple_result():
    x, t = np.ones(1), torch.ones(1)
    first, second = containers([x, x], [t], (x, t), (x, x, x), {"a": x}, {"b": t}, [(x, t), (x, t)])
    assert isinstance(first, np.ndarray) and isinstance(second, torch.Tensor)


def test_unannotated_and_unknown_annotations_are_left_alone():
    @autoconvert
    def f(x, y: typing.Any, z: np.ndarray | torch.Tensor):
        return x, y, z

    a = np.ones(1)
    assert all(v is a for v in f(a, a, a))


def test_tensor_parameters_follow_device_and_float_precedence():
    @autoconvert
    def f(x: torch.Tensor, y: np.ndarray) -> torch.Tensor:
        assert isinstance(y, np.ndarray) and y.dtype == np.float64  # NumPy takes only explicit options
        return x

    with default_device("meta"), default_float_dtype("float32"):
        out = f(np.ones(1), np.ones(1))
    assert out.device.type == "meta" and out.dtype is torch.float32

    @autoconvert(device="meta")
    def g(x: np.ndarray) -> torch.Tensor:
        return x

    assert g(np.ones(1)).device.type == "meta"


def test_numpy_annotated_parameter_warns_when_detaching():
    @autoconvert
    def f(x: np.ndarray) -> np.ndarray:
        return x

    with pytest.warns(GradientDetachedWarning):
        f(torch.ones(1, requires_grad=True))


def test_forward_references_resolve_on_first_call():
    @autoconvert
    def f(x: LaterTensor) -> np.ndarray:
        assert isinstance(x, torch.Tensor)
        return x

    assert isinstance(f(np.ones(1)), np.ndarray)


LaterTensor = torch.Tensor


def test_unresolvable_annotation_is_left_alone():
    @autoconvert
    def f(x: NoSuchName, y: torch.Tensor):  # noqa: F821
        return x, y

    a = np.ones(1)
    x, y = f(a, a)
    assert x is a and isinstance(y, torch.Tensor)


def test_errors_name_the_parameter():
    with pytest.raises(TypeError, match=r"kinds\(\) argument 't': cannot convert"):
        kinds(np.array([None]), np.ones(1), np.ones(1))


try:
    from typing_extensions import TypeAliasType
except ImportError:  # pragma: no cover - typing_extensions comes with torch
    TypeAliasType = None

_Scalar = typing.TypeVar("_Scalar")
# How newer NumPy defines NDArray: an alias whose origin is not np.ndarray.
NDArrayAlias = (
    TypeAliasType("NDArrayAlias", np.ndarray[typing.Any, np.dtype[_Scalar]], type_params=(_Scalar,))
    if TypeAliasType is not None
    else None
)


@pytest.mark.skipif(TypeAliasType is None, reason="needs typing_extensions.TypeAliasType")
def test_ndarray_aliases_as_newer_numpy_defines_them():
    @autoconvert
    def f(typed: NDArrayAlias[np.float16], bare: NDArrayAlias) -> NDArrayAlias[np.float32]:
        assert isinstance(typed, np.ndarray) and typed.dtype == np.float16
        assert isinstance(bare, np.ndarray) and bare.dtype == np.float64
        return torch.ones(1, dtype=torch.float64)

    out = f(torch.ones(1), torch.ones(1, dtype=torch.float64))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_results_cast_by_annotation_are_detached_silently():
    import warnings

    w = torch.ones(2, requires_grad=True)

    @autoconvert
    def f(x: torch.Tensor) -> npt.NDArray[np.float16]:
        return x * w

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(np.ones(2))
    assert out.dtype == np.float16 and out.tolist() == [1.0, 1.0]


def test_mixed_annotations_by_position_on_the_plain_path():
    seen = []

    @autoconvert
    def mixed(x: torch.Tensor, y: np.ndarray, scale: float, anything) -> torch.Tensor:
        seen.append((type(x), type(y), type(scale), type(anything)))
        return x * scale

    raw = np.ones(2)
    for _ in range(2):  # the first call resolves the annotations, the second runs on them
        out = mixed(np.ones(2), torch.ones(2), 2.0, raw)
        assert isinstance(out, torch.Tensor) and out.tolist() == [2.0, 2.0]
    assert seen == [(torch.Tensor, np.ndarray, float, np.ndarray)] * 2


def test_a_list_of_python_numbers_becomes_an_array_where_one_is_annotated():
    # datasets.map(batched=True) hands columns as lists of numbers.
    seen = {}

    @autoconvert
    def f(x: torch.Tensor, y: npt.NDArray[np.float32], ids: list[torch.Tensor], pair: tuple[torch.Tensor, int]):
        seen.update(x=x, y=y, ids=ids, pair=pair)

    f([1.0, 2.0], (1, 2), [[1, 2], 3], ([[1, 2], [3, 4]], 5))
    assert isinstance(seen["x"], torch.Tensor) and seen["x"].dtype is torch.float32  # as torch.as_tensor
    assert seen["x"].tolist() == [1.0, 2.0]
    assert isinstance(seen["y"], np.ndarray) and seen["y"].dtype == np.float32 and seen["y"].tolist() == [1.0, 2.0]
    ids = seen["ids"]  # list[Tensor]: the list is the container, a list of numbers in it an item
    assert type(ids) is list and isinstance(ids[0], torch.Tensor) and ids[0].dtype is torch.int64 and ids[1] == 3
    assert isinstance(seen["pair"][0], torch.Tensor) and seen["pair"][0].shape == (2, 2) and seen["pair"][1] == 5
    with default_float_dtype("float64"):
        f([1.5], [1], [], ([1.0], 0))
    assert seen["x"].dtype is torch.float64  # the scope acts as on any conversion to torch
    with pytest.raises(TypeError, match=r"f\(\) argument 'x': cannot convert a ragged list"):
        f([[1, 2], [3]], [1], [], ([1], 0))
    assert f(["a", 1], [1], [], ([1], 0)) is None and seen["x"] == ["a", 1]  # not all numbers: left alone


def test_lists_of_numbers_stay_lists_for_other_decorators_and_for_results():
    from toolkit import torch_in_numpy_out

    @torch_in_numpy_out
    def shape_of(size):
        return size

    assert shape_of([2, 3]) == [2, 3]  # maybe a shape or indices

    @autoconvert
    def made() -> torch.Tensor:
        return [1.0, 2.0]

    assert made() == [1.0, 2.0]  # results: only arrays convert


def test_a_list_that_holds_itself_is_no_column():
    looped = [1.0]
    looped.append(looped)

    @autoconvert
    def f(x: torch.Tensor):
        return x

    with pytest.raises(ValueError, match=r"f\(\) argument 'x'\[1\]: the container holds itself"):
        f(looped)


def test_one_list_passed_twice_converts_once():
    @autoconvert
    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return a is b

    column = [1.0, 2.0]
    assert same(column, column) and same(a=column, b=column)
