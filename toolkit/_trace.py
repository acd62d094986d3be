"""``toolkit.trace()``: a record of every conversion made in its scope.

While no trace is active anywhere, conversions pay one list lookup for
this module (``ACTIVE[0]``). While one is, they take the slow path: each
leaf's conversion is noted, and once a whole value has converted, the
converted tree is walked to give each note its path (``argument
'batch'['x']``), so the conversion itself never tracks paths.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import torch
from torch.utils.dlpack import from_dlpack

from ._dtypes import NUMPY_TO_TORCH, TORCH_TO_NUMPY, torch_of
from ._dynamo import skip_frames
from ._into_numpy import tensor_steps
from ._into_torch import copy_reason
from ._libraries import is_other_array
from ._producers import views_reset, views_to
from ._scope import Scope
from ._tree import leaves_with_paths

__all__ = ["ACTIVE", "Log", "Record", "Recorder", "recorder", "trace"]

_logs: ContextVar[tuple[Log, ...]] = ContextVar("toolkit_traces", default=())
ACTIVE = [0]  # traces active in any thread or task; 0 means nobody is tracing
_lock = threading.Lock()


@dataclass(frozen=True)
class Record:
    """One leaf's conversion: where, from what, to what, and whether it copied and why.

    .. versionadded:: 0.2
    """

    function: str  #: ``"predict()"``, ``"to_torch()"``
    path: str  #: as errors name it: ``"argument 'batch'['x']"``, ``"return value[1]"``
    source_library: str  #: ``"numpy"``, ``"torch"``, or the module of another library's array
    source_dtype: str
    source_shape: tuple[int, ...]
    source_device: str
    target_library: str
    target_dtype: str
    target_device: str
    nbytes: int  #: the size of the data (of the new memory, for a copy)
    copied: bool  #: new memory was made; ``False``: the result shares the source's memory
    reason: str  #: why it was copied, in words (``"dtype float64 -> float32"``); ``""`` when shared

    def __str__(self) -> str:
        shape = ", ".join(map(str, self.source_shape))
        what = f"copied: {self.reason}" if self.copied else "shared"
        return (
            f"{self.function} {self.path}: {self.source_library} {self.source_dtype}[{shape}] {self.source_device}"
            f" -> {self.target_library} {self.target_dtype} {self.target_device}, {_size(self.nbytes)} {what}"
        )


class Log:
    """The records of one ``trace()`` scope, in the order the conversions happened.

    .. versionadded:: 0.2
    """

    def __init__(self) -> None:
        self.records: list[Record] = []

    @property
    def copies(self) -> list[Record]:
        """The records that made new memory."""
        return [r for r in self.records if r.copied]

    @property
    def bytes_copied(self) -> int:
        """The bytes of new memory all the copies made."""
        return sum(r.nbytes for r in self.records if r.copied)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, i: int) -> Record: ...
    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...
    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        return self.records[i]

    def __str__(self) -> str:
        if not self.records:
            return "no conversions"
        lines = [str(r) for r in self.records]
        lines.append(f"{len(self.copies)} of {len(self.records)} copied, {_size(self.bytes_copied)} in all")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<toolkit trace: {len(self.records)} conversions, {len(self.copies)} copies>"


class trace(Scope):
    """Record every conversion made in its scope, by ``to_torch``, ``to_numpy`` and every decorator.

    Scoped per thread and per asyncio task, as :class:`default_device` is;
    scopes nest, and an inner trace's records appear in the outer one too.
    Nothing is recorded outside a scope, and no trace costs nothing.

    >>> import numpy as np
    >>> from toolkit import to_torch
    >>> with trace() as log:
    ...     batch = to_torch({"x": np.zeros((2, 3)), "y": np.ones(2)[::-1]})
    >>> print(log)
    to_torch() argument 'data'['x']: numpy float64[2, 3] cpu -> torch float64 cpu, 48 B shared
    to_torch() argument 'data'['y']: numpy float64[2] cpu -> torch float64 cpu, 16 B copied: negative strides
    1 of 2 copied, 16 B in all
    >>> log.bytes_copied
    16

    .. versionadded:: 0.2
    """

    _var = _logs

    def __init__(self) -> None:
        super().__init__(None)

    def _enter_value(self, current: tuple[Log, ...]) -> tuple[Log, ...]:
        return (*current, Log())

    def __enter__(self) -> Log:
        logs: tuple[Log, ...] = super().__enter__()
        with _lock:
            ACTIVE[0] += 1
        return logs[-1]

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        with _lock:
            ACTIVE[0] -= 1

    def __repr__(self) -> str:
        return "trace()"


def _size(n: float) -> str:
    unit = "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if n < 1024:
            break
        n, unit = n / 1024, bigger
    return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"


class Recorder:
    """Notes the leaves of one value's conversion, then files them under their paths."""

    def __init__(self, logs: tuple[Log, ...], function: str, copy: bool | None, numpy_body: bool = False) -> None:
        self.logs = logs
        self.function = function
        self.copy = copy
        self.numpy_body = numpy_body
        self.pending: dict[int, tuple[Any, Any, Any]] = {}
        self.views: dict[int, Any] = {}  # what each producer gave while converting, by its id

    def wrap(self, leaf: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``leaf``, noting what it was given, what the producer behind it gave, and what it gave back."""
        views = self.views

        def noted(x: Any) -> Any:
            token = views_to(views)
            try:
                out = leaf(x)
            finally:
                views_reset(token)
            view = views.pop(id(x), None)
            if _is_array(x) or _is_array(out) or is_other_array(x) or is_other_array(out):
                self.pending.setdefault(id(out), (x, out, x if view is None else view))
            return out

        return noted

    def file(self, converted: Any, where: str) -> None:
        """Give each noted leaf of ``converted`` its path under ``where`` and add it to the logs."""
        for path, out in leaves_with_paths(converted):
            noted = self.pending.pop(id(out), None)
            if noted is not None:
                record = _record(self.function, f"{where}{path}", *noted, self.copy, self.numpy_body)
                for log in self.logs:
                    log.records.append(record)


def recorder(function: str, copy: bool | None = None, numpy_body: bool = False) -> Recorder | None:
    """A :class:`Recorder` for the active traces of this context, or ``None`` when there are none."""
    if not ACTIVE[0]:
        return None
    logs = _logs.get()
    return Recorder(logs, function, copy, numpy_body) if logs else None


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, torch.Tensor)) and not isinstance(x, (str, bytes))


def _describe(x: Any, view: Any) -> tuple[str, str, tuple[int, ...], str]:
    """(library, dtype, shape, device) of an array, a tensor, or another library's array seen as ``view``."""
    if isinstance(x, torch.Tensor):
        return "torch", str(x.dtype).removeprefix("torch."), tuple(x.shape), str(x.device)
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy", str(x.dtype), tuple(np.shape(x)), "cpu"
    library = _library(type(x))
    if isinstance(view, (torch.Tensor, np.ndarray)):
        return (library, *_describe(view, view)[1:])
    return library, str(getattr(x, "dtype", "?")), tuple(getattr(x, "shape", ())), str(getattr(x, "device", "cpu"))


def _library(cls: type) -> str:
    """A class named by its library and its public name (``jax.Array``, ``pyarrow.DoubleArray``,
    ``PIL.Image.Image``): the first class of its MRO that its package exports, else its own dotted name."""
    for klass in cls.__mro__[:-1]:
        package = sys.modules.get(klass.__module__.partition(".")[0])
        if package is not None and getattr(package, klass.__name__, None) is klass:
            return f"{package.__name__}.{klass.__name__}"
    for name in ("jax",):  # libraries whose public array type is an abstract base of the concrete one
        public = getattr(sys.modules.get(name), "Array", None)
        if isinstance(public, type) and issubclass(cls, public):
            return f"{name}.Array"
    return f"{cls.__module__}.{cls.__qualname__}"


def _nbytes(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return x.numel() * x.element_size()
    nbytes = getattr(x, "nbytes", None)
    if nbytes is None and is_other_array(x):  # the Array API has no nbytes: the memory DLPack shows
        seen = _over(x)
        return 0 if seen is None else _nbytes(seen)
    return int(nbytes or 0)


def _record(function: str, path: str, src: Any, out: Any, view: Any, copy: bool | None, numpy_body: bool) -> Record:
    source = _describe(src, view)
    target = _describe(out, out)
    shared, reason = explain(src, out, copy, numpy_body, view)
    return Record(function, path, *source, target[0], target[1], target[3], _nbytes(out), not shared, reason)


def _address(x: Any) -> tuple[str, int] | None:
    if isinstance(x, np.ndarray):
        return "cpu", x.__array_interface__["data"][0]
    if isinstance(x, torch.Tensor) and x.layout == torch.strided and not x.is_nested and x.device.type != "meta":
        return str(x.device), x.data_ptr()
    return None


def _over(x: Any) -> torch.Tensor | None:
    """A tensor over another library's array's memory, to compare addresses and dtypes, or ``None``;
    through NumPy's view where torch's DLPack import fails (array-api-strict under NumPy 1)."""
    try:
        return from_dlpack(x)
    except (BufferError, TypeError, ValueError, RuntimeError):
        pass
    try:
        view = np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return None
    with warnings.catch_warnings():  # only looked at, never written
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(view) if view.dtype in NUMPY_TO_TORCH else None


def explain(src: Any, out: Any, copy: bool | None, numpy_body: bool = False, view: Any = None) -> tuple[bool, str]:
    """Whether ``out`` shares the memory of ``src`` and, if not, why it was copied, in words.

    ``view`` is what ``src`` gave the conversion, where ``src`` is another
    library's array (its NumPy view, or the tensor DLPack gave): the memory
    the result is held against. The producer is never asked again.
    """
    if out is src:
        return True, ""
    if view is None:
        view = src
    if is_other_array(out):  # a result given back to another library: held against its memory, through DLPack
        seen = _over(out)
        if seen is None:
            return False, "another library's array, whose memory DLPack does not show"
        if view is src and is_other_array(src):  # another library's array in, another's out
            inner = _over(src)
            view = src if inner is None else inner
        out = seen
        library = True
    else:
        library = False
    if not isinstance(view, (np.ndarray, np.generic, torch.Tensor)):
        return False, "another library's array, copied on its way through NumPy"
    if not isinstance(view, np.generic) and _address(view) is not None and _address(view) == _address(out):
        return True, ""
    why: list[str] = []
    if isinstance(view, torch.Tensor):
        if numpy_body and view.requires_grad:
            why.append("requires grad (NumPy body)")
        if isinstance(out, torch.Tensor):
            if out.device != view.device:
                why.append(f"device {view.device} -> {out.device}")
            if out.dtype != view.dtype:
                why.append(f"dtype {view.dtype} -> {out.dtype}".replace("torch.", ""))
        else:
            as_numpy = TORCH_TO_NUMPY.get(view.dtype)
            got = np.asarray(out).dtype
            why += [word for word, _ in tensor_steps(view, got if as_numpy is not None and got != as_numpy else None)]
    elif isinstance(view, np.generic):
        why.append("NumPy scalar")
    elif isinstance(out, torch.Tensor):
        natural = torch_of(view.dtype)
        if natural is not None and out.dtype != natural:
            why.append(f"dtype {view.dtype} -> {out.dtype}".replace("torch.", ""))
        if out.device.type != "cpu":
            why.append(f"device cpu -> {out.device}")
        reason = copy_reason(view)
        if reason is not None:
            why.append(reason)
    elif np.asarray(out).dtype != view.dtype:
        why.append(f"dtype {view.dtype} -> {np.asarray(out).dtype}")
    if copy and not why:
        why.append("copy=True")
    if library and not why:
        why.append("the library's own DLPack import copied it")
    return False, ", ".join(why) or "another library's array, copied on its way through NumPy"


skip_frames(__name__)
