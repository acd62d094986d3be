"""The seven decorators: the rows of ``_presets.TABLE``, typed for type checkers.

Each decorator is made by :func:`~toolkit._presets.preset` from its row, which
also gives it its docstring and keyword-only signature. What type checkers
see is a ``_presets.Decorator`` whose options are the keywords of the options
function next to it (a test checks them against the table): so
``@numpy_inside(devce="cpu")`` is a type error, and a decorated function is a
``Callable[..., Any]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ._defaults import DeviceLike
from ._dtypes import DTypeLike
from ._dynamo import skip_frames
from ._presets import preset

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


class BodyOptions(TypedDict, total=False):
    """Options every decorator takes: what the body receives, and which parameters convert."""

    dtype: DTypeLike | None
    float_dtype: DTypeLike | None
    only: str | Iterable[str] | None
    exclude: str | Iterable[str] | None
    skip: str | Iterable[str] | Callable[[str, Any], bool] | None


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
    op: bool | str


def _body(**options: Unpack[BodyOptions]) -> None: ...
def _numpy_to_torch(**options: Unpack[NumpyToTorchOptions]) -> None: ...
def _torch_body(**options: Unpack[TorchBodyOptions]) -> None: ...
def _torch_inside(**options: Unpack[TorchInsideOptions]) -> None: ...
def _numpy_inside(**options: Unpack[NumpyInsideOptions]) -> None: ...


numpy_in_torch_out = preset("numpy_in_torch_out", _numpy_to_torch)
torch_in_numpy_out = preset("torch_in_numpy_out", _torch_body)
numpy_in_numpy_out = preset("numpy_in_numpy_out", _body)
torch_in_torch_out = preset("torch_in_torch_out", _torch_body)
numpy_inside = preset("numpy_inside", _numpy_inside)
torch_inside = preset("torch_inside", _torch_inside)
autoconvert = preset("autoconvert", _torch_body)

#: The typed options of each decorator, for the test that holds them to the table.
TYPED_OPTIONS: dict[str, type[Any]] = {
    "numpy_in_torch_out": NumpyToTorchOptions,
    "torch_in_numpy_out": TorchBodyOptions,
    "numpy_in_numpy_out": BodyOptions,
    "torch_in_torch_out": TorchBodyOptions,
    "numpy_inside": NumpyInsideOptions,
    "torch_inside": TorchInsideOptions,
    "autoconvert": TorchBodyOptions,
}


skip_frames(__name__)
