"""skip=: values at chosen paths reach the body (and the caller) as the same objects."""

import types

import numpy as np
import pytest
import torch

import toolkit
from toolkit import autoconvert, numpy_inside, torch_in_numpy_out, torch_in_torch_out, trace


def test_paths_with_keys_indices_attributes_and_stars():
    meta, past = np.array([1, 2]), [np.ones(1), np.ones(2)]
    seen = {}

    @torch_in_numpy_out(skip=["batch['meta']", "batch['past'][*]", "extra.ids"])
    def f(batch, extra):
        seen.update(batch=batch, extra=extra)
        return batch["x"]

    extra = types.SimpleNamespace(ids=np.arange(3), x=np.ones(1))
    f({"x": np.ones(1), "meta": meta, "past": past}, extra)
    batch = seen["batch"]
    assert batch["meta"] is meta and all(p is q for p, q in zip(batch["past"], past))
    assert isinstance(batch["x"], torch.Tensor) and batch["past"] is not past  # the list itself converts
    assert seen["extra"].ids is extra.ids and isinstance(seen["extra"].x, torch.Tensor)


def test_a_whole_argument_var_args_items_and_keyword_values():
    seen = {}

    @torch_in_torch_out(skip=["mask", "arrays[1]", "flag"])
    def f(mask, *arrays, **options):
        seen.update(mask=mask, arrays=arrays, options=options)

    mask, second = np.ones(2, bool), np.zeros(1)
    f(mask, np.ones(1), second, flag=np.ones(1), other=np.ones(1))
    assert seen["mask"] is mask and seen["arrays"][1] is second and isinstance(seen["arrays"][0], torch.Tensor)
    assert isinstance(seen["options"]["flag"], np.ndarray) and isinstance(seen["options"]["other"], torch.Tensor)


def test_return_value_paths_and_a_callable():
    state = np.zeros(3)

    @torch_in_numpy_out(skip="return value['state']")
    def step(x):
        return {"y": x * 2, "state": torch.ones(1)}

    out = step(np.ones(1))
    assert isinstance(out["y"], np.ndarray) and isinstance(out["state"], torch.Tensor)
    paths = []

    @numpy_inside(skip=lambda path, value: paths.append(path) or path.endswith("['keep']"))
    def legacy(batch):
        assert isinstance(batch["x"], np.ndarray) and batch["keep"] is state
        return batch["x"]

    assert isinstance(legacy({"x": torch.ones(1), "keep": state}), torch.Tensor)
    assert "batch['x']" in paths and "batch['keep']" in paths and "return value" in paths


def test_annotated_parameters_skip_too():
    kept = np.ones(2)

    @autoconvert(skip="batch['raw']")
    def f(batch: dict[str, torch.Tensor]) -> None:
        assert batch["raw"] is kept and isinstance(batch["x"], torch.Tensor)

    f({"raw": kept, "x": np.ones(1)})


def test_skipped_values_are_not_converted_or_traced():
    class Producer:
        asked = 0

        def __array__(self, dtype=None, copy=None):
            Producer.asked += 1
            return np.ones(2)

    @torch_in_numpy_out(skip="batch['lazy']")
    def f(batch):
        return batch["x"]

    with trace() as log:
        f({"lazy": Producer(), "x": np.ones(1)})
    assert Producer.asked == 0 and [r.path for r in log.records] == ["argument 'batch'['x']", "return value"]


@pytest.mark.parametrize(
    "skip, message",
    [
        ("nope['a']", "starts at 'nope', which is not a parameter"),
        ("batch[", "not written as errors write paths"),
        (3, "skip= takes a path"),
        ([], "skip= takes a path"),
    ],
)
def test_bad_paths_are_refused_when_applied(skip, message):
    with pytest.raises(TypeError, match=message):
        torch_in_numpy_out(skip=skip)(lambda batch: batch)


