"""The device and float dtype of the ``nn.Module`` a call is about.

That module is the one a decorated method is bound to, or else the first
module passed as an argument (positional, then keyword; the arguments
themselves, not what containers hold): ``predict(model, batch)`` feeds the
batch in the model's device and float dtype. :func:`module_of` says which.

``module.parameters()`` walks every submodule, which costs microseconds per
call. The first call finds the module's first parameter (or buffer) and
its first floating parameter, and remembers the chain of registries that
leads to them; later calls check that chain still holds (a few dictionary
lookups) and read the device and dtype off those tensors. ``module.to()``
changes tensors in place, so it is followed; a parameter or submodule
replaced by assignment breaks the chain, and the module is looked at again.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import torch

from ._dynamo import skip_frames

__all__ = ["module_of", "module_settings"]

_Module = torch.nn.Module

Step = tuple[dict[str, Any], str, Any]  # (a registry such as module._modules, key, what it held)


class _Probe:
    __slots__ = ("floating", "steps", "tensor")

    def __init__(self, tensor: torch.Tensor, floating: torch.Tensor | None, steps: tuple[Step, ...]) -> None:
        self.tensor = tensor
        self.floating = floating
        self.steps = steps

    def holds(self) -> bool:
        return all(registry.get(key) is value for registry, key, value in self.steps)


# id(module) -> (a weak reference to it, its probe); an entry goes when its module does.
_probes: dict[int, tuple[weakref.ref[Any], _Probe]] = {}


def module_of(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> torch.nn.Module | None:
    """The module whose device and float dtype a call takes: its instance's, else its first module argument."""
    if instance is not None and isinstance(instance, _Module):
        return instance
    for value in args:
        if isinstance(value, _Module):
            return value
    if kwargs:
        for value in kwargs.values():
            if isinstance(value, _Module):
                return value
    return None


def module_settings(module: torch.nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """The module's device (first parameter, else first buffer) and the dtype of its first floating parameter."""
    entry = _probes.get(id(module))
    if entry is not None and entry[0]() is module and entry[1].holds():
        probe = entry[1]
    else:
        found = _scan(module)
        if found is None:  # no parameters or buffers (yet): nothing to remember
            return None, None
        probe = found
        key = id(module)
        _probes[key] = (weakref.ref(module, lambda _: _probes.pop(key, None)), probe)
    floating = probe.floating
    return probe.tensor.device, floating.dtype if floating is not None else None


def _scan(module: torch.nn.Module) -> _Probe | None:
    """Look at the module as ``parameters()`` and ``buffers()`` do, keeping the path to what is found."""
    first = floating = None
    path: tuple[Step, ...] = ()
    for steps, tensor in _tensors(module, "_parameters", ()):
        if first is None:
            first, path = tensor, steps
        if tensor.is_floating_point():
            floating, path = tensor, path + steps
            break
    if first is None:
        for steps, tensor in _tensors(module, "_buffers", ()):
            first, path = tensor, steps
            break
    return None if first is None else _Probe(first, floating, path)


def _tensors(module: torch.nn.Module, registry: str, path: tuple[Step, ...]) -> Iterator[tuple[tuple[Step, ...], Any]]:
    """``(path, tensor)`` for each tensor in a registry of the module and its submodules, in pre-order."""
    tensors = getattr(module, registry)
    for name, tensor in tensors.items():
        if tensor is not None:
            yield (*path, (tensors, name, tensor)), tensor
    children = module._modules
    for name, child in children.items():
        if child is not None:
            yield from _tensors(child, registry, (*path, (children, name, child)))


skip_frames(__name__)
