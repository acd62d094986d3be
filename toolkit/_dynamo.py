"""Conversions stay eager under ``torch.compile``.

``torch.compile`` (dynamo) compiles each Python frame it meets. Traced by
dynamo, the library's own code would be rewritten into graph operations
(``torch.from_numpy`` into a graph input, ``.numpy()`` into torch's NumPy
emulation), and results would differ from eager mode. So every code object
of the package is marked, once at import, as a frame dynamo skips: calling
a decorated function from compiled code breaks the graph there, the
conversions run as Python, and the body, a frame of its own, is still
compiled. A NumPy body is run with dynamo off (:func:`eager`), so it
computes exactly what NumPy computes.

Each module marks itself, where it is defined (a test checks that every
module but ``_compiled`` is marked). This uses dynamo's per-code frame strategy (``torch._C._dynamo``), what
``torch._dynamo.skip`` does without importing dynamo; where a torch build
lacks it, nothing is marked.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["compiling", "eager", "eval_frame_callback", "opaque", "skip_frames"]

try:
    from torch._C._dynamo import eval_frame as _eval_frame

    _SKIP: Any = _eval_frame._FrameExecStrategy(_eval_frame._FrameAction.SKIP, _eval_frame._FrameAction.DEFAULT)
    _set_strategy: Callable[[types.CodeType, Any], None] | None = _eval_frame.set_code_exec_strategy
    #: dynamo's frame callback, ``None`` unless frames run now may be compiled (inside ``torch.compile``).
    eval_frame_callback: Callable[[], Any] = _eval_frame.get_eval_frame_callback
except (ImportError, AttributeError):  # pragma: no cover - torch builds without dynamo
    _set_strategy = None

    def eval_frame_callback() -> Any:
        return None


def compiling() -> bool:
    """Whether frames run now may be compiled by dynamo (inside a ``torch.compile`` call)."""
    return eval_frame_callback() is not None


def _skip_code(code: types.CodeType) -> None:
    assert _set_strategy is not None
    _set_strategy(code, _SKIP)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            _skip_code(const)


def opaque(func: F) -> F:
    """Mark ``func`` as code dynamo neither compiles nor inlines: a call to it from compiled code
    breaks the graph, and its frame runs as Python (its callees' frames may still compile)."""
    if _set_strategy is not None:
        _skip_code(func.__code__)
    marked: Any = func
    marked._torchdynamo_disable = True  # what dynamo reads before inlining a call
    marked._torchdynamo_disable_msg = "numpy-torch-toolkit converts arguments and results as in eager mode"
    return func


def skip_frames(module_name: str, keep: tuple[str, ...] = ()) -> None:
    """Mark every function defined in the module (and in its classes) as :func:`opaque`,
    but the module-level functions named in ``keep`` (what compiled callers trace).

    Each module of the package calls it on itself, last (``skip_frames(__name__)``),
    but for ``_compiled``, whose code is what compiled callers trace.
    """
    module = sys.modules[module_name]
    for name, value in vars(module).items():
        if name in keep:
            continue
        for func in _functions(value, module_name):
            opaque(func)


def _functions(value: Any, module: str) -> list[Any]:
    if isinstance(value, type) and value.__module__ == module:
        found = []
        for member in vars(value).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                found += [f for f in (member.fget, member.fset, member.fdel) if isinstance(f, types.FunctionType)]
            elif isinstance(member, types.FunctionType):
                found.append(member)
        return found
    func = getattr(value, "__wrapped__", value)  # functools.lru_cache and wraps
    if isinstance(func, types.FunctionType) and func.__module__ == module:
        return [func]
    return []


def eager(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` run with dynamo off, it and everything it calls (only ever asked while compiling)."""
    import torch

    return torch.compiler.disable(func, recursive=True)  # type: ignore[no-any-return,no-untyped-call]


skip_frames(__name__)
