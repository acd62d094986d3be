"""Scoped settings: a context manager that is also a decorator, over ``ContextVar``s.

``default_device``, ``default_float_dtype`` and ``trace`` are scopes. Each
thread and each asyncio task has its own values (tasks and
``asyncio.to_thread`` calls started inside a scope inherit it, as
``contextvars`` do). Every scope entered in a context is on one stack of
that context, so leaving one out of order, or from another thread or task
than the one that entered it, is caught: it raises :class:`ScopeError`
and changes nothing.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from ._dynamo import skip_frames
from ._errors import ScopeError
from ._streams import async_relay, relay

__all__ = ["ENTERED", "Scope"]

F = TypeVar("F", bound=Callable[..., Any])

# The scopes entered in this context, innermost last, each with the token that restores its variable.
_entered: ContextVar[tuple[tuple[Scope, Any, Any], ...]] = ContextVar("toolkit_scopes", default=())
# How many scopes are entered in all threads and tasks together: while it is
# 0, nothing is scoped anywhere, and a call need not ask its context.
ENTERED = [0]
_count = threading.Lock()


class Scope:
    """Sets ``_var`` to ``_value`` for a scope; subclasses name the variable and the value.

    One instance can be entered by many threads and asyncio tasks at once
    (``CPU = default_device("cpu")`` at module level): each context keeps
    its own entries.
    """

    _var: ContextVar[Any]

    def __init__(self, value: Any) -> None:
        self._value = value

    def _enter_value(self, current: Any) -> Any:
        """The value the variable takes inside the scope, given its value outside."""
        return self._value

    def _on_enter(self) -> Any:
        """Anything else entering does; what it returns is handed to :meth:`_on_exit`."""
        return None

    def _on_exit(self, extra: Any, exc: tuple[Any, ...]) -> None:
        pass

    def __enter__(self) -> Any:
        previous = self._var.get()
        extra = self._on_enter()
        value = self._enter_value(previous)
        token = self._var.set(value)  # resettable only in this very context: a child task's copy cannot
        _entered.set((*_entered.get(), (self, token, extra)))
        with _count:
            ENTERED[0] += 1
        return value

    def __exit__(self, *exc: Any) -> None:
        stack = _entered.get()
        if not stack or stack[-1][0] is not self:
            if any(entry[0] is self for entry in stack):
                inner = stack[-1][0]
                raise ScopeError(f"{self!r} was left out of order: {inner!r}, entered inside it, is still active")
            raise ScopeError(
                f"{self!r} was left in a thread or asyncio task other than the one that entered it "
                "(or was never entered); each thread and task must leave the scopes it enters"
            )
        _, token, extra = stack[-1]
        try:
            self._var.reset(token)
        except ValueError:  # the token was made in another context: this one inherited the scope
            raise ScopeError(
                f"{self!r} was left in an asyncio task or context other than the one that entered it "
                "(one that inherited the scope); each task must leave only the scopes it enters"
            ) from None
        try:
            self._on_exit(extra, exc)
        finally:
            _entered.set(stack[:-1])
            with _count:
                ENTERED[0] -= 1

    def __call__(self, func: F) -> F:
        """Use the scope as a decorator: it holds while the function's body runs.

        On a generator function (sync or async) it holds during each step of
        the body, not in the caller between yields.
        """
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def run_async_gen(*args: Any, **kwargs: Any) -> Any:
                return async_relay(func(*args, **kwargs), lambda: self, None)

            return run_async_gen  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def run_gen(*args: Any, **kwargs: Any) -> Any:
                return relay(func(*args, **kwargs), lambda: self, None)

            return run_gen  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]


skip_frames(__name__)
