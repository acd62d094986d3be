"""``numpy_inside(op=...)``: a NumPy body registered as a torch operator.

NumPy code that torch cannot trace (SciPy, Cython, loops on values) still has
to live inside compiled and exported models and carry gradients. Registered
with ``torch.library.custom_op``, it is one opaque node in every graph:
``torch.compile(..., fullgraph=True)`` and ``torch.export`` see an operator
whose results' shapes and dtypes ``.fake`` gives, and autograd sees a
backward formula that calls a second operator, ``.backward``'s NumPy code.

What runs inside the operator is the ordinary ``numpy_inside`` rule set: the
body's leaf (``_into_numpy``), made read-only (the operator declares that it
writes to none of its inputs), the body, and the mirror rule
(:meth:`~toolkit._outputs.MirrorOut.finish`) for the results. This module
only lays the signature out as a schema and wires the pieces to torch.

NumPy callers run the body directly, as without the option. Defining the same
name again (a re-run notebook cell) replaces the operator, as
``custom_op`` does.

Only :func:`traced_call` and :func:`entry` are left for dynamo to trace:
they are what a compiled caller inlines (the rest of the module is marked
as frames dynamo skips).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._calls import Call, Options
from ._convert import to_torch
from ._dynamo import skip_frames
from ._errors import ConversionError
from ._into_numpy import fast_numpy, read_only
from ._jax import is_tracer, through_callback
from ._mirror import Seen, note, observe
from ._outputs import MirrorOut
from ._params import Params, resolve_hints, spec_of
from ._trace import ACTIVE

__all__ = ["OperatorOut", "entry", "traced_call"]

_Tensor = torch.Tensor
_EMPTY = inspect.Parameter.empty
_CPU = torch.device("cpu")
_WHERE = "@numpy_inside(op=...)"
_SCALARS: dict[type, str] = {bool: "bool", int: "SymInt", float: "float", str: "str"}
_LISTS: dict[type, str] = {int: "SymInt[]", float: "float[]"}
_TAKES = "arrays, int, float, bool, str and lists of int or float"


@dataclass(frozen=True)
class Param:
    """One operator argument: the function's parameter, its schema type, and its default."""

    name: str
    type: str  # "Tensor", "Tensor?", "SymInt", "float", "bool", "str", "SymInt[]", "float[]" (with "?")
    default: Any  # inspect.Parameter.empty where there is none

    @property
    def tensor(self) -> bool:
        return self.type.startswith("Tensor")

    def schema(self) -> str:
        text = f"{self.type} {self.name}"
        return text if self.default is _EMPTY else f"{text}={_literal(self.default)}"


