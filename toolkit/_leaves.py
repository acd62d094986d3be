"""Converting one leaf: an array, a tensor, a scalar, another library's array.

The rules, in one place (docs/memory.rst tells them to users):

* a CPU NumPy array with the target dtype, native byte order, writable,
  aligned and with no negative stride becomes a tensor over the same memory;
* negative strides, a non-native byte order, read-only and misaligned memory
  are copied silently (``copy=False`` refuses instead);
* a dtype change is exactly one copy, made by NumPy's ``astype`` where NumPy
  has the target dtype;
* NumPy arrays never go through DLPack (``torch.from_dlpack`` aborts on
  negative strides and aliases read-only memory as writable); other
  libraries' arrays on the CPU are viewed through NumPy where NumPy can
  view them, so their read-only flag is seen, and through DLPack otherwise.

Each ``*_leaf`` factory returns the function that converts one leaf under
fixed settings, made once per settings and cached.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack

from ._defaults import CPU
from ._dtypes import NUMPY_TO_TORCH, TORCH_TO_NUMPY, UPCASTS, canonical_of, describe, refusal, torch_of, torch_refusal
from ._errors import ConversionError, CopyError
from ._tree import Leaf

__all__ = [
    "SHAREABLE",
    "copy_reason",
    "numpy_body_leaf",
    "numpy_leaf",
    "plain_numpy",
    "plain_torch",
    "tensor_steps",
    "tensor_to_numpy",
    "torch_leaf",
]

_ndarray = np.ndarray
_Tensor = torch.Tensor
_from_numpy = torch.from_numpy
_PASS = (str, bytes, int, float, complex, type(None))
_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
# Dtypes torch.from_numpy shares as they are, once the array is behaved (aligned, writable).
# Complex is not among them: torch aligns it more strictly than NumPy.
SHAREABLE = frozenset(d for d in NUMPY_TO_TORCH if d.kind in "biuf")
_DLPACK_CPU = 1  # kDLCPU in DLPack's device enumeration

# Why an array's memory cannot be shared: the trace's word, and the error's.
_WHY = {
    "read-only array": "the array is read-only, and a tensor over it could be written to",
    "byte order": "the array's byte order is not the machine's",
    "negative strides": "the array has negative strides, which torch tensors cannot have",
    "misaligned": "the array's data is not aligned for its dtype, which torch's kernels assume",
}


# --------------------------------------------------------------------------
# NumPy (and anything NumPy can view) -> torch


def copy_reason(x: np.ndarray[Any, Any]) -> str | None:
    """Why ``torch.from_numpy`` must not share this array's memory (a key of ``_WHY``), or ``None``."""
    flags = x.flags
    if not flags.writeable:
        return "read-only array"
    if not x.dtype.isnative:
        return "byte order"
    if any(s < 0 for s in x.strides):
        return "negative strides"
    if not flags.aligned:
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
            raise CopyError(f"copy=False, but {_WHY[reason]}")
    if target is not None:
        np_target = TORCH_TO_NUMPY.get(target) if target not in UPCASTS else None
        if np_target is not None and on_cpu:
            return _from_numpy(x.astype(np_target))  # one copy, NumPy's fast cast
        return _share(_fresh(x) if reason else x, natural).to(device=device, dtype=target)
    if not on_cpu:
        return _share(_fresh(x) if reason else x, natural).to(device)
    if reason is not None or copy:
        return _share(_fresh(x), natural)
    return _share(x, natural)


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
        return t.clone() if copy else t
    if copy is False:
        moved = f"moving it from {t.device} to {device}" if dev is not None else ""
        cast = f"changing dtype {t.dtype} -> {target}" if target is not None else ""
        raise CopyError(f"copy=False, but {' and '.join(filter(None, (moved, cast)))} needs a copy")
    return t.to(device=dev, dtype=target)


def _dlpack_on_cpu(x: Any) -> bool:
    device = getattr(x, "__dlpack_device__", None)
    return device is None or device()[0] == _DLPACK_CPU


def _via_dlpack(x: Any) -> torch.Tensor:
    """Another library's array (CuPy, JAX on a GPU) as a tensor over the same memory."""
    strides = getattr(x, "strides", None)
    if strides and any(s < 0 for s in strides) and hasattr(x, "copy"):
        x = x.copy()  # its own library makes the copy: DLPack may not take negative strides
    return from_dlpack(x)


