"""JAX arrays on the CPU (contract section 10): in through NumPy's read-only view, so JAX's
immutable memory stays so; back as JAX arrays for a JAX caller; under jax.jit through
jax.pure_callback where a NumPy operator declares its results."""

import numpy as np
import pytest
import torch

import toolkit
import toolkit._mirror
from toolkit import numpy_inside, to_like, to_numpy, to_torch, torch_inside

jax = pytest.importorskip("jax", reason="JAX is not installed")
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


def test_a_torch_function_called_with_jax_arrays_gives_jax_arrays_back():
    @torch_inside
    def softmax(x, ids):
        assert isinstance(x, torch.Tensor) and isinstance(ids, torch.Tensor)
        return torch.softmax(x, dim=-1), ids * 2, x.sum()

    probs, ids, total = softmax(jnp.zeros(2), jnp.arange(3))
    assert all(isinstance(v, jax.Array) for v in (probs, ids, total))
    assert probs.dtype == jnp.float32 and probs.tolist() == [0.5, 0.5]
    assert ids.dtype == jnp.asarray(np.arange(3)).dtype and ids.tolist() == [0, 2, 4]  # JAX's own int
    assert total.shape == () and float(total) == 0.0  # a 0-d array, as JAX's reductions give
    assert probs.devices() == jnp.zeros(2).devices()


def test_legacy_numpy_code_called_from_jax_gives_jax_arrays_in_the_callers_dtype():
    @numpy_inside
    def legacy(x, scale=2.0):
        assert type(x) is np.ndarray
        return {"y": x.astype(np.float64) * scale, "n": np.int64(len(x)), "name": "legacy"}

    out = legacy(jnp.arange(3.0))
    assert isinstance(out["y"], jax.Array) and out["y"].dtype == jnp.float32  # the caller's float32
    assert out["y"].tolist() == [0.0, 2.0, 4.0]
    assert isinstance(out["n"], jax.Array) and int(out["n"]) == 3  # NumPy scalars are arrays too
    assert out["name"] == "legacy"


def test_numpy_and_torch_values_decide_the_kind_before_a_jax_array():
    @torch_inside
    def add(a, b):
        return a + b

    assert isinstance(add(jnp.ones(2), np.ones(2, np.float32)), np.ndarray)
    assert isinstance(add(jnp.ones(2), torch.ones(2)), torch.Tensor)


def test_a_numpy_or_torch_caller_never_pays_for_the_third_kind(monkeypatch):
    calls = []
    real = toolkit._mirror.is_other_array
    monkeypatch.setattr(toolkit._mirror, "is_other_array", lambda x: calls.append(x) or real(x))

    @numpy_inside
    def f(*values):
        return values[0]

    f(torch.ones(2), "label", [jnp.ones(1)], 3)  # full path: a container
    f(np.ones(2), {"k": jnp.ones(1)})
    assert calls == []
    f(3, jnp.ones(1), np.ones(1))
    assert len(calls) == 1  # looked for only before any NumPy or torch value


def test_to_torch_and_back_through_to_like():
    like = jnp.zeros(1, dtype=jnp.bfloat16)
    t = torch.arange(3.0, requires_grad=True) * 1
    out = to_like({"t": t, "a": np.ones(2), "i": torch.arange(2)}, like)
    assert out["t"].dtype == jnp.bfloat16 and out["t"].tolist() == [0.0, 1.0, 2.0]
    assert out["a"].dtype == jnp.bfloat16 and isinstance(out["i"], jax.Array)
    shared = torch.arange(4.0)
    back = to_like(shared, jnp.zeros(1))
    assert np.shares_memory(np.asarray(back), shared.numpy())  # zero copy from torch into JAX
    assert to_like(jnp.arange(2.0), torch.zeros(1, dtype=torch.float64)).dtype is torch.float64


# -- jax.jit: a NumPy operator with .fake runs through jax.pure_callback


@numpy_inside(op="toolkit_tests::jax_smooth")
def smooth(x, width: int = 3):
    return np.convolve(x, np.ones(width) / width, mode="same")


@smooth.fake
def _(x, width=3):
    return torch.empty_like(x)


