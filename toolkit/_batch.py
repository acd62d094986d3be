"""Plain batches, fast: ``dict``, ``list`` and ``tuple`` of NumPy arrays, tensors and scalars.

This is the common argument of a training step or a metric, and what
``_tree.walk`` pays most for: a memo lookup and a leaf call per array. Here

* no memo: every object met is noted, and one check at the end finds any
  object met twice (aliasing, or a container that holds itself), in which
  case the batch is converted again by ``walk``, memo and all;
* arrays and tensors are the only leaves, and converting them runs no code
  of the caller's (no ``__array__``, no property), so converting one again
  repeats nothing; anything else (another container type, another leaf
  type) hands the whole batch to ``walk`` at once;
* for the default conversions the common leaf takes the rules' fast case
  (``fast_torch``, ``fast_numpy``) without the leaf function's call;
  everything else goes through the leaf function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import _shortcuts
from ._dynamo import skip_frames
from ._errors import push_key
from ._into_numpy import fast_numpy
from ._into_torch import fast_torch
from ._tree import ATOMS, PLAIN, Leaf, kind_of, piece, walk

__all__ = ["TO_NUMPY", "TO_TORCH", "walk_batch"]

TO_TORCH, TO_NUMPY = "torch", "numpy"  # the default conversions, written out below

_ndarray = np.ndarray
_Tensor = torch.Tensor


class _Other(Exception):
    """Met something only ``walk`` handles."""


def walk_batch(leaf: Leaf, obj: Any, written: str | None = None) -> Any:
    """``walk(leaf, obj, {})``, faster for a plain batch.

    ``written``: :data:`TO_TORCH` when ``leaf`` is the default conversion to
    torch, :data:`TO_NUMPY` when it is the default conversion to NumPy (a
    tensor's ``.numpy()`` where that works), so the common leaf is converted
    written out; ``None`` calls ``leaf`` for every array and tensor.
    """
    if type(obj) not in PLAIN or not _shortcuts.ON:
        return walk(leaf, obj, {})
    seen: list[Any] = []
    try:
        out = _batch(leaf, obj, written, seen)
    except (_Other, RecursionError):  # RecursionError: a container that holds itself
        return walk(leaf, obj, {})
    if len(set(map(id, seen))) < len(seen):  # an object met twice: the memo makes both places one
        return walk(leaf, obj, {})
    return out


def _batch(leaf: Leaf, obj: Any, written: str | None, seen: list[Any]) -> Any:
    seen.append(obj)
    outs: list[Any] = []
    append = outs.append
    mapping = type(obj) is dict
    for k, v in obj.items() if mapping else enumerate(obj):
        kind = type(v)
        try:
            if kind is _ndarray:
                seen.append(v)
                if written is TO_TORCH:
                    out = fast_torch(v)
                    v = leaf(v) if out is None else out
                elif written is not TO_NUMPY:
                    v = leaf(v)
            elif kind is _Tensor:
                seen.append(v)
                if written is TO_NUMPY:
                    out = fast_numpy(v)
                    v = leaf(v) if out is None else out
                elif written is not TO_TORCH:
                    v = leaf(v)
            elif kind in PLAIN:
                v = _batch(leaf, v, written, seen)
            elif kind not in ATOMS:
                raise _Other
        except (_Other, RecursionError):
            raise
        except Exception as exc:
            push_key(exc, piece(obj, kind_of(type(obj)), k))
            raise
        append(v)
    if mapping:
        return dict(zip(obj, outs))  # a plain dict: iterating it again runs no code
    return outs if type(obj) is list else tuple(outs)


skip_frames(__name__)
