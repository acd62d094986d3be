"""The exceptions and warnings of ``toolkit``, and how errors get their path.

Every exception is also a built-in (``TypeError``, ``ValueError``,
``RuntimeError``), so code that catches the built-in keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ._dynamo import skip_frames

__all__ = [
    "ToolkitError",
    "ConversionError",
    "CopyError",
    "CycleError",
    "DeviceError",
    "ScopeError",
    "GradientDetachedWarning",
    "CompileFallbackWarning",
    "argument_of",
    "failed_at",
    "push_key",
    "with_path",
    "suggest",
]


class ToolkitError(Exception):
    """Base class of every exception ``toolkit`` raises on purpose."""

    __module__ = "toolkit"


class ConversionError(ToolkitError, TypeError):
    """A value cannot be converted: its dtype or kind has no counterpart."""

    __module__ = "toolkit"


class CopyError(ToolkitError, ValueError):
    """``copy=False`` was asked for, but the conversion must copy."""

    __module__ = "toolkit"


class CycleError(ToolkitError, ValueError):
    """A container holds itself, so it has no finite conversion."""

    __module__ = "toolkit"


class DeviceError(ToolkitError, RuntimeError, ValueError):
    """A device name is malformed, or names a device this machine lacks."""

    __module__ = "toolkit"


class ScopeError(ToolkitError, RuntimeError):
    """A scope was left out of order, or from another thread or task than the one that entered it."""

    __module__ = "toolkit"


class GradientDetachedWarning(UserWarning):
    """A tensor that requires grad was detached (and copied) to reach NumPy code."""

    __module__ = "toolkit"


class CompileFallbackWarning(UserWarning):
    """``numpy_inside(compile=True)`` could not trace a body and runs it as plain NumPy."""

    __module__ = "toolkit"


def push_key(exc: BaseException, piece: str) -> None:
    """Record one step of the path to the value that failed.

    Containers call this while the exception unwinds through them, so the
    success path never pays for path bookkeeping. :func:`with_path` takes
    the steps off again, so an exception object raised a second time starts
    with no path.
    """
    try:
        exc.__dict__.setdefault("_toolkit_path", []).append(piece)
    except AttributeError:  # an exception type without __dict__
        pass


def with_path(exc: Exception, where: str) -> Exception:
    """A copy of ``exc`` whose message starts with where it happened.

    ``where`` is e.g. ``"to_torch() argument 'data'"``; the pieces pushed by
    :func:`push_key` follow it. The copy has the same type where that type
    can be built from a message, else it is a :class:`ConversionError`.
    """
    pieces = exc.__dict__.pop("_toolkit_path", ()) if hasattr(exc, "__dict__") else ()
    message = f"{where}{_path(pieces)}: {exc}"
    if isinstance(exc, RecursionError):
        message += (
            f" (the value is nested at least {len(pieces)} levels deep, deeper than Python's recursion limit allows "
            "to convert; flatten it, or raise sys.setrecursionlimit)"
        )
    try:
        new = type(exc)(message)
    except Exception:
        new = ConversionError(message)
    if str(new) != message:  # a type that rewrites its message
        new = ConversionError(message)
    return new


_PATH_ENDS = 8  # a longer path is shown by its first and last steps


def _path(pieces: Any) -> str:
    """The steps of a path (pushed innermost first), the middle of a very long one elided."""
    steps = list(reversed(pieces))
    if len(steps) > 2 * _PATH_ENDS + 1:
        middle = len(steps) - 2 * _PATH_ENDS
        steps = [*steps[:_PATH_ENDS], f"...({middle} more steps)...", *steps[-_PATH_ENDS:]]
    return "".join(steps)


def failed_at(exc: Exception, key: Any) -> None:
    """Note on a failing conversion's exception which argument (index or keyword) it was."""
    try:
        exc.__dict__["_toolkit_argument"] = key
    except AttributeError:  # an exception type without __dict__
        pass


def argument_of(exc: Exception) -> Any:
    """The argument :func:`failed_at` noted (taken off the exception), or ``None``."""
    return exc.__dict__.pop("_toolkit_argument", None) if hasattr(exc, "__dict__") else None


def suggest(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'float32'?"`` for a near miss, else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


skip_frames(__name__)
