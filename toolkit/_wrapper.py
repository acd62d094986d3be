"""The wrapt proxies that decorated functions are, how they pickle, and how they run generators.

wrapt gets binding right (methods, classmethods, staticmethods,
signatures). These subclasses add:

* a cheaper ``__call__`` for plain functions;
* a ``__class__`` that names the proxy's own class. wrapt's proxies claim
  the wrapped function's class, and every tool that checks
  ``isinstance(obj, types.FunctionType)`` then reaches past the proxy for
  ``__code__``: cloudpickle (and its vendored copies) rebuilt the bare
  body, ``torch.compile`` inlined it, and the decoration was silently lost;
* a reduction, decided by the function alone and never by who is asking
  (no look at the caller's stack): a function importable by its name
  pickles as that name; any other (a local function, one defined in a
  script's ``__main__``, one stored under another name) pickles as
  "decorate this function again" (``_presets.decorate``, referred to by
  name, so this module imports no decorator), with the function itself
  pickled by the pickler (cloudpickle carries it by value). ``multiprocessing``'s own
  pickler is told (through its dispatch table) to send ``__main__``
  functions by name, since its spawned workers import the script as
  ``__main__``;
* a bound method pickles as the attribute that holds it on its class.
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

import torch
import wrapt

from ._dynamo import opaque, skip_frames
from ._streams import async_relay, no_context, relay

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


def _holder(owner: Any, parent: Any) -> str | None:
    """The name under which ``owner``'s class (or ``owner``, a class) holds ``parent``."""
    cls = owner if isinstance(owner, type) else type(owner)
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if value is parent or getattr(value, "__func__", None) is parent:
                return name
    return None


class BoundDecoratedFunction(wrapt.BoundFunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A decorated method bound to its instance or class; pickles as the attribute that holds it."""

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        return type(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        parent = self._self_parent
        wrapped: Any = self.__wrapped__
        owner = wrapped.__self__ if self._self_binding == "classmethod" else self._self_instance
        if owner is None:  # reached through the class: the function itself
            return parent.__reduce_ex__(protocol)
        name = _holder(owner, parent)
        if name is not None:
            return getattr, (owner, name)
        return _bind, (parent, owner)


class DecoratedFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A function decorated by ``toolkit``; it pickles with its decoration."""

    __bound_function_wrapper__ = BoundDecoratedFunction

    def __init__(self, wrapped: Any, wrapper: Any, remake: Remake) -> None:
        super().__init__(wrapped, wrapper)
        self._self_remake = remake

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        return type(self)

    def _by_name(self, main: bool) -> tuple[str, str] | None:
        """``(module, qualname)`` where importing that name gives this very object."""
        func = self.__wrapped__
        module: str | None = getattr(func, "__module__", None)
        qualname: str = getattr(func, "__qualname__", "") or ""
        if not module or not qualname or "<locals>" in qualname or (module == "__main__" and not main):
            return None
        try:
            found = lookup(module, qualname)
        except Exception:
            return None
        return (module, qualname) if found is self else None

    def __reduce_ex__(self, protocol: Any) -> Any:
        name = self._by_name(main=False)
        if name is not None:
            return lookup, name
        decorate, preset, options = self._self_remake
        return decorate, (preset, self.__wrapped__, options)

    def __copy__(self) -> Any:
        cls: Any = type(self)
        return cls(self.__wrapped__, self._self_wrapper, self._self_remake)

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()


class FastDecoratedFunction(DecoratedFunction):
    """For a plain function: skips wrapt's binding checks, which cannot apply to a direct call.

    Each decorated plain function gets a subclass of its own whose
    ``__call__`` is its call path's plain entry, so a call reads no
    attribute off the proxy (about 0.15 us each).
    """

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self._self_wrapper(self.__wrapped__, None, args, kwargs)  # type: ignore[call-arg,arg-type]


def _for_processes(obj: DecoratedFunction) -> Any:
    """multiprocessing's reduction: spawned workers import the script as ``__main__``, so by name."""
    name = obj._by_name(main=True)
    return (lookup, name) if name is not None else obj.__reduce_ex__(2)


ForkingPickler.register(DecoratedFunction, _for_processes)
ForkingPickler.register(FastDecoratedFunction, _for_processes)


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
        if plain is not None:
            cls = type(cls.__name__, (cls,), {"__call__": plain, "__module__": __name__})
            ForkingPickler.register(cls, _for_processes)
    return cls(func, stream or path, remake)


skip_frames(__name__)
