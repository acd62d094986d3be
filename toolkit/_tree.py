"""Walking nested containers and rebuilding them as new objects.

Knows nothing of NumPy or torch: a leaf is anything that is not one of the
containers below, and a caller-supplied function decides what becomes of it.

Containers: ``list``, ``tuple``, tuples with ``_fields`` (namedtuples, and
SciPy's result objects, which have no ``_make``), ``collections.deque``
(keeping its ``maxlen``), ``dict`` and other mappings, dataclass instances,
and the kinds ``_containers`` describes as nodes (registered types,
``UserDict``/``UserList``, attrs classes, ``SimpleNamespace``, torch's
pytree registry). The rules:

* The caller's objects are never written to. A container is rebuilt as a
  new object from its converted items: a mapping or sequence by calling its
  type with them, checked to hold exactly those items, else a plain
  ``dict``, ``list`` or ``tuple``; a dataclass as a shallow copy whose
  fields are set directly.
* The same object reached twice converts once (aliasing is kept). The memo
  that remembers it keeps alive each source that nothing else holds for
  the walk (a value a lazy mapping made on access), so no object freed on
  the way can lend its ``id`` to another.
* A container that holds itself raises :class:`~toolkit.CycleError`.
* When a leaf fails, each container the exception unwinds through adds its
  step to the error's path (``[0]``, ``['a']``, ``.field``), so the success
  path keeps no path at all.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import inspect
import types
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ._containers import Node, builtin_node, on_change, pytree_node, registered_node
from ._dynamo import skip_frames
from ._errors import ConversionError, CycleError, push_key

__all__ = [
    "ATOM",
    "ATOMS",
    "KEEP",
    "LEAF",
    "Leaf",
    "PLAIN",
    "Memo",
    "convert_items",
    "kind_of",
    "leaves_with_paths",
    "members",
    "remake_mapping",
    "remake_sequence",
    "tree_map",
    "piece",
    "walk",
    "walk_values",
]

Leaf = Callable[[Any], Any]
# id(source) -> result, for one call. Sources that nothing else keeps alive
# for the call (the values a mapping other than dict hands out) are kept in
# the list under the key KEEP, so no other object can take their id.
Memo = dict[int, Any]
KEEP = -1

# What each type is, decided once per type. ATOM: passes through untouched
# and is never memoised (Python scalars and strings: equal values may share
# one id). The order matters: kinds from DICT on are mappings.
LEAF, ATOM, _LIST, _TUPLE, _FIELDS, _DATACLASS, _NODE, _DICT, _MAPPING = range(9)
_BUILTIN: dict[type, int] = {
    list: _LIST,
    tuple: _TUPLE,
    dict: _DICT,
    str: ATOM,
    bytes: ATOM,
    int: ATOM,
    float: ATOM,
    bool: ATOM,
    complex: ATOM,
    type(None): ATOM,
}
_KINDS = dict(_BUILTIN)
ATOMS = frozenset(cls for cls, kind in _BUILTIN.items() if kind == ATOM)  # exact types, for fast paths
PLAIN = frozenset((dict, list, tuple))  # the containers a plain batch is made of
_CACHE_LIMIT = 1024  # classes made at run time (namedtuples in a loop) must not pile up here
_BUSY = object()  # the result slot of a container whose conversion is under way
_WEAK = (weakref.WeakValueDictionary, weakref.WeakKeyDictionary)


_NODES: dict[type, Node] = {}  # the node of each type of kind _NODE


def kind_of(cls: type) -> int:
    """The kind of ``cls`` (``LEAF``, ``ATOM`` or a container kind), cached."""
    kind = _KINDS.get(cls)
    if kind is None:
        node = registered_node(cls)  # a registration wins over every rule below
        if node is not None:
            kind = _NODE
        elif issubclass(cls, (str, bytes)):
            kind = ATOM  # np.str_ and np.bytes_ too
        elif issubclass(cls, tuple):
            kind = _FIELDS if hasattr(cls, "_fields") else _TUPLE
        elif issubclass(cls, (list, collections.deque)):
            kind = _LIST
        elif (node := builtin_node(cls)) is not None:  # UserDict and UserList before Mapping
            kind = _NODE
        elif issubclass(cls, Mapping):
            kind = _MAPPING
        elif dataclasses.is_dataclass(cls):
            kind = _DATACLASS
        elif (node := pytree_node(cls)) is not None:  # torch's registry: for types no rule here takes
            kind = _NODE
        else:
            kind = LEAF
        if len(_KINDS) >= _CACHE_LIMIT:
            _forget_kinds()
        if node is not None:
            _NODES[cls] = node
        _KINDS[cls] = kind
    return kind


def _forget_kinds() -> None:
    _KINDS.clear()
    _KINDS.update(_BUILTIN)
    _NODES.clear()


on_change.append(_forget_kinds)


def tree_map(leaf: Leaf, obj: Any) -> Any:
    """``obj`` with ``leaf`` applied to every leaf, containers rebuilt.

    >>> tree_map(len, {"a": [[1, 2], "text"], "b": ({3},)})   # strings and scalars pass through
    {'a': [[1, 2], 'text'], 'b': (1,)}
    """
    return walk(leaf, obj, {})


def walk(leaf: Leaf, obj: Any, memo: Memo) -> Any:
    """``obj`` converted, sharing ``memo`` with the rest of one call's values."""
    kind = _KINDS.get(type(obj))
    if kind is None:
        kind = kind_of(type(obj))
    if kind == ATOM:
        return obj
    key = id(obj)
    seen = memo.get(key)
    if seen is not None:
        if seen is _BUSY:
            raise CycleError("the container holds itself (a reference cycle), so it cannot be converted")
        return seen
    if kind == LEAF:
        out = leaf(obj)
    else:
        memo[key] = _BUSY
        if kind == _DATACLASS:
            out = _dataclass(leaf, obj, memo)
        elif kind == _NODE:
            out = _node(leaf, obj, memo)
        else:
            out = _container(leaf, obj, kind, memo)
    memo[key] = out
    return out


