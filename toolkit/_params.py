"""What a decorated function's signature says, worked out once.

The per-call path converts positionally and never binds arguments; this
module prepares what it needs: which positions and keywords convert (the
``only``/``exclude`` options), the parameter name of each position for error
messages, and, for ``autoconvert``, what each annotation asks for.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._dynamo import skip_frames
from ._errors import suggest

__all__ = ["NUMPY", "TORCH", "Params", "Spec", "Table", "resolve_hints", "spec_of"]


@dataclass(frozen=True)
class Spec:
    """What an annotation asks a value to become.

    ``kind`` is ``"torch"``, ``"numpy"``, ``"tuple"`` (one spec per item in
    ``items``) or ``"each"`` (``items[0]`` for every item of a list, a
    variadic tuple or a dict's values); ``dtype`` is the one dtype the
    annotation names (``NDArray[np.float32]``, jaxtyping's ``Float32[...]``),
    as a NumPy dtype, to cast to.
    """

    kind: str
    dtype: np.dtype[Any] | None = None
    items: tuple[Spec | None, ...] = ()
    #: an array or tensor annotation of its own (not the items of ``list[X]``): a list of Python
    #: numbers passed here is one array (a data-set column)
    column: bool = True


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
        jax_typed = _jaxtyping(annotation)
        if jax_typed is not None:
            return jax_typed
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
    if origin is list:
        return _each(args[0]) if args else None
    if origin is dict:
        return _each(args[1]) if len(args) == 2 else None
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _each(args[0])
        items = tuple(spec_of(a) for a in args)
        return Spec("tuple", items=items) if any(items) else None
    return None


def _jaxtyping(annotation: type) -> Spec | None:
    """``Float[torch.Tensor, "b n"]`` is a tensor, ``Int[np.ndarray, "b"]`` an array; ``Float32[...]``,
    naming one concrete dtype, also casts to it. Read off the class jaxtyping makes (no import of it)."""
    if not type(annotation).__module__.startswith("jaxtyping"):
        return None
    array_type = getattr(annotation, "array_type", None)
    base = spec_of(array_type) if isinstance(array_type, type) else None
    if base is None:
        return None
    dtypes = getattr(annotation, "dtypes", None)
    if isinstance(dtypes, (tuple, list)) and dtypes and all(isinstance(d, str) for d in dtypes):
        try:
            named = {np.dtype(d) for d in dtypes}  # Bool names 'bool' and 'bool_': one dtype
        except TypeError:  # a dtype NumPy has no name for (bfloat16): no cast
            return base
        if len(named) == 1:
            return Spec(base.kind, named.pop())
    return base


def _each(annotation: Any) -> Spec | None:
    inner = spec_of(annotation)
    if inner is None:
        return None
    if inner.kind in ("torch", "numpy"):  # walked as one value; its lists are containers, not columns
        return dataclasses.replace(inner, column=False)
    return Spec("each", items=(inner,))


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
    """The positional layout of a signature, for naming arguments in errors and the trace.

    A function without an introspectable signature (a C function such as
    ``torch.softmax``) has no names: its arguments are named by position.
    """

    def __init__(self, func: Callable[..., Any], qualname: str) -> None:
        self.qualname = qualname
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):  # no signature found
            params = None
        self.known = params is not None
        kinds = inspect.Parameter
        params = params or []
        self.positional = [p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.keyword_names = {p.name for p in params if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
        self.var_args = next((p.name for p in params if p.kind is kinds.VAR_POSITIONAL), None)
        self.var_kwargs = next((p.name for p in params if p.kind is kinds.VAR_KEYWORD), None)
        self.names = {p.name for p in params}
        if not self.known:
            self.var_args = self.var_kwargs = ""  # every argument is an extra one

    def takes(self, name: str) -> bool:
        """Whether a call can pass a value under this name (a parameter, or any keyword to ``**kwargs``)."""
        return name in self.names or self.var_kwargs is not None

    def root(self, index: int | None, key: str | None, offset: int) -> str:
        """How a ``skip=`` path starts for an argument: ``batch``, ``arrays[1]``, ``extra``, ``0``."""
        if key is not None:
            return key
        assert index is not None
        at = index + offset
        if at < len(self.positional):
            return self.positional[at]
        if not self.var_args:
            return str(at)
        return f"{self.var_args}[{at - len(self.positional)}]"

    def check_names(self, option: str, names: frozenset[str], where: str) -> None:
        """Fail at decoration time for a name the function cannot receive."""
        if not self.known:
            raise TypeError(
                f"{where}: {option}= needs parameter names, and {self.qualname}() has no signature "
                "Python can read (a C function); decorate a Python function that calls it instead"
            )
        if self.var_kwargs is not None:
            return
        unknown = sorted(names - self.names)
        if unknown:
            hint = suggest(unknown[0], self.names)
            raise TypeError(
                f"{where}: {option}= names {', '.join(map(repr, unknown))}, "
                f"which {self.qualname}() has no parameter for; its parameters are "
                f"{', '.join(map(repr, sorted(self.names)))}{hint}"
            )

    def table(self, spec_for: Callable[[str | None, str | None], Spec | None], extra_keys: Iterable[str] = ()) -> Table:
        """What each argument asks for, by position and by keyword, from ``spec_for(name, key)``."""
        positional = tuple(spec_for(name, None) for name in self.positional)
        var_args = spec_for(self.var_args, None) if self.var_args is not None else None
        keywords = {name: spec_for(name, None) for name in self.keyword_names}
        for key in extra_keys:  # keyword names that **kwargs catches, named by only=/exclude=
            if key not in self.keyword_names:
                keywords[key] = spec_for(self.var_kwargs, key)
        var_kwargs = spec_for(self.var_kwargs, None) if self.var_kwargs is not None else None
        return Table(positional, var_args, keywords, var_kwargs)

    def label(self, index: int | None, key: str | None, offset: int) -> str:
        """How an error names an argument: ``'batch'``, ``'arrays'[1]``, ``'extra'`` or ``0``."""
        if key is not None:
            return repr(key)
        assert index is not None
        at = index + offset
        if at < len(self.positional):
            return repr(self.positional[at])
        if not self.var_args:
            return str(at)
        return f"{self.var_args!r}[{at - len(self.positional)}]"


@dataclass(frozen=True)
class Table:
    """What each argument of a call converts to: by position, extra positionals, by keyword, other keywords."""

    positional: tuple[Spec | None, ...]
    var_args: Spec | None
    keywords: dict[str, Spec | None]
    var_kwargs: Spec | None

    def at(self, index: int) -> Spec | None:
        return self.positional[index] if index < len(self.positional) else self.var_args

    def key(self, key: str) -> Spec | None:
        return self.keywords.get(key, self.var_kwargs)


skip_frames(__name__)
