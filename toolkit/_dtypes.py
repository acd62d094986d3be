"""The dtype mapping between NumPy and torch, both ways.

This is the one place that knows which dtypes each library has and what a
dtype becomes on the other side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._dynamo import skip_frames
from ._errors import suggest

__all__ = ["torch_dtype", "numpy_dtype", "DTypeLike", "dtype_table"]

DTypeLike = torch.dtype | np.dtype[Any] | type | str

_PAIRS = [
    (np.bool_, torch.bool),
    (np.uint8, torch.uint8),
    (np.int8, torch.int8),
    (np.int16, torch.int16),
    (np.int32, torch.int32),
    (np.int64, torch.int64),
    (np.uint16, torch.uint16),
    (np.uint32, torch.uint32),
    (np.uint64, torch.uint64),
    (np.float16, torch.float16),
    (np.float32, torch.float32),
    (np.float64, torch.float64),
    (np.complex64, torch.complex64),
    (np.complex128, torch.complex128),
]

#: NumPy dtype (native byte order) -> the torch dtype ``to_torch`` gives.
NUMPY_TO_TORCH: dict[np.dtype[Any], torch.dtype] = {np.dtype(n): t for n, t in _PAIRS}
# longdouble is float64 on some platforms (MSVC, some ARM); only then it maps.
for _wide, _narrow in ((np.longdouble, np.float64), (np.clongdouble, np.complex128)):
    if np.dtype(_wide).itemsize == np.dtype(_narrow).itemsize:
        NUMPY_TO_TORCH[np.dtype(_wide)] = NUMPY_TO_TORCH[np.dtype(_narrow)]

#: torch dtype -> the NumPy dtype ``to_numpy`` gives; upcasts where NumPy lacks one.
TORCH_TO_NUMPY: dict[torch.dtype, np.dtype[Any]] = {t: np.dtype(n) for n, t in _PAIRS}
UPCASTS: dict[torch.dtype, torch.dtype] = {torch.bfloat16: torch.float32}
for _name in dir(torch):
    if _name.startswith("float8_") and isinstance(getattr(torch, _name), torch.dtype):
        UPCASTS[getattr(torch, _name)] = torch.float32
if hasattr(torch, "complex32"):
    UPCASTS[torch.complex32] = torch.complex64
for _t, _up in UPCASTS.items():
    TORCH_TO_NUMPY[_t] = TORCH_TO_NUMPY[_up]


_QUANTIZED_HINT = "call .dequantize() first"
_SUBBYTE_HINT = "cast it with .to(torch.uint8) (or unpack it) first"

# Names that mean different dtypes in NumPy and torch ("float" is float64 in
# NumPy and float32 in torch) or on different platforms ("long").
_AMBIGUOUS = {
    "float": "float32 in torch but float64 in NumPy",
    "int": "int32 in torch but int64 in NumPy",
    "complex": "complex64 in torch but complex128 in NumPy",
    "cfloat": "complex64 in torch but complex128 in NumPy 1.x",
    "long": "int64 in torch but the platform's C long in NumPy",
}

_TORCH_NAMES = {
    str(d).removeprefix("torch."): d for d in (getattr(torch, n) for n in dir(torch)) if isinstance(d, torch.dtype)
}
# Names NumPy knows besides torch's, for "did you mean" on a typo.
_NUMPY_NAMES = sorted({np.dtype(c).name for c in np.typecodes["All"]} - {"object", "void"})


def parse_dtype(x: Any) -> torch.dtype | np.dtype[Any]:
    """Read a dtype given in any form, without judging whether it converts.

    Raises ``ValueError`` for an unknown or ambiguous name, ``TypeError``
    for something that is no dtype at all.
    """
    if isinstance(x, torch.dtype):
        return x
    if isinstance(x, str):
        name = x.removeprefix("torch.")
        if name in _AMBIGUOUS:
            raise ValueError(
                f"dtype {x!r} is ambiguous: it means {_AMBIGUOUS[name]}; name the size, e.g. 'float32' or 'float64'"
            )
        if name in _TORCH_NAMES:
            return _TORCH_NAMES[name]
        if x.startswith("torch."):
            raise ValueError(f"unknown torch dtype {x!r}{suggest(name, _TORCH_NAMES)}")
    elif isinstance(x, np.dtype):
        return x
    elif not (isinstance(x, type) or hasattr(x, "dtype")):
        raise TypeError(f"expected a dtype (torch dtype, NumPy dtype or type, or name), got {x!r}")
    try:
        parsed: np.dtype[Any] = np.dtype(x)
    except TypeError as exc:
        if isinstance(x, str):
            raise ValueError(f"unknown dtype {x!r}{suggest(x, [*_TORCH_NAMES, *_NUMPY_NAMES])}") from exc
        raise TypeError(f"expected a dtype, got {x!r}") from exc
    return parsed


def describe(dt: np.dtype[Any]) -> str:
    """A NumPy dtype as a user would name it (``object``, ``<U5``, ``datetime64[s]``)."""
    return f"structured {dt}" if dt.fields is not None else str(dt)


def refusal(dt: np.dtype[Any]) -> str | None:
    """Why a NumPy dtype has no torch counterpart, or ``None`` if it has one."""
    if torch_of(dt) is not None:
        return None
    if dt.kind == "f" or dt.kind == "c":
        return f"{dt.name} is wider than 64 bits per real number, and torch has no such dtype"
    if dt.kind in "mM":
        return "datetimes and timedeltas have no torch dtype; convert to integers (e.g. .astype('int64')) first"
    if dt.kind == "V" and dt.fields is None and dt.name in _TORCH_NAMES:
        return f"torch's {dt.name} has no kernels to compute with; cast the array to int8 or uint8 first"
    if dt.kind in "OUSV":
        return "only numeric and boolean arrays convert"
    return "torch has no such dtype"


def torch_of(dt: np.dtype[Any]) -> torch.dtype | None:
    """The torch dtype a NumPy array of dtype ``dt`` becomes, or ``None``.

    A dtype equal to a supported one maps like it whatever its character
    code or byte order (``np.dtype("Q")`` is ``uint64`` on Linux); the
    ``ml_dtypes`` types that JAX uses (``bfloat16``, ``float8_*``) map to
    torch's dtypes of the same name.
    """
    found = NUMPY_TO_TORCH.get(dt)
    if found is None:
        canonical = canonical_of(dt)
        if canonical is not None:
            found = NUMPY_TO_TORCH.get(canonical)
        elif dt.kind == "V" and dt.fields is None and dt.name in _TORCH_NAMES:
            named = _TORCH_NAMES[dt.name]
            if named.itemsize == dt.itemsize and named.is_floating_point:  # not int4: torch cannot compute on it
                found = named
    return found


def real_floating(dt: np.dtype[Any]) -> bool:
    """Whether a NumPy dtype is real floating, ``ml_dtypes``' ``bfloat16`` and ``float8_*`` included."""
    if dt.kind == "f":
        return True
    if dt.kind != "V":
        return False
    found = torch_of(dt)
    return found is not None and found.is_floating_point


