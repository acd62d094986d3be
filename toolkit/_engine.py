"""The per-call work of a decorated function: convert arguments, call, convert results.

One :class:`Engine` is built when a decorator is applied; it holds every
decision that does not depend on the call. Its :meth:`Engine.call` is what
wrapt invokes. The fast path converts arguments positionally with the leaf
converters of ``_leaves``; only when a conversion fails does the slow path
run again, this time keeping track of names, to say which argument failed.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import wrapt

from ._defaults import CPU, _modes_active, current_float_dtype, target_device, torch_default_device
from ._defaults import _device as _device_var
from ._defaults import _float_dtype as _float_var
from ._dtypes import TORCH_TO_NUMPY
from ._errors import GradientDetachedWarning, with_path
from ._leaves import numpy_leaf, torch_leaf
from ._params import NUMPY, TORCH, Params, Spec, resolve_hints, spec_of
from ._tree import _ATOM, _KINDS, _LEAF, tree_map

__all__ = ["Engine", "Options"]

_Tensor = torch.Tensor
_from_numpy = torch.from_numpy
_ndarray = np.ndarray


@dataclass(frozen=True)
class Options:
    """A decorator's options, checked and normalised."""

    device: torch.device | None
    dtype: torch.dtype | None
    float_dtype: torch.dtype | None
    no_grad: bool
    restore_dtype: bool

    @property
    def np_dtype(self) -> np.dtype[Any] | None:
        """``dtype`` for a NumPy body (``bfloat16`` is ``float32`` there)."""
        return TORCH_TO_NUMPY.get(self.dtype) if self.dtype is not None else None

    @property
    def np_float_dtype(self) -> np.dtype[Any] | None:
        """``float_dtype`` for a NumPy body."""
        return TORCH_TO_NUMPY.get(self.float_dtype) if self.float_dtype is not None else None


class _Call:
    """What one call has decided: its leaves, and what the mirror rule has seen.

    ``arguments`` says whether this converts the call's arguments (NumPy-side
    leaves then warn about detached gradients) or its result; ``record``
    whether leaves note the caller's kind for the mirror rule.
    """

    __slots__ = (
        "arguments",
        "kind",
        "memos",
        "numpy_float",
        "numpy_leaf",
        "record",
        "tensor_device",
        "torch_float",
        "torch_leaf",
    )

    def __init__(self, arguments: bool = True, record: bool = False) -> None:
        self.arguments = arguments
        self.record = record
        self.kind: str | None = None  # the caller's kind, for the mirror rule
        self.tensor_device: torch.device | None = None
        self.torch_float: torch.dtype | None = None
        self.numpy_float: np.dtype[Any] | None = None
        self.memos: dict[str, dict[int, Any]] = {}
        self.torch_leaf: Callable[[Any], Any] | None = None
        self.numpy_leaf: Callable[[Any], Any] | None = None


def _module_settings(instance: Any) -> tuple[torch.device | None, torch.dtype | None]:
    """The device and floating dtype of the module a method is bound to."""
    if not isinstance(instance, torch.nn.Module):
        return None, None
    device = fdtype = None
    for t in instance.parameters():
        device = device or t.device
        if t.is_floating_point():
            fdtype = t.dtype
            break
    if device is None:
        for buffer in instance.buffers():
            device = buffer.device
            break
    return device, fdtype


