"""What a decorated function's signature says, worked out once.

The per-call path converts positionally and never binds arguments; this
module prepares what it needs: which positions and keywords convert (the
``only``/``exclude`` options), the parameter name of each position for error
messages, and, for ``autoconvert``, what each annotation asks for.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Params", "Spec", "spec_of", "resolve_hints"]


@dataclass(frozen=True)
class Spec:
    """What an annotation asks a value to become.

    ``kind`` is ``"torch"``, ``"numpy"``, ``"tuple"`` (one spec per item in
    ``items``) or ``"each"`` (``items[0]`` for every item of a list, a
    variadic tuple or a dict's values); ``dtype`` is a NumPy dtype named by
    ``NDArray[...]``.
    """

    kind: str
    dtype: np.dtype[Any] | None = None
    items: tuple[Spec | None, ...] = ()


TORCH = Spec("torch")
NUMPY = Spec("numpy")


def _numpy_dtype_arg(args: tuple[Any, ...]) -> np.dtype[Any] | None:
    """The concrete dtype in ``NDArray[np.float32]``'s arguments, if there is one."""
    if len(args) != 2:
        return None
    inner = typing.get_args(args[1])
    if len(inner) != 1 or not isinstance(inner[0], type) or not issubclass(inner[0], np.generic):
        return None
    scalar = inner[0]
    if scalar in (
        np.generic,
        np.number,
        np.floating,
        np.integer,
        np.complexfloating,
        np.inexact,
        np.signedinteger,
        np.unsignedinteger,
    ):
        return None
    return np.dtype(scalar)


def _is_alias(obj: Any) -> bool:
    """A PEP 695 alias (``type X[T] = ...``, or ``typing_extensions.TypeAliasType``)."""
    return hasattr(obj, "__value__") and hasattr(obj, "__type_params__")


def _expand_alias(annotation: Any) -> Any:
    """What an alias stands for, with its arguments put in.

    Newer NumPy defines ``NDArray`` as such an alias, so ``NDArray[np.float32]``
    no longer has ``np.ndarray`` as its origin.
    """
    origin = typing.get_origin(annotation)
    if _is_alias(origin):
        value = origin.__value__
        args = typing.get_args(annotation)
        if args and len(args) == len(getattr(value, "__parameters__", ())):
            try:
                return value[args if len(args) > 1 else args[0]]
            except TypeError:
                pass
        return value
    if _is_alias(annotation):
        return annotation.__value__
    return annotation


def spec_of(annotation: Any) -> Spec | None:
    """The conversion an annotation asks for, or ``None`` to leave the value alone."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return None
    annotation = _expand_alias(annotation)
    if isinstance(annotation, type):
        if issubclass(annotation, torch.Tensor):
            return TORCH
        if issubclass(annotation, np.ndarray):
            return NUMPY
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is np.ndarray:
        dtype = _numpy_dtype_arg(args)
        return NUMPY if dtype is None else Spec("numpy", dtype)
    if origin is typing.Union or origin is types.UnionType:
        real = [a for a in args if a is not type(None)]
        return spec_of(real[0]) if len(real) == 1 else None
    if origin in (list, list):
        return _each(args[0]) if args else None
    if origin is dict:
        return _each(args[1]) if len(args) == 2 else None
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _each(args[0])
        items = tuple(spec_of(a) for a in args)
        return Spec("tuple", items=items) if any(items) else None
    return None


def _each(annotation: Any) -> Spec | None:
    inner = spec_of(annotation)
    if inner is None:
        return None
    return inner if inner.kind in ("torch", "numpy") else Spec("each", items=(inner,))


def resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations with string annotations evaluated.

    Names that cannot be resolved leave that one annotation as it is (and so
    unconverted) rather than failing the call.
    """
    try:
        return typing.get_type_hints(func)
    except Exception:
        pass
    hints = {}
    namespace = dict(getattr(func, "__globals__", {}))
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if module is not None:
        namespace.update(vars(module))
    for name, value in getattr(func, "__annotations__", {}).items():
        if isinstance(value, str):
            try:
                value = eval(value, namespace)
            except Exception:
                continue
        hints[name] = value
    return hints


class Params:
    """The positional layout of a signature and which parameters convert."""

    def __init__(
        self,
        func: Callable[..., Any],
        qualname: str,
        only: frozenset[str] | None,
        exclude: frozenset[str] | None,
    ) -> None:
        self.qualname = qualname
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        kinds = inspect.Parameter
        self.positional = [p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.keyword_names = {p.name for p in params if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
        self.var_args = next((p.name for p in params if p.kind is kinds.VAR_POSITIONAL), None)
        self.var_kwargs = next((p.name for p in params if p.kind is kinds.VAR_KEYWORD), None)
        self.names = {p.name for p in params}
        self.only = only
        self.exclude = exclude
        self.selective = only is not None or exclude is not None

    def check_names(self, option: str, names: frozenset[str], where: str) -> None:
        """Fail at decoration time for a name the function cannot receive."""
        if self.var_kwargs is not None:
            return
        unknown = sorted(names - self.names)
        if unknown:
            raise TypeError(
                f"{where}: {option}= names {', '.join(map(repr, unknown))}, "
                f"which {self.qualname}() has no parameter for; its parameters are "
                f"{', '.join(map(repr, sorted(self.names)))}"
            )

    def wanted(self, name: str | None, key: str | None = None) -> bool:
        """Whether the parameter ``name`` (or keyword ``key`` caught by ``**kwargs``) converts."""
        if not self.selective:
            return True
        names = {name, key} - {None}
        if self.only is not None:
            return bool(names & self.only)
        assert self.exclude is not None
        return not names & self.exclude

    def positional_name(self, index: int, offset: int) -> tuple[str | None, int | None]:
        """The parameter that positional argument ``index`` fills, and its index in ``*args`` if there."""
        at = index + offset
        if at < len(self.positional):
            return self.positional[at], None
        return self.var_args, at - len(self.positional)

    def keyword_name(self, key: str) -> tuple[str | None, str | None]:
        """The parameter a keyword argument fills: its own, or ``**kwargs`` with the key."""
        if key in self.keyword_names:
            return key, None
        return self.var_kwargs, key

    def label(self, index: int | None, key: str | None, offset: int) -> str:
        """How an error names an argument: ``'batch'``, ``'arrays'[1]`` or ``'extra'``."""
        if key is not None:
            return repr(key)
        assert index is not None
        name, rest = self.positional_name(index, offset)
        if name is None:
            return f"{index + offset}"
        return repr(name) if rest is None else f"{name!r}[{rest}]"
