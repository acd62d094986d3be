"""The seven decorators: what the body and the caller receive, options, sites, errors."""

import asyncio
import dataclasses
import functools
import inspect
import re
import types
import warnings

import numpy as np
import pytest
import torch
from hostile import shares

import toolkit
from toolkit import (
    GradientDetachedWarning,
    autoconvert,
    default_device,
    default_float_dtype,
    numpy_in_numpy_out,
    numpy_in_torch_out,
    numpy_inside,
    torch_in_numpy_out,
    torch_in_torch_out,
    torch_inside,
)

ALL = [numpy_in_torch_out, torch_in_numpy_out, numpy_in_numpy_out, torch_in_torch_out, numpy_inside, torch_inside]
META = torch.device("meta")


def recorder(decorator, **options):
    """A decorated identity function that records the types its body received."""
    seen = []

    def body(*args, **kwargs):
        seen.append([type(a) for a in args] + [type(v) for v in kwargs.values()])
        return args[0] if len(args) == 1 else args

    deco = decorator(**options)(body) if options else decorator(body)
    return deco, seen


@pytest.mark.parametrize(
    ("decorator", "inside", "outside"),
    [
        (numpy_in_torch_out, np.ndarray, torch.Tensor),
        (torch_in_numpy_out, torch.Tensor, np.ndarray),
        (numpy_in_numpy_out, np.ndarray, np.ndarray),
        (torch_in_torch_out, torch.Tensor, torch.Tensor),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
@pytest.mark.parametrize("given", [np.ones(2, np.float32), torch.ones(2)], ids=["numpy", "torch"])
def test_fixed_direction_decorators(decorator, inside, outside, given):
    f, seen = recorder(decorator)
    out = f(given)
    assert seen == [[inside]]
    assert type(out) is outside
    assert np.asarray(out).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("decorator", "inside"), [(numpy_inside, np.ndarray), (torch_inside, torch.Tensor)])
def test_mirror_decorators_return_the_callers_kind(decorator, inside):
    f, seen = recorder(decorator)
    assert type(f(torch.ones(2))) is torch.Tensor
    assert type(f(np.ones(2))) is np.ndarray
    assert seen == [[inside], [inside]]
    assert f(3.0) == 3.0  # no array argument: left as the body made it


@pytest.mark.parametrize("decorator", ALL, ids=lambda d: d.__name__)
def test_bare_and_with_options_are_the_same(decorator):
    bare, _ = recorder(decorator)
    configured, _ = recorder(decorator, dtype="float64")
    assert type(bare(np.ones(1))) is type(configured(np.ones(1)))


def test_every_kind_of_argument_converts():
    @torch_in_numpy_out
    def f(a, /, b, *rest, c, **extra):
        for value in (a, b, *rest, c, *extra.values(), *extra["nested"]["list"]):
            if not isinstance(value, dict):
                assert isinstance(value, torch.Tensor), type(value)
        return a

    x = np.ones(1)
    f(x, x, x, x, c=x, nested={"list": [x, x]}, more=x)


def test_return_values_convert_recursively():
    @torch_in_numpy_out
    def f(x):
        return x, {"double": x * 2, "items": [x.sum()]}, "label"

    first, mapping, label = f(np.ones(2))
    assert isinstance(first, np.ndarray)
    assert isinstance(mapping["double"], np.ndarray)
    assert isinstance(mapping["items"][0], np.floating)
    assert label == "label"


def test_metric_returns_numpy_scalar():
    @torch_in_numpy_out
    def accuracy(pred, target):
        return (pred == target).float().mean()

    result = accuracy(np.array([1, 2, 3]), np.array([1, 0, 3]))
    assert isinstance(result, np.float32) and result == pytest.approx(2 / 3)


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decorator", "option"),
    [
        (numpy_in_numpy_out, {"device": "cpu"}),
        (numpy_inside, {"device": "cpu"}),
        (numpy_in_torch_out, {"no_grad": True}),
        (numpy_in_numpy_out, {"no_grad": True}),
        (numpy_inside, {"no_grad": True}),
        (torch_in_numpy_out, {"restore_dtype": False}),
        (autoconvert, {"restore_dtype": True}),
        (numpy_in_numpy_out, {"compile": True}),
        (torch_inside, {"op": True}),
    ],
)
def test_options_that_mean_nothing_are_refused_when_applied(decorator, option):
    with pytest.raises(TypeError, match=f"does not take {next(iter(option))}"):
        decorator(**option)(lambda x: x)


