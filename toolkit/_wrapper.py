"""The wrapt proxies that decorated functions are, how they pickle, copy and run generators.

wrapt gets binding right (methods, classmethods, staticmethods,
signatures). These subclasses add:

* a cheaper ``__call__`` for plain functions;
* what tools that take functions check. A decorated plain function claims
  to be a function (``inspect.isfunction`` holds: ``ray.remote`` and Ray's
  actor classes take it), and the function internals such tools then read
  (``__code__``, ``__closure__``, ...) are a stand-in's that decorates the
  body again (``_by_value``), so cloudpickle carrying it by value keeps the
  decoration. dynamo is told by attribute whether to call it as Python or
  to inline its traceable entry. Any other decorated callable names its
  own class;
* a reduction, decided by the function alone and never by who is asking
  (no look at the caller's stack): a function importable by its name
  (``__main__`` too, as for an undecorated one, and a class attribute as
  the class holds it) pickles as that name; any other (a local function,
  one stored under another name) pickles as "decorate this function
  again" (``_presets.decorate``, referred to by name, so this module
  imports no decorator), with the function itself pickled by the pickler;
* a bound method pickles as the attribute that holds it on its class, and
  deep-copies with its instance, as Python's bound methods do;
* ``copy.copy`` and ``copy.deepcopy`` of a decorated function give it back,
  as for a function.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import types
from collections.abc import Callable
from typing import Any

import torch
import wrapt

from ._by_value import stand_in
from ._dynamo import opaque, skip_frames
from ._streams import async_relay, no_context, relay
from ._traced import method_entry

__all__ = ["Remake", "bound_offset", "make_wrapper", "underlying"]

#: How a decorated function is decorated again: ``(decorate, preset, options)``.
Remake = tuple[Callable[[str, Any, dict[str, Any]], Any], str, dict[str, Any]]


def lookup(module: str, qualname: str) -> Any:
    """The object a module holds under a dotted qualified name."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _bind(decorated: Any, instance: Any) -> Any:
    """A decorated function bound to ``instance``, as attribute access would bind it."""
    return decorated.__get__(instance, type(instance))


def _held(owner: Any, name: str) -> Any:
    """What a class (or a module) holds under ``name`` itself: a class's attribute unbound."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in vars(klass):
                return vars(klass)[name]
    return getattr(owner, name)


def static_lookup(module: str, qualname: str) -> Any:
    """The object a module holds under a dotted qualified name, class attributes as stored (unbound)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = _held(obj, part)
    return underlying(obj)


def _holder(owner: Any, parent: Any) -> str | None:
    """The name under which ``owner``'s class (or ``owner``, a class) holds ``parent``."""
    cls = owner if isinstance(owner, type) else type(owner)
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if value is parent or getattr(value, "__func__", None) is parent:
                return name
    return None