class Engine:
    """Everything a decorated function does around its body.

    Args:
        func: the function as decorated (a classmethod or staticmethod
            object is unwrapped for its signature).
        inputs: ``"torch"``, ``"numpy"`` or ``"annotated"``: what the body receives.
        outputs: ``"torch"``, ``"numpy"``, ``"mirror"`` or ``"annotated"``.
        bound_offset: parameters consumed by the binding when the call comes
            with an instance (``self`` or ``cls``).
    """

    def __init__(
        self,
        func: Callable[..., Any],
        qualname: str,
        inputs: str,
        outputs: str,
        options: Options,
        params: Params,
        bound_offset: int,
    ) -> None:
        self.func = func
        self.qualname = qualname
        self.inputs = inputs
        self.outputs = outputs
        self.opts = options
        self.params = params
        self.bound_offset = bound_offset
        self.warned = False
        self._lock = threading.Lock()
        self._specs: tuple[dict[str, Spec | None], Spec | None] | None = None
        # The fast path: every argument converts the same way, nothing to track.
        self.fast = inputs in ("torch", "numpy") and outputs in ("torch", "numpy") and not params.selective
        # The inline case of `call`: arrays shared as they are, nothing else to do.
        self.plain = (
            self.fast
            and inputs == "torch"
            and options.device is None
            and options.dtype is None
            and options.float_dtype is None
            and not options.no_grad
        )
        self.outputs_numpy = outputs == "numpy"
        if inputs == "numpy":
            self._plain_numpy = self._numpy_in_leaf(numpy_leaf(options.np_dtype, options.np_float_dtype, None))
        self._plain_torch = torch_leaf(CPU, False, options.dtype, None, None)
        self._numpy_out = numpy_leaf(None, None, None)

    # -- settings resolved per call ------------------------------------------

    def _torch_target(self, instance: Any) -> tuple[torch.device, bool, torch.dtype | None]:
        """Device, whether tensors move, and float dtype for tensors this call produces."""
        opts = self.opts
        mod_device = mod_float = None
        if instance is not None and isinstance(instance, torch.nn.Module):
            mod_device, mod_float = _module_settings(instance)
        if opts.device is not None:
            device, move = opts.device, True
        elif mod_device is not None:
            device, move = mod_device, True
        else:
            device, move = target_device()
        if opts.dtype is not None:
            fdt = None
        elif opts.float_dtype is not None:
            fdt = opts.float_dtype
        elif mod_float is not None:
            fdt = mod_float
        else:
            fdt = current_float_dtype()
        return device, move, fdt

    def _torch_in_leaf(self, instance: Any) -> Callable[[Any], Any]:
        opts = self.opts
        if (
            instance is None
            and opts.device is None
            and opts.float_dtype is None
            and current_float_dtype() is None
            and target_device() == (CPU, False)
        ):
            return self._plain_torch
        device, move, fdt = self._torch_target(instance)
        return torch_leaf(device, move, opts.dtype, fdt, None)

    def _numpy_in_leaf(self, base: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """A NumPy-side leaf that warns, once per function, when it detaches a gradient."""

        def leaf(x: Any) -> Any:
            if isinstance(x, _Tensor) and x.requires_grad and not self.warned:
                self._warn_detached()
            return base(x)

        return leaf

    def _warn_detached(self) -> None:
        with self._lock:
            if self.warned:
                return
            self.warned = True
        warnings.warn(
            f"{self.qualname}() received a tensor that requires grad; its NumPy body gets a "
            "detached copy, so no gradient flows through this call",
            GradientDetachedWarning,
            stacklevel=_caller_level(),
        )

    # -- the call --------------------------------------------------------------

    def prepare(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[_Call | None, Any, dict[str, Any]]:
        """The arguments the body receives, and what the mirror rule saw."""
        if not self.fast:
            return self._convert_slow(instance, args, kwargs)
        leaf = self._torch_in_leaf(instance) if self.inputs == "torch" else self._plain_numpy
        try:
            memo: dict[int, Any] = {}  # shared by this call's containers: aliasing is kept
            new_args = [_convert(leaf, a, memo) for a in args]
            new_kwargs = {k: _convert(leaf, v, memo) for k, v in kwargs.items()} if kwargs else kwargs
        except Exception:
            self._convert_slow(instance, args, kwargs)  # raises, naming the argument
            raise  # the slow path succeeded after all: report the original failure
        return None, new_args, new_kwargs

    def call(self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Convert, call the body, convert what it returns (wrapt's wrapper signature).

        The common case (NumPy arrays into a torch body on the CPU, no
        options, a tensor back to NumPy) is written out inline: it is what a
        decorated function costs over hand-written conversions.
        """
        if (
            self.plain
            and instance is None
            and not kwargs
            and _device_var.get() is None
            and _float_var.get() is None
            and not _modes_active()
        ):
            new_args = []
            memo: dict[int, Any] = {}
            try:
                for a in args:
                    if type(a) is _ndarray and a.flags.writeable:
                        try:
                            new_args.append(_from_numpy(a))
                            continue
                        except (TypeError, ValueError):
                            pass
                    new_args.append(_convert(self._plain_torch, a, memo))
            except Exception:
                self._convert_slow(instance, args, kwargs)  # raises, naming the argument
                raise
            result = wrapped(*new_args)
            if self.outputs_numpy and type(result) is _Tensor:
                try:
                    out = result.numpy()
                except (RuntimeError, TypeError):
                    pass
                else:
                    return out[()] if out.ndim == 0 else out
            return self.finish(result, instance, None, "return value")
        state, new_args, new_kwargs = self.prepare(instance, args, kwargs)
        if self.opts.no_grad:
            with torch.no_grad():
                result = wrapped(*new_args, **new_kwargs)
        else:
            result = wrapped(*new_args, **new_kwargs)
        return self.finish(result, instance, state, "return value")

    def finish(self, result: Any, instance: Any, state: _Call | None, what: str) -> Any:
        """Convert a result (a return value or a yielded value)."""
        try:
            if self.outputs == "numpy":
                if type(result) is _Tensor:
                    try:
                        out = result.numpy()
                    except (RuntimeError, TypeError):
                        pass
                    else:
                        return out[()] if out.ndim == 0 else out
                return tree_map(self._numpy_out, result)
            if self.outputs == "torch":
                device, move, _ = self._torch_target(instance)
                return tree_map(torch_leaf(device, move, None, None, None), result)
            if self.outputs == "mirror":
                return self._mirror(result, state)
            return self._annotated_result(result, instance)
        except Exception as exc:
            raise with_path(exc, f"{self.qualname}() {what}") from exc

    # -- the slow path: names, only/exclude, annotations, the mirror rule ---------

    def _convert_slow(
        self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[_Call, list[Any], dict[str, Any]]:
        state = _Call(record=self.outputs == "mirror")
        offset = self.bound_offset if instance is not None else 0
        params = self.params
        specs = self._annotation_specs()[0] if self.inputs == "annotated" else None
        new_args = list(args)
        new_kwargs = dict(kwargs)
        for i, a in enumerate(args):
            name, _rest = params.positional_name(i, offset)
            if params.wanted(name):
                try:
                    new_args[i] = self._convert_input(a, name, specs, instance, state)
                except Exception as exc:
                    raise with_path(exc, f"{self.qualname}() argument {params.label(i, None, offset)}") from exc
        for key, v in kwargs.items():
            name, caught = params.keyword_name(key)
            if params.wanted(name, caught):
                try:
                    new_kwargs[key] = self._convert_input(v, name, specs, instance, state)
                except Exception as exc:
                    raise with_path(exc, f"{self.qualname}() argument {key!r}") from exc
        return state, new_args, new_kwargs

    def _leaves(self, state: _Call, instance: Any) -> None:
        if state.torch_leaf is None:
            device, move, fdt = self._torch_target(instance)
            state.torch_leaf = torch_leaf(device, move, self.opts.dtype, fdt, None)
            state.numpy_leaf = self._numpy_in_leaf(numpy_leaf(self.opts.np_dtype, self.opts.np_float_dtype, None))

    def _convert_input(
        self, value: Any, name: str | None, specs: dict[str, Spec | None] | None, instance: Any, state: _Call
    ) -> Any:
        if specs is None:
            spec: Spec | None = TORCH if self.inputs == "torch" else NUMPY
        else:
            spec = specs.get(name) if name is not None else None
        return self._apply(spec, value, state, instance)

    def _apply(self, spec: Spec | None, value: Any, state: _Call, instance: Any) -> Any:
        """Convert ``value`` as ``spec`` asks, sharing one memo per direction for the call."""
        if spec is None:
            return value
        if spec.kind == "tuple":
            if not isinstance(value, tuple) or len(value) != len(spec.items):
                return value
            items = [self._apply(s, v, state, instance) for s, v in zip(spec.items, value)]
            cls: Any = type(value)
            return cls._make(items) if hasattr(value, "_fields") else cls(items)
        if spec.kind == "each":
            inner = spec.items[0]
            if isinstance(value, dict):
                return type(value)({k: self._apply(inner, v, state, instance) for k, v in value.items()})
            if isinstance(value, (list, tuple)):
                return type(value)([self._apply(inner, v, state, instance) for v in value])
            return value
        self._leaves(state, instance)
        if spec.kind == "torch":
            leaf = state.torch_leaf
            assert leaf is not None
        elif spec.dtype is None:
            leaf = state.numpy_leaf
            assert leaf is not None
        else:  # NDArray[np.float32]: its own cast; only arguments warn about gradients
            leaf = numpy_leaf(spec.dtype, None, None)
            if state.arguments:
                leaf = self._numpy_in_leaf(leaf)
        if state.record:
            leaf = _recording(leaf, state)
        memo = state.memos.setdefault(spec.kind if spec.dtype is None else str(spec.dtype), {})
        return tree_map(leaf, value, memo)

    def _annotation_specs(self) -> tuple[dict[str, Spec | None], Spec | None]:
        """Each parameter's spec and the return's, resolved on the first call."""
        if self._specs is None:
            hints = resolve_hints(self.func)
            specs = {name: spec_of(hint) for name, hint in hints.items() if name != "return"}
            self._specs = (specs, spec_of(hints.get("return")))
        return self._specs

    def _annotated_result(self, result: Any, instance: Any) -> Any:
        spec = self._annotation_specs()[1]
        if spec is None:
            return result
        state = _Call(arguments=False)
        device, move, _ = self._torch_target(instance)
        state.torch_leaf = torch_leaf(device, move, None, None, None)
        state.numpy_leaf = self._numpy_out
        return self._apply(spec, result, state, instance)

    def _mirror(self, result: Any, state: _Call | None) -> Any:
        """Give the result back in the caller's kind, device and floating dtype."""
        if state is None or state.kind is None:
            return result
        restore = self.opts.restore_dtype
        if state.kind == "torch":
            device = state.tensor_device or torch_default_device()
            fdt = state.torch_float if restore else None
            return tree_map(torch_leaf(device, True, None, fdt, None), result)
        np_fdt = state.numpy_float if restore else None
        return tree_map(numpy_leaf(None, np_fdt, None), result)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_WRAPT_DIR = os.path.dirname(os.path.abspath(wrapt.__file__))


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the user's call, past our frames and wrapt's."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and os.path.dirname(frame.f_code.co_filename) in (_PACKAGE_DIR, _WRAPT_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _convert(leaf: Callable[[Any], Any], value: Any, memo: dict[int, Any]) -> Any:
    """One argument: a leaf straight through ``leaf``, a container walked."""
    kind = _KINDS.get(type(value))
    if kind == _LEAF or kind == _ATOM:
        return leaf(value)
    return tree_map(leaf, value, memo)


def _recording(leaf: Callable[[Any], Any], state: _Call) -> Callable[[Any], Any]:
    """A leaf that also notes the caller's kind, first tensor device and first float dtypes."""

    def record(x: Any) -> Any:
        if isinstance(x, _Tensor):
            if state.kind != "torch":
                state.kind = "torch"
                state.tensor_device = x.device
            if state.torch_float is None and x.is_floating_point():
                state.torch_float = x.dtype
        elif isinstance(x, (_ndarray, np.generic)):
            if state.kind is None:
                state.kind = "numpy"
            if state.numpy_float is None and x.dtype.kind == "f":
                state.numpy_float = x.dtype.newbyteorder("=")
        return leaf(x)

    return record
