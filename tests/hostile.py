"""The shared hostile inputs: every value that has broken a conversion once, by name.

Each entry makes a fresh value on every call (so a test can hand one to
each side of a comparison). Every entry point's tests draw from here: the
round-trip properties of ``to_torch`` / ``to_numpy``, and the differential
test of the decorators over every call form (``test_call_forms.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

_OTHER = ">" if np.little_endian else "<"


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a


def _misaligned(dtype: str, offset: int) -> np.ndarray:
    """An array of ``dtype`` whose data starts ``offset`` bytes into a buffer (complex128 at 8 crashed torch)."""
    item = np.dtype(dtype).itemsize
    buf = np.zeros(4 * item + offset, np.uint8)
    a = buf[offset : offset + 4 * item].view(dtype)
    a[:] = np.arange(4)
    return a


def _neg_length_one() -> np.ndarray:
    """What ``ascontiguousarray`` leaves: a negative stride on a length-1 axis."""
    a = np.arange(6.0).reshape(1, 6)[::-1]
    assert a.strides[0] < 0
    return a


# Every NumPy dtype that converts (ulonglong, which equals uint64 under another code, comes below).
DTYPES = [
    np.bool_,
    np.uint8,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
    np.complex128,
]

ARRAYS: dict[str, Callable[[], Any]] = {
    **{f"{np.dtype(t).name} array": (lambda t=t: np.arange(6).astype(t).reshape(2, 3)) for t in DTYPES},
    "ulonglong array": lambda: np.arange(3, dtype=np.ulonglong),
    "0-d array": lambda: np.array(2.5),
    "empty array": lambda: np.zeros((0, 3), np.float32),
    "numpy scalar": lambda: np.float32(1.5),
    "reversed": lambda: np.arange(5.0)[::-1],
    "reversed int": lambda: np.arange(5)[::-1],
    "np.flip 2-D": lambda: np.flip(np.arange(12.0).reshape(3, 4)),
    "np.flip 3-D float32": lambda: np.flip(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
    "negative stride, length-1 axis": _neg_length_one,
    "non-contiguous": lambda: np.arange(12.0).reshape(3, 4)[:, ::2],
    "transposed": lambda: np.arange(6.0).reshape(2, 3).T,
    "read-only": lambda: _read_only(np.arange(4.0)),
    "broadcast (read-only, stride 0)": lambda: np.broadcast_to(np.arange(3.0), (2, 3)),
    "big-endian float32": lambda: np.arange(4, dtype=f"{_OTHER}f4"),
    "big-endian int64": lambda: np.arange(4, dtype=f"{_OTHER}i8"),
    "misaligned float64": lambda: _misaligned("f8", 1),
    "misaligned complex128": lambda: _misaligned("c16", 8),
}
try:
    import ml_dtypes

    ARRAYS["ml_dtypes bfloat16 array"] = lambda: np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - installed with the test extras (through jax)
    pass

TENSORS: dict[str, Callable[[], Any]] = {
    "float32 tensor": lambda: torch.arange(6.0).reshape(2, 3),
    "float64 tensor": lambda: torch.arange(4.0, dtype=torch.float64),
    "int64 tensor": lambda: torch.arange(4),
    "bool tensor": lambda: torch.tensor([True, False]),
    "uint16 tensor": lambda: torch.tensor([1, 2, 3], dtype=torch.uint16),
    "float16 tensor": lambda: torch.arange(3, dtype=torch.float16),
    "bfloat16 tensor": lambda: torch.arange(3, dtype=torch.bfloat16),
    "complex64 tensor": lambda: torch.tensor([1 + 1j, 2, 3j], dtype=torch.complex64),
    "0-d tensor": lambda: torch.tensor(3.0),
    "empty tensor": lambda: torch.zeros(0, 2),
    "transposed tensor": lambda: torch.arange(6.0).reshape(2, 3).T,
    "requires grad": lambda: torch.arange(3.0, requires_grad=True),
    "non-leaf requires grad": lambda: torch.arange(3.0, requires_grad=True) * 2,
    "conjugate bit": lambda: torch.tensor([1 + 2j, 3 - 1j]).conj(),
    "negative bit": lambda: torch.tensor([1 + 2j, 3 - 1j]).conj().imag,
    "meta tensor": lambda: torch.empty(2, 3, device="meta"),
}

# Other libraries' arrays (contract section 10): the third kind of caller.
OTHERS: dict[str, Callable[[], Any]] = {}
try:
    import jax.numpy as jnp

    OTHERS["jax float32 array"] = lambda: jnp.arange(6.0).reshape(2, 3)
    OTHERS["jax int32 array"] = lambda: jnp.arange(3)
except ImportError:  # pragma: no cover - installed with the compat extras
    pass
try:
    import array_api_strict as xp

    OTHERS["array-api-strict float64 array"] = lambda: xp.asarray([1.0, 2.0, 3.0])
    OTHERS["array-api-strict array on device1"] = lambda: xp.asarray([1.0, 2.0], device=xp.Device("device1"))
except ImportError:  # pragma: no cover - installed with the compat extras
    pass

HOSTILE: dict[str, Callable[[], Any]] = {**ARRAYS, **TENSORS, **OTHERS}


def hostile() -> st.SearchStrategy[Any]:
    """A fresh hostile value (array, NumPy scalar or tensor), for Hypothesis."""
    return st.sampled_from(sorted(HOSTILE)).map(lambda name: HOSTILE[name]())


def hostile_arrays() -> st.SearchStrategy[Any]:
    """A fresh hostile NumPy array or scalar."""
    return st.sampled_from(sorted(ARRAYS)).map(lambda name: ARRAYS[name]())


def hostile_tensors() -> st.SearchStrategy[Any]:
    """A fresh hostile tensor (meta included)."""
    return st.sampled_from(sorted(TENSORS)).map(lambda name: TENSORS[name]())


def _other(x: Any) -> bool:
    return hasattr(type(x), "__array_namespace__") and not isinstance(x, (np.ndarray, np.generic, torch.Tensor))


def seen(x: Any) -> Any:
    """Another library's array as a tensor over its memory, or NumPy's view where torch's import fails
    (array-api-strict under NumPy 1 refuses the DLPack version torch asks for, and cannot export
    the read-only memory NumPy 1 gives every DLPack import)."""
    try:
        return torch.from_dlpack(x)
    except (RuntimeError, TypeError, ValueError, BufferError):
        pass
    try:
        return np.asarray(x)
    except (RuntimeError, TypeError, ValueError):
        pass
    try:
        return np.from_dlpack(x)
    except (RuntimeError, TypeError, ValueError, BufferError):  # read-only memory on another of its devices
        xp = x.__array_namespace__()
        return np.asarray(xp.asarray(x, device=xp.Device("CPU_DEVICE")))


def memory(x: Any) -> tuple[int, int] | None:
    """The byte range a value's data lies in, or ``None`` where it has none to compare."""
    if _other(x):
        return memory(seen(x))
    if isinstance(x, np.ndarray):
        low, high = np.byte_bounds(x) if hasattr(np, "byte_bounds") else np.lib.array_utils.byte_bounds(x)
        return low, high
    if isinstance(x, torch.Tensor) and x.layout == torch.strided and x.device.type != "meta":
        storage = x.untyped_storage()
        return storage.data_ptr(), storage.data_ptr() + storage.nbytes()
    return None