@pytest.mark.parametrize(
    ("decorator", "option"),
    [
        (numpy_in_torch_out, "device"),
        (torch_in_numpy_out, "device"),
        (torch_in_torch_out, "device"),
        (torch_inside, "device"),
        (autoconvert, "device"),
        (torch_in_numpy_out, "no_grad"),
        (torch_inside, "no_grad"),
        (torch_in_torch_out, "no_grad"),
        (autoconvert, "no_grad"),
        (numpy_inside, "restore_dtype"),
        (torch_inside, "restore_dtype"),
    ],
)
def test_options_that_mean_something_are_accepted(decorator, option):
    value = {"device": "cpu", "no_grad": True, "restore_dtype": False}[option]
    decorator(**{option: value})(lambda x: x)


def test_bad_option_values_fail_when_applied():
    with pytest.raises(RuntimeError, match="cdua"):
        torch_in_numpy_out(device="cdua")(lambda x: x)
    with pytest.raises(TypeError, match="not both"):
        torch_in_numpy_out(dtype="float32", float_dtype="float32")(lambda x: x)
    with pytest.raises(ValueError, match="ambiguous"):
        torch_in_numpy_out(float_dtype="float")(lambda x: x)


def test_only_and_exclude():
    @torch_in_numpy_out(only=["x"])
    def f(x, y):
        return type(x), type(y)

    assert f(np.ones(1), np.ones(1)) == (torch.Tensor, np.ndarray)
    assert f(y=np.ones(1), x=np.ones(1)) == (torch.Tensor, np.ndarray)

    @torch_in_numpy_out(exclude="y")
    def g(x, y):
        return type(x), type(y)

    assert g(np.ones(1), np.ones(1)) == (torch.Tensor, np.ndarray)


def test_only_with_star_args_and_kwargs_names():
    @torch_in_numpy_out(only=["rest", "extra"])
    def f(first, *rest, **extra):
        return type(first), [type(r) for r in rest], {k: type(v) for k, v in extra.items()}

    x = np.ones(1)
    assert f(x, x, x, k=x) == (np.ndarray, [torch.Tensor, torch.Tensor], {"k": torch.Tensor})

    @torch_in_numpy_out(only=["mask"])
    def g(x, **extra):
        return type(x), {k: type(v) for k, v in extra.items()}

    assert g(x, mask=x, other=x) == (np.ndarray, {"mask": torch.Tensor, "other": np.ndarray})


def test_only_and_exclude_are_checked_when_applied():
    with pytest.raises(TypeError, match="not both"):
        torch_inside(only=["x"], exclude=["y"])(lambda x, y: x)
    with pytest.raises(TypeError, match=r"'z'.*no parameter"):
        torch_inside(only=["z"])(lambda x, y: x)
    with pytest.raises(TypeError, match="'z'"):
        torch_inside(exclude=["z"])(lambda x, y: x)
    torch_inside(only=["anything"])(lambda x, **kw: x)  # **kwargs accepts any keyword name


def test_dtype_and_float_dtype_shape_what_the_body_receives():
    @torch_in_numpy_out(float_dtype="float32")
    def f(x, n):
        return x.dtype, n.dtype

    assert f(np.zeros(1), np.zeros(1, np.int64)) == (torch.float32, torch.int64)

    @numpy_in_numpy_out(dtype="float16")
    def g(x):
        return x.dtype

    assert g(torch.zeros(1, dtype=torch.float64)) == np.float16

    @numpy_inside(float_dtype="float32")
    def h(x, n):
        assert x.dtype == np.float32 and n.dtype == np.int64
        return x

    h(torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.int64))


def test_outputs_keep_the_bodys_dtype():
    @torch_in_numpy_out(float_dtype="float32")
    def f(x):
        return x.double()

    assert f(np.zeros(1, np.float32)).dtype == np.float64


def test_no_grad():
    @torch_in_numpy_out(no_grad=True)
    def f(x):
        return np.array(torch.is_grad_enabled())

    @torch_in_numpy_out
    def g(x):
        return np.array(torch.is_grad_enabled())

    assert not f(np.ones(1)) and g(np.ones(1))
    assert torch.is_grad_enabled()


# -- gradients ------------------------------------------------------------------------------------


def test_numpy_body_gets_detached_tensor_with_one_warning():
    @numpy_inside
    def legacy(x):
        return x * 2

    w = torch.ones(2, requires_grad=True)
    with pytest.warns(GradientDetachedWarning, match="legacy"):
        out = legacy(w)
    assert isinstance(out, torch.Tensor) and not out.requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        legacy(w)  # once per decorated function
    assert issubclass(GradientDetachedWarning, UserWarning)


def test_tensors_returned_to_numpy_caller_are_detached_silently():
    w = torch.ones(2, requires_grad=True)

    @torch_in_numpy_out
    def f(x):
        return x * w

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(np.ones(2)).tolist() == [1.0, 1.0]


def test_torch_body_keeps_the_graph():
    w = torch.ones(2, requires_grad=True)

    @torch_inside
    def f(x):
        return x * 3

    out = f(w)
    assert out.requires_grad
    out.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


# -- the mirror rule ----------------------------------------------------------------------------