class BoundDecoratedFunction(wrapt.BoundFunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A decorated method bound to its instance or class; pickles as the attribute that holds it.

    Its ``__class__`` is wrapt's (the bound method's, or ``function`` when
    reached through the class), so ``inspect.ismethod`` and
    ``inspect.isfunction`` answer as for the undecorated method.
    """

    def __reduce_ex__(self, protocol: Any) -> Any:
        parent = self._self_parent
        wrapped: Any = self.__wrapped__
        if self._self_binding == "classmethod":
            owner = wrapped.__self__
        else:
            owner = self._self_instance if self._self_instance is not None else self._self_owner
        name = _holder(owner, parent) if owner is not None else None
        if name is not None:
            return getattr, (owner, name)
        if self._self_instance is None:
            return parent.__reduce_ex__(protocol)
        return _bind, (parent, owner)

    def __copy__(self) -> Any:
        return self  # as a bound method: the same function on the same instance

    def __deepcopy__(self, memo: Any) -> Any:
        if self._self_instance is None or self._self_binding != "function":
            return self
        return _bind(self._self_parent, copy.deepcopy(self._self_instance, memo))  # as Python's do

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        # wrapt's answer (the bound method's class, or function through the class) where the
        # internals shown are a stand-in's; a staticmethod or classmethod object names its own
        return self.__wrapped__.__class__ if self._self_stand_in is not None else type(self)

    @property
    def _self_stand_in(self) -> Any:
        return getattr(self._self_parent, "_self_function", None)

    @property
    def __code__(self) -> Any:  # reached through the class: a function, with the parent's stand-in
        return self._self_stand_in.__code__

    @property
    def __globals__(self) -> Any:
        return self._self_stand_in.__globals__

    @property
    def __closure__(self) -> Any:
        return self._self_stand_in.__closure__

    @property
    def __defaults__(self) -> Any:
        return self._self_stand_in.__defaults__

    @property
    def __kwdefaults__(self) -> Any:
        return self._self_stand_in.__kwdefaults__


class DecoratedFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A callable decorated by ``toolkit``; it pickles with its decoration.

    For a callable that is not a plain function (a C function, a partial,
    a classmethod or staticmethod object) the proxy names its own class.
    """

    __bound_function_wrapper__ = BoundDecoratedFunction

    def __init__(self, wrapped: Any, wrapper: Any, remake: Remake) -> None:
        super().__init__(wrapped, wrapper)
        self._self_remake = remake
        self._self_through: dict[type, Any] = {}  # the bound wrapper for each class it is reached through

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        return type(self)

    #: a script's ``__main__`` is by name too: true where by-value picklers never ask (see below)
    _main_by_name = False

    def _by_name(self) -> tuple[str, str] | None:
        """``(module, qualname)`` where importing that name gives this very object."""
        func = self.__wrapped__
        module: str | None = getattr(func, "__module__", None)
        qualname: str = getattr(func, "__qualname__", "") or ""
        if not module or not qualname or "<locals>" in qualname:
            return None
        if module == "__main__" and not self._main_by_name:
            return None  # cloudpickle asks this reduction for it: decorated again, carried by value
        try:
            found = static_lookup(module, qualname)
        except Exception:
            return None
        return (module, qualname) if found is self else None

    def __reduce_ex__(self, protocol: Any) -> Any:
        name = self._by_name()
        if name is not None:
            return static_lookup, name
        decorate, preset, options = self._self_remake
        return decorate, (preset, self.__wrapped__, options)

    def __copy__(self) -> Any:
        return self._again(copy.copy)

    def __deepcopy__(self, memo: Any) -> Any:
        return self._again(lambda wrapped: copy.deepcopy(wrapped, memo))

    def _again(self, copier: Callable[[Any], Any]) -> Any:
        """A callable object (a module, a partial) copied, and decorated again; the rest, itself."""
        wrapped = self.__wrapped__
        if isinstance(wrapped, (types.FunctionType, types.BuiltinFunctionType, classmethod, staticmethod)):
            return self  # as Python copies functions: the same object
        decorate, preset, options = self._self_remake
        return decorate(preset, copier(wrapped), options)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is not None or owner is None:
            return super().__get__(instance, owner)
        # Reached through the class: one bound wrapper per class, as a function is one object
        # (dynamo guards on its identity).
        through = self._self_through
        bound = through.get(owner)
        if bound is None:
            bound = through[owner] = super().__get__(instance, owner)
        return bound


class FastDecoratedFunction(DecoratedFunction):
    """A decorated plain function: to every tool that checks, a function.

    ``__class__`` is ``types.FunctionType``, so ``inspect.isfunction`` holds
    and ``ray.remote`` takes it. Tools that then read a function's internals
    (cloudpickle carrying it by value, dynamo) see those of a
    :func:`~._by_value.stand_in` that decorates the function again, never the bare
    body, and dynamo is told not to inline it (``_torchdynamo_disable``).
    Calls skip wrapt's binding checks, which cannot apply to a direct call;
    each decorated plain function gets a subclass of its own whose
    ``__call__`` is its call path's plain entry, so a call reads no
    attribute off the proxy (about 0.15 us each).
    """

    _main_by_name = True  # cloudpickle carries a __main__ function by value without asking
    _torchdynamo_disable = True
    _torchdynamo_disable_msg = "numpy-torch-toolkit converts arguments and results as in eager mode"

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        return types.FunctionType

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self._self_wrapper(self.__wrapped__, None, args, kwargs)  # type: ignore[call-arg,arg-type]

    def __init__(self, wrapped: Any, wrapper: Any, remake: Remake) -> None:
        super().__init__(wrapped, wrapper, remake)
        decorate, preset, options = remake
        self._self_function = stand_in(decorate, preset, wrapped, options)

    @property
    def __code__(self) -> Any:
        return self._self_function.__code__

    @property
    def __globals__(self) -> Any:
        return self._self_function.__globals__

    @property
    def __closure__(self) -> Any:
        return self._self_function.__closure__

    @property
    def __defaults__(self) -> Any:
        return self._self_function.__defaults__

    @property
    def __kwdefaults__(self) -> Any:
        return self._self_function.__kwdefaults__


def underlying(func: Any) -> Any:
    """The plain function inside a classmethod or staticmethod object."""
    return func.__func__ if isinstance(func, (classmethod, staticmethod)) else func


def bound_offset(func: Any) -> int:
    """How many leading parameters the binding consumes when a call has an instance."""
    if isinstance(func, staticmethod):
        return 0
    if isinstance(func, classmethod) or inspect.isfunction(func):
        return 1  # cls, or self for a function that ends up a method
    return 0  # a bound method, a C function or a callable object: its signature has no self


