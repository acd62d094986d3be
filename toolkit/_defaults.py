"""Where converted tensors land and which float dtype they take: the state and the precedence.

The state lives in two ``ContextVar``s, set for a scope by
:class:`default_device` and :class:`default_float_dtype`. The precedence
of every conversion to torch is written here once, in :func:`torch_target`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import torch

from ._dtypes import DTypeLike, torch_dtype, torch_refusal
from ._dynamo import skip_frames
from ._errors import DeviceError, suggest
from ._scope import Scope

__all__ = [
    "AUTO",
    "CPU",
    "DeviceLike",
    "current_device",
    "current_float_dtype",
    "default_device",
    "default_float_dtype",
    "get_default_device",
    "get_default_float_dtype",
    "auto_device",
    "check_present",
    "parse_device",
    "parse_float_dtype",
    "parse_torch_options",
    "torch_default_device",
    "torch_target",
]

DeviceLike = torch.device | str | int

CPU = torch.device("cpu")
_device: ContextVar[torch.device | None] = ContextVar("toolkit_default_device", default=None)
_float_dtype: ContextVar[torch.dtype | None] = ContextVar("toolkit_default_float_dtype", default=None)
current_device = _device.get  # the innermost default_device's device, or None
current_float_dtype = _float_dtype.get  # the innermost default_float_dtype's dtype, or None

# torch.get_default_device() costs about 2.4 us. Its answer differs from the
# CPU only while a torch function mode is active (set_default_device and
# `with torch.device(...)` both install one), and asking whether any mode is
# active costs about 0.1 us. Fall back to the full lookup only then.
modes_active: Callable[[], bool] = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: True)


def torch_default_device() -> torch.device:
    """``torch.get_default_device()``, cheaply when no torch function mode is active."""
    return torch.get_default_device() if modes_active() else CPU


def torch_target(
    option: torch.device | None = None,
    module_device: torch.device | None = None,
    option_float: torch.dtype | None = None,
    module_float: torch.dtype | None = None,
) -> tuple[torch.device, bool, torch.dtype | None]:
    """Device, whether tensors move there, and float dtype, for tensors made now.

    Device: the explicit option > the module's device > the innermost
    ``default_device`` > torch's own default. The first three *ask* for a
    device, so tensors move there too; torch's default only places NumPy
    data. Float dtype: the option > the module's > the innermost
    ``default_float_dtype`` > none.
    """
    if option is not None:
        device, move = option, True
    elif module_device is not None:
        device, move = module_device, True
    else:
        scoped = _device.get()
        device, move = (scoped, True) if scoped is not None else (torch_default_device(), False)
    if option_float is not None:
        return device, move, option_float
    return device, move, module_float if module_float is not None else _float_dtype.get()


def get_default_device() -> torch.device:
    """The device conversions to torch use in the current scope.

    The innermost :class:`default_device` context's device, else torch's own
    default (``torch.get_default_device()``).

    >>> get_default_device()
    device(type='cpu')
    >>> with default_device("meta"):
    ...     get_default_device()
    device(type='meta')

    .. versionadded:: 0.1
    """
    return torch_target()[0]


def get_default_float_dtype() -> torch.dtype | None:
    """The float dtype conversions to torch cast to in the current scope, or ``None``.

    >>> get_default_float_dtype() is None
    True
    >>> with default_float_dtype("float32"):
    ...     get_default_float_dtype()
    torch.float32

    .. versionadded:: 0.1
    """
    return _float_dtype.get()


def cuda_barred() -> str | None:
    """Where this process cannot use CUDA although the machine may have it, what it is; else ``None``.

    A ``DataLoader`` worker, and a process forked after CUDA was initialised
    (CUDA cannot be initialised again in a forked child).
    """
    data = getattr(torch.utils, "data", None)
    if data is not None and data.get_worker_info() is not None:
        return "a DataLoader worker process"
    if getattr(torch.cuda, "_is_in_bad_fork", lambda: False)():
        return "a process forked after CUDA was initialised"
    return None


def auto_device() -> torch.device:
    """The best device present: CUDA (``cuda:$LOCAL_RANK`` under torchrun), then any other accelerator
    torch reports (``torch.accelerator``: MPS, XPU, ...), then the CPU; the CPU where CUDA is barred."""
    if cuda_barred() is not None:
        return CPU
    if torch.cuda.is_available():
        rank = os.environ.get("LOCAL_RANK")
        return torch.device("cuda", int(rank)) if rank else torch.device("cuda")
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and accelerator.is_available():
        found = accelerator.current_accelerator()
        if found is not None and found.type != "cuda":
            return torch.device(found.type)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return CPU


#: device names people write that torch spells otherwise
_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "cuda0": "cuda:0", "apple": "mps", "metal": "mps", "intel": "xpu"}
_KNOWN = ("cpu", "cuda", "mps", "meta", "xpu", "hpu", "mtia", "auto")


#: a decorator's ``device="auto"``: resolved at each call (a DataLoader worker's is the CPU), never here
AUTO = torch.device("cpu")


def parse_device(device: DeviceLike, present: bool = True) -> torch.device:
    """A device in any accepted form as a ``torch.device``, checked to exist here (unless ``present=False``:
    a decorator's option is checked for its spelling when applied, for the device at the call, and
    ``"auto"`` is :data:`AUTO`, resolved at the call)."""
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return auto_device() if present else AUTO
    elif isinstance(device, (str, int)) and not isinstance(device, bool):
        try:
            dev = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
        except (RuntimeError, ValueError) as exc:
            kind = str(device).partition(":")[0]
            alias = _ALIASES.get(str(device).lower()) or _ALIASES.get(kind.lower().rstrip("0123456789"))
            if kind == "auto":
                raise DeviceError(f"invalid device {device!r}: 'auto' takes no index (it picks one)") from exc
            hint = f"; did you mean {alias!r}?" if alias else suggest(kind, _KNOWN)
            unknown = "Expected one of" in str(exc)  # torch's list of every type, and its own guess
            reason = f"torch has no device type {kind!r}" if unknown else _first_line(exc)
            raise DeviceError(f"invalid device {device!r}: {reason}{hint}") from exc
    else:
        raise TypeError(f"expected a device (torch.device, str, int or 'auto'), got {device!r}")
    if present:
        check_present(dev, device)
    return dev


def _first_line(exc: BaseException) -> str:
    """torch's device errors can run to pages of dispatcher tables; their first sentence says it."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    end = line.find(". ")
    return line[: end + 1] if end > 0 else line


