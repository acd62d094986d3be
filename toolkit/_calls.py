"""What a decorated function does around its body: one call path per kind of output.

A path is built when the decorator is applied and holds every decision that
does not depend on the call. Per call it

1. works out where tensors made now go and in which float dtype
   (:func:`~toolkit._defaults.torch_target`: option, module, scope, torch);
2. converts the arguments (one leaf for every argument, or one per
   parameter for ``only=``, ``exclude=`` and annotations), with one memo for
   the whole call, so an object passed twice converts once;
3. runs the body (under ``no_grad`` if asked; a NumPy body never traced by
   ``torch.compile``);
4. converts the result, as the subclass for its kind of output says
   (``_outputs``: NumPy, torch, the mirror rule, annotations), chosen when
   the decorator is applied.

A decorated plain function also has a plain entry (``_plain``) for the call
that nothing about the moment can change. Errors are given their path where
they happen, so nothing converts twice to find out.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import wrapt

from ._defaults import AUTO, auto_device, check_present, torch_target
from ._dtypes import TORCH_TO_NUMPY, torch_dtype
from ._dynamo import compiling, eager, skip_frames
from ._errors import ConversionError, DeviceError, GradientDetachedWarning, argument_of, failed_at, push_key, with_path
from ._into_numpy import numpy_body_leaf
from ._into_torch import torch_leaf
from ._mirror import Seen, noting
from ._module import module_of, module_settings
from ._params import NUMPY, TORCH, Params, Spec, Table, resolve_hints, spec_of
from ._plain import Plan, plain_entry
from ._skip import Skip, seed
from ._trace import ACTIVE, Recorder, recorder
from ._tree import (
    KEEP,
    Leaf,
    Memo,
    convert_items,
    kind_of,
    leaves_with_paths,
    piece,
    remake_mapping,
    remake_sequence,
    walk,
    walk_values,
)

__all__ = ["Call", "CallPath", "Leaf", "Options", "by_spec", "caller_level", "traced"]


@dataclass(frozen=True)
class Options:
    """A decorator's options, checked and normalised (their defaults: ``_presets.OPTIONS``)."""

    device: torch.device | None
    dtype: torch.dtype | None
    float_dtype: torch.dtype | None
    no_grad: bool
    restore_dtype: bool
    only: frozenset[str] | None
    exclude: frozenset[str] | None
    skip: Skip | None

    @property
    def np_dtype(self) -> np.dtype[Any] | None:
        """``dtype`` for a NumPy body (``bfloat16`` is ``float32`` there)."""
        return TORCH_TO_NUMPY.get(self.dtype) if self.dtype is not None else None

    @property
    def np_float_dtype(self) -> np.dtype[Any] | None:
        """``float_dtype`` for a NumPy body."""
        return TORCH_TO_NUMPY.get(self.float_dtype) if self.float_dtype is not None else None


class Call(Seen):
    """What one call has decided: where tensors it makes go, and what the mirror rule saw."""

    def __init__(self, device: torch.device, move: bool, float_dtype: torch.dtype | None) -> None:
        self.device = device
        self.move = move
        self.float_dtype = float_dtype  # for what the body receives
        self.rec: Recorder | None = None
        self.result_memo: Memo | None = None  # skip=: the result's skipped values, as their own results