def shares(a: Any, b: Any) -> bool:
    """Whether two values' data overlap in memory."""
    ma, mb = memory(a), memory(b)
    if ma is None or mb is None or ma[0] == ma[1] or mb[0] == mb[1]:
        return False
    return ma[0] < mb[1] and mb[0] < ma[1]


def describe(x: Any) -> Any:
    """What a comparison of results looks at: type, dtype, device, grad, writability and values."""
    if isinstance(x, torch.Tensor):
        values = None
        if x.device.type != "meta":
            plain = x.detach().resolve_conj().resolve_neg()
            values = plain.float().tolist() if plain.dtype == torch.bfloat16 else plain.tolist()
        return ("tensor", x.dtype, x.device.type, x.requires_grad, tuple(x.shape), values)
    if isinstance(x, np.ndarray):
        return (type(x).__name__, x.dtype.str, x.flags.writeable, x.shape, x.astype(object).tolist())
    if isinstance(x, np.generic):
        return (type(x).__name__, x.dtype.str, x.item())
    if _other(x):
        return (type(x).__name__, str(x.dtype), str(x.device), tuple(x.shape), seen(x).tolist())
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [describe(v) for v in x])
    if isinstance(x, dict):
        return ("dict", {k: describe(v) for k, v in x.items()})
    return (type(x).__name__, x)