def convert_items(
    leaf: Leaf,
    items: Iterable[tuple[Any, Any]],
    memo: Memo,
    on_error: Callable[[Exception, Any], None],
    keep: bool = False,
) -> dict[Any, Any]:
    """``{key: converted value}`` for ``(key, value)`` pairs; ``on_error(exc, key)`` hears of a failure.

    ``keep``: the values may live only as long as this loop holds them (a
    lazy mapping's), so the memo keeps them alive.
    """
    kinds_get = _KINDS.get
    memo_get = memo.get
    kept = memo.setdefault(KEEP, []) if keep else None
    pairs: dict[Any, Any] = {}
    for k, v in items:
        try:
            # walk(), written out for leaves: this loop is the hot path of calls and nested batches
            vkind = kinds_get(type(v))
            if vkind == LEAF:
                key = id(v)
                out = memo_get(key)
                if out is None:
                    out = memo[key] = leaf(v)
                    if kept is not None:
                        kept.append(v)
            elif vkind == ATOM:
                out = v
            else:
                if kept is not None:
                    kept.append(v)
                out = walk(leaf, v, memo)
        except Exception as exc:
            on_error(exc, k)
            raise
        pairs[k] = out
    return pairs


def walk_values(
    leaf: Leaf, values: tuple[Any, ...], memo: Memo, on_error: Callable[[Exception, Any], None]
) -> list[Any]:
    """A call's positional arguments converted, as ``walk`` would, sharing ``memo``.

    Bare leaves (the common case) skip the memo when no object repeats among
    the values; the first container hands the rest to :func:`convert_items`
    with the memo told what was converted so far.
    """
    count = len(values)
    if count == 1:  # one container, say a batch
        try:
            return [walk(leaf, values[0], memo)]
        except Exception as exc:
            on_error(exc, 0)
            raise
    if count == 2:
        repeats = values[0] is values[1]
    elif count == 3:
        first, second, third = values
        repeats = first is second or first is third or second is third
    else:
        repeats = count > 3 and len(set(map(id, values))) < count
    if repeats:
        return list(convert_items(leaf, enumerate(values), memo, on_error).values())
    kinds_get = _KINDS.get
    out: list[Any] = []
    index = 0
    try:
        for value in values:
            kind = kinds_get(type(value))
            if kind == LEAF:
                out.append(leaf(value))
            elif kind == ATOM:
                out.append(value)
            else:
                break
            index += 1
        else:
            return out
    except Exception as exc:
        on_error(exc, index)
        raise
    for value, done in zip(values, out):
        if kinds_get(type(value)) == LEAF:
            memo[id(value)] = done
    return out + list(convert_items(leaf, enumerate(values[index:], index), memo, on_error).values())


