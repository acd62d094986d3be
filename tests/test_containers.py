"""Every container users pass: attrs, deque, SimpleNamespace, UserDict/UserList, registered types, pytree."""

import collections
import dataclasses
import types

import attrs
import numpy as np
import pytest
import torch
import torch.utils._pytree as pytree

import toolkit
from toolkit import numpy_inside, register_container, to_numpy, to_torch, torch_in_numpy_out, trace


@attrs.frozen
class Frozen:
    x: object
    y: object = "label"


@attrs.define(slots=True)
class Slotted:
    x: object
    rest: list = attrs.field(factory=list)


class Notes(collections.UserDict):
    pass


def test_attrs_classes_convert_as_dataclasses_do():
    a, b = np.ones(2), np.zeros(1)
    for obj in (Frozen(a), Slotted(a, [b])):
        out = to_torch(obj)
        assert type(out) is type(obj) and isinstance(out.x, torch.Tensor) and out.x is not obj.x
        assert obj.x is a  # the caller's object is as it was
    assert to_torch(Frozen(a)).y == "label" and isinstance(to_torch(Slotted(a, [b])).rest[0], torch.Tensor)


def test_deque_keeps_its_maxlen_and_order():
    d = collections.deque([np.ones(1), np.zeros(1)], maxlen=3)
    out = to_torch(d)
    assert type(out) is collections.deque and out.maxlen == 3
    assert [t.tolist() for t in out] == [[1.0], [0.0]] and isinstance(d[0], np.ndarray)


def test_simple_namespace_keeps_every_attribute():
    ns = types.SimpleNamespace(images=np.ones(2), name="batch")
    out = to_torch(ns)
    assert type(out) is types.SimpleNamespace and isinstance(out.images, torch.Tensor) and out.name == "batch"
    assert isinstance(ns.images, np.ndarray)


def test_user_dict_and_user_list_are_copies_with_new_data():
    notes = Notes(a=np.ones(1))
    notes.source = "camera"  # state besides the items stays
    out = to_torch(notes)
    assert type(out) is Notes and out.source == "camera" and isinstance(out["a"], torch.Tensor)
    assert isinstance(notes["a"], np.ndarray) and out.data is not notes.data
    items = collections.UserList([np.ones(1), "x"])
    back = to_numpy(to_torch(items))
    assert type(back) is collections.UserList and isinstance(back[0], np.ndarray) and back[1] == "x"
    with pytest.raises(TypeError, match=r"to_torch\(\) argument 'data'\['bad'\]: cannot convert"):
        to_torch(Notes(bad=np.array([None])))


@register_container(fields=("images", "labels"))
class Batch:
    def __init__(self, images, labels, meta="m"):
        self.images, self.labels, self.meta = images, labels, meta


class Pair:
    def __init__(self, left, right):
        self.left, self.right = left, right


register_container(Pair, flatten=lambda p: ([("left", p.left), (1, p.right)], "ctx"), unflatten=lambda ctx, v: Pair(*v))


def test_registered_fields_are_a_shallow_copy_with_the_fields_converted():
    batch = Batch(np.zeros(2), [np.ones(1)])
    out = to_torch(batch)
    assert type(out) is Batch and isinstance(out.images, torch.Tensor) and isinstance(out.labels[0], torch.Tensor)
    assert out.meta == "m" and isinstance(batch.images, np.ndarray)
    with pytest.raises(TypeError, match=r"argument 'data'\.labels\[0\]: cannot convert"):
        to_torch(Batch(np.ones(1), [np.array([None])]))


def test_registered_functions_and_their_keys_in_paths_and_traces():
    out = to_torch(Pair(np.ones(1), np.zeros(1)))
    assert type(out) is Pair and isinstance(out.left, torch.Tensor) and isinstance(out.right, torch.Tensor)
    with pytest.raises(TypeError, match=r"argument 'data'\[0\]\[1\]: cannot convert"):
        to_torch([Pair(1, np.array([None]))])
    with trace() as log:
        to_torch({"p": Pair(np.ones(1), np.zeros(1))})
    assert [r.path for r in log.records] == ["argument 'data'['p'].left", "argument 'data'['p'][1]"]

    @torch_in_numpy_out
    def f(pair):
        return pair.left + pair.right

    with pytest.raises(TypeError, match=r"f\(\) argument 'pair'\.left: cannot convert"):
        f(Pair(np.array([None]), np.ones(1)))


def test_an_unflatten_that_raises_names_the_type_and_the_path():
    class Broken:
        def __init__(self, v):
            self.v = v

    register_container(Broken, flatten=lambda b: ([("v", b.v)], None), unflatten=lambda c, v: 1 / 0)
    with pytest.raises(TypeError, match=r"argument 'data'\['k'\]: cannot rebuild the .*Broken: ZeroDivisionError"):
        to_torch({"k": Broken(np.ones(1))})


def test_aliasing_cycles_and_the_callers_objects_hold_for_registered_types():
    a = np.ones(2)
    out = to_torch([Batch(a, a), a])
    assert out[0].images is out[0].labels is out[1]  # one object, converted once
    looped = Batch(np.ones(1), None)
    looped.labels = looped
    with pytest.raises(ValueError, match="holds itself"):
        to_torch(looped)
    pair = Pair(a, [a])
    to_torch(pair)
    assert pair.left is a and pair.right[0] is a  # never written to


