# ruff: noqa: F722 - jaxtyping writes shapes as strings, which are no forward references
"""jaxtyping annotations under autoconvert (jaxtyping is a test extra, never a dependency)."""

import numpy as np
import torch
from jaxtyping import Float, Float32, Int, Shaped

from toolkit import autoconvert


def test_jaxtyping_annotations_name_tensors_and_arrays():
    seen = {}

    @autoconvert
    def f(
        x: Float[torch.Tensor, "b n"],
        ids: Int[np.ndarray, " b"],
        w: Float32[torch.Tensor, " n"],
        m: Shaped[np.ndarray, "..."],
    ) -> Float32[np.ndarray, " n"]:
        seen.update(x=x, ids=ids, w=w, m=m)
        return w.double()

    out = f(np.ones((2, 2)), torch.arange(2), np.ones(2), torch.ones(1, dtype=torch.float16))
    assert isinstance(seen["x"], torch.Tensor) and seen["x"].dtype is torch.float64  # Float: no one dtype
    assert isinstance(seen["ids"], np.ndarray) and seen["ids"].dtype == np.int64
    assert seen["w"].dtype is torch.float32  # Float32 names one dtype: it casts
    assert isinstance(seen["m"], np.ndarray) and seen["m"].dtype == np.float16
    assert isinstance(out, np.ndarray) and out.dtype == np.float32  # so does the return annotation


def test_bool_names_one_dtype_and_casts():
    from jaxtyping import Bool

    @autoconvert
    def mask(m: Bool[np.ndarray, " n"]) -> None:
        assert m.dtype == np.bool_

    mask(torch.tensor([1, 0]))
