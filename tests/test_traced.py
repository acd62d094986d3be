"""Torch-body decorators inside compiled code are traced with the body (contract section 2).

Where every argument is a tensor (or a module, or a plain Python value), a
torch-body decorator's conversions are torch operations, and they sit in the
caller's graph: no graph break, so fullgraph=True and torch.export work.
NumPy values still break the graph, and get their eager answers.
"""

import numpy as np
import torch

from toolkit import torch_in_torch_out, torch_inside


@torch_in_torch_out(float_dtype="float64")
def head(x, scale: float = 2.0):
    return x * scale


@torch_inside
def soft(x):
    return torch.softmax(x, -1)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        return soft(head(self.linear(x), scale=3.0)).sum(-1)


def _same(got, want):
    assert type(got) is type(want)
    assert got.dtype == want.dtype and got.device == want.device
    torch.testing.assert_close(got, want)


def test_no_graph_break_fullgraph_and_export_give_the_eager_result_with_gradients():
    model, x = Model(), torch.ones(2, 3)
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    want = model(x)
    assert want.dtype is torch.float64  # head's float_dtype cast happened, in eager mode ...
    got = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    _same(got, want)  # ... and in the graph
    got.sum().backward()
    compiled_grad = model.linear.weight.grad.clone()
    model.zero_grad()
    want.sum().backward()
    torch.testing.assert_close(compiled_grad, model.linear.weight.grad)
    exported = torch.export.export(model, (x,))
    _same(exported.module()(x), want)


def test_the_mirror_rules_dtype_is_kept_in_the_graph():
    @torch_inside
    def promote(x):
        return x.double() * 2  # float64 inside, the caller's float32 back

    x = torch.ones(3)
    _same(torch.compile(lambda t: promote(t) + 1, fullgraph=True, backend="eager")(x), promote(x) + 1)


def test_numpy_values_take_the_eager_path_and_get_numpy_back():
    def caller(v):
        return soft(v)

    v = np.zeros(3, dtype=np.float32)
    out = torch.compile(caller, backend="eager")(v)
    assert type(out) is np.ndarray and out.dtype == np.float32 and np.allclose(out, 1 / 3)


def test_a_body_under_no_grad_stays_under_no_grad_in_the_graph():
    @torch_in_torch_out(no_grad=True)
    def frozen(x):
        return x * 2

    x = torch.ones(2, requires_grad=True)
    out = torch.compile(lambda t: frozen(t), fullgraph=True, backend="eager")(x)
    assert not out.requires_grad and out.tolist() == [2.0, 2.0]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.linear = torch.nn.Linear(3, 3).double()

    @torch_inside
    def forward(self, x, scale: float = 2.0):
        assert x.dtype is torch.float64  # the module's float dtype, in the graph too
        return self.linear(x) * scale


class Outer(torch.nn.Module):
    """A decorated ``forward`` reached every way: through its module, as a bound method, through its class."""

    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x, scale=3.0) + self.block.forward(x) + Block.forward(self.block, x)


def test_a_submodules_decorated_forward_is_traced_with_no_graph_break():
    model, x = Outer(), torch.ones(2, 3)
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    want = model(x)
    assert want.dtype is torch.float32  # the mirror rule: the caller's float32 back
    got = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    _same(got, want)
    got.sum().backward()
    compiled_grad = model.block.linear.weight.grad.clone()
    model.zero_grad()
    want.sum().backward()
    torch.testing.assert_close(compiled_grad, model.block.linear.weight.grad)
    _same(torch.export.export(model, (x,)).module()(x), want)


def test_a_compiled_module_with_a_decorated_forward_still_answers_numpy_callers():
    block = Block()
    out = torch.compile(block, backend="eager")(np.ones((2, 3), np.float32))
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_allclose(out, block(np.ones((2, 3), np.float32)), rtol=1e-6)


def test_bound_methods_of_a_traced_forward_compare_as_pythons_do():
    a, b = Block(), Block()
    assert a.forward == a.forward and hash(a.forward) == hash(a.forward)
    assert a.forward != b.forward
    assert Block.forward == Block.forward
    assert Block.forward.__wrapped__ is not None and a.forward.__self__ is a


def test_decorating_traced_bodies_in_a_loop_leaves_nothing_behind():
    import gc
    import weakref

    import toolkit._traced

    def entries():
        return sum(1 for name in vars(toolkit._traced) if name.startswith("_entry_"))

    gc.collect()  # what earlier tests dropped
    before, kept = entries(), []
    for _ in range(5):
        big = torch.zeros(1000)

        def body(x, big=big):
            return x + big[0]

        decorated = torch_inside(body)
        assert decorated(torch.ones(1)).tolist() == [1.0]
        kept.append(weakref.ref(big))
        del decorated, body, big
    assert entries() > before  # made while they lived ...
    gc.collect()
    assert all(ref() is None for ref in kept)  # ... and freed with what they capture
    assert entries() == before