@numpy_inside(op="toolkit_tests::jax_split")
def split(x) -> tuple[np.ndarray, np.ndarray]:
    return x[: len(x) // 2], np.argsort(x)


@split.fake
def _(x):
    return x.new_empty(x.shape[0] // 2), x.new_empty(x.shape, dtype=torch.int64)


def test_a_numpy_operator_with_fake_runs_under_jax_jit_as_in_eager_mode():
    x = jnp.asarray([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    eager = smooth(x, 2)
    assert isinstance(eager, jax.Array) and eager.dtype == jnp.float32
    jitted = jax.jit(lambda v: smooth(v, 2) * 2)(x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager) * 2, rtol=1e-6)
    half, order = jax.jit(split)(x)
    assert half.tolist() == [3.0, 1.0, 4.0] and order.tolist() == np.argsort(np.asarray(x)).tolist()
    batched = jax.vmap(smooth)(jnp.stack([x, x + 1]))  # one body call per row
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(smooth(x + 1)), rtol=1e-6)


def test_under_jax_jit_without_fake_or_op_one_sentence():
    @numpy_inside
    def plain(x):
        return x * 2

    with pytest.raises(TypeError, match=r"^plain\(\) argument 'x': cannot convert a JAX tracer: inside jax.jit"):
        jax.jit(plain)(jnp.ones(2))

    @numpy_inside(op="toolkit_tests::jax_nofake")
    def nofake(x):
        return x * 2

    with pytest.raises(TypeError, match=r"nofake\(\) is called inside jax.jit .* but has no .fake"):
        jax.jit(nofake)(jnp.ones(2))
    assert nofake(jnp.ones(2)).tolist() == [2.0, 2.0]  # outside the transform it runs


def test_a_result_that_is_not_what_fake_declares_is_refused_under_jit():
    @numpy_inside(op="toolkit_tests::jax_liar")
    def liar(x):
        return x[:1]

    @liar.fake
    def _(x):
        return torch.empty_like(x)

    with pytest.raises(
        Exception, match=r"liar\(\) is float32 of shape \(1,\) where .fake declares float32 of shape \(3,\)"
    ):
        jax.block_until_ready(jax.jit(liar)(jnp.ones(3)))


def test_under_jit_values_before_the_tracer_and_bfloat16_and_python_parameters():
    @numpy_inside(op="toolkit_tests::jax_two")
    def two(x, y):
        return x + y

    @two.fake
    def _(x, y):
        return torch.empty_like(x)

    x = jnp.arange(3.0)
    assert jax.jit(lambda a: two(np.ones(3, np.float32), a))(x).tolist() == [1.0, 2.0, 3.0]  # NumPy first
    assert jax.vmap(lambda a: two(jnp.ones(3), a))(jnp.ones((2, 3))).tolist() == [[2.0] * 3] * 2
    b = jnp.ones(3, jnp.bfloat16)
    assert jax.jit(two)(b, b).dtype == jnp.bfloat16 == two(b, b).dtype  # as in eager mode
    with pytest.raises(TypeError, match=r"^smooth\(\) argument 'width' is traced by JAX, .* mark it static"):
        jax.jit(smooth)(x, 2)
    assert jax.jit(smooth, static_argnums=1)(x, 2).tolist() == smooth(x, 2).tolist()


def test_to_like_a_tracer_says_so_and_a_matching_array_is_returned_as_it_is():
    with pytest.raises(TypeError, match=r"^to_like\(\) argument 'like': cannot convert a JAX tracer"):
        jax.jit(lambda a: to_like(np.ones(2), a))(jnp.ones(1))
    x = jnp.arange(3.0)
    assert to_like(x, jnp.zeros(1)) is x  # nothing to change: no copy
    assert to_like(x, jnp.zeros(1, jnp.bfloat16)).dtype == jnp.bfloat16


def test_the_float_dtype_comes_from_the_callers_own_library():
    xp = pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")

    @torch_inside
    def ones(a, b):
        return torch.ones(2, dtype=torch.float64)

    assert ones(xp.asarray([1]), jnp.ones(1)).dtype == xp.float64  # JAX's float32 is not the caller's


def test_the_trace_names_jax_arrays_and_records_what_stays_jax():
    g = jnp.ones(2, jnp.float16)

    @numpy_inside
    def constant(a):
        return g

    with toolkit.trace() as log:
        constant(jnp.arange(3.0))
    given, back = log.records
    assert given.source_library == "jax.Array" and back.target_library == "jax.Array"
    assert back.copied and back.reason.startswith("dtype float16 -> float32")