def test_string_paths_need_a_signature():
    with pytest.raises(TypeError, match="no signature"):
        torch_in_numpy_out(skip="0")(torch.sigmoid)
    assert torch_in_numpy_out(skip=lambda p, v: False)(torch.sigmoid)(np.zeros(1)).tolist() == [0.5]


def test_without_skip_no_path_is_built(monkeypatch):
    from toolkit import _calls, _shortcuts, _wrapper

    def no_paths(*args):
        raise AssertionError("paths were built for a call without skip=")

    monkeypatch.setattr(_calls, "seed", no_paths)

    @torch_in_numpy_out
    def f(batch, *, scale=1):
        return batch["x"] * scale

    assert f({"x": np.ones(1)}, scale=2).tolist() == [2.0]  # the full path (a keyword), no seed
    skipping = torch_in_numpy_out(skip="batch['x']")(lambda batch: batch)
    assert type(skipping).__call__ is _wrapper.FastDecoratedFunction.__call__  # no plain entry
    if _shortcuts.ON:
        assert type(f).__call__ is not _wrapper.FastDecoratedFunction.__call__  # f keeps its plain entry


def test_a_skipped_container_that_holds_itself_is_left_alone_everywhere():
    from toolkit import numpy_in_numpy_out

    meta = {}
    meta["self"] = meta
    f = numpy_in_numpy_out(skip=["b['meta']", "return value"])(lambda b: b["meta"])
    with pytest.warns(toolkit.GradientDetachedWarning):
        assert f({"meta": meta, "x": torch.ones(2, requires_grad=True)}) is meta
    g = torch_in_numpy_out(skip=["b['meta']", "return value"])(lambda b: b["meta"])
    with trace():
        assert g({"x": np.ones(1), "meta": meta}) is meta


@pytest.mark.parametrize("order", ["skipped first", "skipped last"])
def test_one_object_at_a_skipped_path_stays_itself_whatever_the_order(order):
    shared = [np.ones(1)]
    batch = {"meta": shared, "x": shared} if order == "skipped first" else {"x": shared, "meta": shared}
    seen = {}

    @torch_in_numpy_out(skip="b['meta']")
    def f(b):
        seen.update(b)

    f(batch)
    assert seen["meta"] is shared and seen["x"] is shared


def test_yielded_values_var_args_and_refusals():
    @torch_in_numpy_out(skip="yielded value[1]")
    def gen(x):
        yield x, torch.ones(1)

    ((out, kept),) = list(gen(np.ones(1)))
    assert isinstance(out, np.ndarray) and isinstance(kept, torch.Tensor)

    @torch_in_torch_out(skip="arrays")  # the *args parameter: every extra positional argument
    def every(*arrays):
        return [type(a).__name__ for a in arrays]

    assert every(np.ones(1), np.ones(1)) == ["ndarray", "ndarray"]
    with pytest.raises(TypeError, match=r"names the \*\*kw parameter"):
        torch_in_numpy_out(skip="kw")(lambda **kw: kw)
    with pytest.raises(TypeError, match="no negative index"):
        torch_in_numpy_out(skip="b[-1]")(lambda b: b)


def test_skip_under_a_compiled_caller_is_as_in_eager_mode():
    @numpy_inside(compile={"backend": "eager"}, skip="keep")
    def legacy(x, keep):
        return type(keep).__name__

    eager = legacy(torch.ones(1), torch.zeros(1))
    compiled = torch.compile(lambda x: legacy(x, torch.zeros(1)), backend="eager")(torch.ones(1))
    assert eager == compiled == "Tensor"


def test_a_failing_flatten_under_skip_is_named_as_without_it():
    from toolkit import register_container

    class Broken:
        pass

    register_container(Broken, flatten=lambda b: ({}["nope"], None), unflatten=lambda c, v: None)
    for options in ({}, {"skip": "b['other']"}):
        f = torch_in_numpy_out(**options)(lambda b: b)
        with pytest.raises(TypeError, match=r"argument 'b'\['k'\]: cannot take the .*Broken apart"):
            f({"k": Broken(), "other": 1})