def _container(leaf: Leaf, obj: Any, kind: int, memo: Memo) -> Any:
    """A sequence or mapping rebuilt from its converted items."""

    def at(exc: Exception, key: Any) -> None:
        push_key(exc, piece(obj, kind, key))

    if kind >= _DICT:
        pairs = convert_items(leaf, obj.items(), memo, at, keep=kind == _MAPPING)
        return pairs if kind == _DICT else remake_mapping(obj, pairs)
    items = list(convert_items(leaf, enumerate(obj), memo, at).values())
    if kind == _FIELDS:
        return _new_fields(leaf, obj, items, memo)
    return remake_sequence(obj, items)


def _node(leaf: Leaf, obj: Any, memo: Memo) -> Any:
    """A registered container (or a pytree node, a ``UserDict``...) taken apart and built again."""
    node = _NODES.get(type(obj)) or _node_of(type(obj))
    try:
        members, context = node.flatten(obj)
    except Exception as exc:
        raise ConversionError(f"cannot take the {node.name} apart: {type(exc).__name__}: {exc}") from exc
    kept = memo.setdefault(KEEP, [])
    values = []
    for key, value in members:
        kept.append(value)  # a member may be made afresh on each access
        try:
            values.append(walk(leaf, value, memo))
        except Exception as exc:
            push_key(exc, node.piece(key))
            raise
    try:
        return node.unflatten(obj, context, values)
    except Exception as exc:
        raise ConversionError(f"cannot rebuild the {node.name}: {type(exc).__name__}: {exc}") from exc


def _node_of(cls: type) -> Node:
    """The node of ``cls`` where the cache was emptied since its kind was read (another thread)."""
    _KINDS.pop(cls, None)
    kind_of(cls)  # decide again
    return _NODES[cls]


def remake_sequence(obj: Any, items: list[Any]) -> Any:
    """A list or tuple like ``obj`` (its own type where that holds ``items``) with ``items``."""
    cls = type(obj)
    if cls is list:
        return items
    if cls is tuple:
        return tuple(items)
    make = getattr(cls, "_make", None)
    if make is not None:
        return make(items)
    if isinstance(obj, collections.deque):  # keeps its maxlen
        try:
            new = cls(items, obj.maxlen)
            if _holds(new, items):
                return new
        except Exception:
            pass
        return collections.deque(items, obj.maxlen)
    return _new_sequence(obj, items, list if isinstance(obj, list) else tuple)


def _holds(new: Any, items: list[Any]) -> bool:
    return len(new) == len(items) and all(a is b for a, b in zip(new, items))


def _new_sequence(obj: Any, items: list[Any], plain: type) -> Any:
    """``type(obj)(items)`` where that holds exactly ``items``, else a plain list or tuple."""
    try:
        new = type(obj)(items)
        if _holds(new, items):
            return new
    except Exception:
        pass
    return plain(items)


def _new_fields(leaf: Leaf, obj: Any, items: list[Any], memo: Memo) -> Any:
    """A namedtuple, or a tuple with ``_fields`` but no ``_make`` (SciPy's results).

    The latter is built as ``_make`` builds namedtuples (``tuple.__new__``),
    and its instance attributes are carried over, with its public extra
    fields (SciPy's ``_extra_fields``, such as ``df``) converted too.
    """
    cls = type(obj)
    make = getattr(cls, "_make", None)
    if make is not None:
        return make(items)
    new = tuple.__new__(cls, items)
    state = getattr(obj, "__dict__", None)
    if state:
        new.__dict__.update(state)
        for name in getattr(cls, "_extra_fields", ()):
            if name in state:
                try:
                    new.__dict__[name] = walk(leaf, state[name], memo)
                except Exception as exc:
                    push_key(exc, f".{name}")
                    raise
    return new


def remake_mapping(obj: Any, pairs: dict[Any, Any]) -> Any:
    """The mapping's own type called with the converted items, where it then holds them.

    Otherwise (a ``shelve.Shelf``, ``np.load``'s ``NpzFile``, a weak
    mapping, a type whose constructor takes other arguments) a plain dict.
    """
    if isinstance(obj, _WEAK):  # would drop the new values as soon as the caller lets go
        return pairs
    cls: Any = type(obj)
    calls: list[Callable[[], Any]] = []
    if isinstance(obj, collections.defaultdict):
        calls.append(lambda: cls(obj.default_factory, pairs))
    else:
        calls.append(lambda: cls(pairs))
        if all(type(k) is str for k in pairs):
            calls.append(lambda: cls(**pairs))  # scikit-learn's Bunch and other keyword-built mappings
    for build in calls:
        try:
            new = build()
            if len(new) == len(pairs) and all(new[k] is v for k, v in pairs.items()):
                return new
        except Exception:
            pass
    return pairs


