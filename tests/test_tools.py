"""The tools users hand functions to take decorated ones as they take undecorated ones.

copy and deepcopy (scikit-learn's clone), inspect's checks (Ray's), pickle in
a script's ``__main__``, class-reached methods and staticmethods under the
standard pickler, cloudpickle's ``register_pickle_by_value``, and no leak of
decorated functions that are dropped. Ray itself, scikit-learn and joblib are
in tests/compat.
"""

import copy
import gc
import inspect
import multiprocessing
import pickle
import subprocess
import sys
import textwrap
import weakref

import cloudpickle
import helpers
import numpy as np
import pytest
import torch

from toolkit import numpy_inside, torch_in_numpy_out


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))

    @torch_in_numpy_out
    def forward(self, x):
        return x * self.weight


def test_copy_and_deepcopy_of_a_decorated_function_give_it_back():
    for func in (helpers.double, torch_in_numpy_out(lambda x: x)):
        assert copy.copy(func) is func and copy.deepcopy(func) is func  # as for a function


def test_a_bound_method_deep_copies_with_its_instance():
    net = Net()
    again = copy.deepcopy(net.forward)
    with torch.no_grad():
        again.__self__.weight.mul_(2)  # the copy's instance is a copy: the original is untouched
    assert again(np.ones(3, np.float32)).tolist() == [2.0, 2.0, 2.0]
    assert net.forward(np.ones(3, np.float32)).tolist() == [1.0, 1.0, 1.0]
    assert again.__self__ is not net and copy.copy(net.forward)(np.ones(3, np.float32)).tolist() == [1.0] * 3
    pair = copy.deepcopy([net, net.forward])  # one memo: the method binds the copied instance
    assert pair[1].__self__ is pair[0]


def test_inspect_sees_functions_and_methods_as_undecorated():
    net = Net()
    assert inspect.isfunction(helpers.double) and inspect.isfunction(helpers.Model.scale)
    assert inspect.ismethod(net.forward) and inspect.ismethod(helpers.Scaler(1.0).scale)
    assert inspect.signature(helpers.Model.scale) == inspect.signature(helpers.Model.scale.__wrapped__)
    members = dict(inspect.getmembers(helpers.Model, inspect.isfunction))  # how Ray finds an actor's methods
    assert {"scale", "outer"} <= set(members)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_methods_reached_through_the_class_and_staticmethods_pickle(dumps):
    scale = pickle.loads(dumps(helpers.Model.scale))
    assert scale(helpers.Model(), np.ones(2)).tolist() == [3.0, 3.0]
    for name, plus in (("outer", 1.0), ("inner", 2.0)):
        again = pickle.loads(dumps(getattr(helpers.Model, name)))
        out = again(np.zeros(1))
        assert isinstance(out, np.ndarray) and out.tolist() == [plus]


@pytest.mark.slow
def test_class_reached_methods_run_in_spawned_workers():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        out = pool.map(helpers.Model.outer, [np.zeros(2)])
    assert out[0].tolist() == [1.0, 1.0] and isinstance(out[0], np.ndarray)


MAIN = """
import pickle, sys
import numpy as np
from toolkit import torch_in_numpy_out

@torch_in_numpy_out
def f(x):
    return x * 2

class Holder:
    @staticmethod
    @torch_in_numpy_out
    def g(x):
        return x + 1

blob = pickle.dumps(f)  # by name, as for the undecorated function
assert pickle.loads(blob) is f
assert pickle.loads(pickle.dumps(Holder.g))(np.zeros(1)).tolist() == [1.0]
print("main ok")
"""