def _streams(path: Any, inner: Any) -> Callable[..., Any] | None:
    """The wrapper for a generator, async generator or ``async def``, or ``None`` for a plain function."""
    grad = torch.no_grad if path.options.no_grad else no_context

    def generator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        call, new_args, new_kwargs = path.prepare(instance, args, kwargs)
        return relay(wrapped(*new_args, **new_kwargs), grad, lambda v: path.finish(v, call, "yielded value"))

    def async_generator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        call, new_args, new_kwargs = path.prepare(instance, args, kwargs)
        return async_relay(wrapped(*new_args, **new_kwargs), grad, lambda v: path.finish(v, call, "yielded value"))

    def coroutine(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        call, new_args, new_kwargs = path.prepare(instance, args, kwargs)
        body = wrapped(*new_args, **new_kwargs)

        async def finish() -> Any:  # grad mode is per thread: held only while the body runs
            result = await (relay(body, grad, None) if path.options.no_grad else body)
            return path.finish(result, call, "return value")

        return finish()

    if inspect.isasyncgenfunction(inner):
        return opaque(async_generator)
    if inspect.isgeneratorfunction(inner):
        return opaque(generator)
    if inspect.iscoroutinefunction(inner):
        return opaque(coroutine)
    return None


def _for_dynamo(plain: Callable[..., Any]) -> dict[str, Any]:
    """What dynamo reads off a decorated plain function whose entry is ``plain``.

    An entry marked :func:`~._dynamo.opaque` (conversions run as Python) is
    called, never inlined. One meant to be traced (a compiled NumPy body's)
    is inlined: dynamo follows ``_torchdynamo_inline`` to a function it
    traces, instead of the function internals a by-value pickler reads.
    """
    if getattr(plain, "_torchdynamo_disable", False):
        return {}
    return {"_torchdynamo_disable": False, "_torchdynamo_inline": plain}  # dynamo binds it, as __call__


def _same_binding(self: Any, other: Any) -> bool:
    """Equal where the function and instance are (as Python's bound methods), never to the function itself:
    dynamo caches what it reads of a function by equality, and this one shows the entry's internals."""
    if type(other) is not type(self):
        return NotImplemented  # type: ignore[no-any-return]
    return bool(other._self_parent is self._self_parent and other._self_instance is self._self_instance)


def _binding_hash(self: Any) -> int:
    return hash((id(self._self_parent), id(self._self_instance)))


def _entry_attribute(name: str) -> Callable[[Any], Any]:
    def read(self: Any) -> Any:
        return getattr(type(self)._self_entry, name)

    return read


def _traced_bound() -> Any:
    """The bound wrapper class of a decorated function that dynamo traces.

    A method reached through its class (dynamo's shortcut of
    ``nn.Module.__call__`` to ``forward``, or ``Model.forward(model, x)``)
    is a function to dynamo, which inlines its code and guards on its
    internals: those are the traced entry's (no closure; its globals this
    package's), so the module, first, reaches the traced call path.
    """
    namespace: dict[str, Any] = {"__module__": __name__, "__eq__": _same_binding, "__hash__": _binding_hash}
    for name in ("__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__"):
        namespace[name] = property(_entry_attribute(name))
    return type(BoundDecoratedFunction.__name__, (BoundDecoratedFunction,), namespace)


def make_wrapper(func: Any, path: Any, remake: Remake) -> Any:
    """The decorated function: wrapt's proxy around ``func``, run by the call ``path``.

    ``remake`` is ``(decorate, preset, options)``: ``decorate(preset, func, options)``
    decorates ``func`` again, on the receiving side of a pickle (``decorate``
    pickles by its name, so this module never imports the decorators).
    """
    stream = _streams(path, underlying(func))
    cls: Any = DecoratedFunction
    if isinstance(func, types.FunctionType):
        cls = FastDecoratedFunction
        plain = None if stream is not None else path.plain_call(func)
        traced = None if stream is not None else path.traced_entry(func)
        members = {**_for_dynamo(plain), "__call__": plain} if plain is not None else {}
        if traced is not None:  # a torch body: dynamo traces the conversions with it
            bound = _traced_bound()
            entry = method_entry(traced, bound)
            bound._self_entry = entry  # dynamo reads its internals off a method reached through the class
            members.update(
                _torchdynamo_disable=False,
                _torchdynamo_inline=staticmethod(entry),  # read with getattr: the arguments as given
                __bound_function_wrapper__=bound,
                _self_traced=staticmethod(traced),  # what the entry reaches, held as long as the function
            )
        members.update(path.members())
        if members:
            cls = type(cls.__name__, (cls,), {"__module__": __name__, **members})
    return cls(func, stream or path, remake)


skip_frames(__name__)
