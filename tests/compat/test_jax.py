"""JAX arrays on the CPU: through NumPy's read-only view, so JAX's immutable memory stays so."""

import numpy as np
import pytest
import torch

from toolkit import to_numpy, to_torch, torch_inside

jnp = pytest.importorskip("jax.numpy", reason="JAX is not installed")


def test_to_numpy_shares_a_jax_arrays_memory_read_only():
    x = jnp.arange(4.0)
    out = to_numpy(x)
    assert isinstance(out, np.ndarray) and out.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.shares_memory(out, np.asarray(x))  # zero copy
    assert not out.flags.writeable
    with pytest.raises(ValueError):
        out[0] = 9.0


def test_to_torch_copies_a_jax_array_since_a_tensor_could_write_to_it():
    x = jnp.arange(4.0)
    t = to_torch(x)
    assert t.dtype is torch.float32 and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    t[0] = 9.0
    assert float(x[0]) == 0.0  # JAX's array is as it was


def test_bfloat16_from_jax_becomes_torch_bfloat16():
    x = jnp.arange(3.0, dtype=jnp.bfloat16)
    t = to_torch(x)
    assert t.dtype is torch.bfloat16 and t.tolist() == [0.0, 1.0, 2.0]


def test_a_torch_function_called_with_jax_arrays():
    @torch_inside
    def softmax(x):
        return torch.softmax(x, dim=-1)

    out = softmax(jnp.zeros(2))
    assert isinstance(out, torch.Tensor) and out.tolist() == [0.5, 0.5]