def test_functions_of_a_main_script_pickle_by_name(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(MAIN)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "main ok" in ran.stdout


BY_VALUE = """
def scaled(x):
    import torch
    assert isinstance(x, torch.Tensor), type(x)
    return x * 5
"""

LOAD_ELSEWHERE = """
import pickle, sys
import numpy as np
f = pickle.loads(open(sys.argv[1], "rb").read())  # the module is not importable here
try:
    import shipped_by_value
except ImportError:
    pass
else:
    raise AssertionError("the module should not be importable in this process")
out = f(np.ones(2))
assert isinstance(out, np.ndarray) and out.tolist() == [5.0, 5.0], out
print("by value ok")
"""


@pytest.mark.parametrize("order", ["register-then-decorate", "decorate-in-module"])
def test_register_pickle_by_value_carries_a_decorated_function(tmp_path, monkeypatch, order):
    source = tmp_path / "src"
    source.mkdir()
    text = (
        BY_VALUE
        if order == "register-then-decorate"
        else (
            "from toolkit import torch_in_numpy_out\n"
            + BY_VALUE.replace("def scaled", "@torch_in_numpy_out\ndef scaled")
        )
    )
    (source / "shipped_by_value.py").write_text(text)
    monkeypatch.syspath_prepend(str(source))
    import shipped_by_value

    try:
        func = shipped_by_value.scaled
        if order == "register-then-decorate":
            func = shipped_by_value.scaled = torch_in_numpy_out(func)
        cloudpickle.register_pickle_by_value(shipped_by_value)
        try:
            blob = tmp_path / "f.pkl"
            blob.write_bytes(cloudpickle.dumps(func))
        finally:
            cloudpickle.unregister_pickle_by_value(shipped_by_value)
    finally:
        del sys.modules["shipped_by_value"]
    ran = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, str(blob)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert "by value ok" in ran.stdout


def test_a_class_carried_by_value_binds_its_decorated_methods():
    # How Ray carries an actor class defined in a script: by value, with its methods.
    def make():
        class Local:
            def __init__(self):
                self.factor = 4.0

            @torch_in_numpy_out
            def scale(self, x):
                assert isinstance(x, torch.Tensor) and isinstance(self, Local)
                return x * self.factor

        return Local

    Again = cloudpickle.loads(cloudpickle.dumps(make()))
    obj = Again()
    assert obj.scale(np.ones(2)).tolist() == [4.0, 4.0]
    assert Again.scale(obj, np.ones(1)).tolist() == [4.0]
    assert inspect.signature(Again.scale).parameters.keys() == {"self", "x"}


def test_a_dropped_decorated_function_is_freed_with_what_it_captures():
    class Captured:
        pass

    refs = []
    for _ in range(3):
        held = Captured()

        @torch_in_numpy_out
        def f(x, held=held):
            return x

        f(np.ones(1))
        refs.append((weakref.ref(held), weakref.ref(f)))
        del f, held
    gc.collect()
    assert all(r() is None and w() is None for r, w in refs)


def test_multiprocessing_keeps_no_registry_entry_per_decorated_function():
    from multiprocessing.reduction import ForkingPickler

    before = len(ForkingPickler._extra_reducers)
    for _ in range(50):
        numpy_inside(lambda x: x)(np.ones(1))
    assert len(ForkingPickler._extra_reducers) == before


LEAK = """
import gc, os
import numpy as np
from toolkit import torch_in_numpy_out

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def once(i):
    captured = np.full(1024, float(i))  # 8 KiB
    f = torch_in_numpy_out(lambda x: x + captured[0])
    f(np.ones(2))

for i in range(200):
    once(i)
gc.collect()
start = rss()
for i in range(10_000):
    once(i)
gc.collect()
print((rss() - start) / 2**20)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_ten_thousand_dropped_decorated_lambdas_leave_memory_flat():
    ran = subprocess.run([sys.executable, "-c", textwrap.dedent(LEAK)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    grown_mib = float(ran.stdout.strip().splitlines()[-1])
    assert grown_mib < 20, f"RSS grew by {grown_mib:.1f} MiB over 10,000 dropped decorated lambdas"  # kept: ~195


CLASS_SCRIPT = """
import sys
import cloudpickle
import numpy as np
from toolkit import torch_in_numpy_out

class Scaler:
    @torch_in_numpy_out
    @staticmethod
    def scale(x):
        return x * 5

    @classmethod
    @torch_in_numpy_out
    def shift(cls, x):
        return x + 1

    def run(self, x):
        return self.scale(x), self.shift(x)

open(sys.argv[1], "wb").write(cloudpickle.dumps(Scaler().run))  # the class travels by value
"""

CLASS_LOADER = """
import pickle, sys
import numpy as np
run = pickle.loads(open(sys.argv[1], "rb").read())
scaled, shifted = run(np.ones(2))
assert scaled.tolist() == [5.0, 5.0] and shifted.tolist() == [2.0, 2.0], (scaled, shifted)
print("class by value ok")
"""


def test_a_script_class_with_decorated_staticmethods_travels_by_value(tmp_path):
    script, blob = tmp_path / "script.py", tmp_path / "run.pkl"
    script.write_text(CLASS_SCRIPT)
    made = subprocess.run([sys.executable, str(script), str(blob)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    ran = subprocess.run(
        [sys.executable, "-c", CLASS_LOADER, str(blob)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert "class by value ok" in ran.stdout


W = np.ones(3)


def test_a_copy_by_value_leaves_defaults_to_the_body():
    def make():
        @torch_in_numpy_out
        def f(x, w=W, *, scale=None):
            return type(w).__name__, scale

        @torch_in_numpy_out
        def counted(x, cache={}):  # noqa: B006 - the body's own default, kept across calls
            cache[len(cache)] = 1
            return len(cache)

        return f, counted

    f, counted = make()
    again, counted_again = cloudpickle.loads(cloudpickle.dumps((f, counted)))
    assert again(1) == f(1) == ("ndarray", None)  # a default is the body's, unconverted
    assert again(1, W) == f(1, W) == ("Tensor", None)  # an argument converts
    assert [counted_again(1), counted_again(1)] == [1, 2]


def test_a_decorated_function_reached_through_its_class_is_one_object_and_compiles():
    def halve(x):
        return x / 2

    class Ops:
        normalize = torch_in_numpy_out(halve)

        @torch_in_numpy_out
        def triple(self, x):
            return x * 3

    assert Ops.normalize is Ops.normalize and Ops.triple is Ops.triple  # as a function is one object
    ops = Ops()
    compiled = torch.compile(lambda x: (Ops.normalize(x), Ops.triple(ops, x)), backend="eager")
    halved, tripled = compiled(torch.ones(2))
    assert isinstance(halved, np.ndarray) and halved.tolist() == [0.5, 0.5] and tripled.tolist() == [3.0, 3.0]


def test_deepcopy_of_a_decorated_callable_object_copies_it():
    model = torch.nn.Linear(2, 2)
    decorated = torch_in_numpy_out(model)
    again = copy.deepcopy(decorated)
    assert again is not decorated and again.__wrapped__ is not model
    with torch.no_grad():
        again.__wrapped__.weight.zero_()
    assert model.weight.abs().sum() > 0  # a snapshot, not the live model
    assert isinstance(again(np.ones((1, 2), np.float32)), np.ndarray)


def test_the_stand_in_runs_in_the_bodys_globals():
    assert helpers.double.__globals__ is vars(helpers)  # tools resolve string annotations through it
