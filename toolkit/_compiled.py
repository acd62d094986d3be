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
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ._calls import Call, Options, caller_level
from ._errors import CompileFallbackWarning, ToolkitError
from ._mirror import observe
from ._outputs import MirrorOut
from ._params import Params
from ._tree import leaves_with_paths, walk

__all__ = ["CompiledMirrorOut", "UntraceableError", "difference", "signature"]

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
    """``numpy_inside`` with ``compile=``: the mirror rule, the body compiled for tensor callers.

    The first call of each argument signature (its tensors' dtypes, shapes,
    devices and grad flags, its other values) also runs the NumPy body on host
    copies and compares (:func:`difference`): on a difference that signature
    takes the eager path for good, with a :class:`CompileFallbackWarning`.
    """

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
        self._fell_back: str | None = None  # why tracing failed, once it has: the eager path for good
        self._checked: dict[Any, bool] = {}  # argument signature -> whether the compiled body agrees with NumPy
        self._compile_lock = threading.Lock()
        self.untraceable = _untraceable_check(self)

    def __call__(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._fell_back is None and self.skip is None:  # skip=: the eager path, which finds the paths
            call = observe((args, kwargs), self.settings(instance, args, kwargs))  # the mirror rule: arguments
            if call.kind == "torch":
                key = signature((args, kwargs))
                agrees = self._checked.get(key)
                if agrees is not False:
                    return self._run(wrapped, instance, args, kwargs, call, key, agrees is None)
        return super().__call__(wrapped, instance, args, kwargs)

    def _run(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        call: Call,
        key: Any,
        check: bool,
    ) -> Any:
        """The compiled body on the caller's tensors; its results by the mirror rule, as in eager mode."""
        if self._compiled is None:
            with self._compile_lock:
                if self._compiled is None:
                    own = _own_code(self._on_tensors, self.function[:-2])  # its own recompile limit
                    self._compiled = torch.compile(own, fullgraph=True, **self._compile_options)
        body_args = (instance, *args) if instance is not None and self.offset else args
        # an in-place write by the body must not reach a caller's tensor that requires grad
        body_args, body_kwargs = walk(_differentiable_copy, (body_args, kwargs), {})
        host = _host_copies((body_args, kwargs)) if check else None  # before the body can write to them
        try:
            raw = self._compiled(*body_args, **body_kwargs)
        except Exception as exc:  # a tracing failure, the recompile limit, or the body's own error
            out = super().__call__(wrapped, instance, args, kwargs)  # NumPy's answer, or NumPy's exception
            if isinstance(exc, (torch._dynamo.exc.TorchDynamoException, torch._dynamo.exc.FailOnRecompileLimitHit)):
                self._fall_back(_first_line(exc))
            else:
                self._disagree(key, f"the compiled body raised {type(exc).__name__}: {_first_line(exc)}")
            return out
        if host is not None:
            found = self._compare(raw, *host)
            if found is not None:
                self._disagree(key, found)
                return super().__call__(wrapped, instance, args, kwargs)
            self._checked[key] = True
        return self.finish(raw, call, "return value")

    def _compare(self, raw: Any, host_args: tuple[Any, ...], host_kwargs: dict[str, Any]) -> str | None:
        """How the compiled results differ from the NumPy body's on host copies, or ``None``."""
        try:
            want = self.run(self.func, host_args, host_kwargs)
        except Exception as exc:
            return f"NumPy raises {type(exc).__name__}: {_first_line(exc)}"
        return difference(raw, want, "return value")

    def _disagree(self, key: Any, why: str) -> None:
        self._checked[key] = False
        self._warn(
            f"compiled, {self.function} differs from NumPy for these arguments ({why}); it runs as plain "
            "NumPy for them from now on"
        )

    def _fall_back(self, reason: str) -> None:
        self._fell_back = reason
        self._warn(f"torch.compile cannot trace {self.function} ({reason}); it runs as plain NumPy from now on")

    def _warn(self, message: str) -> None:
        warnings.warn(f"numpy_inside(compile=True): {message}", CompileFallbackWarning, stacklevel=caller_level())

    def untraceable_message(self) -> str:
        return (
            f"{self.function} cannot be traced by torch.compile ({self._fell_back}), so it cannot sit in a "
            "fullgraph=True graph: make it a NumPy operator with numpy_inside(op=True) and .fake "
            "(docs: NumPy code in compiled models)"
        )

    def plain_call(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        """The ``__call__`` of the decorated function: traceable, so a compiled caller inlines the body."""
        if self.skip is not None:
            return None  # skip=: every call takes the eager path, which finds the paths
        on_tensors, full, restore, untraceable = self._on_tensors, self.__call__, self.restore, self.untraceable

        def call(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
            if torch.compiler.is_compiling():  # inside a caller's compiled graph
                untraceable()
                return traced(wrapped, on_tensors, restore, args, kwargs, lambda: full(wrapped, None, args, kwargs))
            return full(wrapped, None, args, kwargs)

        call.__qualname__ = "CompiledNumpyFunction.__call__"
        return call


class UntraceableError(ToolkitError, TypeError):
    """A compiled NumPy body known not to trace, inside a caller's ``fullgraph=True`` graph."""


def _untraceable_check(path: CompiledMirrorOut) -> Callable[[], None]:
    """What a compiled caller runs, once, while tracing: one sentence where the body is known not to trace."""

    def check() -> None:
        if path._fell_back is not None:
            raise UntraceableError(path.untraceable_message())

    return torch._dynamo.assume_constant_result(check)  # type: ignore[no-any-return,no-untyped-call]


def _own_code(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``func`` behind a function with a code object of its own: dynamo counts recompiles per code object."""

    def trampoline(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    label = "".join(c if c.isalnum() else "_" for c in name)
    code = trampoline.__code__.replace(co_name=f"numpy_inside_{label}", co_qualname=f"numpy_inside_{label}")
    return types.FunctionType(code, trampoline.__globals__, code.co_name, None, trampoline.__closure__)


def _host_copies(values: Any) -> Any:
    """``values`` with every tensor a NumPy copy on the host, for the NumPy body the check runs."""
    from ._convert import to_numpy

    return to_numpy(values, copy=True)


def _differentiable_copy(x: Any) -> Any:
    return x.clone() if isinstance(x, _Tensor) and x.requires_grad else x


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def signature(values: Any) -> tuple[Any, ...]:
    """What makes a call new for the check: each leaf's path, and a tensor's dtype, shape, device and
    grad flag, a scalar's value (dynamo specialises on it), any other value's type."""
    key: list[Any] = []
    for path, leaf in leaves_with_paths(values):
        if isinstance(leaf, _Tensor):
            key.append((path, leaf.dtype, tuple(leaf.shape), leaf.device, leaf.requires_grad))
        elif isinstance(leaf, (int, float, complex, str, bytes, type(None))):
            key.append((path, type(leaf), leaf))
        else:
            key.append((path, type(leaf)))
    return tuple(key)


#: (rtol) by NumPy dtype kind and size, with atol = rtol * the largest magnitude NumPy gives
_RTOL = {2: 1e-2, 4: 1e-4, 8: 1e-9, 16: 1e-9}


def difference(got: Any, want: Any, where: str) -> str | None:
    """How a compiled result differs from NumPy's, in kind, dtype (as NumPy names it) or value, or ``None``.

    NumPy scalars and 0-d arrays are both 0-d tensors in the compiled body, and count as one kind.
    """
    if isinstance(want, (np.ndarray, np.generic)) and not isinstance(want, (str, bytes)):
        if not isinstance(got, _Tensor):
            return f"{where} is {type(got).__name__} where NumPy gives an array"
        want = np.asarray(want)
        if got.dtype not in _HOST:  # bfloat16, uint16, ...: no NumPy body gives those
            return f"{where} has dtype {got.dtype} where NumPy gives {want.dtype}"
        mine = got.detach().cpu().resolve_conj().resolve_neg().numpy()
        if mine.dtype != want.dtype:
            return f"{where} has dtype {mine.dtype} where NumPy gives {want.dtype}"
        if mine.shape != want.shape:
            return f"{where} has shape {mine.shape} where NumPy gives {want.shape}"
        if want.dtype.kind in "fc":
            rtol = _RTOL.get(want.dtype.itemsize // (2 if want.dtype.kind == "c" else 1), 1e-4)
            scale = float(np.nanmax(np.abs(want), initial=0.0)) if want.size else 0.0
            if not np.allclose(mine, want, rtol=rtol, atol=rtol * scale, equal_nan=True):
                return f"{where} differs from NumPy's values"
        elif not np.array_equal(mine, want):
            return f"{where} differs from NumPy's values"
        return None
    if type(got) is not type(want):
        return f"{where} is {type(got).__name__} where NumPy gives {type(want).__name__}"
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return f"{where} has {len(got)} items where NumPy gives {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            found = difference(g, w, f"{where}[{i}]")
            if found is not None:
                return found
    elif isinstance(want, dict):
        if list(got) != list(want):
            return f"{where} has keys {list(got)} where NumPy gives {list(want)}"
        for k in want:
            found = difference(got[k], want[k], f"{where}[{k!r}]")
            if found is not None:
                return found
    elif isinstance(want, (int, float, complex, bool)) and got != want and not (want != want and got != got):
        return f"{where} is {got!r} where NumPy gives {want!r}"
    return None


_HOST = (
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
)
