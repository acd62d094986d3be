"""Containers: rebuilt with their own type, never mutated, aliasing kept, cycles refused."""

import collections
import collections.abc
import dataclasses
import functools
import gc
import shelve
import types
import typing
import weakref

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
    rng = range(3)
    assert to_torch(rng) is rng  # a sequence, but no container of values (deque is one: test_containers)


# -- real-world containers: never written to, never losing their data ----------------------


class AttrStore(collections.abc.MutableMapping):
    """A mapping that keeps its data in an attribute, as feature stores and caches do."""

    def __init__(self, data=None):
        self._store = dict(data or {})

    def __getitem__(self, key):
        return self._store[key]

    def __setitem__(self, key, value):
        self._store[key] = value

    def __delitem__(self, key):
        del self._store[key]

    def __iter__(self):
        return iter(self._store)

    def __len__(self):
        return len(self._store)


class NeedsPath(AttrStore):
    def __init__(self, path, data=None):  # a constructor that takes other arguments
        super().__init__(data)
        self.path = path


class Lazy(collections.abc.Mapping):
    """Values made on access (an HDF5/zarr-like group): each access is a new object."""

    def __init__(self, n, make):
        self.n, self.make = n, make

    def __getitem__(self, key):
        return self.make(key)

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_mutable_mapping_with_its_own_storage_is_rebuilt_not_written_to():
    store = AttrStore({"a": np.zeros(2)})
    for convert in (to_torch, to_numpy):
        out = convert(store)
        assert type(out) is AttrStore and out is not store
        assert type(store["a"]) is np.ndarray  # the caller's store still holds its array
    assert isinstance(to_torch(store)["a"], torch.Tensor)


def test_mapping_whose_constructor_takes_other_arguments_becomes_a_dict():
    store = NeedsPath("/somewhere", {"a": np.zeros(2)})
    out = to_torch(store)
    assert type(out) is dict and isinstance(out["a"], torch.Tensor)
    assert type(store["a"]) is np.ndarray and store.path == "/somewhere"


def test_weak_value_dictionary_comes_back_as_a_dict_that_keeps_its_values():
    class Holder:
        def __init__(self, array):
            self.array = array

    keep = Holder(np.zeros(1))
    weak = weakref.WeakValueDictionary({"k": keep})
    out = to_torch(weak)
    assert type(out) is dict and out["k"] is keep
    assert len(weak) == 1


def test_shelve_file_is_read_not_written(tmp_path):
    path = str(tmp_path / "shelf")
    with shelve.open(path) as shelf:
        shelf["a"] = np.arange(3.0)
        out = to_torch(shelf)
        assert type(out) is dict and isinstance(out["a"], torch.Tensor)
        assert type(shelf["a"]) is np.ndarray
    with shelve.open(path, flag="r") as shelf:  # and on disk: still the array
        assert type(shelf["a"]) is np.ndarray and shelf["a"].tolist() == [0.0, 1.0, 2.0]


def test_np_load_npz_file_converts_to_a_dict(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.arange(3.0), b=np.ones(2, np.int32))
    with np.load(tmp_path / "x.npz") as npz:
        out = to_torch(npz)
        assert type(out) is dict and out["a"].tolist() == [0.0, 1.0, 2.0] and out["b"].dtype == torch.int32


def test_keyword_built_mapping_keeps_its_type():
    class Bunch(dict):  # scikit-learn's Bunch is built from keywords only
        def __init__(self, **kwargs):
            super().__init__(kwargs)

        def __getattr__(self, name):
            return self[name]

    out = to_torch(Bunch(data=np.zeros(2), target=np.ones(2)))
    assert type(out) is Bunch and isinstance(out.data, torch.Tensor)


def test_lazy_mapping_gives_each_key_its_own_value():
    # Values made on access are freed after conversion; their ids are reused. No result may
    # be handed to another object that happens to get the same id.
    out = to_torch(Lazy(100, lambda k: np.full(3, float(k))), float_dtype="float32")
    assert [float(out[k][0]) for k in range(100)] == [float(k) for k in range(100)]
    out = to_torch(Lazy(100, np.float64), float_dtype="float32")
    assert [float(out[k]) for k in range(100)] == [float(k) for k in range(100)]
    nested = to_torch(Lazy(50, lambda k: {"x": np.full(2, float(k))}))
    assert [float(nested[k]["x"][0]) for k in range(50)] == [float(k) for k in range(50)]


def test_dataclass_with_an_unset_init_false_field_and_a_cached_property():
    @dataclasses.dataclass
    class Sample:
        x: object
        y: int = dataclasses.field(init=False)

        @functools.cached_property
        def total(self):
            return float(np.asarray(self.x).sum())

    sample = Sample(np.ones(2))
    assert sample.total == 2.0
    out = to_torch(sample)
    assert not hasattr(out, "y")  # never set: stays unset
    assert "total" not in vars(out)  # computed from the old fields: dropped
    assert out.total == 2.0 and isinstance(out.x, torch.Tensor)
    assert "total" in vars(sample)  # the caller's cache is untouched


def test_tuple_with_fields_but_no_make_keeps_type_fields_and_extras():
    class Result(tuple):  # SciPy's results: _fields, _extra_fields, no _make
        _fields = ("statistic", "pvalue")
        _extra_fields = ("df",)

        def __new__(cls, statistic, pvalue, **extra):
            return super().__new__(cls, (statistic, pvalue))

        def __init__(self, statistic, pvalue, **extra):
            for name, value in extra.items():
                setattr(self, name, value)

        statistic = property(lambda self: self[0])
        pvalue = property(lambda self: self[1])

    result = Result(np.float64(1.5), np.float64(0.1), df=np.float64(3.0), _private="kept")
    out = to_torch(result)
    assert type(out) is Result and isinstance(out.statistic, torch.Tensor) and isinstance(out.pvalue, torch.Tensor)
    assert isinstance(out.df, torch.Tensor) and out.df.item() == 3.0 and out._private == "kept"
    assert isinstance(result.df, np.float64)


def test_kind_cache_does_not_keep_every_class_made_at_run_time_alive():
    made = []
    for i in range(3000):
        cls = collections.namedtuple(f"Made{i}", "a")
        to_torch(cls(np.zeros(1)))
        made.append(weakref.ref(cls))
        del cls
    gc.collect()
    alive = sum(ref() is not None for ref in made)
    assert alive <= 1100, alive  # the cache holds a bounded number, not all 3000
