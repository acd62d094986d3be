"""numpy_inside(op=...): NumPy bodies as torch operators (contract section 9).

Compiled tests use the "eager" and "aot_eager" backends: they exercise dynamo's
capture and the autograd graph without generating kernels.
"""

import pickle
import re
import subprocess
import sys
import textwrap
import typing
import warnings

import numpy as np
import pytest
import torch

from toolkit import GradientDetachedWarning, numpy_inside

scipy_ndimage = pytest.importorskip("scipy.ndimage", reason="SciPy is a test extra")


@numpy_inside(op=True)
def smooth(x, width: int = 3):
    return scipy_ndimage.uniform_filter1d(x, width)


@smooth.fake
def _(x, width=3):
    return torch.empty_like(x)


@smooth.backward
def _(x, width, grad):
    return scipy_ndimage.uniform_filter1d(grad, width)  # the filter is symmetric: its own adjoint


@numpy_inside(op="toolkit_tests::moments")
def moments(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=axis), x.std(axis=axis)  # float64 inside for float64 ...


@moments.fake
def _(x, axis=0):
    shape = [n for i, n in enumerate(x.shape) if i != axis]
    return x.new_empty(shape), x.new_empty(shape)


@numpy_inside(op=True)
def no_grad_formula(x):
    return np.cumsum(x)


def _reference_smooth(x, width):
    """The same filter written with torch, for the compiled graphs' gradients."""
    return torch.from_numpy(scipy_ndimage.uniform_filter1d(x.detach().numpy(), width))


class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(8, 8, dtype=torch.float64)

    def forward(self, x):
        return smooth(self.linear(x), width=5).sum(-1)


def test_the_operator_is_registered_under_its_name_with_the_functions_parameters():
    assert smooth.operator is torch.ops.test_operator.smooth
    schema = str(smooth.operator.default._schema)
    assert schema == "test_operator::smooth(Tensor x, SymInt width=3) -> Tensor"
    assert moments.operator is torch.ops.toolkit_tests.moments
    assert "(Tensor, Tensor)" in str(moments.operator.default._schema)


def test_tensor_callers_get_the_mirror_rule_numpy_callers_run_the_body():
    x32 = torch.arange(6.0).reshape(2, 3)
    mean, std = moments(x32, axis=1)
    assert mean.dtype is torch.float32 and std.dtype is torch.float32  # NumPy's float64 back to float32
    np.testing.assert_allclose(mean.numpy(), x32.numpy().mean(1))
    calls = []

    @numpy_inside(op=True)
    def spy(x):
        calls.append(type(x))
        return x + 1

    out = spy(np.ones(2))
    assert type(out) is np.ndarray and calls == [np.ndarray]  # no operator for a NumPy caller
    out = spy(torch.ones(2))
    assert isinstance(out, torch.Tensor) and calls[-1] is np.ndarray


def test_no_graph_break_and_fullgraph_equals_eager_with_gradients():
    model = Head()
    x = torch.randn(4, 8, dtype=torch.float64)
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    got = compiled(x)
    want = model(x)
    torch.testing.assert_close(got, want)
    got.sum().backward()
    grad_compiled = model.linear.weight.grad.clone()
    model.zero_grad()
    want.sum().backward()
    torch.testing.assert_close(grad_compiled, model.linear.weight.grad)
    assert grad_compiled.abs().sum() > 0


def test_export_keeps_the_operator_as_one_node():
    model = Head()
    x = torch.randn(4, 8, dtype=torch.float64)
    exported = torch.export.export(model, (x,))
    targets = [node.target for node in exported.graph.nodes if node.op == "call_function"]
    assert torch.ops.test_operator.smooth.default in targets
    torch.testing.assert_close(exported.module()(x), model(x))


def test_opcheck_passes():
    x = torch.randn(7, dtype=torch.float64)
    result = torch.library.opcheck(smooth.operator, (x, 3))
    assert set(result.values()) == {"SUCCESS"}, result
    result = torch.library.opcheck(moments.operator, (torch.randn(3, 4), 1))
    assert set(result.values()) == {"SUCCESS"}, result


