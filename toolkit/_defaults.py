"""Where converted tensors land and which float dtype they take.

The state lives in two ``ContextVar``s, so every thread and every asyncio
task has its own; :class:`default_device` and :class:`default_float_dtype`
set them for a scope, as context managers or as decorators.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import torch

from ._dtypes import DTypeLike, torch_dtype
from ._errors import DeviceError

__all__ = [
    "default_device",
    "default_float_dtype",
    "get_default_device",
    "get_default_float_dtype",
    "DeviceLike",
]

DeviceLike = torch.device | str | int
F = TypeVar("F", bound=Callable[..., Any])

CPU = torch.device("cpu")
_device: ContextVar[torch.device | None] = ContextVar("toolkit_default_device", default=None)
_float_dtype: ContextVar[torch.dtype | None] = ContextVar("toolkit_default_float_dtype", default=None)

# torch.get_default_device() costs about 2.4 us. Its answer differs from the
# CPU only while a torch function mode is active (set_default_device and
# `with torch.device(...)` both install one), and asking whether any mode is
# active costs about 30 ns. Fall back to the full lookup only then.
_modes_active: Callable[[], bool] = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: True)


def torch_default_device() -> torch.device:
    """``torch.get_default_device()``, cheaply when no torch function mode is active."""
    return torch.get_default_device() if _modes_active() else CPU


def target_device() -> tuple[torch.device, bool]:
    """The device conversions to torch use now, and whether it was asked for.

    ``True`` means a ``default_device`` context chose it, so tensors move
    there too; ``False`` means it is torch's own default, which places NumPy
    data but leaves tensors where they are.
    """
    dev = _device.get()
    if dev is not None:
        return dev, True
    return torch_default_device(), False


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
    return target_device()[0]


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


def auto_device() -> torch.device:
    """The best device present: CUDA (``cuda:$LOCAL_RANK`` under torchrun), then MPS, then CPU."""
    if torch.cuda.is_available():
        rank = os.environ.get("LOCAL_RANK")
        return torch.device("cuda", int(rank)) if rank else torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return CPU


def parse_device(device: DeviceLike) -> torch.device:
    """A device in any accepted form as a ``torch.device``, checked to exist here."""
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return auto_device()
    elif isinstance(device, (str, int)) and not isinstance(device, bool):
        try:
            dev = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise DeviceError(f"invalid device {device!r}: {exc}") from exc
    else:
        raise TypeError(f"expected a device (torch.device, str, int or 'auto'), got {device!r}")
    _check_present(dev, device)
    return dev


def _check_present(dev: torch.device, given: Any) -> None:
    if dev.type == "cuda":
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
            raise DeviceError(f"device {given!r} is not usable on this machine: {exc}") from exc


def parse_float_dtype(dtype: DTypeLike) -> torch.dtype:
    """A ``float_dtype`` setting as a torch dtype, checked to be real floating."""
    dt = torch_dtype(dtype)
    if not dt.is_floating_point:
        raise ValueError(f"float_dtype must be a real floating dtype, got {dt}")
    return dt


class _Scope:
    """A context manager that is also a decorator, over one ``ContextVar``.

    What ``__exit__`` must undo is kept in a ``ContextVar`` of the instance's
    own, so one instance can be entered by many threads and asyncio tasks at
    once (``CUDA = default_device("cuda")`` at module level, say): each
    context unwinds its own entries.
    """

    _var: ContextVar[Any]

    def __init__(self, value: Any) -> None:
        self._value = value
        self._undo: ContextVar[tuple[Any, ...]] = ContextVar(f"{type(self).__name__}_undo", default=())

    def _push(self, item: Any) -> None:
        self._undo.set((*self._undo.get(), item))

    def _pop(self) -> Any:
        stack = self._undo.get()
        self._undo.set(stack[:-1])
        return stack[-1]

    def __enter__(self) -> Any:
        self._push(self._var.set(self._value))
        return self._value

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._pop())

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]


class default_device(_Scope):
    """Set where conversions to torch place their tensors, for a scope.

    Args:
        device: a ``torch.device``, a name (``"cuda:1"``, ``"meta"``), a CUDA
            index, or ``"auto"``: CUDA (``cuda:$LOCAL_RANK`` when that
            variable is set, as under torchrun), then MPS, then the CPU.
        factories: also make torch factory functions (``torch.zeros``)
            allocate there, as ``with torch.device(...)`` does. That part is
            per thread, not per asyncio task.

    Raises:
        DeviceError: on the ``with`` line, for a malformed device or one this
            machine lacks (``"cuda"`` without CUDA).

    >>> import numpy as np
    >>> from toolkit import to_torch
    >>> with default_device("meta"):
    ...     to_torch(np.zeros(3)).device
    device(type='meta')

    .. versionadded:: 0.1
    """

    _var = _device

    def __init__(self, device: DeviceLike, *, factories: bool = False) -> None:
        super().__init__(parse_device(device))
        self.factories = factories

    @property
    def device(self) -> torch.device:
        """The device this scope sets."""
        return self._value  # type: ignore[no-any-return]

    def __enter__(self) -> torch.device:
        value = super().__enter__()
        if self.factories:
            mode = torch.device(value)
            mode.__enter__()
            self._push(mode)
        return value  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        try:
            if self.factories:
                self._pop().__exit__(*exc)
        finally:
            super().__exit__(*exc)

    def __call__(self, func: F) -> F:
        if self.factories and inspect.iscoroutinefunction(func):
            raise TypeError(
                "default_device(factories=True) cannot decorate an async function: "
                "torch's factory default is per thread, not per asyncio task"
            )
        return super().__call__(func)

    def __repr__(self) -> str:
        extra = ", factories=True" if self.factories else ""
        return f"default_device({str(self._value)!r}{extra})"


class default_float_dtype(_Scope):
    """Set the float dtype that conversions to torch cast real floating arrays to.

    Under ``default_float_dtype("float32")`` NumPy's float64 arrays arrive as
    float32 tensors; integers, booleans and complex values keep their dtype.

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

    def __repr__(self) -> str:
        return f"default_float_dtype({str(self._value).removeprefix('torch.')!r})"


current_float_dtype = _float_dtype.get
