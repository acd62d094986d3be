"""Torch-body decorators inside compiled code, traced with the body.

A decorated function called from compiled code used to break the graph: its
conversions ran as Python, then its body was compiled as a frame of its own.
Where every argument is a tensor (or a module, or a plain Python value), the
conversions are torch operations (a move, a cast), so they can sit in the
caller's graph: ``torch.compile(model, fullgraph=True)`` and ``torch.export``
then work on a model whose submodules' ``forward``\\ s are decorated.

Nothing here restates a rule. The call path's own :meth:`prepare` and
:meth:`finish` run under ``torch._dynamo.nonstrict_trace``: dynamo does not
trace them, it runs them as Python on fake tensors and records the torch
operations they make. Between the two, the body is traced by dynamo as any
code the caller calls (so a module's parameters stay inputs of the graph).
Arguments that hold NumPy values, or containers, take the eager path: a
graph break, as before.

This module is left for dynamo to trace (it marks no frame); what it calls
in the library runs under ``nonstrict_trace`` or breaks the graph.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["method_entry", "traced_entry"]

_PLAIN = (torch.Tensor, torch.nn.Module, int, float, bool, str, type(None))


def _torch_only(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether every argument is a tensor, a module or a plain Python value (no NumPy, no container):
    the rules pass all but the tensors to a torch body as they are."""
    return all(isinstance(v, _PLAIN) for v in args) and all(isinstance(v, _PLAIN) for v in kwargs.values())


def traced_entry(path: Any, wrapped: Callable[..., Any]) -> Callable[..., Any] | None:
    """What dynamo inlines for a decorated function whose body is torch code, or ``None`` (a graph break).

    ``path`` is the function's call path (``_calls.CallPath``); the entry is
    bound to the decorated function as a method is (dynamo reads it through
    ``_torchdynamo_inline``). A method's instance arrives as its first
    argument, where the rules find a module as they do for ``predict(model, x)``.
    """
    found = getattr(getattr(torch, "_dynamo", None), "nonstrict_trace", None)
    if found is None or path.skip is not None:  # torch before 2.7; skip= needs the paths
        return None
    nonstrict: Callable[[Callable[..., Any]], Callable[..., Any]] = found
    full = path.__call__
    no_grad = path.options.no_grad

    @nonstrict
    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[torch.Tensor]:
        """What the body receives for each tensor argument, in argument order (the rest pass as they are)."""
        _, new_args, new_kwargs = path.prepare(None, args, kwargs)
        pairs = zip((*args, *kwargs.values()), (*new_args, *new_kwargs.values()))
        return [new for old, new in pairs if isinstance(old, torch.Tensor)]

    @nonstrict
    def finish(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> Any:
        # the call's decisions again, from the same arguments (converting fake tensors: nothing at run time)
        call, _, _ = path.prepare(None, args, kwargs)
        return path.finish(result, call, "return value")

    def call(proxy: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not _torch_only(args, kwargs):
            return full(wrapped, None, args, kwargs)  # NumPy values or containers: the eager path
        made = iter(prepare(args, kwargs))
        new_args = [next(made) if isinstance(a, torch.Tensor) else a for a in args]
        new_kwargs = {k: next(made) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        if no_grad:
            with torch.no_grad():
                result = wrapped(*new_args, **new_kwargs)
        else:
            result = wrapped(*new_args, **new_kwargs)
        return finish(args, kwargs, result)

    call.__qualname__ = "TracedTorchBody.__call__"
    return call


_numbers = itertools.count()


def method_entry(traced: Callable[..., Any], bound: type) -> Callable[..., Any]:
    """The entry a decorated method's bound wrapper class gives dynamo, for a module's ``forward``.

    dynamo's shortcut of ``nn.Module.__call__`` reads ``forward`` off the
    class and calls what it follows from there with the module first; it
    guards on that entry's closure through the class's attribute, whose
    internals are a stand-in's, so the entry has no closure: it reaches
    ``traced`` (and ``bound``, for a call as ``Model.forward(model, x)``)
    through globals of this module, which dynamo guards by the module's
    name, and holds ``traced`` only weakly (decorating in a loop leaks
    nothing: the globals go with the function).
    """
    n = next(_numbers)
    names = (f"_traced_{n}", f"_bound_{n}", f"_entry_{n}")
    source = (
        f"def {names[2]}(first, /, *args, **kwargs):\n"
        f"    if type(first) is {names[1]}:  # read with getattr: the bound wrapper first\n"
        f"        return {names[0]}()(None, *args, **kwargs)\n"
        f"    return {names[0]}()(None, first, *args, **kwargs)\n"
    )
    space = globals()

    def forget(_: Any) -> None:
        for name in names:
            space.pop(name, None)

    space[names[0]] = weakref.ref(traced, forget)
    space[names[1]] = bound
    exec(source, space)
    entry: Callable[..., Any] = space[names[2]]
    return entry
