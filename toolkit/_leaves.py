"""Converting one leaf: an array, a tensor, a scalar, another library's array.

The rules, in one place (docs/memory.rst tells them to users):

* a CPU NumPy array with the target dtype, native byte order, writable and
  with no negative stride becomes a tensor over the same memory;
* negative strides, a non-native byte order and read-only memory are
  copied silently (``copy=False`` refuses instead);
* a dtype change is exactly one copy, made by NumPy's ``astype`` where NumPy
  has the target dtype;
* NumPy arrays never go through DLPack (``torch.from_dlpack`` aborts on
  negative strides and aliases read-only memory as writable).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack

from ._dtypes import (
    NUMPY_TO_TORCH,
    TORCH_TO_NUMPY,
    UPCASTS,
    describe,
    refusal,
    torch_of,
    torch_refusal,
)
from ._errors import ConversionError, CopyError

__all__ = ["torch_leaf", "numpy_leaf", "array_to_torch", "tensor_to_torch", "tensor_to_numpy"]

Leaf = Callable[[Any], Any]
_ndarray = np.ndarray
_Tensor = torch.Tensor
_from_numpy = torch.from_numpy
_PASS = (str, bytes, int, float, complex, type(None))


# --------------------------------------------------------------------------
# NumPy (and anything array-like) -> torch


def _copy_reason(x: np.ndarray[Any, Any]) -> str | None:
    """Why ``torch.from_numpy`` cannot share this array's memory, or ``None``."""
    if not x.flags.writeable:
        return "the array is read-only, and a tensor over it could be written to"
    if not x.dtype.isnative:
        return "the array's byte order is not the machine's"
    size = x.itemsize
    for s in x.strides:
        if s < 0:
            return "the array has negative strides, which torch tensors cannot have"
        if s % size:
            return "the array's strides are not a multiple of its item size"
    return None


