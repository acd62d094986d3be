"""Walking nested containers and rebuilding them with their own types.

Knows nothing of NumPy or torch: a leaf is anything that is not one of the
containers below, and a caller-supplied function decides what becomes of it.

Containers: ``list``, ``tuple``, namedtuples, ``dict`` and other mappings,
and dataclass instances. They are rebuilt, never mutated; the same object
reached twice converts once (aliasing is kept); a container that holds
itself raises :class:`~toolkit.CycleError`. When a leaf fails, each
container the exception unwinds through adds its step to the error's path
(``[0]``, ``['a']``, ``.field``), so the success path keeps no path at all.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from ._errors import CycleError, push_key

__all__ = ["tree_map"]

Leaf = Callable[[Any], Any]

# What kind of container each type is, decided once per type.
# _ATOM: a leaf that is never memoised (Python scalars, strings: equal values
# may share one id, and they pass through our leaves anyway).
_LEAF, _LIST, _TUPLE, _NAMEDTUPLE, _DICT, _MAPPING, _DATACLASS, _ATOM = range(8)
_KINDS: dict[type, int] = {
    list: _LIST,
    tuple: _TUPLE,
    dict: _DICT,
    str: _ATOM,
    bytes: _ATOM,
    int: _ATOM,
    float: _ATOM,
    bool: _ATOM,
    complex: _ATOM,
    type(None): _ATOM,
}
_BUSY = object()  # marks a container whose conversion is under way


def _kind(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:
        if issubclass(cls, (str, bytes)):
            kind = _ATOM
        elif issubclass(cls, tuple):
            kind = _NAMEDTUPLE if hasattr(cls, "_fields") else _TUPLE
        elif issubclass(cls, list):
            kind = _LIST
        elif issubclass(cls, Mapping):
            kind = _MAPPING
        elif dataclasses.is_dataclass(cls):
            kind = _DATACLASS
        else:
            kind = _LEAF
        _KINDS[cls] = kind
    return kind


def tree_map(leaf: Leaf, obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """``obj`` with ``leaf`` applied to every leaf, containers rebuilt.

    >>> tree_map(lambda x: x * 2, {"a": [1, 2], "b": (3,)})
    {'a': [2, 4], 'b': (6,)}
    """
    kind = _KINDS.get(type(obj))
    if kind is None:
        kind = _kind(type(obj))
    if kind == _LEAF or kind == _ATOM:
        return leaf(obj)
    return _walk(leaf, obj, kind, {} if memo is None else memo)


def _walk(leaf: Leaf, obj: Any, kind: int, memo: dict[int, Any]) -> Any:
    """Rebuild one container; ``memo`` maps ``id`` of each input seen to its result."""
    key = id(obj)
    done = memo.get(key)
    if done is not None:
        if done is _BUSY:
            raise CycleError("the container holds itself (a reference cycle), so it cannot be converted")
        return done
    memo[key] = _BUSY
    kinds_get = _KINDS.get
    memo_get = memo.get
    if kind == _DICT or kind == _MAPPING:
        pairs = {}
        for k, v in obj.items():
            try:
                # _item, written out: this loop is the hot path of nested batches
                if kinds_get(type(v)) == _LEAF:
                    vid = id(v)
                    done = memo_get(vid)
                    if done is None:
                        done = memo[vid] = leaf(v)
                    pairs[k] = done
                else:
                    pairs[k] = _item(leaf, v, memo)
            except Exception as exc:
                push_key(exc, f"[{k!r}]")
                raise
        if type(obj) is dict:
            out: Any = pairs
        elif isinstance(obj, MutableMapping):
            out = copy.copy(obj)  # keeps the type, a defaultdict's factory, extra attributes
            for k, v in pairs.items():
                out[k] = v
        else:
            out = type(obj)(pairs)
    elif kind == _DATACLASS:  # a shallow copy with its fields set directly
        out = copy.copy(obj)
        for field in dataclasses.fields(obj):
            try:
                value = _item(leaf, getattr(obj, field.name), memo)
            except Exception as exc:
                push_key(exc, f".{field.name}")
                raise
            object.__setattr__(out, field.name, value)
    else:
        items: list[Any] = []
        append = items.append
        for i, item in enumerate(obj):
            try:
                if kinds_get(type(item)) == _LEAF:
                    vid = id(item)
                    done = memo_get(vid)
                    if done is None:
                        done = memo[vid] = leaf(item)
                    append(done)
                else:
                    append(_item(leaf, item, memo))
            except Exception as exc:
                push_key(exc, f".{obj._fields[i]}" if kind == _NAMEDTUPLE else f"[{i}]")
                raise
        if kind == _TUPLE:
            out = tuple(items) if type(obj) is tuple else type(obj)(items)
        elif kind == _NAMEDTUPLE:
            out = type(obj)._make(items)
        elif type(obj) is list:
            out = items
        else:
            out = copy.copy(obj)
            out[:] = items
    memo[key] = out
    return out


def _item(leaf: Leaf, obj: Any, memo: dict[int, Any]) -> Any:
    """Convert one member of a container, reusing the result of an object seen before."""
    kind = _KINDS.get(type(obj))
    if kind is None:
        kind = _kind(type(obj))
    if kind == _ATOM:
        return leaf(obj)
    if kind == _LEAF:
        key = id(obj)
        done = memo.get(key)
        if done is None:
            done = memo[key] = leaf(obj)
        return done
    return _walk(leaf, obj, kind, memo)
