"""The rules of NumPy (and other libraries' arrays) to torch, and the one fast case of them.

The rules (docs/memory.rst tells them to users):

* a CPU NumPy array with the target dtype, native byte order, writable,
  aligned and with no negative stride becomes a tensor over the same memory;
* negative strides, a non-native byte order, read-only and misaligned memory
  are copied silently (``copy=False`` refuses instead);
* a dtype change is exactly one copy, made by NumPy's ``astype`` where NumPy
  has the target dtype; a read-only array bound for another device is one
  copy too, straight there;
* NumPy arrays never go through DLPack (``torch.from_dlpack`` aborts on
  negative strides and aliases read-only memory as writable); other
  libraries' arrays are seen as ``_producers`` says;
* a tensor moves and casts only as asked, and is the same object when
  nothing is asked of it.

:func:`fast_torch` is the common case (a behaved array shared as it is);
every shortcut of the library calls it and falls back to the rules here.
Each ``torch_leaf`` is the function that converts one leaf under fixed
settings, made once per settings and cached.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import torch

from . import _shortcuts
from ._defaults import CPU
from ._dtypes import NUMPY_TO_TORCH, TORCH_TO_NUMPY, UPCASTS, canonical_of, describe, refusal, torch_of
from ._dynamo import skip_frames
from ._errors import ConversionError, CopyError
from ._producers import PASS, as_numpy, dlpack_on_cpu, refuse_lazy, via_dlpack
from ._tree import Leaf

__all__ = [
    "SHAREABLE",
    "WHY",
    "array_to_torch",
    "copy_reason",
    "fast_torch",
    "plain_torch",
    "tensor_to_torch",
    "torch_leaf",
]

_ndarray = np.ndarray
_Tensor = torch.Tensor
_from_numpy = torch.from_numpy
# Dtypes torch.from_numpy shares as they are, once the array is behaved (aligned, writable).
# Complex is not among them: torch aligns it more strictly than NumPy.
SHAREABLE = frozenset(d for d in NUMPY_TO_TORCH if d.kind in "biuf")

# Why an array's memory cannot be shared: the trace's word, and the error's.
WHY = {
    "read-only array": "the array is read-only, and a tensor over it could be written to",
    "byte order": "the array's byte order is not the machine's",
    "negative strides": "the array has negative strides, which torch tensors cannot have",
    "misaligned": "the array's data is not aligned for its dtype, which torch's kernels assume",
}


# --------------------------------------------------------------------------
# NumPy (and anything NumPy can view) -> torch


def copy_reason(x: np.ndarray[Any, Any]) -> str | None:
    """Why ``torch.from_numpy`` must not share this array's memory (a key of ``WHY``), or ``None``."""
    if not x.flags.writeable:
        return "read-only array"
    return _layout_reason(x)


def _layout_reason(x: np.ndarray[Any, Any]) -> str | None:
    """Why torch cannot take this array's memory as it lies, even to read it, or ``None``."""
    if not x.dtype.isnative:
        return "byte order"
    if any(s < 0 for s in x.strides):
        return "negative strides"
    if not x.flags.aligned:
        return "misaligned"
    if x.dtype.kind == "c":  # torch aligns complex to its full size (16 bytes for complex128), NumPy to half
        size = x.itemsize
        if x.__array_interface__["data"][0] % size or any(s % size for s in x.strides):
            return "misaligned"
    return None