def _native_copy(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """New memory torch can share: native byte order, no negative stride, writable."""
    return np.array(x, dtype=x.dtype.newbyteorder("="), order="K", copy=True)


def array_to_torch(
    x: np.ndarray[Any, Any],
    device: torch.device,
    dtype: torch.dtype | None,
    float_dtype: torch.dtype | None,
    copy: bool | None,
    what: str = "a NumPy array",
) -> torch.Tensor:
    """One NumPy array as a tensor on ``device``, copying only where needed."""
    if isinstance(x, np.ma.MaskedArray):
        raise ConversionError(
            f"cannot convert a masked array of dtype {describe(x.dtype)} to a torch tensor: "
            "its mask would be lost; use .filled(value) or .compressed() first"
        )
    if type(x) is not _ndarray:
        x = x.view(_ndarray)  # memmap, matrix, ...: same memory, plain type
    why = refusal(x.dtype) if x.dtype not in NUMPY_TO_TORCH else None
    if why is not None:
        raise ConversionError(f"cannot convert {what} of dtype {describe(x.dtype)} to a torch tensor: {why}")
    natural = torch_of(x.dtype)
    target = dtype if dtype is not None else float_dtype if natural.is_floating_point else None
    if target == natural:
        target = None
    on_cpu = device.type == "cpu"
    reason = _copy_reason(x)
    if target is not None:
        if copy is False:
            raise CopyError(f"copy=False, but changing dtype {natural} -> {target} needs a copy")
        np_target = TORCH_TO_NUMPY.get(target) if target not in UPCASTS else None
        if np_target is not None and on_cpu:
            return _from_numpy(x.astype(np_target))  # one copy, NumPy's fast cast
        base = _from_numpy(_native_copy(x) if reason else x)
        return base.to(device=device, dtype=target)
    if not on_cpu:
        if copy is False:
            raise CopyError(f"copy=False, but moving the array to {device} needs a copy")
        return _from_numpy(_native_copy(x) if reason else x).to(device)
    if reason is not None:
        if copy is False:
            raise CopyError(f"copy=False, but {reason}")
        return _from_numpy(_native_copy(x))
    if copy:
        return _from_numpy(x.copy(order="K"))
    return _from_numpy(x)


def tensor_to_torch(
    t: torch.Tensor,
    device: torch.device,
    move: bool,
    dtype: torch.dtype | None,
    float_dtype: torch.dtype | None,
    copy: bool | None,
) -> torch.Tensor:
    """A tensor moved and cast only as asked; the same object when nothing is needed."""
    target = dtype if dtype is not None else float_dtype if t.is_floating_point() else None
    if target == t.dtype:
        target = None
    if not move or t.device == device:
        if target is None:
            return t.clone() if copy else t
        dev = None
    else:
        dev = device
    out = t.to(device=dev, dtype=target)
    if copy is False and out is not t:
        moved = f"moving it from {t.device} to {device}" if out.device != t.device else ""
        cast = f"changing dtype {t.dtype} -> {out.dtype}" if out.dtype != t.dtype else ""
        raise CopyError(f"copy=False, but {' and '.join(filter(None, (moved, cast)))} needs a copy")
    if copy and out is t:
        out = t.clone()
    return out


def _dlpack_to_torch(x: Any) -> torch.Tensor:
    """Another library's array (CuPy, JAX, ...) as a tensor over the same memory."""
    strides = getattr(x, "strides", None)
    if strides and any(s < 0 for s in strides) and hasattr(x, "copy"):
        x = x.copy()  # its own library makes the copy: DLPack may not take negative strides
    return from_dlpack(x)


def _is_array_like(x: Any) -> bool:
    """Whether NumPy can view ``x`` (pandas, xarray, PIL images, buffers that say how).

    Classes are not: ``np.ndarray`` itself has an ``__array__`` attribute.
    """
    if isinstance(x, type):
        return False
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__") or hasattr(x, "__array_struct__")


def torch_leaf(
    device: torch.device,
    move: bool,
    dtype: torch.dtype | None,
    float_dtype: torch.dtype | None,
    copy: bool | None,
) -> Leaf:
    """The function that converts one leaf to torch under these settings."""
    fast = device.type == "cpu" and dtype is None and copy is None

    def leaf(x: Any) -> Any:
        if type(x) is _ndarray:
            if fast and x.flags.writeable:
                try:
                    t = _from_numpy(x)
                except (TypeError, ValueError):
                    pass  # the full path below says why, or copies
                else:
                    if float_dtype is None or t.dtype == float_dtype or not t.is_floating_point():
                        return t
            return array_to_torch(x, device, dtype, float_dtype, copy)
        if isinstance(x, _Tensor):
            return tensor_to_torch(x, device, move, dtype, float_dtype, copy)
        if isinstance(x, np.generic):
            if isinstance(x, (str, bytes)):
                return x  # np.str_ and np.bytes_ are strings: they pass through
            if copy is False:
                raise CopyError("copy=False, but a NumPy scalar has no memory a tensor could share")
            return array_to_torch(np.asarray(x), device, dtype, float_dtype, None, "a NumPy scalar")
        if isinstance(x, _PASS):
            return x
        if isinstance(x, _ndarray):
            return array_to_torch(x, device, dtype, float_dtype, copy)
        if hasattr(type(x), "__dlpack__"):
            return tensor_to_torch(_dlpack_to_torch(x), device, move, dtype, float_dtype, copy)
        if _is_array_like(x):
            what = f"a {type(x).__name__} viewed as a NumPy array"
            return array_to_torch(np.asarray(x), device, dtype, float_dtype, copy, what)
        return x

    if not fast or float_dtype is not None:
        return leaf
    general = leaf

    def plain(x: Any) -> Any:  # the same, for the default settings: zero copy on the CPU
        if type(x) is _ndarray and x.flags.writeable:
            try:
                return _from_numpy(x)
            except (TypeError, ValueError):
                pass
        return general(x)

    return plain


# --------------------------------------------------------------------------
# torch (and anything array-like) -> NumPy


def tensor_to_numpy(
    t: torch.Tensor,
    dtype: np.dtype[Any] | None,
    float_dtype: np.dtype[Any] | None,
    copy: bool | None,
) -> Any:
    """One tensor as a NumPy array (or scalar, for 0-d), sharing memory where it can."""
    if t.is_quantized:
        raise ConversionError(f"cannot convert a quantized tensor ({t.dtype}) to NumPy: call .dequantize() first")
    if t.device.type == "meta":
        raise ConversionError("cannot convert a meta tensor to NumPy: meta tensors have a shape and dtype but no data")
    why = torch_refusal(t.dtype)
    if why is not None:
        raise ConversionError(f"cannot convert a tensor of dtype {t.dtype} to NumPy: {why}")
    natural = TORCH_TO_NUMPY[t.dtype]
    target = dtype if dtype is not None else float_dtype if natural.kind == "f" else None
    if target == natural:
        target = None
    steps = []
    if t.layout != torch.strided:
        steps.append("densifying a sparse tensor")
    if t.is_conj():
        steps.append("resolving the conjugate bit")
    if t.is_neg():
        steps.append("resolving the negative bit")
    if t.device.type != "cpu":
        steps.append(f"moving it from {t.device} to the CPU")
    if t.dtype in UPCASTS:
        steps.append(f"upcasting {t.dtype} to {natural}: NumPy has no {str(t.dtype)[6:]}")
    if target is not None:
        steps.append(f"changing dtype {natural} -> {target}")
    if t.dim() == 0:
        steps.append("turning a 0-d tensor into a NumPy scalar")
    if copy is False and steps:
        raise CopyError(f"copy=False, but {steps[0]} needs a copy")
    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    t = t.resolve_conj().resolve_neg()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype in UPCASTS:
        with warnings.catch_warnings():  # complex32 warns that it is experimental
            warnings.simplefilter("ignore", UserWarning)
            t = t.to(UPCASTS[t.dtype])
    out = t.numpy()
    if target is not None and target != out.dtype:
        out = out.astype(target)
    elif copy and not steps:  # a NumPy scalar (0-d) is new memory already
        out = out.copy()
    return out[()] if out.ndim == 0 else out


def _array_to_numpy(x: Any, dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None) -> Any:
    """A NumPy array or scalar: unchanged unless a dtype or a copy was asked for."""
    target = dtype if dtype is not None else float_dtype if x.dtype.kind == "f" else None
    if target is not None and target != x.dtype:
        if copy is False:
            raise CopyError(f"copy=False, but changing dtype {x.dtype} -> {target} needs a copy")
        return x.astype(target)
    return x.copy() if copy else x


def numpy_leaf(dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None) -> Leaf:
    """The function that converts one leaf to NumPy under these settings."""
    plain = dtype is None and float_dtype is None and copy is None

    def leaf(x: Any) -> Any:
        if isinstance(x, _Tensor):
            if plain:
                try:
                    out = x.numpy()
                except (RuntimeError, TypeError):
                    pass  # the full path detaches, resolves bits, moves or says why not
                else:
                    return out[()] if out.ndim == 0 else out
            return tensor_to_numpy(x, dtype, float_dtype, copy)
        if isinstance(x, (_ndarray, np.generic)):
            return x if plain else _array_to_numpy(x, dtype, float_dtype, copy)
        if isinstance(x, _PASS):
            return x
        if hasattr(type(x), "__dlpack__"):
            return tensor_to_numpy(_dlpack_to_torch(x), dtype, float_dtype, copy)
        if _is_array_like(x):
            return _array_to_numpy(np.asarray(x), dtype, float_dtype, copy)
        return x

    return leaf
