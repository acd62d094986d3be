"""What a decorated plain function shows to tools that read a function's internals.

cloudpickle (and its vendored copies, such as Ray's) carries a function
by value as its code, globals, defaults and closure, read off the object.
A decorated plain function claims to be a function (``inspect.isfunction``
holds, so ``ray.remote`` takes it), so those reads must not reach the bare
body: the copy would run undecorated. They reach a *stand-in* instead, a
real function made here with the body's parameters (names, kinds,
defaults, generator or coroutine flags), so ``inspect.getfullargspec``
and ``inspect.iscoroutinefunction`` answer as for the body, whose call
decorates the body again the first time and calls that. The stand-in is
never called in the process that made it.

Where the copy ends up held by a class (a class carried by value, as Ray
carries an actor class), a call through an instance binds the decorated
function there, as wrapt binds the original.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable
from typing import Any

from ._dynamo import skip_frames

__all__ = ["stand_in"]


class Remade:
    """The decorated function, made again on first use; what a stand-in's closure holds."""

    def __init__(self, decorate: Callable[..., Any], preset: str, func: Any, options: dict[str, Any]) -> None:
        self.remake = (decorate, preset, func, options)
        self.decorated: Any = None
        self.bound_in: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()
        self.shape = _Shape(func.__code__, func.__defaults__ or (), func.__kwdefaults__ or {})

    def __reduce__(self) -> Any:
        return Remade, self.remake  # not what was made: the copy makes its own

    def __call__(self, me: Any, given: dict[str, Any]) -> Any:
        decorated = self.decorated
        if decorated is None:
            decorate, preset, func, options = self.remake
            decorated = self.decorated = decorate(preset, func, options)
        args, kwargs = self.shape.call(given)
        if args and self._held_by(type(args[0]), me):
            return decorated.__get__(args[0], type(args[0]))(*args[1:], **kwargs)
        return decorated(*args, **kwargs)

    def _held_by(self, cls: type, me: Any) -> bool:
        """Whether ``cls`` (or a base) holds the stand-in ``me``: then this is a call through an instance."""
        held = self.bound_in.get(cls)
        if held is None:
            held = self.bound_in[cls] = any(v is me for klass in cls.__mro__ for v in vars(klass).values())
        return held


class RemadeOperator(Remade):
    """An operator's (``numpy_inside(op=...)``): registered again where it is unpickled, and traced.

    A compiled caller inlines the stand-in, this ``__call__`` and the operator's
    own entry, so a copy carried by value stays one node in a ``fullgraph``
    graph. The parameters are all named (an operator takes no ``*args``).
    """

    def __reduce__(self) -> Any:
        return _operator_again, self.remake

    def __call__(self, me: Any, given: dict[str, Any]) -> Any:
        if self.decorated is None:  # not made again yet (never, in the process that made it)
            return Remade.__call__(self, me, given)
        return self.decorated(**given)


def _operator_again(decorate: Callable[..., Any], preset: str, func: Any, options: dict[str, Any]) -> Remade:
    """The unpickled copy's state: the operator registered now, in this process."""
    remade = RemadeOperator(decorate, preset, func, options)
    remade.decorated = decorate(preset, func, options)
    return remade


class _Shape:
    """The body's parameters, to hand the decorated function the arguments the caller gave, and no more.

    A parameter left at its default is left out (the body fills it in, with
    the very object its default is, unconverted, as when called directly).
    """

    def __init__(self, code: types.CodeType, defaults: tuple[Any, ...], kwdefaults: dict[str, Any]) -> None:
        names = code.co_varnames
        npos, nkw = code.co_argcount, code.co_kwonlyargcount
        self.posonly = names[: code.co_posonlyargcount]
        self.positional = names[code.co_posonlyargcount : npos]
        self.kwonly = names[npos : npos + nkw]
        at = npos + nkw
        self.star = names[at] if code.co_flags & inspect.CO_VARARGS else None
        at += self.star is not None
        self.starstar = names[at] if code.co_flags & inspect.CO_VARKEYWORDS else None
        first = npos - len(defaults)
        self.default = {name: defaults[i - first] for i, name in enumerate(names[:npos]) if i >= first}
        self.default.update(kwdefaults)

    def _given(self, name: str, value: Any) -> bool:
        return name not in self.default or value is not self.default[name]

    def call(self, given: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        extra = tuple(given[self.star]) if self.star is not None else ()
        args = [given[n] for n in self.posonly]
        while args and not self._given(self.posonly[len(args) - 1], args[-1]) and not extra:
            args.pop()  # trailing positional-only parameters at their defaults
        kwargs: dict[str, Any] = {}
        if extra:  # positional arguments past these: every parameter before them is positional
            args += [given[n] for n in self.positional]
        else:
            kwargs.update((n, given[n]) for n in self.positional if self._given(n, given[n]))
        kwargs.update((n, given[n]) for n in self.kwonly if self._given(n, given[n]))
        if self.starstar is not None:
            kwargs.update(given[self.starstar])
        return (*args, *extra), kwargs


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _source(code: types.CodeType, name: str, state: str) -> str:
    """A function ``name`` with the parameters of ``code`` that hands its arguments to ``state``."""
    names = code.co_varnames
    npos, nposonly, nkw = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    params = list(names[:npos])
    if nposonly:
        params.insert(nposonly, "/")
    at = npos + nkw
    star = names[at] if code.co_flags & inspect.CO_VARARGS else None
    kwonly = list(names[npos : npos + nkw])
    if star is not None:
        params.append("*" + star)
        at += 1
    elif kwonly:
        params.append("*")
    params += kwonly
    starstar = names[at] if code.co_flags & inspect.CO_VARKEYWORDS else None
    if starstar is not None:
        params.append("**" + starstar)
    every = [*names[:npos], *([star] if star else []), *kwonly, *([starstar] if starstar else [])]
    call = f"{state}({name}, {{{', '.join(f'{n!r}: {n}' for n in every)}}})"
    head = f"def {name}({', '.join(params)}):"
    if code.co_flags & inspect.CO_ASYNC_GENERATOR:
        head, body = "async " + head, f"async for value in {call}:\n            yield value"
    elif code.co_flags & inspect.CO_COROUTINE:
        head, body = "async " + head, f"return await {call}"
    elif code.co_flags & inspect.CO_GENERATOR:
        body = f"return (yield from {call})"
    else:
        body = f"return {call}"
    return f"def make({state}):\n    {head}\n        {body}\n    return {name}\n"


def stand_in(decorate: Callable[..., Any], preset: str, func: types.FunctionType, options: dict[str, Any]) -> Any:
    """A real function with ``func``'s parameters whose call decorates ``func`` again and calls that.

    It runs in ``func``'s globals (it reads none: what it needs is in its
    closure), so ``__globals__`` is the body's module's, as tools that
    resolve string annotations through it expect.
    """
    code = func.__code__
    taken = set(code.co_varnames) | {"value"}
    name, state = _unique("stand_in", taken), _unique("remade", taken)
    namespace: dict[str, Any] = {}
    exec(_source(code, name, state), namespace)  # made from the code's own identifiers
    make = types.FunctionType(namespace["make"].__code__, func.__globals__, "make")
    made = make((RemadeOperator if options.get("op") else Remade)(decorate, preset, func, options))
    made.__defaults__ = func.__defaults__
    made.__kwdefaults__ = func.__kwdefaults__
    return made


skip_frames(__name__, keep=("RemadeOperator",))