def test_mirror_returns_float32_tensors_for_float32_tensor_callers():
    @numpy_inside
    def legacy(x):
        assert x.dtype == np.float32
        return x.astype(np.float64) * 2, np.arange(2), 1.5

    out, ints, scalar = legacy(torch.ones(2))
    assert out.dtype is torch.float32 and ints.dtype is torch.int64 and scalar == 1.5


def test_mirror_restore_dtype_false_keeps_the_bodys():
    @numpy_inside(restore_dtype=False)
    def legacy(x):
        return x.astype(np.float64)

    assert legacy(torch.ones(2)).dtype is torch.float64


def test_mirror_device_is_the_first_tensor_arguments():
    @torch_inside
    def f(a, b):
        return a.new_ones(2)

    assert f(torch.ones(1, device="meta"), np.ones(1)).device == META

    @torch_inside(device="meta")
    def g(x):
        assert x.device == META
        return torch.ones(2, device="meta")

    with pytest.raises(Exception, match="meta"):
        g(torch.ones(1))  # results go back to the caller's CPU: meta has no data to copy


def test_mirror_caller_kind_searches_positional_then_keyword_into_containers():
    @torch_inside
    def f(a, b=None):
        return torch.ones(1)

    assert isinstance(f(np.ones(1), b={"k": [torch.ones(1)]}), torch.Tensor)
    assert isinstance(f([np.ones(1)]), np.ndarray)
    assert isinstance(f(np.float32(1)), np.ndarray)


def test_mirror_numpy_caller_dtype_from_first_float():
    @torch_inside
    def f(x, y):
        return x.double(), y

    a, b = f(np.ones(1, np.float32), np.ones(1, np.float64))
    assert a.dtype == np.float32 and b.dtype == np.float32


def test_mirror_ignores_excluded_arguments():
    @torch_inside(exclude=["t"])
    def f(x, t):
        return torch.ones(1)

    assert isinstance(f(np.ones(1), torch.ones(1)), np.ndarray)


# -- where a decorator can stand ------------------------------------------------------------


class ArrayLikeOwner:
    """An object NumPy could view: as ``self`` it must never be converted."""

    def __init__(self):
        self.offset = 1.0

    def __array__(self, dtype=None, copy=None):
        return np.zeros(1)

    @torch_in_numpy_out
    def method(this, x):  # not named self: wrapt's binding decides
        assert isinstance(this, ArrayLikeOwner)
        return x + this.offset

    @classmethod
    @torch_in_numpy_out
    def from_class(cls, x):
        assert cls is ArrayLikeOwner
        return x * 2

    @torch_in_numpy_out
    @classmethod
    def outer_classmethod(cls, x):
        assert cls is ArrayLikeOwner
        return x * 3

    @staticmethod
    @torch_in_numpy_out
    def static(x):
        return x - 1

    @torch_in_numpy_out
    @staticmethod
    def outer_static(x):
        return x - 2


def test_methods_classmethods_staticmethods():
    obj = ArrayLikeOwner()
    x = np.ones(1)
    assert obj.method(x).tolist() == [2.0]
    assert ArrayLikeOwner.method(obj, x).tolist() == [2.0]
    assert ArrayLikeOwner.from_class(x).tolist() == [2.0]
    assert obj.from_class(x).tolist() == [2.0]
    assert ArrayLikeOwner.outer_classmethod(x).tolist() == [3.0]
    assert ArrayLikeOwner.static(x).tolist() == [0.0]
    assert obj.static(x).tolist() == [0.0]
    assert obj.outer_static(x).tolist() == [-1.0]


def test_method_errors_name_the_parameter_after_self():
    with pytest.raises(TypeError, match=r"method\(\) argument 'x': cannot convert"):
        ArrayLikeOwner().method(np.array([None]))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()
        self.seen = None

    @torch_in_numpy_out
    def forward(self, x):
        self.seen = (x.device, x.dtype)
        return self.linear(x) if x.device.type != "meta" else x


class Empty(torch.nn.Module):
    @torch_in_numpy_out
    def forward(self, x):
        return x.dtype


def test_module_forward_takes_the_modules_device_and_dtype():
    net = Net()
    out = net(np.ones((3, 2), np.float32))
    assert net.seen == (torch.device("cpu"), torch.float64)
    assert isinstance(out, np.ndarray) and out.shape == (3, 1)
    net.to("meta")  # moved after the first call: followed
    with pytest.raises(TypeError, match="meta"):
        net(np.ones((3, 2), np.float32))  # meta results cannot reach NumPy
    assert net.seen == (META, torch.float64)


def test_module_precedence():
    net = Net()

    class Wrapped(Net):
        @torch_in_numpy_out(device="cpu", float_dtype="float16")
        def forward(self, x):
            self.seen = (x.device, x.dtype)
            return x

    w = Wrapped().to("meta")
    w(np.ones(2))
    assert w.seen == (torch.device("cpu"), torch.float16)  # the options win over the module
    with default_device("meta"), default_float_dtype("float16"):
        net(np.ones((1, 2)))
    assert net.seen == (torch.device("cpu"), torch.float64)  # the module wins over the contexts


