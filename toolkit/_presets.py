"""The seven decorators as one table, and the one factory they share.

Each preset says what the body receives and what the caller receives; the
options a preset takes follow from that (:func:`options_of`), and so do
each decorator's keyword-only signature and docstring (:func:`preset`).
The typed options of ``_decorators.py`` are checked against this table by
the tests.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, cast, overload

from ._calls import CallPath, Options
from ._defaults import parse_torch_options
from ._dynamo import skip_frames
from ._errors import suggest
from ._outputs import OUTPUTS
from ._params import Params
from ._skip import parse_skip
from ._wrapper import bound_offset, make_wrapper, underlying

__all__ = ["OPTIONS", "TABLE", "Decorator", "Option", "Preset", "decorate", "options_of", "preset"]

P = ParamSpec("P")
Decorated = Callable[..., Any]


class Decorator(Protocol[P]):
    """A ``toolkit`` decorator: ``@name``, or ``@name(**options)`` with the options ``P`` names."""

    @overload
    def __call__(self, func: Decorated, /) -> Decorated: ...
    @overload
    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> Callable[[Decorated], Decorated]: ...


@dataclass(frozen=True)
class Preset:
    """One decorator: what its body receives, what its caller receives, and its documentation."""

    name: str
    body: str  # "numpy", "torch" or "annotated"
    caller: str  # "numpy", "torch", "mirror" or "annotated"
    summary: str
    text: str
    example: str


TABLE = (
    Preset(
        "numpy_in_torch_out",
        "numpy",
        "torch",
        "The body receives NumPy arrays; the caller receives torch tensors.",
        "For NumPy code whose results feed a torch pipeline. Results land on the target device.",
        """>>> import numpy as np, torch
>>> @numpy_in_torch_out
... def normalise(x):
...     return (x - x.mean()) / x.std()
>>> normalise(torch.tensor([1.0, 2.0, 3.0]))
tensor([-1.2247,  0.0000,  1.2247])""",
    ),
    Preset(
        "torch_in_numpy_out",
        "torch",
        "numpy",
        "The body receives torch tensors; the caller receives NumPy arrays.",
        "For metrics and predictions computed with torch and consumed by NumPy code: tensors come\n"
        "back detached, 0-d results as NumPy scalars.",
        """>>> import numpy as np, torch
>>> @torch_in_numpy_out
... def accuracy(pred, target):
...     return (pred.argmax(-1) == target).float().mean()
>>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
np.float32(0.5)""",
    ),
    Preset(
        "numpy_in_numpy_out",
        "numpy",
        "numpy",
        "The body receives NumPy arrays; the caller receives NumPy arrays.",
        "For NumPy code that must accept tensors too.",
        """>>> import numpy as np, torch
>>> @numpy_in_numpy_out
... def total(x):
...     return np.sum(x)
>>> total(torch.arange(4))
np.int64(6)""",
    ),
    Preset(
        "torch_in_torch_out",
        "torch",
        "torch",
        "The body receives torch tensors on the target device; so does the caller.",
        "For torch code that must accept NumPy arrays too.",
        """>>> import numpy as np, torch
>>> @torch_in_torch_out
... def double(x):
...     return x * 2
>>> double(np.array([1, 2]))
tensor([2, 4])""",
    ),
    Preset(
        "numpy_inside",
        "numpy",
        "mirror",
        "The body receives NumPy arrays; the caller gets back its own kind.",
        "For legacy NumPy code inside torch pipelines. Called with tensors, the results come back\n"
        "as tensors on the device of the first tensor argument, floating results in the dtype of\n"
        "the first floating tensor; called with NumPy data, they come back as NumPy.",
        """>>> import numpy as np, torch
>>> @numpy_inside
... def smooth(x):
...     return np.convolve(x, np.ones(2) / 2, mode="valid")   # float64 inside
>>> smooth(torch.tensor([1.0, 2.0, 4.0]))
tensor([1.5000, 3.0000])
>>> smooth(np.array([1.0, 2.0, 4.0]))
array([1.5, 3. ])""",
    ),
    Preset(
        "torch_inside",
        "torch",
        "mirror",
        "The body receives torch tensors; the caller gets back its own kind.",
        "For torch code offered to both worlds.",
        """>>> import numpy as np, torch