def check_present(dev: torch.device, given: Any) -> None:
    """Raise :class:`DeviceError`, in one sentence, where this machine lacks ``dev``."""
    if dev.type == "cuda":
        barred = cuda_barred()
        if barred is not None:
            raise DeviceError(
                f"device {given!r} asked for in {barred}, where CUDA cannot be used: convert to CUDA in the "
                "main process (after the DataLoader hands over the batch), or ask for 'auto', which is the CPU here"
            )
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device {given!r} asked for, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {given!r} asked for, but this machine has {count} CUDA device(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device {given!r} asked for, but MPS is not available on this machine")
    elif dev.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=dev)
        except Exception as exc:
            raise DeviceError(f"device {given!r} is not usable on this machine: {_first_line(exc)}") from None


def parse_float_dtype(dtype: DTypeLike) -> torch.dtype:
    """A ``float_dtype`` setting as a torch dtype, checked to be real floating."""
    dt = torch_dtype(dtype)
    if not dt.is_floating_point:
        raise ValueError(f"float_dtype must be a real floating dtype, got {dt}")
    return _cast_target(dt)


def _cast_target(dt: torch.dtype) -> torch.dtype:
    """``dt``, checked to be a dtype tensors can be cast to (quantized and sub-byte ones cannot)."""
    why = torch_refusal(dt)
    if why is not None:
        kind = "quantized" if str(dt).startswith("torch.q") else "sub-byte or bit"
        raise ValueError(f"dtype {dt} is a {kind} dtype that arrays and tensors cannot be cast to with .to()")
    return dt