def test_a_model_passed_as_an_argument_gives_the_device_and_float_dtype():
    # The README's headline: predict(model, batch) with an undecorated model and a float64 batch.
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    seen = []

    @torch_in_numpy_out
    def predict(model, x):
        seen.append((x.device, x.dtype))
        return model(x) if x.device.type != "meta" else None

    batch = np.ones((4, 3))  # float64
    out = predict(model, batch)
    assert seen[-1] == (torch.device("cpu"), torch.float32)
    np.testing.assert_allclose(out, model(torch.ones(4, 3)).detach().numpy(), rtol=1e-6)
    assert predict(x=batch, model=model).dtype == np.float32  # by keyword too
    with default_device("cpu"), default_float_dtype("float16"):
        predict(model.to("meta"), batch)
    assert seen[-1] == (META, torch.float32)  # the model wins over the contexts, and is followed
    model.to_empty(device="cpu")

    @torch_in_numpy_out(float_dtype="float64")
    def pinned(model, x):
        seen.append((x.device, x.dtype))
        return x

    pinned(model, batch)
    assert seen[-1] == (torch.device("cpu"), torch.float64)  # the option wins over the model

    class Bound(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1, dtype=torch.float16))

        @torch_in_numpy_out
        def forward(self, other, x):
            seen.append(x.dtype)
            return x

    Bound()(model, batch)
    assert seen[-1] == torch.float16  # the module a method is bound to comes first

    @autoconvert
    def annotated(model, x: torch.Tensor):
        return x.dtype

    wide = torch.nn.Linear(3, 2).double()
    assert annotated(wide, batch.astype(np.float32)) is torch.float64  # positionally as by keyword
    assert annotated(model=wide, x=batch.astype(np.float32)) is torch.float64


def test_module_without_parameters_gives_neither():
    with default_float_dtype("float16"):
        assert Empty()(np.ones(1)) == torch.float16


def test_device_precedence_for_functions():
    @torch_in_torch_out
    def where(x):
        return x

    @torch_in_torch_out(device="cpu")
    def pinned(x):
        return x

    with default_device("meta"):
        assert where(np.ones(1)).device == META
        assert where(torch.ones(1)).device == META  # a context asks: tensors move
        assert pinned(np.ones(1)).device.type == "cpu"
    torch.set_default_device("meta")
    try:
        assert where(np.ones(1)).device == META  # NumPy data is placed there
        t = torch.ones(1, device="cpu")
        assert where(t) is t  # tensors are left where they are
    finally:
        torch.set_default_device(None)


def test_numpy_in_torch_out_places_results_on_the_device():
    @numpy_in_torch_out(device="meta")
    def f(x):
        assert isinstance(x, np.ndarray)
        return x * 2

    assert f(torch.ones(1)).device == META


def test_async_functions():
    @torch_in_numpy_out
    async def f(x):
        await asyncio.sleep(0)
        return x + 1

    @torch_in_numpy_out(no_grad=True)
    async def g(x):
        await asyncio.sleep(0)
        return np.array(torch.is_grad_enabled())

    assert inspect.iscoroutinefunction(f)
    assert asyncio.run(f(np.zeros(1))).tolist() == [1.0]
    assert not asyncio.run(g(np.zeros(1)))
    assert torch.is_grad_enabled()


def test_generators_convert_each_value():
    @torch_in_numpy_out
    def gen(x):
        received = yield x
        yield x + received

    it = gen(np.zeros(1))
    first = next(it)
    assert isinstance(first, np.ndarray)
    assert it.send(2.0).tolist() == [2.0]

    @numpy_in_torch_out
    async def agen(x):
        for i in range(2):
            await asyncio.sleep(0)
            yield x + i

    async def collect():
        return [v async for v in agen(torch.zeros(1))]

    values = asyncio.run(collect())
    assert all(isinstance(v, torch.Tensor) for v in values) and values[1].tolist() == [1.0]


def test_metadata_is_kept():
    def score(batch, *, weight=1.0):
        """Docs."""
        return batch

    deco = torch_in_numpy_out(score)
    assert deco.__name__ == "score" and deco.__doc__ == "Docs."
    assert deco.__qualname__ == score.__qualname__
    assert deco.__wrapped__ is score
    assert inspect.signature(deco) == inspect.signature(score)
    assert inspect.getfullargspec(deco) == inspect.getfullargspec(score)
    assert deco.__kwdefaults__ == {"weight": 1.0} and deco.__defaults__ is None


# -- errors ------------------------------------------------------------------------------------