>>> @torch_inside
... def softmax(x):
...     return torch.softmax(x, dim=-1)
>>> softmax(np.array([0.0, 0.0], dtype=np.float32))
array([0.5, 0.5], dtype=float32)""",
    ),
    Preset(
        "autoconvert",
        "annotated",
        "annotated",
        "Each parameter receives what its annotation names; so does the caller.",
        "Understands ``np.ndarray``, ``numpy.typing.NDArray[...]`` (a concrete dtype also casts),\n"
        "``torch.Tensor``, ``Optional[...]`` / ``X | None``, ``list[X]``, ``tuple[X, ...]``,\n"
        "``tuple[X, Y]``, ``dict[K, X]`` and string annotations. Other parameters are left alone.",
        """>>> import numpy as np, torch
>>> @autoconvert
... def scale(x: torch.Tensor, factor: float) -> np.ndarray:
...     return x * factor
>>> scale(np.array([1.0, 2.0]), 3)
array([3., 6.])""",
    ),
)
_BY_NAME = {p.name: p for p in TABLE}


@dataclass(frozen=True)
class Option:
    """One option, defined once: its signature, default, documentation, and which presets take it."""

    name: str
    annotation: str  # as the signature shows it
    default: Any
    doc: str  # for the docstring; ``{where}`` is the preset's own wording of where tensors go
    takes: Callable[[Preset], bool]  # whether the option means something for a preset


# Every option, in signature order. The signatures, docstrings, the check of what a preset
# takes, the defaults of the options object and the typed options (a test) come from here.
OPTIONS = (
    Option(
        "device",
        "DeviceLike | None",
        None,
        'where the tensors this decorator makes go ({where}); a name, ``torch.device``, CUDA index or ``"auto"``.',
        lambda p: p.body != "numpy" or p.caller == "torch",  # it makes tensors: the body's or the caller's
    ),
    Option(
        "dtype",
        "DTypeLike | None",
        None,
        "cast every array or tensor the body receives to this dtype.",
        lambda p: True,
    ),
    Option(
        "float_dtype",
        "DTypeLike | None",
        None,
        "cast the real floating arrays or tensors the body receives.",
        lambda p: True,
    ),
    Option(
        "only",
        "str | Iterable[str] | None",
        None,
        "names of the parameters to convert; the rest pass untouched.",
        lambda p: True,
    ),
    Option(
        "exclude",
        "str | Iterable[str] | None",
        None,
        "names of the parameters to leave untouched.",
        lambda p: True,
    ),
    Option(
        "skip",
        "str | Iterable[str] | Callable[[str, Any], bool] | None",
        None,
        "paths inside the arguments to leave untouched, written as errors print them and rooted at the "
        'parameter name (``"batch[\'meta\']"``, ``"batch.ids"``, ``"batch[\'past\'][*]"``; '
        '``"return value[1]"`` in the result), or a callable ``(path, value) -> bool``.',
        lambda p: True,
    ),
    Option("no_grad", "bool", False, "run the body under ``torch.no_grad()``.", lambda p: p.body != "numpy"),
    Option(
        "restore_dtype",
        "bool",
        True,
        "floating results take the dtype of the caller's first floating value; ``False`` keeps the body's dtypes.",
        lambda p: p.caller == "mirror",
    ),
    Option(
        "compile",
        "bool | Mapping[str, Any]",
        False,
        "trace the NumPy body with ``torch.compile`` when called "
        "with tensors, so it runs as torch operations on their device, gradients included (a dict "
        "gives ``torch.compile`` options).",
        lambda p: p.body == "numpy" and p.caller == "mirror",
    ),
    Option(
        "op",
        "bool | str",
        False,
        "register the NumPy body as a torch operator (``torch.library.custom_op``; "
        '``"namespace::name"`` names it), so compiled and exported models call it and gradients '
        "flow through its ``.backward``; register its results' shapes with ``.fake``.",
        lambda p: p.body == "numpy" and p.caller == "mirror",
    ),
)
_OPTIONS = {o.name: o for o in OPTIONS}
#: what ``.fake`` and ``.backward`` add to an operator's options (so a copy made again has them)
_OPERATOR_PARTS = {"fake", "backward"}
_COMPILE_KEYS = ("backend", "mode", "options", "dynamic", "disable")


def options_of(preset: Preset) -> tuple[str, ...]:
    """The options that mean something for ``preset``, in signature order."""
    return tuple(o.name for o in OPTIONS if o.takes(preset))


def _device_where(preset: Preset) -> str:
    if preset.body == "annotated":
        return "tensor parameters and tensor results"
    parts = ["the tensors the body receives"] if preset.body == "torch" else []
    if preset.caller == "torch":
        parts.append("the tensors the caller receives")
    return " and ".join(parts)


# --------------------------------------------------------------------------
# The factory


def decorate(name: str, func: Any, options: dict[str, Any]) -> Any:
    """Apply the preset ``name`` with the ``options`` the user gave to ``func``.

    With ``func`` left out, the options are checked now and a decorator that
    applies them is returned.
    """
    preset = _BY_NAME[name]
    where = f"@{name}"
    unknown = set(options) - set(options_of(preset)) - (_OPERATOR_PARTS if options.get("op") else set())
    if unknown:
        _refuse_unknown(preset, unknown, where)
    settings = _settings(options, where)
    if func is None:
        return lambda f: decorate(name, f, options)
    options = dict(options)  # this function's own: an operator keeps its .fake and .backward here
    if isinstance(func, type):
        raise TypeError(
            f"{where} decorates functions and methods, not classes: decorate the method that takes "
            f"the arrays instead ({func.__name__}.forward for a module)"
        )
    if not callable(underlying(func)):
        takes = "device" if "device" in options_of(preset) else "dtype"
        raise TypeError(
            f"{where} got {func!r} where the function goes; its options are keyword-only: "
            f"write @{name}({takes}={func!r})"
        )
    inner = underlying(func)
    qualname = _qualname(inner)
    params = Params(inner, qualname)
    for option in ("only", "exclude"):
        names = getattr(settings, option)
        if names is not None:
            params.check_names(option, names, where)
    skip = options.get("skip")
    if skip is not None:
        if not callable(skip):
            params.check_names("skip", frozenset(), where)  # paths need parameter names
        settings = dataclasses.replace(
            settings, skip=parse_skip(skip, where, params.takes, params.var_args, params.var_kwargs)
        )
    compiled = options.get("compile", False)
    path: CallPath
    if options.get("op"):
        from ._operator import OperatorOut

        if not isinstance(func, types.FunctionType):
            raise TypeError(f"{where}(op=...) makes operators from module-level Python functions, not {func!r}")
        path = OperatorOut(qualname, params, preset.body, settings, bound_offset(func), inner, options["op"], options)
    elif compiled:
        from ._compiled import CompiledMirrorOut

        path = CompiledMirrorOut(qualname, params, preset.body, settings, bound_offset(func), inner, compiled)
    else:
        path = OUTPUTS[preset.caller](qualname, params, preset.body, settings, bound_offset(func), inner)
    return make_wrapper(func, path, (decorate, name, options))


def _settings(options: dict[str, Any], where: str) -> Options:
    """The options checked and normalised (everything that does not need the function)."""
    for flag in ("no_grad", "restore_dtype"):
        if flag in options and not isinstance(options[flag], bool):
            raise TypeError(f"{where}: {flag} must be True or False, got {options[flag]!r}")
    compiled = options.get("compile", False)
    if options.get("op") and compiled:
        raise TypeError(f"{where} takes compile= or op=, not both: op= makes the body one operator in compiled graphs")
    if not isinstance(compiled, (bool, Mapping)):
        raise TypeError(f"{where}: compile must be True, False or a dict of torch.compile options, got {compiled!r}")
    if isinstance(compiled, Mapping):
        bad = sorted(set(compiled) - set(_COMPILE_KEYS))
        if bad:
            raise TypeError(f"{where}: compile= does not take {', '.join(bad)}; it takes {', '.join(_COMPILE_KEYS)}")
    device, dtype, float_dtype = parse_torch_options(
        options.get("device"), options.get("dtype"), options.get("float_dtype"), where, present=False
    )  # whether this machine has the device is asked at the call: a module must import anywhere
    only = _names(options.get("only"), "only", where)
    exclude = _names(options.get("exclude"), "exclude", where)
    if only is not None and exclude is not None:
        raise TypeError(f"{where} takes only= or exclude=, not both")
    flags = {name: options.get(name, _OPTIONS[name].default) for name in ("no_grad", "restore_dtype")}
    return Options(
        device, dtype, float_dtype, only=only, exclude=exclude, skip=None, **flags
    )  # compile: the call path's


def _qualname(func: Any) -> str:
    """The name errors use: ``score``, ``Model.forward``, ``softmax`` for a partial of ``torch.softmax``."""
    target = func.func if isinstance(func, functools.partial) else func
    if isinstance(target, types.FunctionType):  # Python's own: Model.forward, score
        return target.__qualname__.rpartition("<locals>.")[2]
    return str(getattr(target, "__name__", None) or type(target).__name__)  # C: softmax, not _VariableFunctionsClass


def _refuse_unknown(preset: Preset, unknown: set[str], where: str) -> None:
    takes = options_of(preset)
    name = sorted(unknown)[0]
    if name in _OPTIONS:
        why = "its body receives NumPy arrays, so it makes no tensors to place" if name == "device" else ""
        raise TypeError(f"{where} does not take {name}{': ' + why if why else ''}; its options are {', '.join(takes)}")
    raise TypeError(f"{where} has no option {name!r}; its options are {', '.join(takes)}{suggest(name, takes)}")


def _names(value: str | Iterable[str] | None, option: str, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset((value,))
    try:
        names = frozenset(value)
    except TypeError:
        names = frozenset((None,))  # type: ignore[arg-type]
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{where}: {option}= takes parameter names (strings), got {value!r}")
    return names


# --------------------------------------------------------------------------
# What help(), autodoc and inspect.signature show, made from the table


def _docstring(preset: Preset) -> str:
    lines = [preset.summary, "", *preset.text.splitlines(), "", *preset.example.splitlines(), "", "Args:"]
    lines.append("    func: the function to decorate; leave it out to give options.")
    for option in options_of(preset):
        lines.append(f"    {option}: {_OPTIONS[option].doc.format(where=_device_where(preset))}")
    lines += [
        "",
        "Raises:",
        "    TypeError: when applied: an option it does not take (with the closest one it does),",
        "        a positional option, a bad option value, a class instead of a function.",
        "",
        ".. versionadded:: 0.1",
    ]
    return "\n".join(lines)


def _signature(preset: Preset) -> inspect.Signature:
    func = inspect.Parameter("func", inspect.Parameter.POSITIONAL_ONLY, default=None)
    options = [
        inspect.Parameter(
            o, inspect.Parameter.KEYWORD_ONLY, default=_OPTIONS[o].default, annotation=_OPTIONS[o].annotation
        )
        for o in options_of(preset)
    ]
    return inspect.Signature([func, *options], return_annotation="Any")


def preset(name: str, options: Callable[P, None]) -> Decorator[P]:
    """The public decorator ``name``, usable bare or with options, documented from the table.

    ``options`` only types the options for type checkers (``_decorators.Decorator``).
    """
    row = _BY_NAME[name]

    def decorator(func: Any = None, /, **given: Any) -> Any:
        return decorate(name, func, given)

    decorator.__name__ = decorator.__qualname__ = name
    decorator.__module__ = "toolkit"
    decorator.__doc__ = _docstring(row)
    decorator.__signature__ = _signature(row)  # type: ignore[attr-defined]
    return cast(Decorator[P], decorator)


skip_frames(__name__)