def test_a_registration_is_for_that_exact_class_and_wins_over_built_in_rules():
    @register_container(fields=("x",))
    @dataclasses.dataclass
    class Point:
        x: object
        y: object

    class SubBatch(Batch):
        pass

    out = to_torch(Point(np.ones(1), np.ones(1)))
    assert isinstance(out.x, torch.Tensor) and isinstance(out.y, np.ndarray)  # only the registered fields
    sub = to_torch(SubBatch(np.ones(1), np.ones(1)))
    assert isinstance(sub.images, np.ndarray)  # a subclass registers on its own

    @register_container(fields=("data",))
    class Tagged(collections.UserDict):
        pass

    tagged = Tagged(a=np.ones(1))
    assert to_torch(tagged).data is not tagged.data  # fields= rule, not UserDict's


@pytest.mark.parametrize("cls", [str, bytes, np.ndarray, np.memmap, torch.Tensor, torch.nn.Parameter, np.float32])
def test_strings_arrays_and_tensors_cannot_be_registered(cls):
    with pytest.raises(TypeError, match="cannot register"):
        register_container(cls, fields=("x",))


def test_registration_arguments_are_checked():
    with pytest.raises(TypeError, match="fields= or flatten="):
        register_container(Pair, fields=("left",), flatten=lambda p: ([], None), unflatten=lambda c, v: c)
    with pytest.raises(TypeError, match="needs fields="):
        register_container(Pair, flatten=lambda p: ([], None))
    with pytest.raises(TypeError, match="takes a class"):
        register_container(Pair(1, 2), fields=("left",))


class Leafy:
    def __init__(self, a, b):
        self.a, self.b = a, b


pytree.register_pytree_node(
    Leafy,
    lambda o: ([o.a, o.b], "ctx"),
    lambda values, ctx: Leafy(*values),
    flatten_with_keys_fn=lambda o: ([(pytree.GetAttrKey("a"), o.a), (pytree.MappingKey("b"), o.b)], "ctx"),
)


def test_torch_pytree_registrations_are_walked_with_their_keys():
    out = to_torch(Leafy(np.ones(1), [np.zeros(1)]))
    assert type(out) is Leafy and isinstance(out.a, torch.Tensor) and isinstance(out.b[0], torch.Tensor)
    with pytest.raises(TypeError, match=r"argument 'data'\['b'\]\[0\]: cannot convert"):
        to_torch(Leafy(np.ones(1), [np.array([None])]))

    @numpy_inside
    def legacy(tree):
        assert isinstance(tree.a, np.ndarray)
        return tree.a * 2

    assert isinstance(legacy(Leafy(torch.ones(1), 0)), torch.Tensor)  # the mirror rule sees inside


def test_without_torchs_pytree_table_pytree_types_are_leaves(monkeypatch):
    from toolkit import _containers, _tree

    class Unseen:
        def __init__(self, a):
            self.a = a

    pytree.register_pytree_node(Unseen, lambda o: ([o.a], None), lambda v, c: Unseen(*v))
    monkeypatch.setattr(pytree, "SUPPORTED_NODES", None)  # a torch whose private module differs
    _tree._forget_kinds()
    thing = Unseen(np.ones(1))
    assert to_torch(thing) is thing  # passed through, no error
    monkeypatch.undo()
    _tree._forget_kinds()
    assert isinstance(to_torch(thing).a, torch.Tensor)
    assert _containers.pytree_node(int) is None


def test_kinds_are_cached_and_the_cache_is_bounded():
    from toolkit import _tree

    for i in range(1100):  # classes made at run time must not pile up
        kind = type(f"K{i}", (), {})
        _tree.kind_of(kind)
    assert len(_tree._KINDS) <= _tree._CACHE_LIMIT and len(_tree._NODES) <= _tree._CACHE_LIMIT
    assert toolkit.register_container is register_container


def test_a_property_named_in_fields_is_never_set_on_the_callers_state():
    @register_container(fields=("x",))
    class Stored:
        def __init__(self, x):
            self._store = {"x": x}

        x = property(lambda s: s._store["x"], lambda s, v: s._store.__setitem__("x", v))

    original = Stored(np.ones(2))
    with pytest.raises(TypeError, match="'x' is a property"):
        to_torch(original)
    assert isinstance(original.x, np.ndarray)  # never written to


def test_a_copy_that_is_the_object_itself_is_refused():
    class Same(collections.UserDict):
        def __copy__(self):
            return self

    notes = Same(x=np.ones(1))
    with pytest.raises(TypeError, match="gives the object itself"):
        to_torch(notes)
    assert isinstance(notes["x"], np.ndarray)


@pytest.mark.parametrize("cls", [list, tuple, dict, int, float, type(None), set])
def test_pythons_own_types_cannot_be_registered(cls):
    with pytest.raises(TypeError, match="rules for Python's own types stay"):
        register_container(cls, flatten=lambda o: ([], None), unflatten=lambda c, v: None)


def test_flatten_must_give_pairs():
    class Bad:
        def __init__(self, x):
            self.x = x

    register_container(Bad, flatten=lambda o: ([o.x], None), unflatten=lambda c, v: Bad(*v))
    with pytest.raises(TypeError, match=r"must give \(key, value\) pairs"):
        to_torch(Bad(np.ones(2)))


def test_a_namespace_subclass_whose_init_wants_arguments():
    class Config(types.SimpleNamespace):
        def __init__(self, required, **rest):
            super().__init__(required=required, **rest)

    out = to_torch(Config(np.ones(1), name="n"))
    assert type(out) is Config and isinstance(out.required, torch.Tensor) and out.name == "n"


def test_a_flatten_that_expects_arrays_does_not_break_a_trace():
    class Strict:
        def __init__(self, x):
            self.x = x

    def flatten(o):
        assert isinstance(o.x, np.ndarray)
        return [("x", o.x)], None

    register_container(Strict, flatten=flatten, unflatten=lambda c, v: Strict(*v))
    with trace():
        assert isinstance(to_torch(Strict(np.ones(1))).x, torch.Tensor)
