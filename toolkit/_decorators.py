"""The seven decorators: settings of the one factory, ``_presets.decorate``.

Each takes the options its row of ``_presets.TABLE`` gives it, typed here
for type checkers (a test checks these types against the table); its
docstring and keyword-only signature are made from the table at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ._defaults import DeviceLike
from ._dtypes import DTypeLike
from ._presets import decorate, finish

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "numpy_in_torch_out",
    "torch_in_numpy_out",
    "numpy_in_numpy_out",
    "torch_in_torch_out",
    "numpy_inside",
    "torch_inside",
    "autoconvert",
]

Decorated = Callable[..., Any]


class BodyOptions(TypedDict, total=False):
    """Options every decorator takes: what the body receives, and which parameters convert."""

    dtype: DTypeLike | None
    float_dtype: DTypeLike | None
    only: str | Iterable[str] | None
    exclude: str | Iterable[str] | None


class NumpyToTorchOptions(BodyOptions, total=False):
    """A decorator that makes tensors places them."""

    device: DeviceLike | None


class TorchBodyOptions(NumpyToTorchOptions, total=False):
    """A torch body can run without autograd."""

    no_grad: bool


class TorchInsideOptions(TorchBodyOptions, total=False):
    restore_dtype: bool


class NumpyInsideOptions(BodyOptions, total=False):
    restore_dtype: bool
    compile: bool | Mapping[str, Any]


def numpy_in_torch_out(func: Decorated | None = None, /, **options: Unpack[NumpyToTorchOptions]) -> Any:
    return decorate("numpy_in_torch_out", func, dict(options))


def torch_in_numpy_out(func: Decorated | None = None, /, **options: Unpack[TorchBodyOptions]) -> Any:
    return decorate("torch_in_numpy_out", func, dict(options))


def numpy_in_numpy_out(func: Decorated | None = None, /, **options: Unpack[BodyOptions]) -> Any:
    return decorate("numpy_in_numpy_out", func, dict(options))


def torch_in_torch_out(func: Decorated | None = None, /, **options: Unpack[TorchBodyOptions]) -> Any:
    return decorate("torch_in_torch_out", func, dict(options))


def numpy_inside(func: Decorated | None = None, /, **options: Unpack[NumpyInsideOptions]) -> Any:
    return decorate("numpy_inside", func, dict(options))


def torch_inside(func: Decorated | None = None, /, **options: Unpack[TorchInsideOptions]) -> Any:
    return decorate("torch_inside", func, dict(options))


def autoconvert(func: Decorated | None = None, /, **options: Unpack[TorchBodyOptions]) -> Any:
    return decorate("autoconvert", func, dict(options))


finish(numpy_in_torch_out, torch_in_numpy_out, numpy_in_numpy_out, torch_in_torch_out)
finish(numpy_inside, torch_inside, autoconvert)
