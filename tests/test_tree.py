"""Containers: rebuilt with their own type, never mutated, aliasing kept, cycles refused."""

import collections
import dataclasses
import types
import typing

import numpy as np
import pytest
import torch

from toolkit import CycleError, to_numpy, to_torch


class Point(typing.NamedTuple):
    x: object
    y: object


@dataclasses.dataclass
class Batch:
    images: object
    labels: object
    calls: int = dataclasses.field(default=0, init=False)

    def __post_init__(self):
        self.calls += 1


@dataclasses.dataclass(frozen=True)
class Frozen:
    value: object


@dataclasses.dataclass(slots=True)
class Slotted:
    value: object


class Registry(dict):
    pass


def test_builtin_containers_keep_their_types():
    a = np.zeros(2)
    data = [a, (a, {"k": a}), {"nested": [a]}]
    out = to_torch(data)
    assert type(out) is list and type(out[1]) is tuple and type(out[1][1]) is dict
    assert isinstance(out[2]["nested"][0], torch.Tensor)


def test_namedtuple_keeps_type():
    out = to_torch(Point(np.zeros(1), 3))
    assert type(out) is Point and isinstance(out.x, torch.Tensor) and out.y == 3
    old = collections.namedtuple("Old", "a b")
    assert type(to_torch(old(np.zeros(1), 2))) is old


def test_mappings_keep_type_and_factory():
    od = collections.OrderedDict([("b", np.zeros(1)), ("a", np.ones(1))])
    out = to_torch(od)
    assert type(out) is collections.OrderedDict and list(out) == ["b", "a"]
    dd = collections.defaultdict(list, {"x": np.zeros(1)})
    out = to_torch(dd)
    assert type(out) is collections.defaultdict and out.default_factory is list
    assert out["missing"] == []
    assert "missing" not in dd
    reg = to_torch(Registry(x=np.zeros(1)))
    assert type(reg) is Registry
    proxy = to_torch(types.MappingProxyType({"x": np.zeros(1)}))
    assert type(proxy) is types.MappingProxyType and isinstance(proxy["x"], torch.Tensor)


def test_dataclass_is_copied_without_init_or_post_init():
    b = Batch(np.zeros(2), np.ones(2))
    b.calls = 7
    out = to_torch(b)
    assert type(out) is Batch and out is not b
    assert out.calls == 7  # __post_init__ did not run again; init=False field kept
    assert isinstance(out.images, torch.Tensor) and isinstance(b.images, np.ndarray)


def test_frozen_and_slotted_dataclasses():
    out = to_torch(Frozen(np.zeros(1)))
    assert type(out) is Frozen and isinstance(out.value, torch.Tensor)
    out = to_torch(Slotted(np.zeros(1)))
    assert type(out) is Slotted and isinstance(out.value, torch.Tensor)


def test_dataclass_class_itself_is_a_leaf():
    assert to_torch(Batch) is Batch


def test_callers_containers_are_never_mutated():
    a = np.zeros(2)
    inner = [a]
    data = {"inner": inner, "t": (a,)}
    out = to_torch(data)
    assert data["inner"] is inner and inner[0] is a and data["t"][0] is a
    assert out["inner"] is not inner


def test_aliasing_is_kept():
    a = np.zeros(2)
    shared_list = [a]
    out = to_torch({"x": a, "y": [a], "l1": shared_list, "l2": shared_list})
    assert out["x"] is out["y"][0]
    assert out["l1"] is out["l2"]
    t = torch.ones(1, dtype=torch.bfloat16)
    back = to_numpy([t, {"again": t}])
    assert back[0] is back[1]["again"]


def test_self_containing_container_raises_value_error():
    loop = [np.zeros(1)]
    loop.append(loop)
    with pytest.raises(ValueError, match="holds itself") as info:
        to_torch(loop)
    assert isinstance(info.value, CycleError)
    d = {}
    d["me"] = d
    with pytest.raises(ValueError, match=r"'data'\['me'\]"):
        to_numpy(d)


def test_error_paths_use_brackets_and_fields():
    bad = np.array([None])
    with pytest.raises(TypeError, match=r"'data'\[1\]\.labels\['k'\]\[0\]:"):
        to_torch([0, Batch(np.zeros(1), {"k": [bad]})])
    with pytest.raises(TypeError, match=r"'data'\.y:"):
        to_torch(Point(1, bad))


def test_sets_are_leaves():
    s = {1, 2}
    assert to_torch(s) is s


def test_list_subclass_is_rebuilt_and_other_sequences_are_leaves():
    class Tagged(list):
        tag = "t"

    out = to_torch(Tagged([np.zeros(1)]))
    assert type(out) is Tagged and isinstance(out[0], torch.Tensor)
    dq = collections.deque([np.zeros(1)])
    assert to_torch(dq) is dq
