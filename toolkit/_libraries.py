"""The third kind of caller: arrays of other libraries (JAX, CuPy, array-api-strict, dpnp, ...).

An array of another library is one whose type offers ``__dlpack__`` and
``__array_namespace__`` (and is neither a tensor nor NumPy's). Such a leaf
converts into torch and NumPy as ``_producers`` says; this module is the
way back, for the mirror rule's third kind and for ``to_like``:

* the library is the array's own namespace (``x.__array_namespace__()``);
* its device is the array's ``device``, and the torch device its memory
  lives on is read from ``__dlpack_device__`` (CuPy device ``i`` and JAX's
  ``cuda:i`` are ``cuda:i``; a CPU array is ``cpu``);
* its floating dtype is named by the Array API's dtype names, so a JAX
  ``float32`` is ``torch.float32``;
* a result goes back as a tensor on that torch device (floating ones cast
  as the rule says), handed over with the library's own ``from_dlpack``
  (zero copy where the library takes the memory; JAX shares a CPU
  tensor's), or with ``asarray`` of its NumPy form where the library's
  DLPack import refuses the dtype (array-api-strict and ``bfloat16``), and
  then moved with the standard ``to_device`` where the library put it
  elsewhere (or ``asarray(..., device=)`` where that fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._dynamo import skip_frames
from ._errors import ConversionError
from ._into_numpy import tensor_to_numpy
from ._into_torch import torch_leaf
from ._jax import refuse_traced
from ._producers import PASS
from ._tree import Leaf

__all__ = ["Library", "is_other_array", "library_leaf"]

_Tensor = torch.Tensor
# DLPack's device types that torch can hold memory on, by its name for them.
_DLPACK_DEVICES = {1: "cpu", 2: "cuda", 3: "cpu", 10: "cuda", 13: "cuda", 14: "xpu"}
# The Array API's floating dtype names (and bfloat16, which JAX and others add), as torch's dtypes.
_FLOATS = (
    ("float32", torch.float32),
    ("float64", torch.float64),
    ("float16", torch.float16),
    ("bfloat16", torch.bfloat16),
)


def is_other_array(x: Any) -> bool:
    """Whether ``x`` is another library's array: ``__dlpack__`` and ``__array_namespace__``, not NumPy's."""
    kind = type(x)
    return (
        hasattr(kind, "__array_namespace__")
        and hasattr(kind, "__dlpack__")
        and not isinstance(x, (_Tensor, np.ndarray, np.generic, type))
    )


def float_of(x: Any) -> torch.dtype | None:
    """The torch dtype of another library's array where its dtype is real floating, else ``None``."""
    dtype = x.dtype
    namespace = x.__array_namespace__()
    for name, torch_float in _FLOATS:
        own = getattr(namespace, name, None)
        try:
            if own is not None and dtype == own:
                return torch_float
        except TypeError:  # a dtype that refuses comparing with another kind of object
            continue
    return None


@dataclass(frozen=True)
class Library:
    """Where a result goes back to: the caller's library, its device, and torch's name for that memory."""

    namespace: Any
    device: Any
    torch_device: torch.device

    @classmethod
    def of(cls, x: Any) -> Library:
        """The library, device and torch device of another library's array ``x``."""
        refuse_traced(x)
        where = getattr(x, "__dlpack_device__", None)
        if where is None:
            raise ConversionError(
                f"cannot give results back to a {type(x).__module__}.{type(x).__qualname__}: it has "
                "__dlpack__ but no __dlpack_device__, so where its memory lives is unknown"
            )
        kind, index = where()
        name = _DLPACK_DEVICES.get(int(kind))
        if name is None:
            raise ConversionError(
                f"cannot give results back to a {type(x).__module__.partition('.')[0]} array on {x.device}: "
                f"torch has no device for its DLPack device type {int(kind)}"
            )
        torch_device = torch.device(name) if name == "cpu" else torch.device(name, int(index))
        return cls(x.__array_namespace__(), getattr(x, "device", None), torch_device)

    def from_torch(self, t: torch.Tensor) -> Any:
        """Tensor ``t`` (on ``torch_device``) as this library's array, on the caller's device."""
        t = t.detach().resolve_conj().resolve_neg()
        if t.layout != torch.strided:
            t = t.to_dense()
        namespace, device = self.namespace, self.device
        out = None
        if device is not None:
            try:  # the standard's import onto a device (2023.12): zero copy onto array-api-strict's others too
                out = namespace.from_dlpack(t, device=device)
            except (BufferError, TypeError, ValueError, RuntimeError):
                out = None
        if out is None:
            try:
                out = namespace.from_dlpack(t)
            except (BufferError, TypeError, ValueError, RuntimeError):  # a dtype its DLPack import lacks
                out = self._through_numpy(t)
        if device is not None and getattr(out, "device", device) != device:
            try:
                out = out.to_device(device)
            except (TypeError, ValueError, RuntimeError):  # array-api-strict's to_device needs NumPy 2
                out = namespace.asarray(out, device=device)
        return out

    def _through_numpy(self, t: torch.Tensor) -> Any:
        """``asarray`` of the tensor's NumPy form (bfloat16 as float32); float16, where the library
        lacks it (array-api-strict), as float32: the nearest wider dtype, every value kept."""
        array = tensor_to_numpy(t, None, None, None)
        try:
            return self.namespace.asarray(array)
        except (TypeError, ValueError, RuntimeError):
            if array.dtype != np.float16:
                raise
            return self.namespace.asarray(array.astype(np.float32))

    def holds(self, x: Any, float_dtype: torch.dtype | None) -> bool:
        """Whether ``x`` is already this library's array on its device, in ``float_dtype`` where floating."""
        if x.__array_namespace__() is not self.namespace or getattr(x, "device", None) != self.device:
            return False
        own = float_of(x)
        return own is None or float_dtype is None or own == float_dtype


def library_leaf(library: Library, float_dtype: torch.dtype | None) -> Leaf:
    """The leaf that gives a result back to ``library``: arrays and tensors as its arrays, the rest as they are.

    ``float_dtype``: what real floating results become (the mirror rule's
    dtype; ``None`` keeps theirs).
    """
    to_tensor = torch_leaf(library.torch_device, True, None, float_dtype, None)

    def leaf(x: Any) -> Any:
        if isinstance(x, (_Tensor, np.ndarray)) or (isinstance(x, np.generic) and not isinstance(x, (str, bytes))):
            return library.from_torch(to_tensor(x))  # np.float64 before the Python scalars it subclasses
        if isinstance(x, PASS):
            return x
        if is_other_array(x):
            return x if library.holds(x, float_dtype) else library.from_torch(to_tensor(x))
        return x

    return leaf


skip_frames(__name__)
