"""skip=: values at chosen paths reach the body (and the caller) as the same objects."""

import types

import numpy as np
import pytest
import torch

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