def test_gradcheck_through_the_numpy_backward():
    x = torch.randn(9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: smooth(t, 3), (x,))
    (grad,) = torch.autograd.grad(smooth(x, 3).sum(), x)
    torch.testing.assert_close(grad, _reference_smooth(torch.ones(9, dtype=torch.float64), 3))


def test_a_wrong_backward_fails_gradcheck():
    @numpy_inside(op="toolkit_tests::wrong")
    def wrong(x):
        return x**2

    wrong.fake(lambda x: torch.empty_like(x))
    wrong.backward(lambda x, grad: grad * x)  # should be 2 * x

    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(wrong, (x,))


def test_without_backward_a_grad_caller_gets_a_result_without_grad_and_a_warning():
    x = torch.randn(4, requires_grad=True)
    with pytest.warns(GradientDetachedWarning, match=r"no_grad_formula\(\) argument 'x' requires grad"):
        out = no_grad_formula(x)
    assert not out.requires_grad
    torch.testing.assert_close(out, torch.cumsum(x.detach(), 0))


def test_compiling_without_fake_names_fake():
    @numpy_inside(op="toolkit_tests::unfaked")
    def unfaked(x):
        return x + 1

    assert torch.equal(unfaked(torch.ones(2)), torch.full((2,), 2.0))  # eager calls work
    with pytest.raises(Exception, match=r"unfaked\(\) is a NumPy operator .* without \.fake.*@unfaked\.fake"):
        torch.compile(lambda x: unfaked(x) * 2, fullgraph=True, backend="eager")(torch.ones(2))

    class Model(torch.nn.Module):
        def forward(self, x):
            return unfaked(x)

    with pytest.raises(RuntimeError, match=r"^unfaked\(\) is a NumPy operator") as caught:
        torch.export.export(Model(), (torch.ones(2),))
    assert "\n" not in str(caught.value)  # one sentence


@pytest.mark.parametrize(
    "source, parameter",
    [
        ("def f(x, *rest): return x", "'*rest'"),
        ("def f(x, **options): return x", "'**options'"),
        ("def f(batch: dict[str, np.ndarray]): return batch", "'batch'"),
        ("def f(xs: list[np.ndarray]): return xs[0]", "'xs'"),
        ("def f(x, scale=object()): return x", "'scale'"),
    ],
)
def test_parameter_kinds_an_operator_cannot_take_are_refused_when_applied(source, parameter):
    namespace = {"np": np}
    exec(source, namespace)
    with pytest.raises(TypeError, match=re.escape(f"numpy_inside(op=...): f() parameter {parameter}")):
        numpy_inside(op=True)(namespace["f"])


def test_an_any_annotation_reads_as_none():
    @numpy_inside(op="toolkit_tests::anything")
    def anything(x: typing.Any, scale: typing.Any = 2.0) -> typing.Any:
        return x * scale

    assert str(anything.operator.default._schema).endswith("(Tensor x, float scale=2.) -> Tensor")


def test_bad_options_are_refused_when_applied():
    with pytest.raises(TypeError, match='op must be True or "namespace::name"'):
        numpy_inside(op="no-namespace")(lambda x: x)
    with pytest.raises(TypeError, match="compile= or op=, not both"):
        numpy_inside(op=True, compile=True)
    with pytest.raises(TypeError, match=r"annotated to return .*tuple"):
        numpy_inside(op=True)(_returns_dict)


def _returns_dict(x) -> dict:
    return {"x": x}


def test_the_body_gets_read_only_views_and_its_own_errors_pass_through():
    @numpy_inside(op="toolkit_tests::writer")
    def writer(x):
        x *= 2
        return x

    @numpy_inside(op="toolkit_tests::picky")
    def picky(x):
        raise ValueError("x must be sorted")

    t = torch.ones(3)
    with pytest.raises(ValueError, match="read-only"):  # NumPy's own error
        writer(t)
    assert torch.equal(t, torch.ones(3))  # and the tensor is untouched
    with pytest.raises(ValueError, match=r"^x must be sorted$"):
        picky(t)


