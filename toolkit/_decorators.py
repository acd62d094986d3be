"""The seven decorators: one factory, and the public presets as its settings.

Every decision that does not depend on the call (option checks, signature
analysis, the wrapper class) is made here, when the decorator is applied.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast, overload

from ._convert import resolve_torch_options
from ._engine import Engine, Options
from ._params import Params
from ._wrapper import PRESETS, bound_offset, make_wrapper, underlying

__all__ = [
    "numpy_in_torch_out",
    "torch_in_numpy_out",
    "numpy_in_numpy_out",
    "torch_in_torch_out",
    "numpy_inside",
    "torch_inside",
    "autoconvert",
]

# preset -> (what the body receives, what the caller receives)
_PRESETS = {
    "numpy_in_torch_out": ("numpy", "torch"),
    "torch_in_numpy_out": ("torch", "numpy"),
    "numpy_in_numpy_out": ("numpy", "numpy"),
    "torch_in_torch_out": ("torch", "torch"),
    "numpy_inside": ("numpy", "mirror"),
    "torch_inside": ("torch", "mirror"),
    "autoconvert": ("annotated", "annotated"),
}


def _allowed(preset: str) -> set[str]:
    """The options that mean something for a preset."""
    inputs, outputs = _PRESETS[preset]
    allowed = {"dtype", "float_dtype", "only", "exclude"}
    if inputs != "numpy" or outputs == "torch":
        allowed.add("device")
    if inputs != "numpy":
        allowed.add("no_grad")
    if outputs == "mirror":
        allowed.add("restore_dtype")
    return allowed


def _names(value: str | Iterable[str] | None, option: str, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    names = frozenset(value)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{where}: {option}= takes parameter names (strings), got {value!r}")
    return names


def _decorate(preset: str, func: Any, given: dict[str, Any]) -> Any:
    """Apply ``preset`` with the options the user gave (``given``) to ``func``."""
    where = f"@{preset}"
    unknown = sorted(set(given) - _allowed(preset))
    if unknown:
        known = ", ".join(sorted(_allowed(preset)))
        raise TypeError(f"{where} does not take {', '.join(unknown)}; its options are {known}")
    if not callable(underlying(func)):
        raise TypeError(f"{where} decorates a function or method, got {func!r}")
    device, dtype, float_dtype = resolve_torch_options(
        given.get("device"), given.get("dtype"), given.get("float_dtype"), where
    )
    only = _names(given.get("only"), "only", where)
    exclude = _names(given.get("exclude"), "exclude", where)
    if only is not None and exclude is not None:
        raise TypeError(f"{where} takes only= or exclude=, not both")
    inner = underlying(func)
    qualname = getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None) or repr(inner)
    qualname = qualname.rpartition("<locals>.")[2]  # errors say `score()`, `Model.forward()`
    params = Params(inner, qualname, only, exclude)
    for option, names in (("only", only), ("exclude", exclude)):
        if names is not None:
            params.check_names(option, names, where)
    options = Options(
        device=device,
        dtype=dtype,
        float_dtype=float_dtype,
        no_grad=bool(given.get("no_grad", False)),
        restore_dtype=bool(given.get("restore_dtype", True)),
    )
    inputs, outputs = _PRESETS[preset]
    engine = Engine(inner, qualname, inputs, outputs, options, params, bound_offset(func))
    return make_wrapper(func, engine, preset, given)


class Decorator(Protocol):
    """A ``toolkit`` decorator: ``@name`` or ``@name(**options)``."""

    # The decorated function takes other kinds than its body (arrays for
    # tensors), so its parameters cannot keep the body's types.
    @overload
    def __call__(self, func: Callable[..., Any], /) -> Callable[..., Any]: ...
    @overload
    def __call__(self, func: None = None, /, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def _preset(name: str, doc: str) -> Decorator:
    """Build the public decorator ``name``: usable bare or with options."""

    def decorator(func: Any = None, /, **options: Any) -> Any:
        if func is None:
            return functools.partial(decorator, **options)
        return _decorate(name, func, options)

    decorator.__name__ = decorator.__qualname__ = name
    decorator.__module__ = "toolkit"
    decorator.__doc__ = doc
    PRESETS[name] = decorator
    return cast(Decorator, decorator)


_OPTIONS_DOC = """
    Options (all keyword-only; an option that means nothing here raises
    ``TypeError`` when the decorator is applied):

    * ``device``: where the tensors this decorator produces go{device_note}.
    * ``dtype`` / ``float_dtype``: cast the arrays or tensors the body
      receives (every leaf / real floating leaves only).
    * ``only`` / ``exclude``: names of the parameters to convert / to leave alone.
{extra}
    .. versionadded:: 0.1
