"""Other libraries' arrays: how a leaf that is neither NumPy nor torch is seen.

* Objects NumPy can view (``__array__``, ``__array_interface__``,
  ``__array_struct__``: pandas, xarray, PIL images, JAX on the CPU) are
  viewed through NumPy, so their read-only flag is seen; the producer is
  asked once per conversion.
* A CPU DLPack producer without a NumPy view goes through
  ``np.from_dlpack``, which keeps NumPy 2's read-only flag and takes
  negative strides (``torch.from_dlpack`` aborts the process on those).
* A lazy array (Dask's) is refused: converting it would compute it; so is a
  JAX tracer (inside ``jax.jit``), which has no values.
* A DLPack producer on another device (CuPy, JAX on a GPU) goes through
  ``torch.from_dlpack``, after its own library copies away negative strides.

While a trace is active, the view each producer gave is handed to the trace
(:func:`seen_view`), so the record compares the result with the memory the
producer really gave, and never asks the producer a second time.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack

from ._dynamo import skip_frames
from ._errors import ConversionError, CopyError
from ._jax import refuse_traced

__all__ = ["PASS", "as_numpy", "dlpack_on_cpu", "refuse_lazy", "seen_view", "via_dlpack", "views_reset", "views_to"]

# Leaves that pass through every conversion as they are.
PASS = (str, bytes, int, float, complex, type(None))
_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
_DLPACK_CPU = 1  # kDLCPU in DLPack's device enumeration
# Where the views producers give are noted (id of the producer -> its view), while a trace asks.
_views: ContextVar[dict[int, Any] | None] = ContextVar("toolkit_views", default=None)


def views_to(sink: dict[int, Any] | None) -> Any:
    """Note the views producers give into ``sink`` (or stop, with ``None``); returns the reset token."""
    return _views.set(sink)


def views_reset(token: Any) -> None:
    """Stop noting views, as before the :func:`views_to` that gave ``token``."""
    _views.reset(token)


def seen_view(x: Any, view: Any) -> Any:
    """Hand ``view``, what producer ``x`` gave, to the trace that asks (if any); returns ``view``."""
    sink = _views.get()
    if sink is not None:
        sink[id(x)] = view
    return view


def refuse_lazy(x: Any) -> None:
    """A lazy array (Dask: ``__dask_graph__``) is never computed here; a JAX tracer has no values."""
    refuse_traced(x)
    graph = getattr(type(x), "__dask_graph__", None)
    if graph is not None and not isinstance(x, type) and graph(x) is not None:  # xarray: None over NumPy
        raise ConversionError(
            f"a {type(x).__module__.partition('.')[0]} {type(x).__name__} is lazy: converting it would compute "
            "its whole graph here; run the function on each block with dask_array.map_blocks(f), "
            "or call .compute() first"
        )


def dlpack_on_cpu(x: Any) -> bool:
    device = getattr(x, "__dlpack_device__", None)
    return device is None or device()[0] == _DLPACK_CPU


def via_dlpack(x: Any) -> torch.Tensor:
    """Another library's array (CuPy, JAX on a GPU) as a tensor over the same memory."""
    strides = getattr(x, "strides", None)
    if strides and any(s < 0 for s in strides) and hasattr(x, "copy"):
        x = x.copy()  # its own library makes the copy: DLPack may not take negative strides
    tensor: torch.Tensor = seen_view(x, from_dlpack(x))
    return tensor


def _is_array_like(x: Any) -> bool:
    """Whether NumPy can view ``x`` (pandas, xarray, PIL images, JAX on the CPU).

    Classes are not: ``np.ndarray`` itself has an ``__array__`` attribute.
    """
    if isinstance(x, type):
        return False
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__") or hasattr(x, "__array_struct__")


def as_numpy(x: Any, copy: bool | None) -> np.ndarray[Any, Any] | None:
    """NumPy's view of another library's array, or ``None`` where it has none.

    Only ``copy=False`` reaches the producer (NumPy 2), so a producer that
    cannot give a view refuses it. ``copy=True`` is the caller's to make: a
    producer may hand out the same array on every call whatever it is asked,
    and a copy made here would then be made twice. NumPy 1 marks every
    DLPack import read-only, so there the tensor is a copy.
    """
    dlpack = hasattr(type(x), "__dlpack__")
    if _is_array_like(x):
        try:
            view: np.ndarray[Any, Any] = np.asarray(x, copy=False) if _NUMPY2 and copy is False else np.asarray(x)
        except ValueError as exc:
            if copy is False:
                raise CopyError(f"copy=False, but the {type(x).__name__} cannot give a view: {exc}") from exc
            raise
        except (TypeError, RuntimeError):
            if not dlpack:
                raise  # else an array that refuses NumPy (array-api-strict off its CPU device): DLPack
        else:
            seen_view(x, view)
            return view
    if dlpack:
        try:
            imported: np.ndarray[Any, Any] = seen_view(x, np.from_dlpack(x))
            return imported
        except (TypeError, ValueError, BufferError, RuntimeError):
            return None  # a dtype NumPy lacks: torch takes it through DLPack
    return None


skip_frames(__name__)
