"""The rules of torch (and other libraries' arrays) to NumPy, and the one fast case of them.

* A tensor is detached, its conjugate and negative bits resolved, brought
  to the CPU; a CPU tensor with a NumPy dtype shares its memory. Where the
  tensor requires grad (a parameter, an activation autograd may have
  saved), the shared array is a read-only view: NumPy writes bypass
  torch's version counter, so a write would corrupt gradients or weights
  silently. ``copy=True`` gives a writable copy.
* ``bfloat16`` and ``float8_*`` become ``float32``, ``complex32`` becomes
  ``complex64``, sparse becomes dense; quantized, meta, nested and
  sub-byte tensors are refused with a hint.
* A 0-d tensor becomes a NumPy scalar; NumPy values pass through unless a
  dtype or a copy is asked for.
* What a NumPy *body* receives of a tensor that requires grad is a
  detached copy, whatever the grad mode (``torch.no_grad()`` lets
  ``.numpy()`` share it): an in-place write by the body must never reach
  the caller's tensor or the values autograd saved.

:func:`fast_numpy` is the common case (``Tensor.numpy()`` of a plain CPU
tensor that needs nothing more); every shortcut calls it and falls back to
the rules here.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import _shortcuts
from ._dtypes import TORCH_TO_NUMPY, UPCASTS, real_floating, torch_refusal
from ._dynamo import skip_frames
from ._errors import ConversionError, CopyError
from ._producers import PASS, as_numpy, dlpack_on_cpu, refuse_lazy, via_dlpack
from ._tree import Leaf

__all__ = [
    "detached",
    "fast_for_caller",
    "fast_numpy",
    "read_only",
    "numpy_body_leaf",
    "numpy_leaf",
    "plain_numpy",
    "tensor_steps",
    "tensor_to_numpy",
]

_ndarray = np.ndarray
_Tensor = torch.Tensor


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


#: whether a tensor is one of ``torch.func``'s (vmap's batched, grad's tracking): they have no storage to read
_transformed: Callable[[torch.Tensor], bool] = getattr(
    getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", lambda t: False
)


def _refuse_tensor(t: torch.Tensor) -> None:
    if _transformed(t):
        raise ConversionError(
            "cannot convert a tensor inside a torch.func transform (vmap, grad, jacrev) to NumPy: NumPy code "
            "cannot see the transformed values; call it outside the transform, or make it a torch operator "
            "(torch.library.custom_op) that the transform can call"
        )
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
    on_graph = t.requires_grad
    t = detached(t)
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
    elif on_graph and not steps:  # the tensor's own memory: a write must not reach autograd's values
        out = read_only(out)
    return out[()] if out.ndim == 0 else out


def read_only(out: Any) -> Any:
    """The array over a tensor that requires grad, as the caller gets it: a read-only view."""
    if type(out) is _ndarray:
        out = out.view()
        out.flags.writeable = False
    return out


def _array_to_numpy(x: Any, dtype: np.dtype[Any] | None, float_dtype: np.dtype[Any] | None, copy: bool | None) -> Any:
    """A NumPy array or scalar: unchanged unless a dtype or a copy was asked for."""
    target = dtype if dtype is not None else float_dtype if real_floating(x.dtype) else None
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
    if isinstance(x, PASS):
        return x
    refuse_lazy(x)
    dlpack = hasattr(type(x), "__dlpack__")
    if dlpack and not dlpack_on_cpu(x):
        return tensor_to_numpy(via_dlpack(x), dtype, float_dtype, copy)
    view = as_numpy(x, copy)
    if view is not None:
        return _array_to_numpy(view, dtype, float_dtype, copy)
    if dlpack:
        return tensor_to_numpy(via_dlpack(x), dtype, float_dtype, copy)
    return x


def fast_numpy(t: Any) -> Any:
    """``t.numpy()`` (a scalar for 0-d) where the rules share a tensor as it is; else ``None``.

    The one fast case of :func:`tensor_to_numpy`: a plain CPU tensor with a
    NumPy dtype, no bits to resolve and no grad (``.numpy()`` takes a tensor
    that requires grad under ``torch.no_grad()``; the rules decide that one).
    Every shortcut calls it and, on ``None``, the rules.
    """
    if type(t) is _Tensor and not t.requires_grad:
        try:
            out = t.numpy()
        except (RuntimeError, TypeError):  # bits to resolve, a device to leave, a dtype NumPy lacks
            return None
        return out[()] if out.ndim == 0 else out
    return None


def detached(t: torch.Tensor) -> torch.Tensor:
    """What a NumPy caller's array is made from: the tensor off the autograd graph (NumPy cannot carry it)."""
    return t.detach() if t.requires_grad else t


def fast_for_caller(x: Any) -> Any:
    """A NumPy caller's fast case: an array as it is, a tensor through :func:`fast_numpy`; else ``None``.

    A tensor that requires grad gives its detached tensor's array as the rules make it for a
    NumPy caller: a :func:`read_only` view.
    """
    if type(x) is _ndarray:
        return x
    if type(x) is not _Tensor:
        return None
    if x.requires_grad:
        out = fast_numpy(x.detach())
        return None if out is None else read_only(out)
    return fast_numpy(x)


def plain_numpy(x: Any) -> Any:
    """The default conversion to NumPy for a NumPy caller (no dtype or copy asked)."""
    out = fast_for_caller(x)
    return out if out is not None else _to_numpy(x, None, None, None)


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

    return leaf


if not _shortcuts.ON:  # TOOLKIT_PLAIN=0: every leaf takes the rules in full
    fast_numpy = _shortcuts.never  # type: ignore[assignment]

skip_frames(__name__)