def test_error_names_function_and_path_and_chains():
    @torch_in_numpy_out
    def score(batch):
        return batch

    bad = np.array([None])
    data = {"images": [np.ones(1), np.ones(1), bad]}
    with pytest.raises(TypeError) as info:
        score(data)
    assert str(info.value).startswith(
        "score() argument 'batch'['images'][2]: cannot convert a NumPy array of dtype object to a torch tensor"
    )
    assert info.value.__cause__ is not None
    assert data["images"][2] is bad and isinstance(data["images"][0], np.ndarray)


def test_error_paths_for_star_args_kwargs_and_results():
    @torch_in_numpy_out
    def f(*arrays, **options):
        return arrays

    with pytest.raises(TypeError, match=r"f\(\) argument 'arrays'\[1\]: "):
        f(np.ones(1), np.array([None]))
    with pytest.raises(TypeError, match=r"f\(\) argument 'mask': "):
        f(np.ones(1), mask=np.array(["a"]))

    @numpy_in_torch_out
    def g(x):
        return x, np.array([None])

    with pytest.raises(TypeError, match=r"g\(\) return value\[1\]: cannot convert"):
        g(np.ones(1))


def test_body_exceptions_pass_through_untouched():
    error = KeyError("mine")

    @torch_in_numpy_out
    def f(x):
        raise error

    with pytest.raises(KeyError) as info:
        f(np.ones(1))
    assert info.value is error


# -- the per-call path does no per-call analysis ------------------------------------------------


def test_no_signature_analysis_or_default_device_lookup_per_call(monkeypatch):
    @torch_in_numpy_out
    def f(a, b, c):
        return a + b + c

    @torch_inside(only=["a"])
    def g(a, b):
        return a

    calls = []
    monkeypatch.setattr(inspect, "signature", lambda *a, **k: calls.append("signature"))
    monkeypatch.setattr(torch, "get_default_device", lambda: calls.append("device") or torch.device("cpu"))
    x = np.ones(3, np.float32)
    for _ in range(3):
        f(x, x, x)
        g(x, x)
    assert calls == []


def test_decorating_a_partial_and_a_callable_object():
    class Scale:
        def __call__(self, x, factor):
            return x * factor

    f = torch_in_numpy_out(functools.partial(Scale(), factor=2))
    assert f(np.ones(1)).tolist() == [2.0]


def test_generator_throw_and_close_reach_the_body():
    events = []

    @torch_in_numpy_out(no_grad=True)
    def gen(x):
        try:
            while True:
                try:
                    yield x * torch.is_grad_enabled()
                except ValueError as exc:
                    events.append(f"caught {exc}")
        finally:
            events.append("closed")

    it = gen(np.ones(1))
    assert next(it).tolist() == [0.0]  # no_grad held while the body ran
    assert torch.is_grad_enabled()  # and released between steps
    assert it.throw(ValueError("x")).tolist() == [0.0]
    it.close()
    assert events == ["caught x", "closed"]


def test_async_generator_athrow_and_aclose():
    events = []

    @numpy_in_torch_out
    async def agen(x):
        try:
            while True:
                try:
                    yield x
                except KeyError:
                    events.append("caught")
        finally:
            events.append("closed")

    async def drive():
        it = agen(torch.zeros(1))
        first = await it.__anext__()
        again = await it.athrow(KeyError("k"))
        await it.aclose()
        return first, again

    first, again = asyncio.run(drive())
    assert isinstance(first, torch.Tensor) and isinstance(again, torch.Tensor)
    assert events == ["caught", "closed"]


def test_async_no_grad_with_an_exception_thrown_in():
    @torch_in_numpy_out(no_grad=True)
    async def f(x):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return x * torch.is_grad_enabled()

    async def main():
        task = asyncio.ensure_future(f(np.ones(1)))
        await asyncio.sleep(0)
        task.cancel()
        return await task

    assert asyncio.run(main()).tolist() == [0.0]


def test_copy_of_a_decorated_function_stays_decorated():
    import copy

    f, seen = recorder(torch_in_numpy_out)
    for clone in (copy.copy(f), copy.deepcopy(f)):
        assert isinstance(clone(np.ones(1)), np.ndarray)
    assert seen == [[torch.Tensor], [torch.Tensor]]


@pytest.mark.parametrize("arg", ["bare", "nested"])
def test_gradient_warning_points_at_the_callers_line(arg):
    @numpy_inside
    def legacy(x):
        return x

    w = torch.ones(1, requires_grad=True)
    with pytest.warns(GradientDetachedWarning) as record:
        legacy(w if arg == "bare" else {"k": [w]})
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    "call, where",
    [
        (lambda f, w: f(torch.ones(1), w), "argument 'y'"),
        (lambda f, w: f(torch.ones(1), {"k": [1, w]}), "argument 'y'['k'][1]"),
        (lambda f, w: f(torch.ones(1), y=(w,)), "argument 'y'[0]"),
        (lambda f, w: f(torch.ones(1), torch.ones(1), w), "argument 'rest'[0]"),
    ],
    ids=["positional", "nested", "keyword", "var-args"],
)
@pytest.mark.parametrize("decorator", [numpy_inside, numpy_in_numpy_out], ids=lambda d: d.__name__)
def test_gradient_warning_names_the_argument_path(call, where, decorator):
    def legacy(x, y=None, *rest):
        return x

    w = torch.ones(1, requires_grad=True)
    with pytest.warns(GradientDetachedWarning, match=re.escape(f"legacy() {where} requires grad")):
        call(decorator(legacy), w)


