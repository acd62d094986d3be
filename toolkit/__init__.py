"""Convert between NumPy arrays and torch tensors, once, in a decorator."""

from ._across import Pickler, dumps, loads, register_dask, register_ray
from ._containers import register_container
from ._convert import to_like, to_numpy, to_torch
from ._decorators import (
    autoconvert,
    numpy_in_numpy_out,
    numpy_in_torch_out,
    numpy_inside,
    torch_in_numpy_out,
    torch_in_torch_out,
    torch_inside,
)
from ._defaults import default_device, default_float_dtype, get_default_device, get_default_float_dtype
from ._dtypes import numpy_dtype, torch_dtype
from ._errors import (
    CompileFallbackWarning,
    ConversionError,
    CopyError,
    CycleError,
    DeviceError,
    GradientDetachedWarning,
    ScopeError,
    ToolkitError,
)
from ._trace import Log, Record, trace
from ._version import __version__

__all__ = [
    "__version__",
    "numpy_in_torch_out",
    "torch_in_numpy_out",
    "numpy_in_numpy_out",
    "torch_in_torch_out",
    "numpy_inside",
    "torch_inside",
    "autoconvert",
    "to_torch",
    "to_like",
    "to_numpy",
    "register_container",
    "dumps",
    "loads",
    "Pickler",
    "register_ray",
    "register_dask",
    "torch_dtype",
    "numpy_dtype",
    "default_device",
    "default_float_dtype",
    "get_default_device",
    "get_default_float_dtype",
    "trace",
    "Log",
    "Record",
    "ToolkitError",
    "ConversionError",
    "CopyError",
    "CycleError",
    "DeviceError",
    "ScopeError",
    "GradientDetachedWarning",
    "CompileFallbackWarning",
]
