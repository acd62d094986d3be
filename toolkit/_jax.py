"""NumPy bodies under ``jax.jit``: tracers are not arrays, so a declared body runs as a callback.

Inside ``jax.jit`` (and JAX's other transforms) a function's arguments are
tracers: shapes and dtypes with no values, which neither NumPy nor torch can
read. A NumPy operator (``numpy_inside(op=True)``) declares its results with
``.fake``; from that declaration (run on meta tensors of the tracers'
shapes and dtypes) JAX gets the results' shapes and dtypes, and the body
runs through ``jax.pure_callback`` on the concrete NumPy arrays when the
compiled JAX program executes, with the usual NumPy-caller rules. Any other
decorated function refuses a tracer with one sentence (:func:`refuse_traced`).

JAX is never imported here: a tracer can only exist where JAX already is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._dtypes import TORCH_TO_NUMPY, torch_dtype
from ._dynamo import skip_frames
from ._errors import ConversionError

__all__ = ["is_tracer", "refuse_traced", "through_callback"]


def is_tracer(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer (an argument inside ``jax.jit``, ``jax.vmap``, ``jax.grad``)."""
    if "jax" not in type(x).__module__:
        return False
    core = sys.modules.get("jax.core")
    tracer = getattr(core, "Tracer", None)
    return tracer is not None and isinstance(x, tracer)


def refuse_traced(x: Any) -> None:
    """A JAX tracer has no values to convert: say so, and what runs under ``jax.jit`` instead."""
    if is_tracer(x):
        raise ConversionError(
            "cannot convert a JAX tracer: inside jax.jit (or another JAX transform) the arguments have no "
            "values yet; call the function outside the transform, or make it numpy_inside(op=True) with "
            ".fake declaring its results, which then runs through jax.pure_callback"
        )


def through_callback(
    function: str,
    layout: Any,
    values: list[Any],
    fake: Callable[..., Any] | None,
    run: Callable[[list[Any]], Any],
) -> Any:
    """The NumPy operator's body under a JAX transform: ``jax.pure_callback`` with ``fake``'s shapes and dtypes.

    ``layout`` is the operator's parameters (``.name``, ``.tensor``);
    ``values`` the bound arguments in that order; ``run`` calls the
    decorated function on them (NumPy arrays in place of the tracers).
    """
    for p, value in zip(layout, values):
        if not p.tensor and is_tracer(value):
            raise ConversionError(
                f"{function} argument {p.name!r} is traced by JAX, but the operator takes a Python value "
                "there, which .fake and the body need as it is: mark it static "
                "(jax.jit(f, static_argnums=...) or static_argnames=...)"
            )
    if fake is None:
        raise ConversionError(
            f"{function} is called inside jax.jit (its arguments are JAX tracers), but has no .fake: "
            "decorate a function returning its results from meta tensors with .fake, so JAX knows their "
            "shapes and dtypes and runs it through jax.pure_callback"
        )
    import jax  # already imported: the arguments are its tracers

    arrays = [i for i, (p, v) in enumerate(zip(layout, values)) if p.tensor and v is not None]
    metas = list(values)
    for i in arrays:
        try:
            value = values[i] if hasattr(values[i], "dtype") else np.asarray(values[i])
            dtype = torch_dtype(np.dtype(value.dtype))
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"{function} argument {layout[i].name!r}: {exc}") from exc
        metas[i] = torch.empty(tuple(np.shape(value)), dtype=dtype, device="meta")
    declared = fake(*metas)
    several = isinstance(declared, tuple)
    outs = declared if several else (declared,)
    shapes, declared_dtypes = [], []
    for out in outs:
        if not isinstance(out, torch.Tensor):
            raise ConversionError(f"{function}: .fake must return tensors, got {type(out).__name__}")
        own = getattr(jax.numpy, str(out.dtype).removeprefix("torch."), None)  # bfloat16 is JAX's too
        want = np.dtype(own) if own is not None else TORCH_TO_NUMPY[out.dtype]
        declared_dtypes.append(want)
        shapes.append(jax.ShapeDtypeStruct(tuple(out.shape), jax.dtypes.canonicalize_dtype(want)))  # type: ignore[no-untyped-call]

    def host(*concrete: Any) -> Any:
        given = list(values)
        for i, array in zip(arrays, concrete):
            given[i] = np.asarray(array)
        result = run(given)
        got = result if isinstance(result, tuple) else (result,)
        if len(got) != len(shapes):
            raise ConversionError(f"{function} returned {len(got)} results where .fake declares {len(shapes)}")
        cast = []
        for at, (r, want, shape) in enumerate(zip(got, declared_dtypes, shapes)):
            r = np.asarray(r)
            if r.shape != shape.shape or r.dtype != want:
                where = f" result {at}" if several else ""
                raise ConversionError(
                    f"{function}{where} is {r.dtype} of shape {r.shape} where .fake declares {want} of shape "
                    f"{shape.shape}"
                )
            cast.append(r.astype(shape.dtype, copy=False))  # JAX's own dtype for it (int32 without x64)
        return tuple(cast) if several else cast[0]

    expected = tuple(shapes) if several else shapes[0]
    return jax.pure_callback(host, expected, *(values[i] for i in arrays), vmap_method="sequential")


skip_frames(__name__)