def test_a_failed_call_leaves_no_gradient_warning_behind():
    @numpy_inside
    def legacy(a, b):
        return a

    with pytest.raises(TypeError):
        legacy(torch.ones(2, requires_grad=True), torch.empty(2, device="meta"))  # fails after the copy
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientDetachedWarning)
        legacy(torch.ones(2), torch.ones(2))  # nothing requires grad: no warning


def test_gradient_warning_of_autoconvert_names_the_annotated_argument():
    @autoconvert
    def legacy(x: torch.Tensor, y: np.ndarray) -> np.ndarray:
        return y

    with pytest.warns(GradientDetachedWarning, match=re.escape("legacy() argument 'y' requires grad")):
        legacy(torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True))


# -- gradients, C functions, option checks, errors that convert once ------------------------


def test_in_place_numpy_body_cannot_corrupt_the_graph_or_the_callers_tensor():
    @numpy_inside
    def center(x):
        x -= x.mean()  # in place, as legacy code does
        return x

    w = torch.tensor([1.0, 2.0, 6.0], requires_grad=True)
    y = w * w  # autograd saves w for the backward pass
    with pytest.warns(GradientDetachedWarning, match="detached copy"):
        out = center(y)
    assert y.tolist() == [1.0, 4.0, 36.0]  # the caller's tensor is as it was
    assert out.tolist() == pytest.approx([-12.667, -9.667, 22.333], abs=1e-3)
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0, 12.0]  # 2w: the saved values were not overwritten


def test_numpy_body_gets_a_copy_only_of_tensors_that_require_grad():
    seen = {}

    @numpy_in_numpy_out
    def body(a, b):
        seen["a"], seen["b"] = a, b
        return a

    plain, needs_grad = torch.ones(2), torch.ones(2, requires_grad=True)
    with pytest.warns(GradientDetachedWarning):
        body(plain, needs_grad)
    assert np.shares_memory(seen["a"], plain.numpy())
    assert not np.shares_memory(seen["b"], needs_grad.detach().numpy())


@pytest.mark.parametrize(
    ("func", "call", "name"),
    [
        (torch.sigmoid, lambda f: f(np.zeros(2)), "sigmoid"),
        (torch.Tensor.sum, lambda f: f(np.ones(3)), "sum"),
        (functools.partial(torch.softmax, dim=-1), lambda f: f(np.zeros(2, np.float32)), "softmax"),
    ],
    ids=["builtin", "method_descriptor", "partial"],
)
def test_c_functions_can_be_decorated_and_name_arguments_by_position(func, call, name):
    decorated = torch_inside(func)
    out = call(decorated)
    assert isinstance(out, (np.ndarray, np.generic))
    with pytest.raises(TypeError, match=rf"^{name}\(\) argument 0: cannot convert a NumPy array of dtype object"):
        decorated(np.array([None]))


def test_only_and_exclude_need_a_signature():
    with pytest.raises(TypeError, match="no signature"):
        torch_inside(only="x")(torch.sigmoid)


def test_decorating_a_class_raises_when_applied():
    class Model(torch.nn.Module):
        pass

    with pytest.raises(TypeError, match=r"not classes: .*Model\.forward"):
        torch_in_numpy_out(Model)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"no_grad": "false"}, TypeError, "no_grad must be True or False"),
        ({"restore_dtype": 1}, TypeError, "restore_dtype must be True or False"),
        ({"devce": "cpu"}, TypeError, "has no option 'devce'.*did you mean 'device'"),
        ({"dtype": "flot32"}, ValueError, "unknown dtype 'flot32'.*did you mean 'float32'"),
        ({"device": "cdua"}, ValueError, "invalid device 'cdua'.*did you mean 'cuda'"),
        ({"only": "x", "exclude": "y"}, TypeError, "only= or exclude=, not both"),
    ],
)
def test_option_values_are_checked_when_the_decorator_is_applied(options, error, message):
    with pytest.raises(error, match=message):
        torch_inside(**options)  # no function yet: checked all the same


def test_a_positional_option_says_options_are_keyword_only():
    with pytest.raises(TypeError, match=r"keyword-only: write @torch_in_numpy_out\(device='cuda'\)"):
        torch_in_numpy_out("cuda")


