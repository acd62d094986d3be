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
4. converts the result: :class:`NumpyOut`, :class:`TorchOut`,
   :class:`MirrorOut` or :class:`AnnotatedOut`, chosen when the decorator
   is applied.

A decorated plain function also has a plain entry (:meth:`CallPath.plain_call`)
for the call that nothing about the moment can change: no scope, torch mode,
trace, container or keyword arguments. It converts bare arrays and tensors
written out, and the result with :meth:`CallPath._plain_result`; every other
call takes the full path. Errors are given their path where
they happen, so nothing converts twice to find out.
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

from ._defaults import CPU, current_float_dtype, modes_active, torch_default_device, torch_target
from ._dtypes import TORCH_TO_NUMPY
from ._dynamo import compiling, eager, eval_frame_callback, opaque
from ._errors import GradientDetachedWarning, with_path
from ._leaves import SHAREABLE, numpy_body_leaf, numpy_leaf, plain_numpy, pure_leaves, torch_leaf
from ._module import module_settings
from ._params import NUMPY, TORCH, Params, Spec, Table, resolve_hints, spec_of
from ._scope import ENTERED
from ._trace import ACTIVE, Recorder, recorder
from ._tree import Memo, convert_items, remake_mapping, remake_sequence, walk, walk_pure, walk_values

__all__ = [
    "OUTPUTS",
    "AnnotatedOut",
    "Call",
    "CallPath",
    "MirrorOut",
    "NumpyOut",
    "Options",
    "Seen",
    "TorchOut",
    "caller_level",
]

Leaf = Callable[[Any], Any]
_Tensor = torch.Tensor
_ndarray = np.ndarray
_Module = torch.nn.Module
_generic = np.generic


@dataclass(frozen=True)
class Options:
    """A decorator's options, checked and normalised."""

    device: torch.device | None = None
    dtype: torch.dtype | None = None
    float_dtype: torch.dtype | None = None
    no_grad: bool = False
    restore_dtype: bool = True
    only: frozenset[str] | None = None
    exclude: frozenset[str] | None = None

    @property
    def np_dtype(self) -> np.dtype[Any] | None:
        """``dtype`` for a NumPy body (``bfloat16`` is ``float32`` there)."""
        return TORCH_TO_NUMPY.get(self.dtype) if self.dtype is not None else None

    @property
    def np_float_dtype(self) -> np.dtype[Any] | None:
        """``float_dtype`` for a NumPy body."""
        return TORCH_TO_NUMPY.get(self.float_dtype) if self.float_dtype is not None else None


class Seen:
    """What the mirror rule notes of a call's arguments: the caller's kind, first device and dtypes.

    The class attributes are the defaults, so making one costs no ``__init__``.
    """

    kind: str | None = None
    tensor_device: torch.device | None = None
    torch_float: torch.dtype | None = None
    numpy_float: np.dtype[Any] | None = None


