"""Driving generators and coroutines one step at a time.

Two things need it: a decorated generator converts each value it yields,
and a scope or ``no_grad`` used on a generator function holds only while the
body runs, not in the caller between yields (grad mode is per thread; other
code runs on the same thread between steps). ``send``, ``throw`` and
``close`` reach the inner generator as if the caller held it directly.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

from ._dynamo import skip_frames

__all__ = ["async_relay", "relay", "no_context"]

Context = Callable[[], AbstractContextManager[Any]]
no_context: Context = contextlib.nullcontext


@types.coroutine
def relay(inner: Any, context: Context, convert: Callable[[Any], Any] | None) -> Any:
    """Drive a generator or coroutine, entering ``context()`` around each of its steps.

    Values it yields pass through ``convert`` (a coroutine's futures pass
    untouched, with ``convert=None``); what it returns is returned.
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


async def async_relay(agen: Any, context: Context, convert: Callable[[Any], Any] | None) -> AsyncIterator[Any]:
    """The same for an async generator: each of its steps runs inside ``context()``."""
    method, arg = agen.asend, None
    while True:
        try:
            item = await relay(method(arg), context, None)
        except StopAsyncIteration:
            return
        value = item if convert is None else convert(item)
        try:
            arg = yield value
            method = agen.asend
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            method, arg = agen.athrow, exc


skip_frames(__name__)