def test_help_and_signature_show_each_decorators_own_options():
    params = inspect.signature(numpy_inside).parameters
    assert list(params) == ["func", "dtype", "float_dtype", "only", "exclude", "skip", "restore_dtype", "compile", "op"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in params.items() if name != "func")
    assert "restore_dtype:" in numpy_inside.__doc__ and "device:" not in numpy_inside.__doc__
    assert "device:" in torch_in_numpy_out.__doc__ and "no_grad:" in torch_in_numpy_out.__doc__


def test_a_failing_call_converts_each_argument_once():
    calls = []

    class Flaky:
        """An array-like whose __array__ fails the first time only."""

        def __array__(self, dtype=None, copy=None):
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("not ready")
            return np.zeros(2)

    @torch_in_numpy_out
    def score(x, batch):
        return x

    with pytest.raises(ValueError, match=r"^score\(\) argument 'batch'\['images'\]\[1\]: not ready$"):
        score(np.ones(1), {"images": [np.ones(1), Flaky()]})
    assert len(calls) == 1


def test_an_exception_object_raised_again_carries_its_path_once():
    stored = TypeError("bad value")

    class Bad:
        def __array__(self, dtype=None, copy=None):
            raise stored

    @torch_in_numpy_out
    def score(batch):
        return batch

    for _ in range(2):
        with pytest.raises(TypeError) as info:
            score({"images": [1, Bad()]})
        assert str(info.value) == "score() argument 'batch'['images'][1]: bad value"


def test_same_object_as_two_arguments_converts_once():
    read_only = np.arange(3.0)
    read_only.flags.writeable = False

    @torch_in_numpy_out
    def pair(x, y, z):
        assert x is y and z[0] is x
        return x

    pair(read_only, read_only, [read_only])
    a = np.arange(3.0)
    pair(a, a, [a])

    @numpy_inside
    def twice(x, y):
        assert x is y
        return x

    t = torch.ones(2)
    assert twice(t, t).tolist() == [1.0, 1.0]


def test_numpy_in_torch_out_results_take_the_scopes_float_dtype():
    @numpy_in_torch_out
    def scale(x):
        return x * 2  # float64 NumPy

    with default_float_dtype("float32"):
        assert scale(torch.ones(2, dtype=torch.float64)).dtype is torch.float32
        assert scale(np.ones(2)).dtype is torch.float32

    @torch_in_torch_out
    def made_by_torch(x):
        return x.double()  # a tensor the body made keeps its dtype

    with default_float_dtype("float32"):
        assert made_by_torch(np.ones(2)).dtype is torch.float64


def test_decorated_function_is_a_function_whose_internals_keep_the_decoration():
    # Tools check inspect.isfunction (ray.remote, Ray's actor classes), then read __code__,
    # __closure__ and __globals__ to rebuild the function (cloudpickle by value): what they
    # read is a stand-in with the body's parameters that decorates the body again.
    def body(x, /, y=2, *rest, z, **more):
        return type(x).__name__

    async def coroutine(x):
        return x

    def generator(x):
        yield x

    decorated = torch_in_numpy_out(body)
    assert isinstance(decorated, types.FunctionType) and inspect.isfunction(decorated)
    assert decorated.__code__ is not body.__code__
    assert inspect.getfullargspec(decorated) == inspect.getfullargspec(body)
    assert inspect.iscoroutinefunction(torch_in_numpy_out(coroutine))
    assert inspect.isgeneratorfunction(torch_in_numpy_out(generator))
    assert not inspect.iscoroutinefunction(decorated)
    rebuilt = types.FunctionType(decorated.__code__, decorated.__globals__, "body", None, decorated.__closure__)
    assert rebuilt(np.ones(2), 3, z=4) == "Tensor"  # what a by-value copy runs: still decorated


def test_the_typed_options_are_the_tables():
    from toolkit import _calls, _decorators, _presets

    for row in _presets.TABLE:
        typed = _decorators.TYPED_OPTIONS[row.name]
        assert set(typed.__required_keys__ | typed.__optional_keys__) == set(_presets.options_of(row)), row.name
        assert list(inspect.signature(getattr(_decorators, row.name)).parameters)[1:] == list(_presets.options_of(row))
    # the options object holds every option but compile= and op= (which choose the call path), no default of its own
    fields = dataclasses.fields(_calls.Options)
    assert {f.name for f in fields} == {o.name for o in _presets.OPTIONS} - {"compile", "op"}
    assert all(f.default is dataclasses.MISSING for f in fields)


# -- the plain entry (no scope, no torch mode) gives what the full path gives -----------------


def _describe(value):
    if isinstance(value, torch.Tensor):
        values = None if value.device.type == "meta" else value.detach().tolist()
        return ("tensor", value.dtype, value.device.type, value.requires_grad, values)
    if isinstance(value, (np.ndarray, np.generic)):
        return (type(value).__name__, str(value.dtype), np.asarray(value).tolist())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _describe(v) for k, v in value.items()})
    return (type(value).__name__, value)