def _literal(value: Any) -> str:
    """A default value as a schema writes it."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _kind_of(name: str, annotation: Any, default: Any, function: str) -> str:
    """The schema type of one parameter, from its annotation, else its default, else ``Tensor``."""
    refused = TypeError(
        f"{_WHERE}: {function} parameter {name!r} ({annotation if annotation is not _EMPTY else default!r}) "
        f"cannot be an operator argument; an operator takes {_TAKES}"
    )
    if annotation is _EMPTY or annotation is Any:  # what the default says; a tensor where there is none
        if default is _EMPTY:
            return "Tensor"
        if default is None:
            return "Tensor?"
        if type(default) in _SCALARS:
            return _SCALARS[type(default)]
        items = default if isinstance(default, (list, tuple)) else ()
        if items and type(items[0]) in _LISTS and all(type(v) is type(items[0]) for v in items):
            return _LISTS[type(items[0])]
        raise refused
    optional = ""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        real = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(real) != 1:
            raise refused
        annotation, optional = real[0], "?"
    elif default is None:
        optional = "?"
    if annotation in _SCALARS:
        return _SCALARS[annotation] + optional
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (None,)
        if item in _LISTS:
            return _LISTS[item] + optional
        raise refused
    if _array(annotation):
        return "Tensor" + optional
    raise refused


def _array(annotation: Any) -> bool:
    """Whether an annotation names one array or tensor (not a container of them)."""
    if typing.get_origin(annotation) in (list, dict, tuple, set, frozenset):
        return False
    spec = spec_of(annotation)
    return spec is not None and spec.kind in ("torch", "numpy")


def _results_of(annotation: Any, function: str) -> int:
    """How many arrays the body returns, from its return annotation (one where there is none)."""
    if annotation is _EMPTY or annotation is None or annotation is Any:
        return 1
    if _array(annotation):
        return 1
    items = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and items and Ellipsis not in items and all(map(_array, items)):
        return len(items)
    raise TypeError(
        f"{_WHERE}: {function} is annotated to return {annotation}; an operator returns an array or a "
        "tuple of arrays (annotate it -> tuple[np.ndarray, np.ndarray] for two)"
    )


def layout_of(func: Callable[..., Any], function: str) -> tuple[tuple[Param, ...], int]:
    """The operator's arguments (the function's parameters in order) and how many results it has."""
    hints = resolve_hints(func)
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise TypeError(
                f"{_WHERE}: {function} parameter '{star}{p.name}' cannot be an operator argument: an "
                "operator has a fixed list of arguments (name each one)"
            )
        if p.name in ("self", "cls") and p.annotation is _EMPTY:
            raise TypeError(f"{_WHERE}: {function} is a method; an operator is made from a module-level function")
        params.append(Param(p.name, _kind_of(p.name, hints.get(p.name, _EMPTY), p.default, function), p.default))
    return tuple(params), _results_of(hints.get("return", _EMPTY), function)


def default_name(func: Callable[..., Any]) -> str:
    """``namespace::name`` for ``op=True``: the module and the qualified name, as identifiers."""
    module = re.sub(r"\W", "_", getattr(func, "__module__", None) or "main").strip("_") or "main"
    qualname = getattr(func, "__qualname__", func.__name__).replace("<locals>.", "")
    name = re.sub(r"\W", "_", qualname)
    return f"{module}::{'_' + name if name[0].isdigit() else name}"


def _checked_name(op: Any, func: Callable[..., Any]) -> str:
    if op is True:
        return default_name(func)
    if not isinstance(op, str) or not re.fullmatch(r"[A-Za-z_]\w*::[A-Za-z_]\w*", op):
        raise TypeError(f'{_WHERE}: op must be True or "namespace::name" (identifiers), got {op!r}')
    return op


class OperatorOut(MirrorOut):
    """``numpy_inside`` with ``op=``: tensor callers go through a ``torch.library`` operator.

    ``extra`` is the decorated function's options dict: ``.fake`` and
    ``.backward`` are kept in it, so a copy pickled by value is decorated
    again with them.
    """

    def __init__(
        self,
        qualname: str,
        params: Params,
        body: str,
        options: Options,
        offset: int,
        func: Callable[..., Any],
        op: Any,
        extra: dict[str, Any],
    ) -> None:
        super().__init__(qualname, params, body, options, offset, func)
        if not isinstance(func, types.FunctionType):
            raise TypeError(f"{_WHERE} makes operators from Python functions, not {type(func).__name__} objects")
        self.name = _checked_name(op, func)
        self.layout, self.results = layout_of(func, self.function)
        self.index = {p.name: i for i, p in enumerate(self.layout)}
        self.tensor_at = tuple(i for i, p in enumerate(self.layout) if p.tensor)
        self.extra = extra
        self.fake_fn: Callable[..., Any] | None = extra.get("fake")
        self.backward_fn: Callable[..., Any] | None = None
        self.backward_op: Any = None
        self._plain_in = options.dtype is None and options.float_dtype is None
        self._define()
        if extra.get("backward") is not None:
            self.set_backward(extra["backward"])

    # -- registration --------------------------------------------------------------

    def _define(self) -> None:
        args = ", ".join(p.schema() for p in self.layout)
        results = "Tensor" if self.results == 1 else "(" + ", ".join(["Tensor"] * self.results) + ")"
        opdef = torch.library.custom_op(self.name, self._kernel, mutates_args=(), schema=f"({args}) -> {results}")
        opdef.register_fake(self._fake)
        opdef.register_autograd(self._backward_formula, setup_context=self._setup)
        opdef.register_vmap(self._vmap)
        self.opdef = opdef
        namespace, name = self.name.split("::")
        self.operator = getattr(getattr(torch.ops, namespace), name)
        self.overload = self.operator.default

    def set_fake(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.fake_fn = self.extra["fake"] = fn
        return fn

    def set_backward(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn`` (NumPy gradients of the array arguments) as an operator of its own."""
        inputs = [f"{p.type} {p.name}" for p in self.layout]
        grads = [f"Tensor _grad{i}" for i in range(self.results)]
        outs = len(self.tensor_at)
        results = "Tensor" if outs == 1 else "(" + ", ".join(["Tensor"] * outs) + ")"
        opdef = torch.library.custom_op(
            self.name + "_backward",
            self._backward_kernel,
            mutates_args=(),
            schema=f"({', '.join(inputs + grads)}) -> {results}",
        )
        opdef.register_fake(self._backward_fake)
        namespace, name = (self.name + "_backward").split("::")
        self.backward_op = getattr(getattr(torch.ops, namespace), name).default
        self.backward_fn = self.extra["backward"] = fn
        return fn

    # -- inside the operator ---------------------------------------------------------

    def _numpy(self, value: Any) -> Any:
        """What the body receives for one operator argument: tensors as read-only NumPy."""
        if type(value) is _Tensor:
            out = fast_numpy(value) if self._plain_in else None  # the rule's own fast case
            if type(out) is np.ndarray:
                out.setflags(write=False)  # a new array over the tensor: no view needed
                return out
            if out is None:
                out = self.numpy_in(value.detach() if value.requires_grad else value)
            return read_only(out)
        return value

    def _kernel(self, *values: Any) -> Any:
        result = self.run(self.func, [self._numpy(v) for v in values], {})
        out = NotImplemented
        if not ACTIVE[0] and type(result) is not tuple:  # the rule's fast case (a trace takes the full one)
            first = _first_tensor(values)
            if first is not None and first.is_cpu:
                out = self.plain_result(result, first, None)
        if out is NotImplemented:
            call = Call(_CPU, False, None)
            for value in values:  # the mirror rule, from each argument (an operator's are flat)
                note(call, value)
            out = self.finish(result, call, "return value")
        return self._outputs(out, self.results, "return value")

    def _outputs(self, out: Any, count: int, what: str) -> Any:
        """``out`` as the schema declares it: a tensor, or a tuple of ``count``.

        No result aliases an input: the body's inputs are read-only, and the
        rule copies read-only memory into a tensor (a test holds this).
        """
        if type(out) is _Tensor and count == 1:
            return out
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(outs) != count or not all(isinstance(t, _Tensor) for t in outs):
            got = f"a {type(out).__name__} of {len(outs)}" if isinstance(out, (tuple, list)) else type(out).__name__
            raise ConversionError(
                f"{self.function} {what}: the operator {self.name} returns "
                f"{'an array' if count == 1 else f'a tuple of {count} arrays'}, got {got}"
                + ("" if count > 1 else "; annotate the return -> tuple[np.ndarray, ...] for several")
            )
        return outs[0] if count == 1 else outs

    def _fake(self, *values: Any) -> Any:
        if self.fake_fn is None:
            raise RuntimeError(self._needs_fake())
        return self._outputs(self.fake_fn(*values), self.results, "fake result")

    def _needs_fake(self) -> str:
        short = self.function[:-2]
        return (
            f"{self.function} is a NumPy operator ({self.name}) without .fake, so torch.compile and "
            f"torch.export cannot know its results: decorate a function that returns them from meta "
            f"tensors with @{short}.fake (def _(x, ...): return torch.empty_like(x))"
        )

    def _setup(self, ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.slots = tuple(i for i, v in enumerate(inputs) if isinstance(v, _Tensor))
        ctx.values = tuple(None if isinstance(v, _Tensor) else v for v in inputs)
        ctx.save_for_backward(*(inputs[i] for i in ctx.slots))

    def _backward_formula(self, ctx: Any, *grads: Any) -> tuple[Any, ...]:
        if self.backward_op is None:
            raise RuntimeError(
                f"{self.function}: the operator {self.name} has no .backward; decorate the NumPy gradient "
                f"with @{self.function[:-2]}.backward"
            )
        values = list(ctx.values)
        for slot, saved in zip(ctx.slots, ctx.saved_tensors):
            values[slot] = saved
        found = self.backward_op(*values, *grads)
        found = found if isinstance(found, tuple) else (found,)
        out: list[Any] = [None] * len(values)
        for slot, grad in zip(self.tensor_at, found):
            if values[slot] is not None:
                out[slot] = grad
        return tuple(out)

    def _backward_kernel(self, *values: Any) -> Any:
        inputs, grads = values[: len(self.layout)], values[len(self.layout) :]
        assert self.backward_fn is not None
        found = self.run(self.backward_fn, [self._numpy(v) for v in (*inputs, *grads)], {})
        found = found if isinstance(found, tuple) else (found,)
        if len(found) != len(self.tensor_at):
            names = ", ".join(repr(self.layout[i].name) for i in self.tensor_at)
            raise ConversionError(
                f"{self.function} .backward returned {len(found)} gradient(s); it returns one per array "
                f"argument ({names}), or None for one that needs none"
            )
        out = []
        for slot, grad in zip(self.tensor_at, found):
            x = inputs[slot]
            if x is None:
                out.append(torch.empty(0))
            elif grad is None:
                out.append(torch.zeros_like(x))
            else:
                tensor = to_torch(grad, device=x.device, dtype=x.dtype)
                if not isinstance(tensor, _Tensor) or tensor.shape != x.shape:
                    raise ConversionError(
                        f"{self.function} .backward: the gradient of {self.layout[slot].name!r} has shape "
                        f"{tuple(getattr(tensor, 'shape', ()))}, and the argument {tuple(x.shape)}"
                    )
                out.append(tensor)
        return self._outputs(tuple(out) if len(out) > 1 else out[0], len(out), ".backward result")

    def _backward_fake(self, *values: Any) -> Any:
        inputs = values[: len(self.layout)]
        out = [torch.empty_like(inputs[s]) if inputs[s] is not None else torch.empty(0) for s in self.tensor_at]
        return out[0] if len(out) == 1 else tuple(out)

    def _vmap(self, info: Any, in_dims: tuple[Any, ...], *values: Any) -> Any:
        """``torch.func.vmap``: one call per batch element, results stacked."""
        per = []
        for i in range(info.batch_size):
            per.append(self.overload(*(v if d is None else v.select(d, i) for v, d in zip(values, in_dims))))
        if self.results == 1:
            return torch.stack(per), 0
        return tuple(torch.stack([p[k] for p in per]) for k in range(self.results)), (0,) * self.results

    # -- the call ------------------------------------------------------------------------

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """The operator's arguments, in parameter order, defaults filled in (Python's errors, by name)."""
        layout = self.layout
        if len(args) > len(layout):
            raise TypeError(f"{self.function} takes {len(layout)} arguments but {len(args)} were given")
        values = list(args) + [_EMPTY] * (len(layout) - len(args))
        for key, value in kwargs.items():
            at = self.index.get(key)
            if at is None:
                raise TypeError(f"{self.function} got an unexpected keyword argument {key!r}")
            if values[at] is not _EMPTY:
                raise TypeError(f"{self.function} got multiple values for argument {key!r}")
            values[at] = value
        for at, value in enumerate(values):
            if value is _EMPTY:
                default = layout[at].default
                if default is _EMPTY:
                    raise TypeError(f"{self.function} missing a required argument: {layout[at].name!r}")
                values[at] = default
        return values

    def __call__(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        seen = _seen(args, kwargs)
        if seen.kind != "torch":
            if (seen.other is not None or seen.kind == "numpy") and any(map(is_tracer, (*args, *kwargs.values()))):
                values = self.bind(args, kwargs)  # inside jax.jit: a callback, from .fake
                return through_callback(self.function, self.layout, values, self.fake_fn, self._host)
            return super().__call__(wrapped, instance, args, kwargs)  # NumPy callers: the body, as without op=
        values = list(args) if not kwargs and len(args) == len(self.layout) else self.bind(args, kwargs)
        device = seen.tensor_device
        grad = False
        for at in self.tensor_at:
            value = values[at]
            if type(value) is _Tensor:
                grad = grad or value.requires_grad
            elif value is not None and not isinstance(value, _Tensor):
                try:  # a NumPy array beside tensors: a tensor on the first tensor's device, as the rule says
                    values[at] = to_torch(value, device=device)
                except Exception as exc:
                    raise ConversionError(f"{self.function} argument {self.layout[at].name!r}: {exc}") from exc
                if not isinstance(values[at], _Tensor):
                    raise ConversionError(
                        f"{self.function} argument {self.layout[at].name!r}: the operator takes an array here, "
                        f"got {type(value).__name__}"
                    )
            else:
                grad = grad or (value is not None and value.requires_grad)
        if grad and self.backward_fn is None and torch.is_grad_enabled():
            self.warn_detached(args, kwargs)
            values = [v.detach() if isinstance(v, _Tensor) else v for v in values]
        return self.overload(*values)

    def _host(self, values: list[Any]) -> Any:
        """The body on concrete NumPy arguments (a JAX callback's), by the NumPy caller's rules."""
        return super().__call__(self.func, None, tuple(values), {})

    def plain_call(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        return entry(self, wrapped)

    def members(self) -> dict[str, Any]:
        return members(self)


def _first_tensor(values: tuple[Any, ...]) -> Any:
    for value in values:
        if isinstance(value, _Tensor):
            return value
    return None


def _seen(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Seen:
    """What the mirror rule notes of a call: leaf by leaf where the arguments are flat, as an
    operator's are; walked (:func:`~toolkit._mirror.observe`) where one is a container."""
    seen = Seen()
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple, dict)):
            return observe((args, kwargs), Seen())
        note(seen, value)
        if seen.kind == "torch":
            return seen  # nothing later changes the kind, or the first tensor
    return seen


def traced_call(path: OperatorOut, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The operator called from compiled code: only what dynamo traces (the arguments are tensors there)."""
    values = list(args) + [p.default for p in path.layout[len(args) :]]
    for key, value in kwargs.items():
        values[path.index[key]] = value
    if path.backward_op is None:  # no gradient to give: the result does not require one
        values = [v.detach() if isinstance(v, _Tensor) else v for v in values]
    return path.overload(*values)


def entry(path: OperatorOut, wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """The ``__call__`` of a decorated operator: traced by a compiled caller, the full call otherwise."""
    full = path.__call__

    def call(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
        if torch.compiler.is_compiling():
            return traced_call(path, args, kwargs)
        return full(wrapped, None, args, kwargs)

    call.__qualname__ = "NumpyOperator.__call__"
    return call


def members(path: OperatorOut) -> dict[str, Any]:
    """What a decorated operator adds to the function: ``operator``, ``fake`` and ``backward``."""

    def fake(proxy: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register the function that gives the results' shapes and dtypes from meta tensors."""
        return path.set_fake(fn)

    def backward(proxy: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register the NumPy gradients: ``fn(*inputs, *grads)`` -> one per array argument."""
        return path.set_backward(fn)

    return {"operator": property(lambda proxy: path.operator), "fake": fake, "backward": backward}


skip_frames(__name__, keep=("entry", "traced_call"))