def canonical_of(dt: np.dtype[Any]) -> np.dtype[Any] | None:
    """The native-order NumPy dtype equal to ``dt`` that ``torch.from_numpy`` accepts, if any."""
    if dt.kind not in "biufc":
        return None
    try:
        return np.dtype(f"{dt.kind}{dt.itemsize}")
    except TypeError:  # no such size (a 16-byte integer)
        return None


def torch_refusal(dt: torch.dtype) -> str | None:
    """Why a tensor of ``dt`` cannot reach NumPy, or ``None`` if it can."""
    if dt in TORCH_TO_NUMPY:
        return None
    if str(dt).startswith("torch.q"):
        return f"quantized tensors have no NumPy dtype; {_QUANTIZED_HINT}"
    return f"NumPy has no dtype {str(dt).removeprefix('torch.')}; {_SUBBYTE_HINT}"


def torch_dtype(x: DTypeLike) -> torch.dtype:
    """The torch dtype that an array of dtype ``x`` becomes under :func:`to_torch`.

    >>> torch_dtype("float32")
    torch.float32
    >>> torch_dtype(np.int16)
    torch.int16
    >>> torch_dtype(torch.bfloat16)
    torch.bfloat16

    Raises:
        ValueError: ``x`` names a dtype ``to_torch`` refuses (object,
            strings, datetimes, ...) or is an unknown or ambiguous name.
        TypeError: ``x`` is not a dtype at all.

    .. versionadded:: 0.1
    """
    dt = parse_dtype(x)
    if isinstance(dt, torch.dtype):
        return dt
    found = torch_of(dt)
    if found is None:
        raise ValueError(f"torch_dtype(): NumPy dtype {describe(dt)} does not convert to torch: {refusal(dt)}")
    return found


def numpy_dtype(x: DTypeLike) -> np.dtype[Any]:
    """The NumPy dtype that a tensor of dtype ``x`` becomes under :func:`to_numpy`.

    >>> numpy_dtype(torch.bfloat16)
    dtype('float32')
    >>> numpy_dtype("complex32")
    dtype('complex64')
    >>> numpy_dtype(">f8")
    dtype('float64')

    Raises:
        ValueError: ``x`` names a dtype the conversions refuse (quantized,
            sub-byte, object, strings, ...) or an unknown or ambiguous name.
        TypeError: ``x`` is not a dtype at all.

    .. versionadded:: 0.1
    """
    dt = parse_dtype(x)
    if isinstance(dt, np.dtype):
        found = torch_of(dt)
        if found is None:
            raise ValueError(f"numpy_dtype(): NumPy dtype {describe(dt)} is not supported: {refusal(dt)}")
        dt = found
    why = torch_refusal(dt)
    if why is not None:
        raise ValueError(f"numpy_dtype(): {why}")
    return TORCH_TO_NUMPY[dt]


def dtype_table() -> list[tuple[str, str, str]]:
    """Rows ``(torch dtype, NumPy dtype, note)`` for every torch dtype, from the live mapping."""
    rows = []
    for dt in sorted(set(_TORCH_NAMES.values()), key=str):
        name = str(dt).removeprefix("torch.")
        if dt in UPCASTS:
            rows.append((name, TORCH_TO_NUMPY[dt].name, f"upcast: NumPy has no {name}"))
        elif dt in TORCH_TO_NUMPY:
            rows.append((name, TORCH_TO_NUMPY[dt].name, "same dtype, zero copy"))
        else:
            rows.append((name, "-", "refused: " + (torch_refusal(dt) or "").split(";")[0]))
    return rows


skip_frames(__name__)