class Call(Seen):
    """What one call has decided: where tensors it makes go, and what the mirror rule saw."""

    def __init__(self, device: torch.device, move: bool, float_dtype: torch.dtype | None) -> None:
        self.device = device
        self.move = move
        self.float_dtype = float_dtype  # for what the body receives
        self.rec: Recorder | None = None


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
        self._restore = options.restore_dtype
        self._warned = False
        self._lock = threading.Lock()
        self._numpy_in = numpy_body_leaf(options.np_dtype, options.np_float_dtype, self._detached)
        self._table: Table | None = None
        self.uniform = body != "annotated" and options.only is None and options.exclude is None
        # Nothing but a module, a scope or a torch mode can change how the arguments convert.
        self.plain = self.uniform and options.device is None and options.float_dtype is None and not options.no_grad

    # -- settings ----------------------------------------------------------------

    def _settings(self, instance: Any) -> Call:
        mod_device = mod_float = None
        if instance is not None and isinstance(instance, _Module):
            mod_device, mod_float = module_settings(instance)
        opts = self.options
        device, move, fdt = torch_target(opts.device, mod_device, opts.float_dtype, mod_float)
        return Call(device, move, None if opts.dtype is not None else fdt)

    def _leaf(self, spec: Spec, call: Call) -> Leaf:
        """The leaf that makes what ``spec`` asks of an argument, under this call's settings."""
        if spec.kind == "torch":
            leaf = torch_leaf(call.device, call.move, self.options.dtype, call.float_dtype, None)
        elif spec.dtype is None:
            leaf = self._numpy_in
        else:  # NDArray[np.float32]: its own cast
            leaf = numpy_body_leaf(spec.dtype, None, self._detached)
        if self.mirror:
            leaf = _noting(leaf, call)
        return leaf if call.rec is None else call.rec.wrap(leaf)

    # -- arguments ---------------------------------------------------------------

    def prepare(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Call, Any, Any]:
        """The call's settings, and the arguments the body receives."""
        call = self._settings(instance)
        if ACTIVE[0]:
            call.rec = recorder(self.function, None, self.numpy_body)
        offset = self.offset if instance is not None else 0
        if self.uniform:
            leaf = self._leaf(TORCH if self.body == "torch" else NUMPY, call)
            memo: Memo = {}
            try:
                new_args = walk_values(leaf, args, memo, _failed_at)
                new_kwargs = convert_items(leaf, kwargs.items(), memo, _failed_at) if kwargs else {}
            except Exception as exc:
                raise self._named(exc, offset) from exc
        else:
            new_args, new_kwargs = self._selected(call, args, kwargs, offset)
        if call.rec is not None:
            for index, value in enumerate(new_args):
                call.rec.file(value, f"argument {self.params.label(index, None, offset)}")
            for key, value in new_kwargs.items():
                call.rec.file(value, f"argument {key!r}")
        return call, new_args, new_kwargs

    def _named(self, exc: Exception, offset: int) -> Exception:
        """``exc`` with the function, the argument and the path in its message."""
        at = exc.__dict__.pop("_toolkit_argument", None) if hasattr(exc, "__dict__") else None
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
                base = TORCH if self.body == "torch" else NUMPY
                named = opts.only if opts.only is not None else opts.exclude or frozenset()

                def spec_for(name: str | None, key: str | None) -> Spec | None:
                    hit = bool({name, key} & named)
                    return base if hit == (opts.only is not None) else None

                self._table = self.params.table(spec_for, named)
        return self._table

    def _selected(
        self, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any], offset: int
    ) -> tuple[list[Any], dict[str, Any]]:
        """Each argument as its parameter asks (``only=``, ``exclude=``, annotations)."""
        table = self._specs()
        memos: dict[Any, Memo] = {}

        def leaf_for(spec: Spec) -> Leaf:
            return self._leaf(spec, call)

        def convert(at: Callable[[Any], Spec | None], items: Any) -> dict[Any, Any]:
            out = {}
            for key, value in items:
                try:
                    out[key] = by_spec(at(key), value, leaf_for, memos)
                except Exception as exc:
                    _failed_at(exc, key)
                    raise
            return out

        try:
            new_args = list(convert(lambda i: table.at(i + offset), enumerate(args)).values())
            new_kwargs = convert(table.key, kwargs.items())
        except Exception as exc:
            raise self._named(exc, offset) from exc
        return new_args, new_kwargs

    def _detached(self) -> None:
        """A tensor that requires grad reached the NumPy body: say so, once per function."""
        if self._warned:
            return
        with self._lock:
            if self._warned:
                return
            self._warned = True
        warnings.warn(
            f"{self.function} received a tensor that requires grad; its NumPy body gets a detached "
            "copy, so no gradient flows through this call",
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
        try:
            out = self._result(result, call, rec)
        except Exception as exc:
            raise with_path(exc, f"{self.function} {what}") from exc
        if rec is not None:
            rec.file(out, what)
        return out

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        raise NotImplementedError

    def _plain_result(self, result: Any, tensor: Any, array: Any) -> Any:
        """The result of a plain call, or ``NotImplemented`` for the full path.

        ``tensor`` and ``array`` are the first tensor and the first NumPy array
        among the call's arguments (or ``None``), for the mirror rule.
        """
        return NotImplemented

    def _plain_annotations(self) -> tuple[Spec | None, tuple[Spec | None, ...], int, Callable[..., Any]]:
        raise NotImplementedError  # only AnnotatedOut's arguments follow annotations

    def plain_call(self, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
        """The ``__call__`` of a decorated plain function, where the options allow a plain one.

        It converts bare arrays and tensors written out, with no memo, no
        leaf functions and no settings. Arguments it cannot take that way (a
        container, a repeated object, a tensor that needs more than
        ``.numpy()``) are converted again with the walk and the memo, having
        done nothing that must not be done twice; a scope, a torch mode,
        keyword arguments (and for the mirror rule and annotations, anything
        unusual) send the call the full path.
        """
        opts = self.options
        if not (opts.device is None and opts.dtype is None and opts.float_dtype is None and not opts.no_grad):
            return None
        if opts.only is not None or opts.exclude is not None:
            return None
        full, named = self.__call__, self._named
        leaf = self._numpy_in if self.numpy_body else torch_leaf(CPU, False, None, None, None)
        pure = pure_leaves(leaf)
        numpy_body, walkable, plain_result = self.numpy_body, self.uniform and not self.mirror, self._plain_result
        callback, from_numpy, shareable, atoms = eval_frame_callback, torch.from_numpy, SHAREABLE, _ATOMS
        instance = None
        # torch's default device decides where tensors made from NumPy data go: a torch body's
        # arguments, and results for a torch caller (mirror results go to the caller's device).
        moded = not numpy_body or isinstance(self, TorchOut)
        to_torch, to_numpy = torch_leaf(CPU, False, None, None, None), self._numpy_in
        # What the arguments become: NUMPY or TORCH all alike, or None: each as its annotation says.
        direction: Spec | None = NUMPY if numpy_body else TORCH
        specs: tuple[Spec | None, ...] = ()
        length = -1  # how many positional arguments the annotations cover; -1: any number
        resolved = self.uniform  # annotations are resolved on the first call

        def plain(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
            nonlocal direction, specs, length, resolved, plain_result
            # No scope entered anywhere (so no device, float dtype or trace), no torch mode.
            if kwargs or ENTERED[0] or (moded and modes_active()):
                return full(wrapped, instance, args, kwargs)
            if not resolved:
                direction, specs, length, plain_result = self._plain_annotations()
                resolved = True
            count = len(args)
            # One object twice converts once, and containers keep aliasing: the memo's job (general).
            general = (
                count > length >= 0
                or (count == 1 and type(args[0]) in _CONTAINERS)
                or (
                    count > 1
                    and (
                        args[0] is args[1]
                        or args[-1] is args[-2]
                        or args[0] is args[-1]
                        or (count > 3 and len(set(map(id, args))) < count)
                    )
                )
            )
            new_args: list[Any] = []
            append = new_args.append
            tensor = array = None  # the first of each, for the mirror rule
            if general:
                pass
            elif direction is None:  # by annotation: each through its leaf, containers the full path
                for x, spec in zip(args, specs):
                    if spec is not None:
                        if type(x) not in _BARE:
                            general = True
                            break
                        x = to_torch(x) if spec is TORCH else to_numpy(x)
                    append(x)
            else:  # bare tensors and arrays, the ones the direction converts written out
                into_numpy = direction is NUMPY
                for x in args:
                    kind = type(x)
                    if kind is _Tensor:
                        if tensor is None:
                            tensor = x
                        if into_numpy:
                            try:
                                x = x.numpy()  # refuses what needs more (grad, bits, a device)
                            except (RuntimeError, TypeError):
                                general = True
                                break
                            x = x[()] if x.ndim == 0 else x
                    elif kind is _ndarray:
                        if array is None:
                            array = x
                        if not into_numpy:
                            if not (x.flags.behaved and x.dtype in shareable):
                                general = True
                                break
                            x = from_numpy(x)
                    elif kind not in atoms:
                        general = True
                        break
                    append(x)
            if general:  # what was converted so far had no side effects: start again, with the memo
                if not walkable:
                    return full(wrapped, instance, args, kwargs)  # the mirror rule's notes, per-parameter specs
                tensor = array = None
                try:
                    if count == 1:  # one batch
                        new_args = [walk_pure(leaf, args[0], pure)]
                    else:
                        new_args = walk_values(leaf, args, {}, _failed_at)
                except Exception as exc:
                    if count == 1:
                        _failed_at(exc, 0)
                    raise named(exc, 0) from exc
            result = eager(wrapped)(*new_args) if numpy_body and callback() is not None else wrapped(*new_args)
            out = plain_result(result, tensor, array)
            if out is NotImplemented:
                call = self._settings(None)
                if self.mirror:
                    seen = _seen(tensor, array, args)
                    call.kind, call.tensor_device = seen.kind, seen.tensor_device
                    call.torch_float, call.numpy_float = seen.torch_float, seen.numpy_float
                return self.finish(result, call, "return value")
            return out

        plain.__qualname__ = "DecoratedFunction.__call__"
        return opaque(plain)


_ATOMS = frozenset((int, float, bool, complex, str, bytes, type(None)))
_BARE = frozenset((_Tensor, _ndarray, *_ATOMS))
_CONTAINERS = frozenset((dict, list, tuple))  # one of these alone (a batch) goes straight to the walk


def _failed_at(exc: Exception, key: Any) -> None:
    """Note on a failing conversion's exception which argument (index or keyword) it was."""
    try:
        exc.__dict__["_toolkit_argument"] = key
    except AttributeError:  # an exception type without __dict__
        pass


def _traced(leaf: Leaf, rec: Recorder | None) -> Leaf:
    return leaf if rec is None else rec.wrap(leaf)


def _as_is(result: Any, *_: Any) -> Any:
    return result


def _plain_to_numpy(result: Any, *_: Any) -> Any:
    """A plain call's result for a NumPy caller: ``.numpy()`` where it works, else ``NotImplemented``."""
    if type(result) is _Tensor:
        try:
            out = (result.detach() if result.requires_grad else result).numpy()
        except (RuntimeError, TypeError):
            return NotImplemented  # bits to resolve, a device to leave: the full path
        return out[()] if out.ndim == 0 else out
    if type(result) is _ndarray:
        return result
    return NotImplemented


def _plain_to_torch(result: Any, *_: Any) -> Any:
    """A plain call's result for a torch caller (no scope, no torch mode: tensors land on the CPU)."""
    if type(result) is _Tensor:
        return result
    if type(result) is _ndarray and result.flags.behaved and result.dtype in SHAREABLE:
        return torch.from_numpy(result)
    return NotImplemented


class NumpyOut(CallPath):
    """The caller receives NumPy: ``torch_in_numpy_out``, ``numpy_in_numpy_out``."""

    _plain_result = staticmethod(_plain_to_numpy)  # type: ignore[assignment]

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        return walk(_traced(plain_numpy, rec), result, {})


class TorchOut(CallPath):
    """The caller receives tensors on the target device: ``numpy_in_torch_out``, ``torch_in_torch_out``.

    The ``default_float_dtype`` scope acts on tensors made from NumPy floating
    data here, as ``to_torch`` would; tensors the body made keep their dtype.
    """

    _plain_result = staticmethod(_plain_to_torch)  # type: ignore[assignment]

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        leaf = torch_leaf(call.device, call.move, None, current_float_dtype(), None, cast_tensors=False)
        return walk(_traced(leaf, rec), result, {})


class MirrorOut(CallPath):
    """The caller receives its own kind back: ``numpy_inside``, ``torch_inside``.

    The caller's kind is torch if any converted argument holds a tensor,
    else NumPy if any holds a NumPy array or scalar; tensors go back to the
    device of the first tensor argument, floating results to the dtype of
    the first floating value of the caller's kind (``restore_dtype``).
    """

    mirror = True

    def _plain_result(self, result: Any, tensor: Any, array: Any) -> Any:
        # The plain cases of the rule (the full path, with _note, has them all): the first
        # tensor (or, with none, the first array) is floating, and sets the dtype.
        restore = self._restore
        if tensor is not None:
            if (
                type(result) is _ndarray
                and (self.numpy_body or tensor.is_cpu)  # a NumPy body's tensors were on the CPU: .numpy() took them
                and result.flags.behaved
                and result.dtype in SHAREABLE
            ):
                out = torch.from_numpy(result)
                got, dtype = out.dtype, tensor.dtype
                if got == dtype or not restore or not got.is_floating_point:
                    return out
                if dtype.is_floating_point:
                    return out.to(dtype)
        elif array is not None:
            if type(result) is _Tensor and not result.requires_grad:
                as_numpy = result.numpy()
                got_np, float_np = as_numpy.dtype, array.dtype
                if got_np != float_np and restore and got_np.kind == "f":
                    if float_np.kind != "f" or not float_np.isnative:
                        return NotImplemented  # the first floating value comes later: the full path finds it
                    as_numpy = as_numpy.astype(float_np)
                return as_numpy[()] if as_numpy.ndim == 0 else as_numpy
        else:
            return result
        return NotImplemented

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        if call.kind is None:
            return result
        restore = self.options.restore_dtype
        if call.kind == "torch":
            device = call.tensor_device or torch_default_device()
            leaf = torch_leaf(device, True, None, call.torch_float if restore else None, None)
        else:
            leaf = numpy_leaf(None, call.numpy_float if restore else None, None)
        return walk(_traced(leaf, rec), result, {})


def _note(call: Seen, x: Any) -> None:
    """Note the caller's kind, first tensor device and first floating dtypes from one leaf."""
    if isinstance(x, _Tensor):
        if call.kind != "torch":
            call.kind = "torch"
            call.tensor_device = x.device
        if call.torch_float is None:
            dtype = x.dtype
            if dtype.is_floating_point:
                call.torch_float = dtype
    elif isinstance(x, _ndarray) or (isinstance(x, _generic) and not isinstance(x, (str, bytes))):
        if call.kind is None:
            call.kind = "numpy"
        if call.numpy_float is None:
            float_np = x.dtype
            if float_np.kind == "f":
                call.numpy_float = float_np if float_np.isnative else float_np.newbyteorder("=")


def _seen(tensor: torch.Tensor | None, array: np.ndarray[Any, Any] | None, args: tuple[Any, ...]) -> Seen:
    """What the mirror rule needs of bare arguments, from the first tensor and first array among them."""
    seen = Seen()
    _note(seen, tensor if tensor is not None else array)
    if (seen.torch_float if tensor is not None else seen.numpy_float) is None:
        for x in args:  # the first floating value comes later
            _note(seen, x)
    return seen


def _noting(leaf: Leaf, call: Seen) -> Leaf:
    """``leaf``, also noting what the mirror rule needs of each leaf it converts."""

    def noted(x: Any) -> Any:
        _note(call, x)
        return leaf(x)

    return noted


class AnnotatedOut(CallPath):
    """The caller receives what the return annotation names: ``autoconvert``."""

    _return: tuple[Spec | None] | None = None

    def _return_spec(self) -> Spec | None:
        if self._return is None:
            self._return = (spec_of(resolve_hints(self.func).get("return")),)
        return self._return[0]

    def _plain_annotations(self) -> tuple[Spec | None, tuple[Spec | None, ...], int, Callable[..., Any]]:
        """For the plain entry: the arguments' direction (``None``: by position), their specs,
        how many positional arguments they cover (0: none, the full path), and the result's conversion."""
        table = self._specs()
        positional = table.positional
        result = {NUMPY: _plain_to_numpy, TORCH: _plain_to_torch, None: _as_is}.get(self._return_spec())
        if result is None or table.var_args is not None or any(s not in (TORCH, NUMPY, None) for s in positional):
            return None, (), 0, _as_is
        same = positional[0] if positional and all(s is positional[0] for s in positional) else None
        return same, positional, len(positional), result

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        spec = self._return_spec()
        if spec is None:
            return result
        torch_out = torch_leaf(call.device, call.move, None, current_float_dtype(), None, cast_tensors=False)

        def leaf_for(spec: Spec) -> Leaf:
            if spec.kind == "torch":
                return _traced(torch_out, rec)
            return _traced(plain_numpy if spec.dtype is None else numpy_leaf(spec.dtype, None, None), rec)

        return by_spec(spec, result, leaf_for, {})


def by_spec(spec: Spec | None, value: Any, leaf_for: Callable[[Spec], Leaf], memos: dict[Any, Memo]) -> Any:
    """``value`` converted as ``spec`` asks, with the leaf ``leaf_for`` gives; one memo per kind of target."""
    if spec is None:
        return value
    if spec.kind == "tuple":
        if not isinstance(value, tuple) or len(value) != len(spec.items):
            return value
        return remake_sequence(value, [by_spec(s, v, leaf_for, memos) for s, v in zip(spec.items, value)])
    if spec.kind == "each":
        inner = spec.items[0]
        if isinstance(value, dict):
            return remake_mapping(value, {k: by_spec(inner, v, leaf_for, memos) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            return remake_sequence(value, [by_spec(inner, v, leaf_for, memos) for v in value])
        return value
    return walk(leaf_for(spec), value, memos.setdefault((spec.kind, spec.dtype), {}))


OUTPUTS: dict[str, type[CallPath]] = {
    "numpy": NumpyOut,
    "torch": TorchOut,
    "mirror": MirrorOut,
    "annotated": AnnotatedOut,
}

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
