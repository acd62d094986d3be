"""Containers that are taken apart by a rule of their own: registered types, torch's pytree, and more.

The walker (``_tree``) knows sequences, mappings and dataclasses itself.
Every other container kind is a :class:`Node`: how to list an object's
``(key, value)`` members with a context, and how to build a new object from
the context and converted values. A ``str`` key prints as ``.key`` in
paths, any other key as ``[key]``.

Where a type's node comes from, first found wins:

1. :func:`register_container` (that exact class);
2. the built-in kinds kept here: ``collections.UserDict`` and ``UserList``
   and their subclasses (a shallow copy of the object whose ``.data`` holds
   the converted items, so the rest of its state stays: a transformers
   ``BatchEncoding`` keeps its tokenizer encodings), attrs classes (as
   dataclasses: a shallow copy with the fields set directly),
   ``types.SimpleNamespace``;
3. torch's pytree registry (``torch.utils._pytree``, as transformers
   registers ``ModelOutput``), read through its flatten-with-keys
   functions, and simply not consulted where that private module or its
   table is missing.

The walker asks once per type, in its own order of rules (registered
types first, pytree last), and caches the answer (bounded);
:func:`register_container` empties that cache (:data:`on_change`).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, overload

import numpy as np
import torch

from ._dynamo import skip_frames
from ._errors import ConversionError

__all__ = ["Node", "builtin_node", "on_change", "pytree_node", "register_container", "registered_node"]

T = TypeVar("T", bound=type)
Items = list[tuple[Any, Any]]
Flatten = Callable[[Any], tuple[Sequence[tuple[Any, Any]], Any]]  # obj -> ([(key, value), ...], context)
Unflatten = Callable[[Any, list[Any]], Any]  # (context, values) -> new object


class Node:
    """How one container type is taken apart and built again."""

    __slots__ = ("flatten", "mapping", "name", "unflatten", "written")

    def __init__(
        self,
        name: str,
        flatten: Callable[[Any], tuple[Items, Any]],
        unflatten: Callable[[Any, Any, list[Any]], Any],
        mapping: bool = False,
        written: Callable[[Any], str] | None = None,
    ) -> None:
        self.name = name
        self.flatten = flatten  #: obj -> ([(key, value), ...], context)
        self.unflatten = unflatten  #: (obj, context, values) -> new object
        self.mapping = mapping  #: keys print as ``['key']``, as a dict's do
        self.written = written  #: how a key prints, where the node says it itself (pytree's key entries)

    def piece(self, key: Any) -> str:
        """How a path names one member: ``.key`` for a string key, ``[key]`` for any other."""
        if self.written is not None:
            return self.written(key)
        if isinstance(key, str) and not self.mapping:
            return f".{key}"
        try:
            return f"[{key!r}]"
        except Exception:
            return f"[<{type(key).__name__} key whose repr() raised>]"


_registered: dict[type, Node] = {}
#: called after every registration: the walker's cache of kinds forgets what it decided
on_change: list[Callable[[], None]] = []


_OWN = (list, tuple, dict, int, float, complex, bool, type(None), set, frozenset)


def _refused(cls: type) -> str | None:
    if issubclass(cls, (str, bytes)):
        return "strings are leaves"
    if cls in _OWN:
        return "the rules for Python's own types stay (register a subclass of your own instead)"
    if issubclass(cls, (np.ndarray, np.generic, torch.Tensor)):
        return "arrays and tensors are leaves: they are what is converted"
    return None


def _by_fields(cls: type, fields: tuple[str, ...]) -> Node:
    def flatten(obj: Any) -> tuple[Items, Any]:
        items = []
        for name in fields:
            try:
                items.append((name, getattr(obj, name)))
            except AttributeError:  # never set: it stays unset
                pass
        return items, [name for name, _ in items]

    def unflatten(obj: Any, names: list[str], values: list[Any]) -> Any:
        return _copy_with(obj, zip(names, values))

    return Node(cls.__qualname__, flatten, unflatten)


def _copy_with(obj: Any, pairs: Iterable[tuple[str, Any]], new: Any = None) -> Any:
    """A shallow copy of ``obj`` with these attributes set directly (frozen and slotted classes too).

    A property (or another computed attribute) is never set: its setter could write into state the
    copy shares with the caller's object. It must read back the converted value, else the
    conversion raises, as for dataclasses.
    """
    if new is None:
        new = copy.copy(obj)
    if new is obj:
        raise ConversionError(f"cannot rebuild the {type(obj).__name__}: copy.copy() gives the object itself")
    cls: type = type(obj)
    for name, value in pairs:
        if _computed(cls, name):
            if getattr(new, name, None) is not value:
                raise ConversionError(
                    f"cannot rebuild the {cls.__name__}: its attribute {name!r} is a property, which is "
                    "never set (its setter could write into the caller's object); let it read an "
                    "attribute that holds the data, and register that one"
                )
            continue
        object.__setattr__(new, name, value)
    return new


@functools.lru_cache(maxsize=1024)
def _computed(cls: type, name: str) -> bool:
    """Whether ``cls`` makes ``name`` a property (or another computed attribute); slots are not."""
    attr = inspect.getattr_static(cls, name, None)
    return hasattr(type(attr), "__set__") and not isinstance(attr, types.MemberDescriptorType)


def _by_functions(cls: type, flatten: Callable[[Any], Any], unflatten: Callable[[Any, list[Any]], Any]) -> Node:
    def items_of(obj: Any) -> tuple[Items, Any]:
        items, context = flatten(obj)
        pairs = list(items)
        for item in pairs:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ConversionError(
                    f"the flatten of {cls.__qualname__} must give (key, value) pairs, and gave {item!r}"
                )
        return pairs, context

    def build(obj: Any, context: Any, values: list[Any]) -> Any:
        return unflatten(context, values)

    return Node(cls.__qualname__, items_of, build)


@overload
def register_container(cls: T, *, fields: Sequence[str]) -> T: ...
@overload
def register_container(
    cls: T,
    *,
    flatten: Callable[[Any], tuple[Sequence[tuple[Any, Any]], Any]],
    unflatten: Callable[[Any, list[Any]], Any],
) -> T: ...
@overload
def register_container(*, fields: Sequence[str]) -> Callable[[T], T]: ...
@overload
def register_container(
    *, flatten: Callable[[Any], tuple[Sequence[tuple[Any, Any]], Any]], unflatten: Callable[[Any, list[Any]], Any]
) -> Callable[[T], T]: ...
def register_container(
    cls: Any = None,
    *,
    flatten: Callable[[Any], Any] | None = None,
    unflatten: Callable[[Any, list[Any]], Any] | None = None,
    fields: Sequence[str] | None = None,
) -> Any:
    """Teach every conversion (functions, decorators, ``trace()``, errors) to walk a container type.

    Either ``fields=("images", "labels")``, the attributes that hold values
    (the object is rebuilt as a shallow copy with them set to the converted
    values, as for dataclasses), or ``flatten(obj) -> (items, context)``
    with ``items`` a list of ``(key, value)`` pairs and
    ``unflatten(context, values) -> new object``. A ``str`` key prints as
    ``.key`` in paths, any other as ``[key]``. The registration is for that
    exact class, and wins over every built-in rule and over torch's pytree
    registry. Also a class decorator.

    >>> import numpy as np
    >>> from toolkit import register_container, to_torch
    >>> @register_container(fields=("images", "labels"))
    ... class Batch:
    ...     def __init__(self, images, labels):
    ...         self.images, self.labels = images, labels
    >>> to_torch(Batch(np.zeros(2), np.ones(2))).images
    tensor([0., 0.], dtype=torch.float64)

    Raises:
        TypeError: ``str``, ``bytes``, an array or tensor type, or not a class;
            neither or both of ``fields=`` and ``flatten=``/``unflatten=``.

    .. versionadded:: 0.3
    """
    if cls is None:
        return lambda klass: _register(klass, flatten, unflatten, fields)
    return _register(cls, flatten, unflatten, fields)


def _register(
    cls: Any,
    flatten: Callable[[Any], Any] | None,
    unflatten: Callable[[Any, list[Any]], Any] | None,
    fields: Sequence[str] | None,
) -> Any:
    if not isinstance(cls, type):
        raise TypeError(f"register_container() takes a class, got {cls!r}")
    why = _refused(cls)
    if why is not None:
        raise TypeError(f"register_container() cannot register {cls.__qualname__}: {why}")
    if fields is not None:
        if flatten is not None or unflatten is not None:
            raise TypeError("register_container() takes fields= or flatten= and unflatten=, not both")
        names = (fields,) if isinstance(fields, str) else tuple(fields)
        if not all(isinstance(n, str) for n in names):
            raise TypeError(f"register_container(): fields= takes attribute names (strings), got {fields!r}")
        node = _by_fields(cls, names)
    elif flatten is not None and unflatten is not None:
        if not (callable(flatten) and callable(unflatten)):
            raise TypeError("register_container(): flatten= and unflatten= must be callables")
        node = _by_functions(cls, flatten, unflatten)
    else:
        raise TypeError("register_container() needs fields=, or both flatten= and unflatten=")
    _registered[cls] = node
    for forget in on_change:
        forget()
    return cls


# -- built-in kinds ---------------------------------------------------------------------------


def _user_data(kind: str) -> Node:
    """``UserDict`` / ``UserList``: the members of ``.data``; a shallow copy with new ``.data``."""

    def flatten(obj: Any) -> tuple[Items, Any]:
        data = obj.data
        return (list(data.items()) if kind == "dict" else list(enumerate(data))), None

    def unflatten(obj: Any, context: Any, values: list[Any]) -> Any:
        data = dict(zip(obj.data, values)) if kind == "dict" else values
        return _copy_with(obj, [("data", data)])

    return Node(f"User{kind.capitalize()}", flatten, unflatten, mapping=kind == "dict")


def _attrs_node(cls: type) -> Node:
    names = tuple(a.name for a in cls.__attrs_attrs__)  # type: ignore[attr-defined]
    return _by_fields(cls, names)


def _namespace_flatten(obj: Any) -> tuple[Items, Any]:
    return list(vars(obj).items()), None


def _namespace_unflatten(obj: Any, context: Any, values: list[Any]) -> Any:
    cls: Any = type(obj)
    new = cls.__new__(cls)  # a subclass's __init__ may want arguments: it does not run
    new.__dict__.update(vars(obj))
    return _copy_with(obj, zip(vars(obj), values), new)


_NAMESPACE = Node("SimpleNamespace", _namespace_flatten, _namespace_unflatten)
_USER_DICT = _user_data("dict")
_USER_LIST = _user_data("list")


# -- torch's pytree registry --------------------------------------------------------------------


def _pytree_table() -> dict[type, Any]:
    try:
        from torch.utils import _pytree
    except ImportError:  # pragma: no cover - a torch without it: not consulted
        return {}
    table = getattr(_pytree, "SUPPORTED_NODES", None)
    return table if isinstance(table, dict) else {}


def _written(entry: Any) -> str:
    """A pytree key entry in a path: ``.name`` (GetAttrKey), ``['key']`` (MappingKey), ``[0]`` (SequenceKey)."""
    if hasattr(entry, "name"):
        return f".{entry.name}"
    for attr in ("key", "idx"):
        if hasattr(entry, attr):
            return f"[{getattr(entry, attr)!r}]"
    return f"[{entry!r}]"


def _pytree_node(cls: type, spec: Any) -> Node | None:
    with_keys = getattr(spec, "flatten_with_keys_fn", None)
    plain = getattr(spec, "flatten_fn", None)
    rebuild = getattr(spec, "unflatten_fn", None)
    if rebuild is None or (with_keys is None and plain is None):
        return None

    def flatten(obj: Any) -> tuple[Items, Any]:
        if with_keys is not None:
            pairs, context = with_keys(obj)
            return list(pairs), context
        assert plain is not None
        values, context = plain(obj)
        return [(f"[{i}]", value) for i, value in enumerate(values)], context

    def unflatten(obj: Any, context: Any, values: list[Any]) -> Any:
        return rebuild(values, context)

    return Node(cls.__qualname__, flatten, unflatten, written=_written if with_keys is not None else str)


def registered_node(cls: type) -> Node | None:
    """The node :func:`register_container` gave ``cls``, if any: it wins over every other rule."""
    return _registered.get(cls)


def builtin_node(cls: type) -> Node | None:
    """The node of a built-in kind kept here (``UserDict``, ``UserList``, attrs, ``SimpleNamespace``)."""
    if issubclass(cls, collections.UserDict):
        return _USER_DICT
    if issubclass(cls, collections.UserList):
        return _USER_LIST
    if getattr(cls, "__attrs_attrs__", None) is not None:
        return _attrs_node(cls)
    if issubclass(cls, types.SimpleNamespace):
        return _NAMESPACE
    return None


def pytree_node(cls: type) -> Node | None:
    """The node torch's pytree registry gives ``cls`` (asked only of types no other rule takes)."""
    spec = _pytree_table().get(cls)
    return _pytree_node(cls, spec) if spec is not None else None


skip_frames(__name__)