PLAIN_ARGS = {
    "float32 arrays": lambda: (np.ones(3, np.float32), np.arange(3, dtype=np.float32)),
    "float64 tensors": lambda: (torch.ones(3, dtype=torch.float64), torch.arange(3.0, dtype=torch.float64)),
    "int then float tensor": lambda: (torch.arange(3), torch.ones(3)),
    "int then float array": lambda: (np.arange(3), np.ones(3, np.float32)),
    "array and tensor": lambda: (np.ones(3), torch.ones(3)),
    "grad tensor": lambda: (torch.ones(3, requires_grad=True), torch.ones(3)),
    "read-only and reversed": lambda: (np.broadcast_to(np.ones(1), (3,)), np.arange(3.0)[::-1]),
    "reversed first": lambda: (np.arange(3.0)[::-1], np.ones(3)),
    "flipped first, 2-D": lambda: (np.flip(np.arange(6.0).reshape(2, 3)), np.ones(3)),
    "uint64 by its C name": lambda: (np.arange(3, dtype=np.ulonglong), np.ones(3, np.ulonglong)),
    "grad tensor first": lambda: (torch.ones(3, requires_grad=True), torch.ones(3)),
    "0-d and scalars": lambda: (torch.tensor(2.0), np.float32(3.0)),
    "a batch": lambda: ({"x": np.ones(3), "y": [np.zeros(3)]}, np.ones(3)),
    "one object twice": lambda: (lambda a: (a, a))(np.ones(3)),
    "python values": lambda: (np.ones(3), 2.5),
}


def _add(a, b):
    if isinstance(a, dict):
        a = a["x"]
    if isinstance(b, (int, float)):
        return a * b
    return a + b if not isinstance(a, torch.Tensor) else a + torch.as_tensor(b)


@pytest.mark.parametrize("torch_default", [None, "meta"], ids=["no torch default", "torch default meta"])
@pytest.mark.parametrize("decorator", [*ALL, autoconvert], ids=lambda d: d.__name__)
@pytest.mark.parametrize("make", PLAIN_ARGS.values(), ids=PLAIN_ARGS.keys())
def test_the_plain_entry_matches_the_full_path(decorator, make, torch_default):
    # A trace scope (which changes no result) sends every call the full path. With
    # torch.set_default_device active (a torch function mode), NumPy data placed by the
    # decorator goes there on both paths.
    f = decorator(_add)
    plain_args, full_args = make(), make()  # made on the CPU, before torch's default changes
    torch.set_default_device(torch_default)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradientDetachedWarning)
            try:
                out = f(*plain_args)
                plain = (_describe(out), [shares(out, a) for a in plain_args])
            except Exception as exc:  # the body may not take this pair: both paths must fail alike
                plain = ("raised", type(exc), str(exc))
            with toolkit.trace():
                try:
                    out = f(*full_args)
                    full = (_describe(out), [shares(out, a) for a in full_args])
                except Exception as exc:
                    full = ("raised", type(exc), str(exc))
    finally:
        torch.set_default_device(None)
    assert plain == full


def test_a_device_option_is_spelled_right_when_applied_and_present_at_the_call():
    # A module decorated with device="cuda" imports on a machine without CUDA (contract, section 2).
    f = torch_in_numpy_out(device="cuda")(lambda x: x * 2)
    if torch.cuda.is_available():
        assert f(np.ones(2)).tolist() == [2.0, 2.0]
    else:
        for _ in range(2):  # every call says so, not only the first
            with pytest.raises(toolkit.DeviceError, match=r"^<lambda>\(\): device 'cuda' asked for, but CUDA is not"):
                f(np.ones(2))
    with pytest.raises(toolkit.DeviceError, match="did you mean 'cuda'"):
        torch_in_numpy_out(device="cdua")


@pytest.mark.parametrize(
    "source",
    [
        "def f(): pass",
        "def f(*args): pass",
        "def f(**kwargs): pass",
        "def f(*args, **kwargs): pass",
        "def f(a, /): pass",
        "def f(a, /, b, *, c): pass",
        "def f(a=1, *, b=2, **kw): pass",
        "def f(stand_in, remade, value, *a, **k): pass",  # the stand-in's own names, taken
        "async def f(x, **kw): pass",
        "async def f(x):\n    yield x",
    ],
)
def test_every_parameter_shape_shows_the_same_parameters(source):
    namespace = {}
    exec(source, namespace)
    body = namespace["f"]
    decorated = torch_in_numpy_out(body)
    assert inspect.getfullargspec(decorated) == inspect.getfullargspec(body)
    assert decorated.__code__.co_flags & 0x2A0 == body.__code__.co_flags & 0x2A0  # generator and coroutine flags
