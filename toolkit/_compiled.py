"""``numpy_inside(compile=True)``: a NumPy body traced by ``torch.compile``, run as torch operations.

Called with tensors, the body goes through ``torch.compiler.wrap_numpy`` and
``torch.compile(..., fullgraph=True)``: its NumPy calls become torch
operations on the tensors themselves, on their device, with gradients. Called
with NumPy data, it runs as plain NumPy. Where tracing fails, a
:class:`~toolkit.CompileFallbackWarning` says why, once, and the function
takes the ordinary path for good.

Called eagerly, only the body is compiled: the mirror rule (``_mirror``)
and the result's conversion are the eager path's own, for every container
kind. Unlike the rest of the library, :func:`traced` must be traceable by
dynamo: a compiled caller (``torch.compile(model, fullgraph=True)`` whose
``forward`` calls a compiled NumPy helper) inlines it into its own graph,
where the library's code cannot run; it restores device and dtype for the
plain containers only (section 9's operators are the general answer there).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ._calls import Call, Options, caller_level
from ._errors import CompileFallbackWarning
from ._mirror import observe
from ._outputs import MirrorOut
from ._params import Params

__all__ = ["CompiledMirrorOut"]

_Tensor = torch.Tensor


def _first_tensor(obj: Any) -> torch.Tensor | None:
    """The first tensor in ``obj``, searching lists, tuples and dicts in order."""
    if isinstance(obj, _Tensor):
        return obj
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    elif isinstance(obj, dict):
        for item in obj.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _first_float(obj: Any) -> torch.dtype | None:
    """The dtype of the first floating tensor in ``obj``."""
    if isinstance(obj, _Tensor):
        return obj.dtype if obj.is_floating_point() else None
    items = obj if isinstance(obj, (list, tuple)) else obj.values() if isinstance(obj, dict) else ()
    for item in items:
        found = _first_float(item)
        if found is not None:
            return found
    return None


def _restore(obj: Any, device: torch.device, dtype: torch.dtype | None) -> Any:
    """Floating tensors in ``obj`` in ``dtype`` (where given), every tensor on ``device``; containers rebuilt."""
    if isinstance(obj, _Tensor):
        if dtype is not None and obj.is_floating_point() and obj.dtype != dtype:
            obj = obj.to(dtype)
        return obj if obj.device == device else obj.to(device)
    if isinstance(obj, list):
        return [_restore(item, device, dtype) for item in obj]
    if isinstance(obj, tuple):
        items = [_restore(item, device, dtype) for item in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)  # namedtuples keep their type
    if isinstance(obj, dict):
        pairs = {key: _restore(item, device, dtype) for key, item in obj.items()}
        return pairs if type(obj) is dict else type(obj)(pairs)  # OrderedDict keeps its type
    return obj


def _plain_tree(obj: Any) -> bool:
    """Whether ``obj`` holds only lists, tuples and dicts as containers (what :func:`traced` walks)."""
    if isinstance(obj, (list, tuple)):
        return all(_plain_tree(item) for item in obj)
    if isinstance(obj, dict):
        return all(_plain_tree(item) for item in obj.values())
    return not dataclasses.is_dataclass(obj)


def traced(
    body: Callable[..., Any],
    on_tensors: Callable[..., Any],
    restore: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    full: Callable[[], Any],
) -> Any:
    """The body on tensors (``on_tensors``: it under ``wrap_numpy``), with the mirror rule; traceable by dynamo.

    Arguments in other containers (dataclasses) take ``full``, the eager path: a graph break.
    """
    if not _plain_tree((args, kwargs)):
        return full()
    first = _first_tensor((args, kwargs))
    if first is None:
        return body(*args, **kwargs)  # no tensor: NumPy in, NumPy out
    out = on_tensors(*args, **kwargs)
    return _restore(out, first.device, _first_float((args, kwargs)) if restore else None)


class CompiledMirrorOut(MirrorOut):
    """``numpy_inside`` with ``compile=``: the mirror rule, the body compiled for tensor callers."""

    def __init__(
        self,
        qualname: str,
        params: Params,
        body: str,
        options: Options,
        offset: int,
        func: Callable[..., Any],
        compiled: bool | Mapping[str, Any],
    ) -> None:
        super().__init__(qualname, params, body, options, offset, func)
        self._compile_options = dict(compiled) if isinstance(compiled, Mapping) else {}
        # wrap_numpy cannot be called inside traced code: made now, traced in every call.
        self._on_tensors = torch.compiler.wrap_numpy(func)  # type: ignore[no-untyped-call]
        self._compiled: Callable[..., Any] | None = None
        self._fell_back: str | None = None  # why tracing failed, once it has
        self._compile_lock = threading.Lock()

    def __call__(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._fell_back is None and self.skip is None:  # skip=: the eager path, which finds the paths
            call = observe((args, kwargs), self.settings(instance, args, kwargs))  # the mirror rule: arguments
            if call.kind == "torch":
                try:
                    return self._run(instance, args, kwargs, call)
                except torch._dynamo.exc.TorchDynamoException as exc:
                    self._fall_back(exc)
        return super().__call__(wrapped, instance, args, kwargs)

    def _run(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], call: Call) -> Any:
        """The compiled body on the caller's tensors; its results by the mirror rule, as in eager mode."""
        if self._compiled is None:
            with self._compile_lock:
                if self._compiled is None:
                    self._compiled = torch.compile(self._on_tensors, fullgraph=True, **self._compile_options)
        body_args = (instance, *args) if instance is not None and self.offset else args
        return self.finish(self._compiled(*body_args, **kwargs), call, "return value")

    def _fall_back(self, exc: Exception) -> None:
        lines = str(exc).strip().splitlines()
        self._fell_back = reason = lines[0] if lines else type(exc).__name__
        warnings.warn(
            f"numpy_inside(compile=True): torch.compile cannot trace {self.function} ({reason}); "
            "it runs as plain NumPy from now on",
            CompileFallbackWarning,
            stacklevel=caller_level(),
        )

    def plain_call(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        """The ``__call__`` of the decorated function: traceable, so a compiled caller inlines the body."""
        if self.skip is not None:
            return None  # skip=: every call takes the eager path, which finds the paths
        on_tensors, full, restore = self._on_tensors, self.__call__, self.restore

        def call(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
            if torch.compiler.is_compiling():  # inside a caller's compiled graph
                return traced(wrapped, on_tensors, restore, args, kwargs, lambda: full(wrapped, None, args, kwargs))
            return full(wrapped, None, args, kwargs)

        call.__qualname__ = "CompiledNumpyFunction.__call__"
        return call
