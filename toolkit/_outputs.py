"""The four kinds of output: what the caller of a decorated function receives.

:class:`NumpyOut` (``torch_in_numpy_out``, ``numpy_in_numpy_out``),
:class:`TorchOut` (``numpy_in_torch_out``, ``torch_in_torch_out``),
:class:`MirrorOut` (``numpy_inside``, ``torch_inside``) and
:class:`AnnotatedOut` (``autoconvert``), each a :class:`~toolkit._calls.CallPath`
with its own conversion of results, chosen when the decorator is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._calls import SEED, Call, CallPath, Leaf, by_spec, traced
from ._defaults import current_float_dtype, torch_default_device
from ._dtypes import torch_dtype
from ._dynamo import skip_frames
from ._into_numpy import fast_numpy, numpy_leaf, plain_numpy
from ._into_torch import fast_torch, torch_leaf
from ._libraries import Library, library_leaf
from ._params import NUMPY, TORCH, Spec, resolve_hints, spec_of
from ._plain import as_is, by_full_path, plain_to_numpy, plain_to_torch
from ._trace import Recorder
from ._tree import walk

__all__ = ["OUTPUTS", "AnnotatedOut", "MirrorOut", "NumpyOut", "TorchOut"]

_Tensor = torch.Tensor
_ndarray = np.ndarray


class NumpyOut(CallPath):
    """The caller receives NumPy: ``torch_in_numpy_out``, ``numpy_in_numpy_out``."""

    plain_result = staticmethod(plain_to_numpy)

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        return walk(traced(plain_numpy, rec), result, call.result_memo or {})


class TorchOut(CallPath):
    """The caller receives tensors on the target device: ``numpy_in_torch_out``, ``torch_in_torch_out``.

    The ``default_float_dtype`` scope acts on tensors made from NumPy floating
    data here, as ``to_torch`` would; tensors the body made keep their dtype.
    """

    plain_result = staticmethod(plain_to_torch)
    torch_results = True

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        leaf = torch_leaf(call.device, call.move, None, current_float_dtype(), None, cast_tensors=False)
        return walk(traced(leaf, rec), result, call.result_memo or {})


class MirrorOut(CallPath):
    """The caller receives its own kind back: ``numpy_inside``, ``torch_inside``.

    The caller's kind is torch if any converted argument holds a tensor,
    else NumPy if any holds a NumPy array or scalar, else the library of the
    first other array; tensors go back to the device of the first tensor
    argument (another library's arrays to that array's device), floating results to the dtype of
    the first floating value of the caller's kind (``restore_dtype``).
    """

    mirror = True

    def plain_result(self, result: Any, tensor: Any, array: Any) -> Any:
        # The plain cases of the rule, by the rules' fast case (the full path, with _note, has
        # them all): the first tensor (or, with none, the first array) sets the dtype.
        restore = self.restore
        if tensor is not None:
            # A NumPy body's tensors were on the CPU (fast_numpy took them); a torch body's may not be.
            if type(result) is _ndarray and (self.numpy_body or tensor.is_cpu):
                out = fast_torch(result)
                if out is None:
                    return NotImplemented
                got, dtype = out.dtype, tensor.dtype
                if got == dtype or not restore or not got.is_floating_point:
                    return out
                if dtype.is_floating_point:
                    return out.to(dtype)
        elif array is not None:
            as_numpy = fast_numpy(result)
            if as_numpy is not None:
                got_np, float_np = as_numpy.dtype, array.dtype
                if got_np != float_np and restore and got_np.kind == "f":
                    if float_np.kind != "f" or not float_np.isnative:
                        return NotImplemented  # the first floating value comes later: the full path finds it
                    as_numpy = as_numpy.astype(float_np)
                return as_numpy
        else:
            return result
        return NotImplemented

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        restore = self.options.restore_dtype
        if call.kind is None:
            if call.other is None:
                return result
            leaf = library_leaf(Library.of(call.other), call.other_float if restore else None)
        elif call.kind == "torch":
            device = call.tensor_device or torch_default_device()
            leaf = torch_leaf(device, True, None, call.torch_float if restore else None, None)
        else:
            leaf = numpy_leaf(None, call.numpy_float if restore else None, None)
        return walk(traced(leaf, rec), result, call.result_memo or {})


class AnnotatedOut(CallPath):
    """The caller receives what the return annotation names: ``autoconvert``."""

    _return: tuple[Spec | None] | None = None

    def _return_spec(self) -> Spec | None:
        if self._return is None:
            self._return = (spec_of(resolve_hints(self.func).get("return")),)
        return self._return[0]

    def plain_annotations(self) -> tuple[Spec | None, tuple[Spec | None, ...], int, Callable[..., Any]]:
        """For the plain entry: the arguments' direction (``None``: by position), their specs,
        how many positional arguments they cover (0: none, the full path), and the result's conversion."""
        table = self._specs()
        positional = table.positional
        result = {NUMPY: plain_to_numpy, TORCH: plain_to_torch, None: as_is}.get(self._return_spec(), by_full_path)
        if table.var_args is not None or any(s not in (TORCH, NUMPY, None) for s in positional):
            return None, (), 0, by_full_path
        same = positional[0] if positional and all(s is positional[0] for s in positional) else None
        return same, positional, len(positional), result

    def _result(self, result: Any, call: Call, rec: Recorder | None) -> Any:
        spec = self._return_spec()
        if spec is None:
            return result
        torch_out = torch_leaf(call.device, call.move, None, current_float_dtype(), None, cast_tensors=False)

        def leaf_for(spec: Spec) -> Leaf:
            if spec.kind == "torch":
                if spec.dtype is not None:  # Float32[torch.Tensor, ...]: tensors cast too
                    return traced(torch_leaf(call.device, call.move, torch_dtype(spec.dtype), None, None), rec)
                return traced(torch_out, rec)
            return traced(plain_numpy if spec.dtype is None else numpy_leaf(spec.dtype, None, None), rec)

        return by_spec(spec, result, leaf_for, {} if call.result_memo is None else {SEED: call.result_memo})


OUTPUTS: dict[str, type[CallPath]] = {
    "numpy": NumpyOut,
    "torch": TorchOut,
    "mirror": MirrorOut,
    "annotated": AnnotatedOut,
}


skip_frames(__name__)
