"""The wrapt proxies that decorated functions are, and how they pickle.

wrapt gets binding right (methods, classmethods, staticmethods, signatures);
these subclasses add a cheaper ``__call__`` for plain functions and a
reduction, since wrapt's proxies refuse to pickle.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import wrapt

from ._streams import call_async_generator, call_coroutine, call_generator

__all__ = ["make_wrapper", "rebuild"]

# name -> decorator, filled by _decorators so a pickled function can be rebuilt.
PRESETS: dict[str, Callable[..., Any]] = {}


def rebuild(preset: str, options: dict[str, Any], func: Callable[..., Any]) -> Any:
    """Decorate ``func`` again on the receiving side of a pickle."""
    return PRESETS[preset](func, **options)


def lookup(module: str, qualname: str) -> Any:
    """The object a module holds under a dotted qualified name."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _under_cloudpickle() -> bool:
    """Whether cloudpickle is on the stack: it must carry ``__main__`` code by value."""
    frame = sys._getframe(2)
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith("cloudpickle"):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


class BoundDecoratedFunction(wrapt.BoundFunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A decorated method bound to its instance or class; pickles as that attribute."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        wrapped: Any = self.__wrapped__
        name = wrapped.__name__
        if self._self_binding == "classmethod":
            return getattr, (wrapped.__self__, name)
        if self._self_instance is None:  # reached through the class: find it the same way
            func = self.__wrapped__
            return lookup, (func.__module__, func.__qualname__)
        return getattr, (self._self_instance, name)


class DecoratedFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg,unused-ignore]
    """A function decorated by ``toolkit``; it pickles with its decoration."""

    __bound_function_wrapper__ = BoundDecoratedFunction

    def __init__(self, wrapped: Any, wrapper: Any, preset: str, options: dict[str, Any]) -> None:
        super().__init__(wrapped, wrapper)
        self._self_preset = preset
        self._self_options = options

    def __reduce_ex__(self, protocol: Any) -> Any:
        func = self.__wrapped__
        module: str | None = getattr(func, "__module__", None)
        qualname: str = getattr(func, "__qualname__", "")
        by_name = module is not None and qualname and "<locals>" not in qualname
        if by_name and (module != "__main__" or not _under_cloudpickle()):
            assert module is not None
            try:
                found = lookup(module, qualname)
            except Exception:
                found = None
            if found is self:  # importable by name: pickle a reference
                return lookup, (module, qualname)
        return rebuild, (self._self_preset, self._self_options, func)

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        """The wrapped function's class, as for any wrapt proxy, except to cloudpickle.

        cloudpickle pickles anything that passes ``isinstance(obj,
        types.FunctionType)`` by value, from its code, and so would silently
        drop the decoration. Asked by cloudpickle, the wrapper names its own
        class, and cloudpickle falls back to :meth:`__reduce_ex__`.
        """
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if isinstance(caller, str) and caller.startswith("cloudpickle"):
            return type(self)
        return self.__wrapped__.__class__

    def __copy__(self) -> Any:
        cls: Any = type(self)
        return cls(self.__wrapped__, self._self_wrapper, self._self_preset, self._self_options)

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()


class FastDecoratedFunction(DecoratedFunction):
    """For a plain function: skips wrapt's binding checks, which cannot apply."""

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self._self_wrapper(self.__wrapped__, None, args, kwargs)  # type: ignore[call-arg,arg-type]


def underlying(func: Any) -> Any:
    """The plain function inside a classmethod or staticmethod object."""
    return func.__func__ if isinstance(func, (classmethod, staticmethod)) else func


def bound_offset(func: Any) -> int:
    """How many leading parameters the binding consumes when a call has an instance."""
    if isinstance(func, staticmethod):
        return 0
    if isinstance(func, classmethod) or inspect.isfunction(func):
        return 1  # cls, or self for a function that ends up a method
    return 0  # a bound method or a callable object: its signature has no self


def make_wrapper(func: Any, engine: Any, preset: str, options: dict[str, Any]) -> Any:
    """The decorated function: wrapt's proxy around ``func``, run by ``engine``."""
    inner = underlying(func)
    if inspect.isasyncgenfunction(inner):
        call = functools.partial(call_async_generator, engine)
    elif inspect.isgeneratorfunction(inner):
        call = functools.partial(call_generator, engine)
    elif inspect.iscoroutinefunction(inner):
        call = functools.partial(call_coroutine, engine)
    else:
        call = engine.call
    cls: Any = FastDecoratedFunction if isinstance(func, types.FunctionType) else DecoratedFunction
    return cls(func, call, preset, options)