def _is_array_like(x: Any) -> bool:
    """Whether NumPy can view ``x`` (pandas, xarray, PIL images, JAX on the CPU).

    Classes are not: ``np.ndarray`` itself has an ``__array__`` attribute.
    """
    if isinstance(x, type):
        return False
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__") or hasattr(x, "__array_struct__")


def _as_numpy(x: Any, copy: bool | None) -> np.ndarray[Any, Any] | None:
    """NumPy's view of another library's array, or ``None`` where it has none.

    On NumPy 2 ``copy=`` reaches the producer, and a producer that cannot
    give a view refuses ``copy=False``. A CPU DLPack producer without a
    NumPy view goes through ``np.from_dlpack``, which keeps NumPy 2's
    read-only flag and takes negative strides (``torch.from_dlpack`` aborts
    the process on those). NumPy 1 marks every such import read-only, so
    there the tensor is a copy.
    """
    if _is_array_like(x):
        try:
            return np.asarray(x, copy=copy) if _NUMPY2 else np.asarray(x)
        except ValueError as exc:
            if copy is False:
                raise CopyError(f"copy=False, but the {type(x).__name__} cannot give a view: {exc}") from exc
            raise
    if hasattr(type(x), "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (TypeError, ValueError, BufferError, RuntimeError):
            return None  # a dtype NumPy lacks: torch takes it through DLPack
    return None


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
    if isinstance(x, _PASS):
        return x
    dlpack = hasattr(type(x), "__dlpack__")
    if dlpack and not _dlpack_on_cpu(x):
        return tensor_to_torch(_via_dlpack(x), device, move, dtype, float_dtype, copy)
    view = _as_numpy(x, copy)
    if view is not None:
        what = f"a {type(x).__name__} viewed as a NumPy array"
        return array_to_torch(view, device, dtype, float_dtype, None if copy else copy, what)
    if dlpack:
        return tensor_to_torch(_via_dlpack(x), device, move, dtype, float_dtype, copy)
    return x


def plain_torch(x: Any) -> Any:
    """The default conversion to torch: zero copy on the CPU wherever memory can be shared."""
    if type(x) is _ndarray and x.flags.behaved and x.dtype in SHAREABLE:
        try:
            return _from_numpy(x)
        except (TypeError, ValueError):
            pass  # the full path copies, or says why not
    return _other_to_torch(x, CPU, False, None, None, None)


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

    With ``cast_tensors=False``, ``float_dtype`` casts only what comes from
    NumPy and other libraries; tensors keep their dtype (a body's results).
    """
    if device.type == "cpu" and dtype is None and float_dtype is None and copy is None:
        return plain_torch
    tensor_float = float_dtype if cast_tensors else None
    share = device.type == "cpu" and dtype is None and copy is None

    def leaf(x: Any) -> Any:
        if type(x) is _ndarray:
            if share and x.flags.behaved and x.dtype in SHAREABLE:
                natural = NUMPY_TO_TORCH[x.dtype]
                if float_dtype is None or natural == float_dtype or not natural.is_floating_point:
                    return _from_numpy(x)
            return array_to_torch(x, device, dtype, float_dtype, copy)
        if isinstance(x, _Tensor):
            return tensor_to_torch(x, device, move, dtype, tensor_float, copy)
        return _other_to_torch(x, device, move, dtype, float_dtype, copy)

    return leaf


# --------------------------------------------------------------------------
# torch (and anything array-like) -> NumPy


def tensor_steps(t: torch.Tensor, target: np.dtype[Any] | None) -> list[tuple[str, str]]:
    """What bringing ``t`` to NumPy takes, each step as (the trace's word, the error's)."""
    steps = []
    if t.layout != torch.strided:
        steps.append(("sparse tensor", "densifying a sparse tensor"))
    if t.is_conj():
        steps.append(("conjugate bit", "resolving the conjugate bit"))
    if t.is_neg():
        steps.append(("negative bit", "resolving the negative bit"))
    if not t.is_cpu:
        steps.append((f"device {t.device} -> cpu", f"moving it from {t.device} to the CPU"))
    if t.dtype in UPCASTS:
        name = str(t.dtype).removeprefix("torch.")
        steps.append((f"{name} upcast", f"upcasting {name} to {TORCH_TO_NUMPY[t.dtype]}: NumPy has no {name}"))
    if target is not None:
        steps.append(
            (f"dtype {TORCH_TO_NUMPY[t.dtype]} -> {target}", f"changing dtype {TORCH_TO_NUMPY[t.dtype]} -> {target}")
        )
    if t.dim() == 0:
        steps.append(("0-d tensor to NumPy scalar", "turning a 0-d tensor into a NumPy scalar"))
    return steps


def _refuse_tensor(t: torch.Tensor) -> None:
    if t.is_nested:
        raise ConversionError(
            "cannot convert a nested (jagged) tensor to NumPy: NumPy arrays are rectangular; "
            "use .to_padded_tensor(padding) or .unbind() first"
        )
    if t.is_quantized:
        raise ConversionError(f"cannot convert a quantized tensor ({t.dtype}) to NumPy: call .dequantize() first")
    if t.device.type == "meta":
        raise ConversionError("cannot convert a meta tensor to NumPy: meta tensors have a shape and dtype but no data")
    why = torch_refusal(t.dtype)
    if why is not None:
        raise ConversionError(f"cannot convert a tensor of dtype {t.dtype} to NumPy: {why}")


def tensor_to_numpy(
    t: torch.Tensor, dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None
) -> Any:
    """One tensor as a NumPy array (or scalar, for 0-d), sharing memory where it can."""
    _refuse_tensor(t)
    natural = TORCH_TO_NUMPY[t.dtype]
    target = dtype if dtype is not None else float_dtype if natural.kind == "f" else None
    if target == natural:
        target = None
    steps = tensor_steps(t, target)
    if copy is False and steps:
        raise CopyError(f"copy=False, but {steps[0][1]} needs a copy")
    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    t = t.resolve_conj().resolve_neg().cpu()
    if t.dtype in UPCASTS:
        with warnings.catch_warnings():  # complex32 warns that it is experimental
            warnings.simplefilter("ignore", UserWarning)
            t = t.to(UPCASTS[t.dtype])
    out = t.numpy()
    if target is not None:
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


def _to_numpy(x: Any, dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None) -> Any:
    if isinstance(x, _Tensor):
        return tensor_to_numpy(x, dtype, float_dtype, copy)
    if isinstance(x, (_ndarray, np.generic)):
        return _array_to_numpy(x, dtype, float_dtype, copy)
    if isinstance(x, _PASS):
        return x
    dlpack = hasattr(type(x), "__dlpack__")
    if dlpack and not _dlpack_on_cpu(x):
        return tensor_to_numpy(_via_dlpack(x), dtype, float_dtype, copy)
    view = _as_numpy(x, copy)
    if view is not None:
        return _array_to_numpy(view, dtype, float_dtype, None if copy else copy)
    if dlpack:
        return tensor_to_numpy(_via_dlpack(x), dtype, float_dtype, copy)
    return x


def plain_numpy(x: Any) -> Any:
    """The default conversion to NumPy: ``Tensor.numpy()`` where it works, the full path otherwise."""
    if type(x) is _Tensor:
        try:
            out = (x.detach() if x.requires_grad else x).numpy()
        except (RuntimeError, TypeError):
            pass  # the full path detaches, resolves bits, moves, or says why not
        else:
            return out[()] if out.ndim == 0 else out
    elif type(x) is _ndarray:
        return x
    return _to_numpy(x, None, None, None)


@functools.lru_cache(maxsize=64)
def numpy_leaf(dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None) -> Leaf:
    """The function that converts one leaf to NumPy under these settings."""
    if dtype is None and float_dtype is None and copy is None:
        return plain_numpy
    return functools.partial(_to_numpy, dtype=dtype, float_dtype=float_dtype, copy=copy)


def numpy_body_leaf(
    dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, on_grad: Callable[[], None]
) -> Leaf:
    """For what a NumPy body receives: a tensor that requires grad arrives as a detached copy.

    Sharing its memory would let an in-place write by the body corrupt the
    caller's tensor and the values autograd saved; ``on_grad`` is told, to warn.
    """
    base = numpy_leaf(dtype, float_dtype, None)

    def leaf(x: Any) -> Any:
        if isinstance(x, _Tensor) and x.requires_grad:
            on_grad()
            return tensor_to_numpy(x, dtype, float_dtype, True)
        return base(x)

    if base is plain_numpy:  # the common case, written out: Tensor.numpy() where it works

        def plain(x: Any) -> Any:
            if type(x) is _Tensor:
                try:
                    out = x.numpy()  # refuses a tensor that requires grad: leaf() copies it
                except (RuntimeError, TypeError):
                    return leaf(x)
                return out[()] if out.ndim == 0 else out
            return leaf(x)

        return plain

    return leaf