def _fresh(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """New memory torch can share: native byte order, aligned, no negative stride, writable."""
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
    if type(x) is not _ndarray:
        if isinstance(x, np.ma.MaskedArray):
            raise ConversionError(
                f"cannot convert a masked array of dtype {describe(x.dtype)} to a torch tensor: "
                "its mask would be lost; use .filled(value) or .compressed() first"
            )
        x = x.view(_ndarray)  # memmap, matrix, ...: same memory, plain type
    natural = torch_of(x.dtype)
    if natural is None:
        raise ConversionError(
            f"cannot convert {what} of dtype {describe(x.dtype)} to a torch tensor: {refusal(x.dtype)}"
        )
    target = dtype if dtype is not None else float_dtype if natural.is_floating_point else None
    if target == natural:
        target = None
    on_cpu = device == CPU
    reason = copy_reason(x)
    if copy is False:
        if target is not None:
            raise CopyError(f"copy=False, but changing dtype {natural} -> {target} needs a copy")
        if not on_cpu:
            raise CopyError(f"copy=False, but moving the array to {device} needs a copy")
        if reason is not None:
            raise CopyError(f"copy=False, but {WHY[reason]}")
    if target is not None:
        np_target = TORCH_TO_NUMPY.get(target) if target not in UPCASTS else None
        if np_target is not None and on_cpu:
            return _from_numpy(x.astype(np_target))  # one copy, NumPy's fast cast
        return _moved(_source(x, reason, natural), device, target)
    if not on_cpu:
        return _moved(_source(x, reason, natural), device, None)
    if reason is not None or copy:
        return _share(_fresh(x), natural)
    return _share(x, natural)


def _moved(t: torch.Tensor, device: torch.device, target: torch.dtype | None) -> torch.Tensor:
    """``t`` (over an array's memory) copied to ``device`` and ``target``, or a ``ConversionError`` saying why not."""
    try:
        return t.to(device=device, dtype=target)
    except (RuntimeError, NotImplementedError) as exc:  # a dtype or device torch cannot copy to
        where = f" as {target}" if target is not None else ""
        raise ConversionError(f"cannot copy the array to {device}{where}: {_first_line(exc)}") from exc


def _source(x: np.ndarray[Any, Any], reason: str | None, natural: torch.dtype) -> torch.Tensor:
    """A tensor over ``x``'s memory for torch to copy from at once (to a device, to a dtype).

    Only a layout torch cannot take (negative strides, byte order,
    misalignment) needs a host copy first; read-only memory is only read by
    that copy, so it is viewed as it is, and the copy is the only one.
    """
    if reason is None:
        return _share(x, natural)
    if reason == "read-only array" and _layout_reason(x) is None:
        with warnings.catch_warnings():  # torch warns of the non-writable array; the view is never written
            warnings.simplefilter("ignore", UserWarning)
            return _share(x, natural)
    return _share(_fresh(x), natural)


def _share(x: np.ndarray[Any, Any], natural: torch.dtype) -> torch.Tensor:
    """``torch.from_numpy``, also for dtypes it knows by another code (``"Q"``) or not at all (bfloat16)."""
    canonical = canonical_of(x.dtype)
    if canonical is None:  # ml_dtypes' bfloat16, float8: reinterpret the bytes
        return _from_numpy(x.view(np.dtype(f"u{x.itemsize}"))).view(natural)
    return _from_numpy(x if x.dtype is canonical else x.view(canonical))


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
    dev = device if move and t.device != device else None
    if dev is None and target is None:
        if not copy:
            return t
        try:
            return t.clone()
        except (RuntimeError, NotImplementedError) as exc:
            raise ConversionError(f"cannot copy a tensor of dtype {t.dtype} on {t.device}: {_first_line(exc)}") from exc
    if copy is False:
        raise CopyError(f"copy=False, but {_needs(t, dev, target)} needs a copy")
    if dev is not None and t.device.type == "meta":
        raise ConversionError(f"cannot move a meta tensor to {device}: meta tensors have a shape and dtype but no data")
    try:
        return t.to(device=dev, dtype=target)
    except (RuntimeError, NotImplementedError) as exc:  # a dtype or device torch cannot copy from
        raise ConversionError(
            f"cannot convert a tensor of dtype {t.dtype} on {t.device} by {_needs(t, dev, target)}: {_first_line(exc)}"
        ) from exc


def _needs(t: torch.Tensor, dev: torch.device | None, target: torch.dtype | None) -> str:
    """What converting ``t`` takes, in words (only worded where an error needs it)."""
    moved = f"moving it from {t.device} to {dev}" if dev is not None else ""
    cast = f"changing dtype {t.dtype} -> {target}" if target is not None else ""
    return " and ".join(filter(None, (moved, cast)))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _other_to_torch(x: Any, device: torch.device, move: bool, dtype: Any, float_dtype: Any, copy: bool | None) -> Any:
    """Any leaf that is not a NumPy array: a tensor, a scalar, another library's array, anything else."""
    if isinstance(x, _Tensor):
        return tensor_to_torch(x, device, move, dtype, float_dtype, copy)
    if isinstance(x, np.generic):
        if isinstance(x, (str, bytes)):
            return x  # np.str_ and np.bytes_ are strings: they pass through
        if copy is False:
            raise CopyError("copy=False, but a NumPy scalar has no memory a tensor could share")
        return array_to_torch(np.asarray(x), device, dtype, float_dtype, None, "a NumPy scalar")
    if isinstance(x, _ndarray):
        return array_to_torch(x, device, dtype, float_dtype, copy)
    if isinstance(x, PASS):
        return x
    refuse_lazy(x)
    dlpack = hasattr(type(x), "__dlpack__")
    if dlpack and not dlpack_on_cpu(x):
        return tensor_to_torch(via_dlpack(x), device, move, dtype, float_dtype, copy)
    view = as_numpy(x, copy)
    if view is not None:
        what = f"a {type(x).__name__} viewed as a NumPy array"
        return array_to_torch(view, device, dtype, float_dtype, copy, what)
    if dlpack:
        return tensor_to_torch(via_dlpack(x), device, move, dtype, float_dtype, copy)
    return x


def fast_torch(x: Any) -> torch.Tensor | None:
    """The tensor over a NumPy array's own memory, where the rules share it as it is; else ``None``.

    The one fast case of :func:`array_to_torch` (a plain, behaved array of a
    dtype torch shares): every shortcut calls it and, on ``None``, the rules.
    """
    if type(x) is _ndarray and x.flags.behaved and x.dtype in SHAREABLE:
        try:
            return _from_numpy(x)
        except (TypeError, ValueError):  # negative strides; a dtype torch knows by another code ("Q")
            return None
    return None


def plain_torch(x: Any) -> Any:
    """The default conversion to torch (no device, dtype or copy asked): zero copy wherever it can."""
    out = fast_torch(x)
    return out if out is not None else _other_to_torch(x, CPU, False, None, None, None)


@functools.lru_cache(maxsize=256)
def torch_leaf(
    device: torch.device,
    move: bool,
    dtype: torch.dtype | None,
    float_dtype: torch.dtype | None,
    copy: bool | None,
    cast_tensors: bool = True,
) -> Leaf:
    """The function that converts one leaf to torch under these settings.

    ``move``: tensors go to ``device`` too (a device was asked for), else
    they stay where they are. With ``cast_tensors=False``, ``float_dtype``
    casts only what comes from NumPy and other libraries; tensors keep
    their dtype (a body's results).
    """
    if device == CPU and not move and dtype is None and float_dtype is None and copy is None:
        return plain_torch
    tensor_float = float_dtype if cast_tensors else None
    share = device == CPU and dtype is None and copy is None

    def leaf(x: Any) -> Any:
        if type(x) is _ndarray:
            if share and float_dtype is None:  # a float dtype to apply: the rules decide what it casts
                out = fast_torch(x)
                if out is not None:
                    return out
            return array_to_torch(x, device, dtype, float_dtype, copy)
        if isinstance(x, _Tensor):
            return tensor_to_torch(x, device, move, dtype, tensor_float, copy)
        return _other_to_torch(x, device, move, dtype, float_dtype, copy)

    return leaf


if not _shortcuts.ON:  # TOOLKIT_PLAIN=0: every leaf takes the rules in full
    fast_torch = _shortcuts.never

skip_frames(__name__)