def test_results_never_alias_the_inputs():
    @numpy_inside(op="toolkit_tests::same")
    def same(x):
        return x

    t = torch.arange(4.0)
    out = same(t)
    assert torch.equal(out, t) and out.untyped_storage().data_ptr() != t.untyped_storage().data_ptr()


def test_a_result_count_the_schema_does_not_have_is_a_clear_error():
    @numpy_inside(op="toolkit_tests::two")
    def two(x):
        return x, x

    with pytest.raises(TypeError, match=r"two\(\) return value: the operator toolkit_tests::two returns an array"):
        two(torch.ones(2))


def test_numpy_arguments_beside_tensors_become_tensors_on_the_tensors_device():
    @numpy_inside(op="toolkit_tests::add")
    def add(a, b):
        return a + b

    out = add(torch.ones(2), np.arange(2.0))
    assert isinstance(out, torch.Tensor) and out.dtype is torch.float32 and out.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"add\(\) argument 'b': the operator takes an array here"):
        add(torch.ones(2), "text")


def test_vmap_calls_the_body_once_per_batch_element():
    x = torch.randn(3, 8, dtype=torch.float64)
    got = torch.func.vmap(lambda row: smooth(row, 3))(x)
    torch.testing.assert_close(got, torch.stack([smooth(row, 3) for row in x]))


def test_defining_the_same_function_again_replaces_the_operator():
    cell = textwrap.dedent(
        """
        @numpy_inside(op="toolkit_tests::cell")
        def cell(x):
            return x * FACTOR
        """
    )
    namespace = {"numpy_inside": numpy_inside, "FACTOR": 2}
    exec(cell, namespace)  # a notebook cell, run ...
    assert namespace["cell"](torch.ones(1)).item() == 2
    exec(cell.replace("x * FACTOR", "x * FACTOR + 1"), namespace)  # ... edited and run again
    assert namespace["cell"](torch.ones(1)).item() == 3
    assert torch.ops.toolkit_tests.cell(torch.ones(1)).item() == 3


def test_pickles_by_name_and_by_value_and_registers_again_where_unpickled(tmp_path):
    assert pickle.loads(pickle.dumps(smooth)) is smooth
    cloudpickle = pytest.importorskip("cloudpickle")

    @numpy_inside(op="toolkit_tests::carried")
    def carried(x):
        return x * 3

    carried.fake(lambda x: torch.empty_like(x))
    carried.backward(lambda x, grad: grad * 3)
    blob = tmp_path / "carried.pkl"
    blob.write_bytes(cloudpickle.dumps(carried))
    script = textwrap.dedent(
        f"""
        import pickle, torch
        f = pickle.loads(open({str(blob)!r}, "rb").read())
        x = torch.ones(2, requires_grad=True)
        out = torch.compile(lambda t: f(t) * 1, fullgraph=True, backend="aot_eager")(x)
        out.sum().backward()
        print(torch.ops.toolkit_tests.carried.default._schema.name, out.tolist(), x.grad.tolist())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["toolkit_tests::carried", "[3.0,", "3.0]", "[3.0,", "3.0]"]


@pytest.mark.cuda
def test_cuda_inputs_go_through_the_host_and_back():
    x = torch.randn(16, dtype=torch.float64, device="cuda", requires_grad=True)
    out = smooth(x, 3)
    assert out.device == x.device and out.dtype is torch.float64
    torch.testing.assert_close(out.cpu(), _reference_smooth(x.detach().cpu(), 3))
    out.sum().backward()
    assert x.grad.device == x.device
    compiled = torch.compile(lambda t: smooth(t, 3), fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), out)


def test_no_warning_for_a_caller_without_grad():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = smooth(torch.ones(5), 3)
    assert not out.requires_grad
