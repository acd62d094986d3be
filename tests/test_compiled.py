"""numpy_inside(compile=True): NumPy bodies traced into torch operations, gradients, the fallback.

Most tests trace with the "eager" backend (the NumPy code still becomes torch
operations; no kernels are generated), one with the default backend.
"""

import collections
import dataclasses
import warnings

import numpy as np
import pytest
import torch

from toolkit import CompileFallbackWarning, GradientDetachedWarning, numpy_inside

EAGER = {"backend": "eager"}
rng = np.random.default_rng(0)
X = rng.standard_normal((6, 4)).astype(np.float32)

BODIES = {
    "elementwise": lambda x: np.tanh(x) * 2 + np.exp(-(x**2)),
    "reductions": lambda x: (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6),
    "matmul": lambda x: x @ x.T,
    "einsum": lambda x: np.einsum("ij,kj->ik", x, x),
    "boolean mask": lambda x: np.where(x > 0, x, 0.1 * x).sum(axis=1),
    "fft": lambda x: np.abs(np.fft.rfft(x.astype(np.float64), axis=0)),  # float32: the rfft test below
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_tensor_callers_get_numpys_answer(body):
    compiled = numpy_inside(compile=EAGER)(body)
    out = compiled(torch.from_numpy(X))
    assert isinstance(out, torch.Tensor) and out.dtype is torch.float32  # the caller's dtype back
    np.testing.assert_allclose(out.numpy(), body(X.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_numpy_callers_run_plain_numpy():
    calls = []

    @numpy_inside(compile=EAGER)
    def body(x):
        calls.append(type(x))
        return np.sum(x)

    out = body(X)
    assert calls == [np.ndarray] and isinstance(out, np.float32)  # a NumPy scalar, as NumPy returns


def test_gradients_flow_through_the_body_without_a_warning():
    @numpy_inside(compile=EAGER)
    def energy(x, w):
        return np.sum(np.tanh(x @ w) ** 2)

    x = torch.from_numpy(X).requires_grad_()
    w = torch.randn(4, 3, dtype=torch.float32, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientDetachedWarning)
        out = energy(x, w)
    out.backward()
    xr, wr = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    (torch.tanh(xr @ wr) ** 2).sum().backward()
    torch.testing.assert_close(x.grad.double(), xr.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(w.grad.double(), wr.grad, rtol=1e-5, atol=1e-5)


def test_promotions_inside_come_back_in_the_callers_dtype_unless_asked_not_to():
    def body(x):
        return x * np.float64(2.0) + np.ones(x.shape)  # float64 literals promote in compiled NumPy

    assert numpy_inside(compile=EAGER)(body)(torch.ones(2)).dtype is torch.float32
    kept = numpy_inside(compile=EAGER, restore_dtype=False)(body)(torch.ones(2))
    assert kept.dtype is torch.float64 and kept.tolist() == [3.0, 3.0]


def _expit(x):
    from scipy.special import expit  # a C ufunc from another library: dynamo cannot trace it

    return expit(x)


UNTRACEABLE = {
    "control flow on values": lambda x: x * 2 if x.sum() > 0 else x,
    "object dtype": lambda x: x + np.array([1, 2, 3], dtype=object).astype(np.float32),
    "a call into SciPy": _expit,
}


@pytest.mark.parametrize("body", UNTRACEABLE.values(), ids=UNTRACEABLE.keys())
def test_an_untraceable_body_falls_back_once_with_a_warning_and_stays_correct(body):
    if body is _expit:
        pytest.importorskip("scipy", reason="SciPy is not installed")
    fallback = numpy_inside(compile=EAGER)(body)
    x = torch.ones(3)
    with pytest.warns(CompileFallbackWarning, match=r"cannot trace \S+\(\) \(.+\); it runs as plain NumPy"):
        first = fallback(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning: it fell back for good
        second = fallback(x)
    expected = numpy_inside(body)(x)
    assert torch.equal(first, expected) and torch.equal(second, expected)


def test_a_module_compiled_with_fullgraph_inlines_the_numpy_helper():
    @numpy_inside(compile=EAGER)
    def squash(z):
        return np.clip(z, -1.0, 1.0) * 0.5

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            return squash(self.linear(x)).sum()

    torch.manual_seed(0)
    model = Model()
    x = torch.from_numpy(X)
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break would raise
    out = compiled(x)
    out.backward()
    assert out.item() == pytest.approx(model(x).item(), abs=1e-6)
    assert model.linear.weight.grad is not None and model.linear.weight.grad.abs().sum() > 0


def test_compile_options_are_checked_when_applied():
    with pytest.raises(TypeError, match="compile= does not take fullgraph"):
        numpy_inside(compile={"fullgraph": False})
    with pytest.raises(TypeError, match="compile must be"):
        numpy_inside(compile="yes")


def test_the_default_backend_compiles_the_body():
    @numpy_inside(compile=True)
    def normalise(x):
        return (x - x.mean()) / (x.std() + 1e-6)

    x = torch.from_numpy(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inductor's notices on a CPU machine
        out = normalise(x)
    np.testing.assert_allclose(out.numpy(), numpy_inside(normalise.__wrapped__)(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
def test_on_cuda_the_body_runs_on_the_device_with_no_copy_to_the_host():
    @numpy_inside(compile=True)
    def normalise(x):
        return np.tanh((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6))

    x = torch.randn(256, 64, device="cuda")
    normalise(x)  # compile first
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        out = normalise(x)
        torch.cuda.synchronize()
    assert out.is_cuda and out.dtype is torch.float32
    copies = [e.name for e in prof.events() if "Memcpy" in e.name and "DtoH" in e.name]
    assert copies == [], copies
    expected = np.tanh((x.cpu().numpy() - x.cpu().numpy().mean(0)) / (x.cpu().numpy().std(0) + 1e-6))
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-4, atol=1e-4)


# -- the mirror rule, eager and compiled alike, over every container kind ----------------------

Pair = collections.namedtuple("Pair", "a b")


@dataclasses.dataclass
class Holder:
    a: object
    b: object


CONTAINERS = {
    "list": lambda a, b: [a, b],
    "tuple": lambda a, b: (a, b),
    "dict": lambda a, b: {"a": a, "b": b},
    "OrderedDict": lambda a, b: collections.OrderedDict(a=a, b=b),
    "namedtuple": Pair,
    "dataclass": Holder,
}


def _items(obj):
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, Holder):
        return [obj.a, obj.b]
    return list(obj)


def _kind(value):
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, value.device.type, tuple(value.shape))
    return (type(value).__name__, getattr(value, "dtype", None))


@pytest.mark.parametrize("container", CONTAINERS, ids=str)
def test_compiled_results_follow_the_mirror_rule_as_eager_ones_do(container):
    make = CONTAINERS[container]

    def body(pair):  # float64 results from float32 arguments: the rule restores float32
        a, b = _items(pair)
        return make(np.asarray(a, dtype=np.float64) * 2, np.asarray(b) + 1)

    eager = numpy_inside(body)
    compiled = numpy_inside(compile=EAGER)(body)
    args = make(torch.ones(3), torch.arange(3.0, dtype=torch.float64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileFallbackWarning)
        got, want = compiled(args), eager(args)
        in_graph = torch.compile(lambda pair: compiled(pair), backend="eager")(args)  # inlined by a compiled caller
    fell_back = [w for w in caught if issubclass(w.category, CompileFallbackWarning)]
    assert not fell_back or container == "dataclass", fell_back  # torch's NumPy tracing takes pytree containers
    for out in (got, in_graph):
        assert type(out) is type(want)
        assert [_kind(v) for v in _items(out)] == [_kind(v) for v in _items(want)]
    assert _kind(_items(want)[0]) == ("tensor", torch.float32, "cpu", (3,))  # the first float's dtype
    for g, w in zip(_items(got), _items(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w))


# -- checked results (section 7): each case below gave a silently wrong answer before the check ---


def _fell_back_with(compiled, *args, match):
    """Call ``compiled`` once, expecting a CompileFallbackWarning matching ``match``; return the result."""
    with pytest.warns(CompileFallbackWarning, match=match):
        return compiled(*args)


@pytest.mark.parametrize(
    "body, arg, match",
    [
        (lambda x: np.cumsum(x), torch.full((200,), 1, dtype=torch.int8), "dtype int8 where NumPy gives int64"),
        (lambda x: x / 3, torch.tensor([2**40 + 1, 7]), "dtype float32 where NumPy gives float64"),
    ],
    ids=["int8 cumsum accumulates in int64", "int64 / 3 is float64"],
)
def test_a_compiled_dtype_numpy_would_not_give_falls_back_to_numpys_answer(body, arg, match):
    compiled = numpy_inside(compile=EAGER)(body)
    got = _fell_back_with(compiled, arg, match=match)
    want = numpy_inside(body)(arg)
    assert got.dtype == want.dtype and torch.equal(got, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # that signature takes the eager path for good: no second warning
        assert torch.equal(compiled(arg), want)


def test_rfft_of_float32_is_complex64_as_in_numpy_2():
    body = lambda x: np.fft.rfft(x)  # noqa: E731
    x = torch.from_numpy(X[:, 0].copy())
    want_dtype = np.fft.rfft(X[:, 0]).dtype  # complex64 on NumPy 2, complex128 on NumPy 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileFallbackWarning)
        got = numpy_inside(compile=EAGER, restore_dtype=False)(body)(x)
    assert got.dtype is {np.complex64: torch.complex64, np.complex128: torch.complex128}[want_dtype.type]
    fell_back = [w for w in caught if issubclass(w.category, CompileFallbackWarning)]
    assert bool(fell_back) == (want_dtype == np.complex64)


def test_a_namedtuple_result_keeps_its_type_and_the_mirror_rules_dtype():
    body = lambda a: np.linalg.eigh(a)  # noqa: E731
    a = torch.from_numpy((X.T @ X).astype(np.float32))
    got = _fell_back_with(numpy_inside(compile=EAGER)(body), a, match="where NumPy gives EighResult")
    want = numpy_inside(body)(a)
    assert type(got) is type(want) and got.eigenvalues.dtype is torch.float32


def test_each_function_has_its_own_recompile_limit_and_hitting_it_falls_back():
    helpers = [numpy_inside(compile={"backend": "eager", "dynamic": False})(lambda x, k=k: x + k) for k in range(10)]
    x = torch.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)
        for k, helper in enumerate(helpers):  # the 9th and 10th helper compile as the first did
            assert torch.equal(helper(x), x + k)
    shaped = helpers[0]
    limit = torch._dynamo.config.recompile_limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileFallbackWarning)
        for n in range(1, limit + 3):  # a new shape each call, without dynamic shapes: a recompile each
            assert torch.equal(shaped(torch.ones(n)), torch.ones(n))
    assert [str(w.message) for w in caught if issubclass(w.category, CompileFallbackWarning)][-1:] != []


def test_the_bodys_own_exceptions_reach_the_caller_as_numpy_raises_them():
    @numpy_inside(compile=EAGER)
    def checked(x):
        if x.ndim != 2:
            raise ValueError("x must be 2-D")
        return x * 2

    with pytest.raises(ValueError, match=r"^x must be 2-D$"):
        checked(torch.ones(3))

    divide = numpy_inside(compile=EAGER)(lambda x: x // 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = divide(torch.arange(3))  # NumPy only warns, and gives zeros
    assert torch.equal(out, torch.zeros(3, dtype=torch.int64))
    assert any(issubclass(w.category, RuntimeWarning) and "divide" in str(w.message) for w in caught)


def test_an_in_place_write_never_reaches_a_callers_grad_tensor():
    @numpy_inside(compile=EAGER)
    def scale(x):
        x *= 2
        return x

    leaf = torch.ones(3, requires_grad=True)
    caller = leaf * 1  # a non-leaf tensor that requires grad
    out = scale(caller)
    assert torch.equal(caller.detach(), torch.ones(3))  # the caller's tensor is as it was
    assert torch.equal(out.detach(), torch.full((3,), 2.0))
    out.sum().backward()
    assert torch.equal(leaf.grad, torch.full((3,), 2.0))


def test_under_fullgraph_a_body_known_not_to_trace_raises_one_sentence():
    branchy = numpy_inside(compile=EAGER)(lambda x: x * 2 if x.sum() > 0 else x)
    with pytest.warns(CompileFallbackWarning):
        branchy(torch.ones(3))  # found not to trace
    with pytest.raises(Exception, match=r"cannot be traced by torch.compile .* numpy_inside\(op=True\)") as caught:
        torch.compile(lambda x: branchy(x) + 1, fullgraph=True, backend="eager")(torch.ones(3))
    assert "Traceback" not in str(caught.value).splitlines()[0]