class CallPath:
    """Everything a decorated function does around its body, but converting its result.

    Args:
        qualname: the name errors use (``score``, ``Model.forward``).
        params: the signature's layout.
        body: ``"torch"``, ``"numpy"`` or ``"annotated"``: what the body receives.
        options: the decorator's options.
        offset: parameters the binding consumes when a call comes with an
            instance (``self`` or ``cls``).
        func: the function, for its annotations.
    """

    mirror = False  # whether leaves note what the caller passed (MirrorOut)
    torch_results = False  # whether tensors made from NumPy results go to the target device (TorchOut)

    def __init__(
        self, qualname: str, params: Params, body: str, options: Options, offset: int, func: Callable[..., Any]
    ) -> None:
        self.function = f"{qualname}()"
        self.params = params
        self.body = body
        self.options = options
        self.offset = offset
        self.func = func
        self.numpy_body = body == "numpy"
        self.body_spec = TORCH if body == "torch" else NUMPY  # what every argument becomes (but annotated)
        self.numpy_parameters = body != "torch"  # some parameters may receive NumPy (for the trace's reasons)
        self.restore = options.restore_dtype
        self._warned = False
        self.grad_pending = [False]  # a tensor that requires grad was copied for the body: warn (once)
        self._lock = threading.Lock()
        self.numpy_in = numpy_body_leaf(options.np_dtype, options.np_float_dtype, self._detached)
        self._table: Table | None = None
        device = options.device
        # the device option is checked at the first call; CUDA at every call (a forked worker has none)
        self._check_device = device is not None and device is not AUTO
        self._cuda_option = self._check_device and device is not None and device.type == "cuda"
        self.uniform = body != "annotated" and options.only is None and options.exclude is None
        self.skip = options.skip

    # -- settings ----------------------------------------------------------------

    def settings(self, instance: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Call:
        opts = self.options
        if self._check_device:
            try:
                check_present(opts.device, str(opts.device))  # type: ignore[arg-type]
            except DeviceError as exc:
                raise DeviceError(f"{self.function}: {exc}") from None
            self._check_device = self._cuda_option
        mod_device = mod_float = None
        module = module_of(instance, args, kwargs)
        if module is not None:
            mod_device, mod_float = module_settings(module)
        option = auto_device() if opts.device is AUTO else opts.device
        device, move, fdt = torch_target(option, mod_device, opts.float_dtype, mod_float)
        return Call(device, move, None if opts.dtype is not None else fdt)

    def _leaf(self, spec: Spec, call: Call) -> Leaf:
        """The leaf that makes what ``spec`` asks of an argument, under this call's settings."""
        if spec.kind == "torch":
            dtype = self.options.dtype if spec.dtype is None else torch_dtype(spec.dtype)
            leaf = torch_leaf(call.device, call.move, dtype, call.float_dtype, None)
        elif spec.dtype is None:
            leaf = self.numpy_in
        else:  # NDArray[np.float32]: its own cast
            leaf = numpy_body_leaf(spec.dtype, None, self._detached)
        if self.mirror:
            leaf = noting(leaf, call)
        return traced(leaf, call.rec)

    # -- arguments ---------------------------------------------------------------

    def prepare(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, Any, Any]:
        """The call's settings, and the arguments the body receives."""
        call = self.settings(instance, args, kwargs)
        if ACTIVE[0]:
            call.rec = recorder(self.function, None, self.numpy_parameters)
        offset = self.offset if instance is not None else 0
        seeded = self._skipped(args, kwargs, offset) if self.skip is not None else None
        if self.uniform:
            leaf = self._leaf(self.body_spec, call)
            memo: Memo = {} if seeded is None else seeded
            try:
                if seeded is None:
                    new_args = walk_values(leaf, args, memo, failed_at)
                else:  # each argument through the memo, which holds the skipped values
                    new_args = list(convert_items(leaf, enumerate(args), memo, failed_at).values())
                new_kwargs = convert_items(leaf, kwargs.items(), memo, failed_at) if kwargs else {}
            except Exception as exc:
                raise self.named(exc, offset) from exc
        else:
            new_args, new_kwargs = self._selected(call, args, kwargs, offset, seeded)
        if self.grad_pending[0]:
            self.warn_detached(args, kwargs, offset)
        if call.rec is not None:
            for index, value in enumerate(new_args):
                call.rec.file(value, f"argument {self.params.label(index, None, offset)}")
            for key, value in new_kwargs.items():
                call.rec.file(value, f"argument {key!r}")
        return call, new_args, new_kwargs

    def _skipped(self, args: tuple[Any, ...], kwargs: dict[str, Any], offset: int) -> Memo:
        """A memo holding the values at ``skip=`` paths as their own results (paths built only here)."""
        assert self.skip is not None
        roots = [(self.params.root(i, None, offset), v) for i, v in enumerate(args)]
        roots += [(self.params.root(None, k, offset), v) for k, v in kwargs.items()]
        return seed(self.skip, roots)

    def named(self, exc: Exception, offset: int) -> Exception:
        """``exc`` with the function, the argument and the path in its message."""
        self.grad_pending[0] = False  # a failed call warns of nothing
        at = argument_of(exc)
        index, key = (at, None) if isinstance(at, int) else (0, at)
        return with_path(exc, f"{self.function} argument {self.params.label(index, key, offset)}")

    def _specs(self) -> Table:
        """What each argument asks for, worked out on the first call (annotations may name later classes)."""
        if self._table is None:
            opts = self.options
            if self.body == "annotated":
                hints = resolve_hints(self.func)
                specs = {name: spec_of(hint) for name, hint in hints.items() if name != "return"}
                self._table = self.params.table(lambda name, key: specs.get(name) if name else None)
            else:
                base = self.body_spec
                named = opts.only if opts.only is not None else opts.exclude or frozenset()

                def spec_for(name: str | None, key: str | None) -> Spec | None:
                    hit = bool({name, key} & named)
                    return base if hit == (opts.only is not None) else None

                self._table = self.params.table(spec_for, named)
        return self._table

    def _selected(
        self, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any], offset: int, seeded: Memo | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """Each argument as its parameter asks (``only=``, ``exclude=``, annotations)."""
        table = self._specs()
        memos: dict[Any, Memo] = {} if seeded is None else {SEED: seeded}

        def leaf_for(spec: Spec) -> Leaf:
            return self._leaf(spec, call)

        def convert(at: Callable[[Any], Spec | None], items: Any) -> dict[Any, Any]:
            out = {}
            for key, value in items:
                try:
                    out[key] = by_spec(at(key), value, leaf_for, memos, columns=True)
                except Exception as exc:
                    failed_at(exc, key)
                    raise
            return out

        try:
            new_args = list(convert(lambda i: table.at(i + offset), enumerate(args)).values())
            new_kwargs = convert(table.key, kwargs.items())
        except Exception as exc:
            raise self.named(exc, offset) from exc
        return new_args, new_kwargs

    def _detached(self) -> None:
        """A tensor that requires grad reached the NumPy body: the warning is due, once per function.

        The leaf that copied it does not know its path; :meth:`warn_detached`,
        called once the arguments are converted, finds it (without converting
        anything again) and warns.
        """
        if not self._warned:
            self.grad_pending[0] = True

    def warn_detached(self, args: tuple[Any, ...], kwargs: dict[str, Any] | None, offset: int = 0) -> None:
        """Warn, naming the argument path of the first tensor that requires grad."""
        with self._lock:
            if self._warned:
                return
            self._warned = True
            self.grad_pending[0] = False
        table = None if self.uniform else self._specs()
        items = [
            (self.params.label(i, None, offset), v)
            for i, v in enumerate(args)
            if table is None or _numpy_bound(table.at(i + offset))
        ]
        items += [(repr(k), v) for k, v in (kwargs or {}).items() if table is None or _numpy_bound(table.key(k))]
        where = _grad_path(items)
        warnings.warn(
            f"{self.function} argument {where} requires grad; its NumPy body gets a detached copy, "
            "so no gradient flows through this call",
            GradientDetachedWarning,
            stacklevel=caller_level(),
        )

    # -- the call ------------------------------------------------------------------

    def run(self, wrapped: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """The body itself: under ``no_grad`` if asked; a NumPy body never compiled by dynamo."""
        if self.numpy_body and compiling():
            return eager(wrapped)(*args, **kwargs)
        if self.options.no_grad:
            with torch.no_grad():
                return wrapped(*args, **kwargs)
        return wrapped(*args, **kwargs)

    def __call__(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Convert, call the body, convert what it returns (wrapt's wrapper signature)."""
        call, new_args, new_kwargs = self.prepare(instance, args, kwargs)
        return self.finish(self.run(wrapped, new_args, new_kwargs), call, "return value")

    def finish(self, result: Any, call: Call, what: str) -> Any:
        """Convert a result (a return value or a yielded value)."""
        rec = recorder(self.function) if ACTIVE[0] else None
        if self.skip is not None:
            call.result_memo = seed(self.skip, [(what, result)])
        try:
            out = self._result(result, call, rec)
        except Exception as exc:
            raise with_path(exc, f"{self.function} {what}") from exc
        if rec is not None:
            rec.file(out, what)
        return out

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        raise NotImplementedError

    def plain_result(self, result: Any, tensor: Any, array: Any) -> Any:
        """The result of a plain call, or ``NotImplemented`` for the full path.

        ``tensor`` and ``array`` are the first tensor and the first NumPy array
        among the call's arguments (or ``None``), for the mirror rule.
        """
        return NotImplemented

    def plain_annotations(self) -> tuple[Spec | None, tuple[Spec | None, ...], int, Callable[..., Any]]:
        raise NotImplementedError  # only AnnotatedOut's arguments follow annotations

    def plain_call(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        """The ``__call__`` of a decorated plain function: its plain entry, where the options allow one."""
        return plain_entry(self.plan(), wrapped)

    def traced_entry(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        """What a compiled caller traces for a torch body whose caller gets tensors (``_traced``), or ``None``."""
        if self.body != "torch" or not (self.torch_results or self.mirror):
            return None
        from ._traced import traced_entry

        return traced_entry(self, wrapped)

    def members(self) -> dict[str, Any]:
        """Attributes the decorated function adds (an operator's ``operator``, ``fake``, ``backward``)."""
        return {}

    def plan(self) -> Plan | None:
        """What the plain entry needs, or ``None`` where the options leave something to decide per call."""
        opts = self.options
        if opts.device is not None or opts.dtype is not None or opts.float_dtype is not None or opts.no_grad:
            return None
        if opts.only is not None or opts.exclude is not None or opts.skip is not None:
            return None
        return Plan(
            full=self.__call__,
            named=self.named,
            settings=self.settings,
            finish=self.finish,
            result=self.plain_result,
            numpy_in=self.numpy_in,
            grad_pending=self.grad_pending,
            warn_detached=self.warn_detached,
            numpy_body=self.numpy_body,
            walkable=self.uniform and not self.mirror,
            # torch's default device decides where tensors made from NumPy data go: a torch
            # body's arguments, and results for a torch caller (mirror results: the caller's device).
            moded=not self.numpy_body or self.torch_results,
            mirror=self.mirror,
            annotations=None if self.uniform else self.plain_annotations,
        )


def _numpy_bound(spec: Spec | None) -> bool:
    """Whether an argument with this spec reaches the body as NumPy (in part, for containers)."""
    return spec is not None and spec.kind != "torch"


def _grad_path(arguments: list[tuple[str, Any]]) -> str:
    """The path, as errors write it, of the first tensor that requires grad among ``(label, argument)``."""
    for label, value in arguments:
        for path, leaf in leaves_with_paths(value):
            if isinstance(leaf, torch.Tensor) and leaf.requires_grad:
                return label + path
    return "(one of them)"


def traced(leaf: Leaf, rec: Recorder | None) -> Leaf:
    """``leaf``, noting its conversions for the trace where one is active."""
    return leaf if rec is None else rec.wrap(leaf)


def by_spec(
    spec: Spec | None, value: Any, leaf_for: Callable[[Spec], Leaf], memos: dict[Any, Memo], columns: bool = False
) -> Any:
    """``value`` converted as ``spec`` asks, with the leaf ``leaf_for`` gives; one memo per kind of target.

    With ``columns`` (arguments, not results) a list or tuple of Python numbers
    where an array or tensor is annotated becomes one.
    """
    if spec is None:
        return value
    if spec.kind == "tuple":
        if not isinstance(value, tuple) or len(value) != len(spec.items):
            return value
        return remake_sequence(value, _each(spec.items, value, enumerate(value), leaf_for, memos, columns))
    if spec.kind == "each":
        inner = spec.items[0]
        if isinstance(value, dict):
            keys = list(value)
            items = _each(itertools.repeat(inner), value, value.items(), leaf_for, memos, columns)
            return remake_mapping(value, dict(zip(keys, items)))
        if isinstance(value, (list, tuple)):
            return remake_sequence(
                value, _each(itertools.repeat(inner), value, enumerate(value), leaf_for, memos, columns)
            )
        return value
    memo = memos.get((spec.kind, spec.dtype))
    if memo is None:  # one per kind of target, each starting from skip='s values
        memo = memos[(spec.kind, spec.dtype)] = dict(memos.get(SEED) or {})
    if columns:  # lists of numbers where arrays are annotated: data-set columns (datasets.map(batched=True))
        if spec.column:
            if type(value) in _SEQUENCES and _numbers(value):
                done = memo.get(id(value))
                if done is None:  # one list passed twice converts once, as any value does
                    done = memo[id(value)] = walk(leaf_for(spec), _column(value, spec), memo)
                    memo.setdefault(KEEP, []).append(value)
                return done
        elif _holds_columns(value):  # the items of list[X] or dict[K, X]: each converts on its own
            item = dataclasses.replace(spec, column=True)
            return by_spec(Spec("each", items=(item,)), value, leaf_for, memos, columns)
    return walk(leaf_for(spec), value, memo)


SEED = "skipped"  #: where a call's memos keep the skipped values every memo starts from
_SEQUENCES = (list, tuple)
_NUMBER = (int, float, complex)


def _numbers(value: list[Any] | tuple[Any, ...], depth: int = 0) -> bool:
    """Whether a list or tuple holds only Python numbers (or lists and tuples of them, a few deep:
    a list that holds itself is no column, and the walk then says it holds itself)."""
    if depth > 32:
        return False
    return all(isinstance(v, _NUMBER) or (type(v) in _SEQUENCES and _numbers(v, depth + 1)) for v in value)


def _holds_columns(value: Any) -> bool:
    """Whether a list, tuple or dict holds a list of numbers as an item."""
    if type(value) is dict:
        value = value.values()
    elif type(value) not in _SEQUENCES:
        return False
    return any(type(v) in _SEQUENCES and _numbers(v) for v in value)


def _column(value: list[Any] | tuple[Any, ...], spec: Spec) -> Any:
    """A list of numbers passed to an array or tensor parameter, as ``torch.as_tensor`` / ``np.asarray`` make it."""
    try:
        return torch.as_tensor(value) if spec.kind == "torch" else np.asarray(value)
    except (ValueError, OverflowError, RuntimeError, TypeError) as exc:
        ragged = "sequence" in str(exc) or "inhomogeneous" in str(exc)  # no rectangular array holds it
        what = "a ragged list of numbers" if ragged else "the list of numbers"  # else: 2**70, say
        raise ConversionError(f"cannot convert {what} to an array: {exc}") from exc


def _each(
    specs: Iterable[Spec | None],
    obj: Any,
    items: Iterable[tuple[Any, Any]],
    leaf_for: Any,
    memos: dict[Any, Memo],
    columns: bool,
) -> list[Any]:
    """The items of ``obj`` converted as their specs ask, a failure naming its item in the path."""
    out = []
    for spec, (key, value) in zip(specs, items):
        try:
            out.append(by_spec(spec, value, leaf_for, memos, columns))
        except Exception as exc:
            push_key(exc, piece(obj, kind_of(type(obj)), key))
            raise
    return out


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_WRAPT_DIR = os.path.dirname(os.path.abspath(wrapt.__file__))


def caller_level() -> int:
    """The ``stacklevel`` that points a warning at the user's call, past our frames and wrapt's."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and os.path.dirname(frame.f_code.co_filename) in (_PACKAGE_DIR, _WRAPT_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


skip_frames(__name__)
