"""The mirror rule: what the caller passed decides what it gets back.

The caller's kind is torch if any converted argument holds a tensor
(searching positional, then keyword arguments, into containers), else NumPy
if any holds a NumPy array or NumPy scalar, else the library of the first
other array (``_libraries``: JAX, CuPy, array-api-strict). Results go back
in that kind: to the device of the first tensor (or of that other array),
floating results in the dtype of the first floating value of the caller's
kind. The third kind is looked for only while neither a tensor nor a NumPy
value has been seen, so NumPy and torch callers never pay for it. This module is the rule's one home:
:func:`note` decides from each leaf, :func:`observe` from whole arguments
(the compiled path), :func:`seen_of` from a plain call's bare arguments;
the call paths convert results with what was decided.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from ._dtypes import real_floating
from ._dynamo import skip_frames
from ._libraries import float_of, is_other_array
from ._producers import PASS
from ._tree import Leaf, leaves_with_paths

__all__ = ["Seen", "note", "noting", "observe", "seen_of"]

S = TypeVar("S", bound="Seen")
_Tensor = torch.Tensor
_ndarray = np.ndarray
_generic = np.generic


class Seen:
    """What the mirror rule notes of a call's arguments: the caller's kind, first device and dtypes.

    The class attributes are the defaults, so making one costs no ``__init__``.
    """

    kind: str | None = None
    tensor_device: torch.device | None = None
    torch_float: torch.dtype | None = None
    numpy_float: np.dtype[Any] | None = None
    other: Any = None  #: the first other library's array, while no tensor or NumPy value is seen
    other_float: torch.dtype | None = None  #: the first floating dtype among those arrays


def note(call: Seen, x: Any) -> None:
    """Note the caller's kind, first tensor device and first floating dtypes from one leaf."""
    if isinstance(x, _Tensor):
        if call.kind != "torch":
            call.kind = "torch"
            call.tensor_device = x.device
        if call.torch_float is None:
            dtype = x.dtype
            if dtype.is_floating_point:
                call.torch_float = dtype
    elif isinstance(x, _ndarray) or (isinstance(x, _generic) and not isinstance(x, (str, bytes))):
        if call.kind is None:
            call.kind = "numpy"
        if call.numpy_float is None:
            float_np = x.dtype
            if real_floating(float_np):
                call.numpy_float = float_np if float_np.isnative else float_np.newbyteorder("=")
    elif call.kind is None and call.other_float is None and not isinstance(x, PASS) and is_other_array(x):
        if call.other is None:
            call.other = x
        elif x.__array_namespace__() is not call.other.__array_namespace__():
            return  # the first floating value of the caller's kind: its library's, not another's
        call.other_float = float_of(x)


def seen_of(tensor: torch.Tensor | None, array: np.ndarray[Any, Any] | None, args: tuple[Any, ...], seen: S) -> S:
    """Note into ``seen`` what the mirror rule needs of bare arguments, from their first tensor and array."""
    note(seen, tensor if tensor is not None else array)
    if (seen.torch_float if tensor is not None else seen.numpy_float) is None:
        for x in args:  # the first floating value comes later
            note(seen, x)
    return seen


def observe(values: Any, seen: S) -> S:
    """Note into ``seen`` what the mirror rule needs of ``values`` (``(args, kwargs)``), as a call's walk would."""
    for _, leaf in leaves_with_paths(values):
        note(seen, leaf)
    return seen


def noting(leaf: Leaf, call: Seen) -> Leaf:
    """``leaf``, also noting what the mirror rule needs of each leaf it converts."""

    def noted(x: Any) -> Any:
        note(call, x)
        return leaf(x)

    return noted


skip_frames(__name__)