"""

_NO_GRAD = "    * ``no_grad``: run the body under ``torch.no_grad()``.\n"
_RESTORE = (
    "    * ``restore_dtype`` (default ``True``): floating outputs take the dtype of the\n"
    "      caller's first floating value; ``False`` keeps the body's dtypes.\n"
)

numpy_in_torch_out = _preset(
    "numpy_in_torch_out",
    """The body receives NumPy arrays; the caller receives torch tensors.

    For NumPy code whose results feed a torch pipeline.

    >>> import numpy as np, torch
    >>> @numpy_in_torch_out
    ... def normalise(x):
    ...     return (x - x.mean()) / x.std()
    >>> normalise(torch.tensor([1.0, 2.0, 3.0]))
    tensor([-1.2247,  0.0000,  1.2247])
    """
    + _OPTIONS_DOC.format(device_note=" (the caller's outputs)", extra=""),
)

torch_in_numpy_out = _preset(
    "torch_in_numpy_out",
    """The body receives torch tensors; the caller receives NumPy arrays.

    For metrics and predictions computed with torch and consumed by NumPy
    code: 0-d results come back as NumPy scalars, tensors are detached.

    >>> import numpy as np, torch
    >>> @torch_in_numpy_out
    ... def accuracy(pred, target):
    ...     return (pred.argmax(-1) == target).float().mean()
    >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    + _OPTIONS_DOC.format(device_note=" (the body's inputs)", extra=_NO_GRAD),
)

numpy_in_numpy_out = _preset(
    "numpy_in_numpy_out",
    """The body receives NumPy arrays; the caller receives NumPy arrays.

    For NumPy code that must accept tensors too.

    >>> import numpy as np, torch
    >>> @numpy_in_numpy_out
    ... def total(x):
    ...     return np.sum(x)
    >>> total(torch.arange(4))
    6
    """
    + _OPTIONS_DOC.replace("    * ``device``: where the tensors this decorator produces go{device_note}.\n", "").format(
        extra=""
    ),
)

torch_in_torch_out = _preset(
    "torch_in_torch_out",
    """The body receives torch tensors on the target device; so does the caller.

    >>> import numpy as np, torch
    >>> @torch_in_torch_out
    ... def double(x):
    ...     return x * 2
    >>> double(np.array([1, 2]))
    tensor([2, 4])
    """
    + _OPTIONS_DOC.format(device_note=" (the body's inputs and the caller's outputs)", extra=_NO_GRAD),
)

numpy_inside = _preset(
    "numpy_inside",
    """The body receives NumPy arrays; the caller gets back its own kind.

    Called with tensors, the results come back as tensors on the device of
    the first tensor argument, floating results in the dtype of the first
    floating tensor; called with NumPy data, they come back as NumPy.

    >>> import numpy as np, torch
    >>> @numpy_inside
    ... def smooth(x):
    ...     return np.convolve(x, np.ones(2) / 2, mode="valid")   # float64 inside
    >>> smooth(torch.tensor([1.0, 2.0, 4.0]))
    tensor([1.5000, 3.0000])
    >>> smooth(np.array([1.0, 2.0, 4.0]))
    array([1.5, 3. ])
    """
    + _OPTIONS_DOC.replace("    * ``device``: where the tensors this decorator produces go{device_note}.\n", "").format(
        extra=_RESTORE
    ),
)

torch_inside = _preset(
    "torch_inside",
    """The body receives torch tensors; the caller gets back its own kind.

    >>> import numpy as np, torch
    >>> @torch_inside
    ... def softmax(x):
    ...     return torch.softmax(x, dim=-1)
    >>> softmax(np.array([0.0, 0.0], dtype=np.float32))
    array([0.5, 0.5], dtype=float32)
    """
    + _OPTIONS_DOC.format(device_note=" (the body's inputs)", extra=_NO_GRAD + _RESTORE),
)

autoconvert = _preset(
    "autoconvert",
    """Each parameter receives what its annotation names; so does the caller.

    Understands ``np.ndarray``, ``numpy.typing.NDArray[...]`` (a concrete
    dtype also casts), ``torch.Tensor``, ``Optional[...]`` / ``X | None``,
    ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[K, X]`` and
    string annotations. Other parameters are left alone.

    >>> import numpy as np, torch
    >>> @autoconvert
    ... def scale(x: torch.Tensor, factor: float) -> np.ndarray:
    ...     return x * factor
    >>> scale(np.array([1.0, 2.0]), 3)
    array([3., 6.])
    """
    + _OPTIONS_DOC.format(device_note=" (tensor parameters and tensor results)", extra=_NO_GRAD),
)

# doctest finds no docstring set by assignment; list them for it.
__test__ = {name: PRESETS[name].__doc__ for name in _PRESETS}