def _dataclass(leaf: Leaf, obj: Any, memo: Memo) -> Any:
    """A shallow copy with its fields set directly: ``__init__`` and ``__post_init__`` do not run."""
    values = {}
    kept = memo.setdefault(KEEP, [])
    for name, value in _members(obj, _DATACLASS):
        kept.append(value)  # a field may be a property that computes a new value each time
        try:
            values[name] = walk(leaf, value, memo)
        except Exception as exc:
            push_key(exc, f".{name}")
            raise
    new = copy.copy(obj)
    state = getattr(new, "__dict__", None)
    if state is not None:
        for name in _cached_properties(type(obj)):  # type: ignore[arg-type]
            state.pop(name, None)  # computed from the old fields
    properties = _property_fields(type(obj))  # type: ignore[arg-type]
    for name, value in values.items():
        if name not in properties:
            object.__setattr__(new, name, value)
    for name in properties:  # never set (that would run the caller's setter): it must read back converted
        if name in values and values[name] is not getattr(new, name, None):
            error = ConversionError(
                f"cannot rebuild the {type(obj).__name__}: its field {name!r} is a property, which is never "
                "set (that would run its setter), and reading it back does not give the converted value; "
                "let the property read a field that holds the data"
            )
            push_key(error, f".{name}")
            raise error
    return new


@functools.lru_cache(maxsize=256)
def _property_fields(cls: type) -> frozenset[str]:
    """The fields of a dataclass that its class defines as a property (or another computed attribute)."""
    found = set()
    for field in dataclasses.fields(cls):
        attr = inspect.getattr_static(cls, field.name, None)
        if hasattr(type(attr), "__set__") and not isinstance(attr, types.MemberDescriptorType):
            found.add(field.name)  # slots are member descriptors: set directly, as fields are
    return frozenset(found)


@functools.lru_cache(maxsize=256)
def _cached_properties(cls: type) -> tuple[str, ...]:
    return tuple(
        name for klass in cls.__mro__ for name, v in vars(klass).items() if isinstance(v, functools.cached_property)
    )


def _members(obj: Any, kind: int) -> Iterator[tuple[Any, Any]]:
    """``(key, value)`` for each member of a container of ``kind``."""
    if kind >= _DICT:
        yield from obj.items()
    elif kind == _NODE:
        node = _NODES.get(type(obj)) or _node_of(type(obj))
        yield from node.flatten(obj)[0]
    elif kind == _DATACLASS:
        for field in dataclasses.fields(obj):
            try:
                yield field.name, getattr(obj, field.name)
            except AttributeError:  # an init=False field never set: it stays unset
                pass
    else:
        yield from enumerate(obj)
        if kind == _FIELDS:
            state = getattr(obj, "__dict__", None) or {}
            for name in getattr(type(obj), "_extra_fields", ()):
                if name in state:
                    yield name, state[name]


members = _members


def piece(obj: Any, kind: int, key: Any) -> str:
    """How a path names one step: ``['a']`` in a mapping, ``[0]``, ``.field``."""
    if kind >= _DICT:
        return f"[{_key_repr(key)}]"
    if kind == _NODE:
        return (_NODES.get(type(obj)) or _node_of(type(obj))).piece(key)
    if kind == _DATACLASS or isinstance(key, str):
        return f".{key}"
    fields = getattr(type(obj), "_fields", ()) if kind == _FIELDS else ()
    return f".{fields[key]}" if key < len(fields) else f"[{key}]"


def _key_repr(key: Any) -> str:
    """``repr(key)``, or a stand-in naming its type where the key's own ``__repr__`` fails."""
    try:
        return repr(key)
    except Exception:
        return f"<{type(key).__name__} key whose repr() raised>"


def leaves_with_paths(obj: Any, path: str = "", _inside: frozenset[int] = frozenset()) -> Iterator[tuple[str, Any]]:
    """``(path, leaf)`` for every leaf of a tree (for the trace, the mirror rule, the gradient warning).

    A container that holds itself (one ``skip=`` left as it was) is not entered again, and one a
    registered ``flatten`` cannot take apart (it may expect the unconverted values) is passed by.
    """
    kind = kind_of(type(obj))
    if kind == LEAF:
        yield path, obj
    elif kind != ATOM and id(obj) not in _inside:
        try:
            found = list(_members(obj, kind))
        except Exception:
            return
        inside = _inside | {id(obj)}
        for key, value in found:
            yield from leaves_with_paths(value, path + piece(obj, kind, key), inside)


skip_frames(__name__)
