"""torch.compile: decorated functions convert as in eager mode, inside compiled code too."""

import warnings

import numpy as np
import pytest
import torch

from toolkit import GradientDetachedWarning, numpy_inside, torch_in_numpy_out, torch_inside


class Graphs:
    """A backend that records each graph it is given and runs it as it is."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, inputs):
        self.graphs.append([str(n.target) for n in gm.graph.nodes if n.op == "call_function"])
        return gm.forward


@torch_in_numpy_out
def predict(x):
    return x * 2


@torch_inside(float_dtype="float64")
def in_float64(x):
    assert x.dtype is torch.float64, x.dtype  # the body runs in the asked dtype
    return x + 1


@numpy_inside
def legacy(x):
    return np.sin(x)


def test_compiling_a_decorated_function_gives_the_eager_result():
    compiled = torch.compile(predict, backend=Graphs())
    out = compiled(np.ones(2))
    assert isinstance(out, np.ndarray) and out.tolist() == [2.0, 2.0]


def test_called_from_compiled_code_each_decorator_converts_as_in_eager_mode():
    @torch.compile(backend=Graphs())
    def pipeline(t):
        return predict(t), in_float64(t), legacy(t)

    w = torch.ones(2, requires_grad=True)
    with pytest.warns(GradientDetachedWarning):
        a, b, c = pipeline(w * 1)
    assert isinstance(a, np.ndarray) and a.tolist() == [2.0, 2.0]  # NumPy, as the decorator promises
    assert b.dtype is torch.float32 and b.tolist() == [2.0, 2.0]  # float64 inside, the caller's dtype back
    assert not c.requires_grad  # no gradient through a NumPy body
    assert c.tolist() == pytest.approx(np.sin([1.0, 1.0]).tolist())


def test_a_compiled_module_with_a_decorated_forward():
    class Model(torch.nn.Linear):
        @torch_in_numpy_out
        def forward(self, x):
            return torch.relu(super().forward(x)) + 1

    torch.manual_seed(0)
    model = Model(3, 2)
    backend = Graphs()
    batch = np.ones((4, 3), np.float64)  # float64 in: the module's float32 inside
    out = torch.compile(model, backend=backend)(batch)
    assert isinstance(out, np.ndarray) and np.allclose(out, model(batch))
    assert any("relu" in " ".join(graph) for graph in backend.graphs)  # the body is still compiled


def test_the_default_backend_compiles_a_decorated_body():
    @torch_inside
    def norm(x):
        return (x - x.mean()) / (x.std() + 1e-6)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inductor's own notices on a CPU machine
        compiled = torch.compile(norm)
        out = compiled(np.arange(4.0, dtype=np.float32))
    assert isinstance(out, np.ndarray) and np.allclose(out, norm(np.arange(4.0, dtype=np.float32)), atol=1e-6)
