"""The plain entry: a decorated plain function's call that nothing about the moment can change.

No keyword arguments, no scope entered in any thread (so no device, float
dtype or trace), no torch function mode: then bare arrays and tensors are
converted written out, with no memo, no leaf functions and no settings, and
the result by the call path's ``plain_result``. A call it cannot finish that
way takes the call path's full ``__call__``, before the body runs and having
done nothing that must not be done twice. It exists for speed alone: a test
holds it to giving what the full path gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _shortcuts
from ._batch import TO_NUMPY, TO_TORCH, walk_batch
from ._defaults import modes_active
from ._dynamo import eager, eval_frame_callback, opaque, skip_frames
from ._errors import failed_at
from ._into_numpy import fast_for_caller, fast_numpy
from ._into_torch import fast_torch, plain_torch
from ._mirror import seen_of
from ._module import module_of
from ._params import NUMPY, TORCH, Spec
from ._scope import ENTERED
from ._tree import ATOMS, PLAIN, Leaf, walk_values

__all__ = ["Plan", "as_is", "by_full_path", "plain_entry", "plain_to_numpy", "plain_to_torch"]

_Tensor = torch.Tensor
_ndarray = np.ndarray
_Module = torch.nn.Module

BARE = frozenset((_Tensor, _ndarray, *ATOMS))


@dataclass(frozen=True)
class Plan:
    """What the plain entry needs of a call path, decided when the decorator is applied.

    Made by ``CallPath.plan`` only where the options leave nothing to decide
    per call (no device, dtype, float dtype, ``no_grad``, ``only=``, ``exclude=``).
    """

    full: Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]  #: the full path
    named: Callable[[Exception, int], Exception]  #: an error given the function, argument and path
    settings: Callable[[Any, tuple[Any, ...]], Any]  #: the call's settings, for a result the full path converts
    finish: Callable[[Any, Any, str], Any]  #: the full path's conversion of a result
    result: Callable[[Any, Any, Any], Any]  #: the plain result, or ``NotImplemented``
    numpy_in: Leaf  #: what a NumPy body receives of a leaf
    grad_pending: list[bool]  #: set by ``numpy_in`` when it copied a tensor that requires grad
    warn_detached: Callable[[tuple[Any, ...], dict[str, Any] | None], None]  #: the warning, with the path
    numpy_body: bool
    walkable: bool  #: arguments that are not bare are walked here (else: the full path)
    moded: bool  #: torch's default device decides where tensors made now go
    mirror: bool  #: results follow the mirror rule
    annotations: Callable[[], tuple[Spec | None, tuple[Spec | None, ...], int, Callable[..., Any]]] | None = None
    """``autoconvert``'s: the arguments' direction, specs, count covered and result, on the first call."""


def plain_entry(plan: Plan | None, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
    """The ``__call__`` of a decorated plain function, where its call path has a plan for one.

    It converts bare arrays and tensors by the rules' fast cases, with no
    memo, no leaf functions and no settings. Arguments it cannot take that
    way (a container, a repeated object, a tensor that needs more than
    ``.numpy()``) are converted again with the walk and the memo, having
    done nothing that must not be done twice; a scope, a torch mode,
    keyword arguments (and for the mirror rule and annotations, anything
    unusual) send the call the full path.
    """
    if plan is None or not _shortcuts.ON:
        return None  # TOOLKIT_PLAIN=0: every call takes the full path
    full, named, numpy_body, walkable, plain_result = plan.full, plan.named, plan.numpy_body, plan.walkable, plan.result
    to_torch, to_numpy = plain_torch, plan.numpy_in  # the default conversion each way
    leaf, written = (to_numpy, TO_NUMPY) if numpy_body else (to_torch, TO_TORCH)
    callback, atoms, moded, grad_pending = eval_frame_callback, ATOMS, plan.moded, plan.grad_pending
    instance = None
    # What the arguments become: NUMPY or TORCH all alike, or None: each as its annotation says.
    direction: Spec | None = NUMPY if numpy_body else TORCH
    specs: tuple[Spec | None, ...] = ()
    length = -1  # how many positional arguments the annotations cover; -1: any number
    resolved = plan.annotations is None  # annotations are resolved on the first call

    def plain(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
        nonlocal direction, specs, length, resolved, plain_result
        # No scope entered anywhere (so no device, float dtype or trace), no torch mode.
        if kwargs or ENTERED[0] or (moded and modes_active()):
            return full(wrapped, instance, args, kwargs)
        if not resolved:
            assert plan.annotations is not None
            direction, specs, length, plain_result = plan.annotations()
            resolved = True
        count = len(args)
        # One object twice converts once, and containers keep aliasing: the memo's job (general).
        general = (
            count > length >= 0
            or (count == 1 and type(args[0]) in PLAIN)  # one batch goes straight to the walk
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
            for index, (x, spec) in enumerate(zip(args, specs)):
                if type(x) not in BARE and (spec is not None or isinstance(x, _Module)):
                    general = True  # a container, or a model whose device and dtype the call takes
                    break
                if spec is not None:
                    try:
                        x = to_torch(x) if spec is TORCH else to_numpy(x)
                    except Exception as exc:
                        failed_at(exc, index)
                        raise named(exc, 0) from exc
                append(x)
        else:  # bare tensors and arrays, each by the rules' fast case; anything more: the walk
            into_numpy = direction is NUMPY
            for x in args:
                kind = type(x)
                if kind is _Tensor:
                    if tensor is None:
                        tensor = x
                    if into_numpy:
                        x = fast_numpy(x)
                        if x is None:
                            general = True
                            break
                elif kind is _ndarray:
                    if array is None:
                        array = x
                    if not into_numpy:
                        x = fast_torch(x)
                        if x is None:
                            general = True
                            break
                elif kind not in atoms:
                    general = True
                    break
                append(x)
        if general:  # what was converted so far had no side effects: start again, with the memo
            if not walkable or module_of(None, args, None) is not None:  # a model's device and dtype: settings
                return full(wrapped, instance, args, kwargs)  # the mirror rule's notes, per-parameter specs
            tensor = array = None
            try:
                if count == 1:  # one batch
                    new_args = [walk_batch(leaf, args[0], written)]
                else:
                    new_args = walk_values(leaf, args, {}, failed_at)
            except Exception as exc:
                if count == 1:
                    failed_at(exc, 0)
                raise named(exc, 0) from exc
        if grad_pending[0]:
            plan.warn_detached(args, None)
        result = eager(wrapped)(*new_args) if numpy_body and callback() is not None else wrapped(*new_args)
        out = plain_result(result, tensor, array)
        if out is NotImplemented:
            call = plan.settings(None, args)
            if plan.mirror:
                seen_of(tensor, array, args, call)
            return plan.finish(result, call, "return value")
        return out

    plain.__qualname__ = "DecoratedFunction.__call__"
    return opaque(plain)


def as_is(result: Any, tensor: Any = None, array: Any = None) -> Any:
    return result


def by_full_path(result: Any, tensor: Any = None, array: Any = None) -> Any:
    """A result only the full path converts (a structured return annotation)."""
    return NotImplemented


def plain_to_numpy(result: Any, tensor: Any = None, array: Any = None) -> Any:
    """A plain call's result for a NumPy caller by the rules' fast case, else ``NotImplemented``."""
    out = fast_for_caller(result)
    return NotImplemented if out is None else out


def plain_to_torch(result: Any, tensor: Any = None, array: Any = None) -> Any:
    """A plain call's result for a torch caller (no scope, no torch mode: tensors land on the CPU)."""
    if type(result) is _Tensor:
        return result
    out = fast_torch(result)
    return NotImplemented if out is None else out


skip_frames(__name__)