def parse_torch_options(
    device: DeviceLike | None,
    dtype: DTypeLike | None,
    float_dtype: DTypeLike | None,
    where: str,
    present: bool = True,
) -> tuple[torch.device | None, torch.dtype | None, torch.dtype | None]:
    """Check and normalise the ``device``, ``dtype`` and ``float_dtype`` of a conversion to torch."""
    if dtype is not None and float_dtype is not None:
        raise TypeError(f"{where} takes dtype or float_dtype, not both")
    try:
        dev = parse_device(device, present) if device is not None else None
        dt = _cast_target(torch_dtype(dtype)) if dtype is not None else None
        fdt = parse_float_dtype(float_dtype) if float_dtype is not None else None
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from exc
    return dev, dt, fdt


class default_device(Scope):
    """Set where conversions to torch place their tensors, for a scope.

    A context manager and a decorator (on functions, ``async def``
    functions, and sync and async generator functions, where it holds while
    the body runs and not in the caller between yields).

    Args:
        device: a ``torch.device``, a name (``"cuda:1"``, ``"meta"``), a CUDA
            index, or ``"auto"``: CUDA if present (``cuda:$LOCAL_RANK`` when
            that variable is set, as under torchrun, else the current CUDA
            device), then MPS, then the CPU.
        factories: also make torch factory functions (``torch.zeros``)
            allocate there, as ``with torch.device(...)`` does. That part is
            per thread, not per asyncio task.

    Raises:
        DeviceError: on the ``with`` line, for a malformed device or one this
            machine lacks (``"cuda"`` without CUDA).
        ScopeError: when the scope is left out of order, or from another
            thread or task than the one that entered it.

    >>> import numpy as np
    >>> from toolkit import to_torch
    >>> with default_device("meta"):
    ...     to_torch(np.zeros(3)).device
    device(type='meta')

    .. versionadded:: 0.1
    """

    _var = _device

    def __init__(self, device: DeviceLike, *, factories: bool = False) -> None:
        if not isinstance(factories, bool):
            raise TypeError(f"default_device(): factories must be True or False, got {factories!r}")
        super().__init__(parse_device(device))
        self._given = device
        self.factories = factories

    @property
    def device(self) -> torch.device:
        """The device this scope sets (for ``"auto"``, the one it picked)."""
        return self._value  # type: ignore[no-any-return]

    def __enter__(self) -> torch.device:
        return super().__enter__()  # type: ignore[no-any-return]

    def _on_enter(self) -> Any:
        if not self.factories:
            return None
        mode = torch.device(self._value)
        mode.__enter__()
        return mode

    def _on_exit(self, extra: Any, exc: tuple[Any, ...]) -> None:
        if extra is not None:
            extra.__exit__(*exc)

    def __call__(self, func: Any) -> Any:
        if self.factories and (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
            raise TypeError(
                "default_device(factories=True) cannot decorate an async function: "
                "torch's factory default is per thread, not per asyncio task"
            )
        return super().__call__(func)

    def __repr__(self) -> str:
        given = self._given if isinstance(self._given, (str, int)) else str(self._value)
        extra = ", factories=True" if self.factories else ""
        return f"default_device({given!r}{extra})"


class default_float_dtype(Scope):
    """Set the float dtype that conversions to torch cast real floating arrays to.

    Under ``default_float_dtype("float32")`` NumPy's float64 arrays arrive as
    float32 tensors; integers, booleans and complex values keep their dtype.
    Scoped, and usable as a decorator, as :class:`default_device` is.

    >>> import numpy as np
    >>> from toolkit import to_torch
    >>> with default_float_dtype("float32"):
    ...     to_torch(np.zeros(3)).dtype
    torch.float32

    .. versionadded:: 0.1
    """

    _var = _float_dtype

    def __init__(self, dtype: DTypeLike) -> None:
        super().__init__(parse_float_dtype(dtype))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype this scope sets."""
        return self._value  # type: ignore[no-any-return]

    def __enter__(self) -> torch.dtype:
        return super().__enter__()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"default_float_dtype({str(self._value).removeprefix('torch.')!r})"


skip_frames(__name__)
