"""Generators and coroutines: their values are converted as they come out.

A decorated ``async def`` returns a coroutine whose result converts once
awaited; a decorated generator yields converted values. With ``no_grad``,
grad mode (which torch keeps per thread) is switched off only while the
body runs, not across the awaits and yields in between, where other code
runs on the same thread.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ._engine import Engine, _Call

__all__ = ["call_coroutine", "call_generator", "call_async_generator"]


def call_coroutine(
    engine: Engine, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """For ``async def``: the result is converted once it has been awaited."""
    state, new_args, new_kwargs = engine.prepare(instance, args, kwargs)
    return _await(engine, wrapped(*new_args, **new_kwargs), instance, state)


async def _await(engine: Engine, coro: Any, instance: Any, state: _Call | None) -> Any:
    if engine.opts.no_grad:  # grad mode is per thread: hold it only while the body runs
        result = await _relay(coro, torch.no_grad, None)
    else:
        result = await coro
    return engine.finish(result, instance, state, "return value")


def call_generator(
    engine: Engine, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """For a generator function: each yielded value is converted."""
    state, new_args, new_kwargs = engine.prepare(instance, args, kwargs)
    grad = torch.no_grad if engine.opts.no_grad else contextlib.nullcontext
    return _relay(wrapped(*new_args, **new_kwargs), grad, lambda v: engine.finish(v, instance, state, "yielded value"))


def call_async_generator(
    engine: Engine, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """For an async generator function: each yielded value is converted."""
    state, new_args, new_kwargs = engine.prepare(instance, args, kwargs)
    return _async_relay(engine, wrapped(*new_args, **new_kwargs), instance, state)


async def _async_relay(engine: Engine, agen: Any, instance: Any, state: _Call | None) -> Any:
    method, arg = agen.asend, None
    while True:
        try:
            step = method(arg)
            item = await (_relay(step, torch.no_grad, None) if engine.opts.no_grad else step)
        except StopAsyncIteration:
            return
        value = engine.finish(item, instance, state, "yielded value")
        try:
            arg = yield value
            method = agen.asend
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            method, arg = agen.athrow, exc


@types.coroutine
def _relay(inner: Any, context: Callable[[], Any], convert: Callable[[Any], Any] | None) -> Any:
    """Drive a generator or coroutine, entering ``context`` around each of its steps.

    Values it yields are passed through ``convert`` (a coroutine's futures
    pass untouched, with ``convert=None``); ``send``, ``throw`` and ``close``
    reach it as if the caller held it directly.
    """
    method, arg = inner.send, None
    while True:
        try:
            with context():
                item = method(arg)
        except StopIteration as stop:
            return stop.value
        value = item if convert is None else convert(item)
        try:
            arg = yield value
            method = inner.send
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as exc:
            method, arg = inner.throw, exc
