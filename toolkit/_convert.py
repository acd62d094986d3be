"""The two public conversion functions: options checked, containers walked, errors given a path."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._batch import TO_NUMPY, TO_TORCH, walk_batch
from ._defaults import DeviceLike, parse_torch_options, torch_target
from ._dtypes import DTypeLike, numpy_dtype, real_floating
from ._dynamo import skip_frames
from ._errors import ConversionError, with_path
from ._into_numpy import numpy_leaf, plain_numpy
from ._into_torch import plain_torch, torch_leaf
from ._libraries import Library, float_of, is_other_array, library_leaf
from ._trace import recorder
from ._tree import walk

__all__ = ["to_like", "to_numpy", "to_torch"]


def _check_copy(copy: object, where: str) -> None:
    if copy is not None and copy is not True and copy is not False:
        raise TypeError(f"{where}: copy must be None, True or False, got {copy!r}")


def _convert(leaf: Any, data: Any, function: str, copy: bool | None) -> Any:
    """Walk ``data`` with ``leaf``, noting each conversion where a trace is active."""
    rec = recorder(function, copy)
    try:
        if rec is None:
            written = TO_TORCH if leaf is plain_torch else TO_NUMPY if leaf is plain_numpy else None
            return walk_batch(leaf, data, written)
        out = walk(rec.wrap(leaf), data, {})
    except Exception as exc:
        raise with_path(exc, f"{function} argument 'data'") from exc
    rec.file(out, "argument 'data'")
    return out


def to_torch(
    data: Any,
    *,
    device: DeviceLike | None = None,
    dtype: DTypeLike | None = None,
    float_dtype: DTypeLike | None = None,
    copy: bool | None = None,
) -> Any:
    """``data`` with every array leaf turned into a ``torch.Tensor``.

    Containers (lists, tuples, namedtuples, dicts and other mappings,
    dataclasses) are rebuilt as new objects of their own types; Python
    scalars, strings and other objects pass through. The caller's objects
    are never written to.

    Args:
        data: an array, tensor, NumPy scalar, array-like, or a container of them.
        device: where NumPy data lands; ``None`` means :func:`get_default_device`.
            Tensors move only when a device is asked for, here or by a
            :class:`default_device` context.
        dtype: cast every array leaf to this dtype.
        float_dtype: cast only real floating leaves; ``None`` means
            :func:`get_default_float_dtype`. Not together with ``dtype``.
        copy: ``None`` copies only where needed, ``True`` always returns new
            memory, ``False`` raises :class:`CopyError` where a copy is needed.

    Returns:
        ``data`` with tensors in place of arrays.

    Raises:
        ConversionError: a leaf has no torch dtype (object, strings,
            datetimes, structured, wide longdouble, masked arrays).
        CopyError: ``copy=False`` and a copy cannot be avoided.
        CycleError: a container holds itself.

    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> t = to_torch(a)
    >>> t
    tensor([0., 1., 2.], dtype=torch.float64)
    >>> t[0] = 7.0; a[0]   # the same memory
    np.float64(7.0)
    >>> to_torch({"x": a, "n": 3}, dtype="float32")
    {'x': tensor([7., 1., 2.]), 'n': 3}

    .. versionadded:: 0.1
    """
    _check_copy(copy, "to_torch()")
    dev, dt, fdt = parse_torch_options(device, dtype, float_dtype, "to_torch()")
    target, move, float_target = torch_target(dev, None, fdt)
    leaf = torch_leaf(target, move, dt, None if dt is not None else float_target, copy)
    return _convert(leaf, data, "to_torch()", copy)


def to_numpy(data: Any, *, dtype: DTypeLike | None = None, copy: bool | None = None) -> Any:
    """``data`` with every array leaf turned into a NumPy array.

    Tensors are detached, their conjugate and negative bits resolved, and
    brought to the CPU; a CPU tensor with a NumPy dtype shares its memory.
    0-d tensors become NumPy scalars. ``bfloat16`` and ``float8_*`` become
    ``float32``, ``complex32`` becomes ``complex64``, sparse becomes dense.
    NumPy arrays pass through unless ``dtype`` or ``copy=True`` is given.

    Args:
        data: a tensor, array, array-like, or a container of them.
        dtype: cast every array leaf to this dtype.
        copy: ``None`` copies only where needed, ``True`` always returns new
            memory, ``False`` raises :class:`CopyError` where a copy is needed.

    Raises:
        ConversionError: a quantized, meta or nested tensor, or a dtype NumPy
            lacks (sub-byte and bit types).
        CopyError: ``copy=False`` and a copy cannot be avoided.
        CycleError: a container holds itself.

    >>> import torch
    >>> x = torch.ones(2, requires_grad=True)
    >>> to_numpy({"pred": x * 2, "loss": x.sum()})
    {'pred': array([2., 2.], dtype=float32), 'loss': np.float32(2.0)}
    >>> to_numpy(torch.ones(2, dtype=torch.bfloat16))
    array([1., 1.], dtype=float32)

    .. versionadded:: 0.1
    """
    _check_copy(copy, "to_numpy()")
    try:
        dt = numpy_dtype(dtype) if dtype is not None else None
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"to_numpy(): {exc}") from exc
    return _convert(numpy_leaf(dt, None, copy), data, "to_numpy()", copy)


def to_like(data: Any, like: Any) -> Any:
    """``data`` with every array leaf in the kind, device and floating dtype of ``like``.

    ``like`` a tensor: leaves become tensors on its device, real floating ones
    in its dtype where it is floating. ``like`` a NumPy array or scalar: leaves
    become NumPy, real floating ones in its dtype where it is floating.
    ``like`` another library's array (JAX, CuPy, array-api-strict: anything
    with ``__dlpack__`` and ``__array_namespace__``): leaves become that
    library's arrays on its device, through its ``from_dlpack``.
    Integer, boolean and complex leaves keep their dtype; the copy rules are
    those of :func:`to_torch` and :func:`to_numpy` (nothing is copied that
    already matches).

    Raises:
        TypeError: ``like`` is neither a tensor nor a NumPy array or scalar
            (other array libraries as ``like`` are not supported yet).

    >>> import numpy as np, torch
    >>> reference = torch.zeros(2, dtype=torch.float16)
    >>> to_like({"x": np.ones(2), "n": np.arange(2)}, reference)
    {'x': tensor([1., 1.], dtype=torch.float16), 'n': tensor([0, 1])}
    >>> to_like(torch.ones(2), np.zeros(1, dtype=np.float32))
    array([1., 1.], dtype=float32)

    .. versionadded:: 0.3
    """
    if isinstance(like, torch.Tensor):
        float_dtype = like.dtype if like.dtype.is_floating_point else None
        return _convert(torch_leaf(like.device, True, None, float_dtype, None), data, "to_like()", None)
    if isinstance(like, (np.ndarray, np.generic)) and not isinstance(like, (str, bytes)):
        dtype = like.dtype
        floating = dtype.newbyteorder("=") if real_floating(dtype) else None
        return _convert(numpy_leaf(None, floating, None), data, "to_like()", None)
    if is_other_array(like):
        try:
            library = Library.of(like)
        except ConversionError as exc:
            raise ConversionError(f"to_like() argument 'like': {exc}") from exc
        return _convert(library_leaf(library, float_of(like)), data, "to_like()", None)
    raise TypeError(
        f"to_like(): like must be an array (a torch tensor, a NumPy array or scalar, or another library's array "
        f"with __dlpack__ and __array_namespace__), got {type(like).__module__}.{type(like).__qualname__}"
    )


skip_frames(__name__)
