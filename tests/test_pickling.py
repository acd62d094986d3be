"""Decorated functions survive pickle and cloudpickle, and run in other processes."""

import importlib
import multiprocessing
import os
import pickle
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor

import cloudpickle
import helpers
import numpy as np
import pytest
import torch

from toolkit import numpy_inside, torch_in_numpy_out


def check_double(fn):
    out = fn(np.ones(2))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_module_level_function_round_trips(dumps):
    again = pickle.loads(dumps(helpers.double))
    assert again is helpers.double
    check_double(again)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_bound_methods_round_trip(dumps):
    scaler = helpers.Scaler(3.0)
    again = pickle.loads(dumps(scaler.scale))
    assert again(np.ones(1)).tolist() == [3.0]
    assert isinstance(again(np.ones(1)), np.ndarray)
    cls_method = pickle.loads(dumps(helpers.Scaler.make))
    assert cls_method(np.ones(1)).tolist() == [1.0]


def local_bump():
    """A decorated local function (cloudpickle carries it by value), with an option to keep."""

    @torch_in_numpy_out(float_dtype="float16")
    def local(x):
        assert isinstance(x, torch.Tensor) and x.dtype is torch.float16
        return x + 1

    return local


def check_bump(again):
    out = again(np.zeros(2))
    assert isinstance(out, np.ndarray) and out.dtype == np.float16  # still decorated, options kept
    assert again.__name__ == "local"


def test_cloudpickle_keeps_the_decoration_of_a_local_function():
    check_bump(cloudpickle.loads(cloudpickle.dumps(local_bump())))


def test_plain_pickle_of_a_local_function_fails_as_for_any_local_function():
    @numpy_inside
    def local(x):
        return x

    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(local)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_spawn(method):
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        out = pool.map(helpers.double, [np.ones(2), np.zeros(2)])
    assert [o.tolist() for o in out] == [[2.0, 2.0], [0.0, 0.0]]
    assert all(o.dtype == np.float32 for o in out)


@pytest.mark.slow
def test_process_pool_executor():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = list(pool.map(helpers.legacy_sum, [torch.ones(3), np.ones(2)]))
    assert isinstance(out[0], torch.Tensor) and out[0].tolist() == [3.0]
    assert isinstance(out[1], np.ndarray) and out[1].tolist() == [2.0]


@pytest.mark.slow
def test_dask_distributed_map_blocks_on_two_worker_processes():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        x = da.arange(12, chunks=3, dtype=np.float32)

        @torch_in_numpy_out
        def local_block(block):  # a local function: cloudpickle carries it by value
            assert isinstance(block, torch.Tensor)
            return block * 10

        tens = x.map_blocks(local_block, dtype=np.float32)
        plus = x.map_blocks(helpers.block_kind, dtype=np.float32)
        a, b = client.compute([tens, plus], sync=True)
        pids = client.run(lambda: __import__("os").getpid())
    np.testing.assert_array_equal(a, np.arange(12, dtype=np.float32) * 10)
    np.testing.assert_array_equal(b, np.arange(12, dtype=np.float32) + 1)
    assert len(set(pids.values())) == 2


SCRIPT = """
import multiprocessing, sys
import cloudpickle, numpy as np, torch
from toolkit import torch_in_numpy_out

@torch_in_numpy_out(float_dtype="float16")
def bump(x):
    assert isinstance(x, torch.Tensor) and x.dtype is torch.float16
    return x + 1

if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(cloudpickle.dumps(bump))
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # plain pickle, by name
        out = pool.map(bump, [np.zeros(2)])
    assert out[0].dtype == np.float16 and out[0].tolist() == [1.0, 1.0], out
    print("spawn ok")
"""

LOADER = """
import pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as f:
    bump = pickle.load(f)  # this process's __main__ has no `bump`: it came by value
out = bump(np.zeros(2))
assert out.dtype == np.float16 and out.tolist() == [1.0, 1.0], out
print("by value ok")
"""


@pytest.mark.slow
def test_functions_of_a_main_script(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    blob = tmp_path / "bump.pkl"
    ran = subprocess.run([sys.executable, str(script), str(blob)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "spawn ok" in ran.stdout
    loaded = subprocess.run([sys.executable, "-c", LOADER, str(blob)], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert "by value ok" in loaded.stdout


@pytest.fixture
def vendored_cloudpickle(tmp_path, monkeypatch):
    """A copy of cloudpickle under another module name, as Ray ships ``ray.cloudpickle``."""
    package = tmp_path / "fakeray"
    shutil.copytree(os.path.dirname(cloudpickle.__file__), package / "cloudpickle")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fakeray.cloudpickle")
    yield module
    for name in [n for n in sys.modules if n.startswith("fakeray")]:
        del sys.modules[name]


def test_a_vendored_cloudpickle_keeps_the_decoration_of_a_local_function(vendored_cloudpickle):
    check_bump(pickle.loads(vendored_cloudpickle.dumps(local_bump())))


def test_a_method_stored_under_another_name_keeps_its_decoration():
    runner = helpers.Runner()
    for dumps in (pickle.dumps, cloudpickle.dumps):
        again = pickle.loads(dumps(runner.run))
        out = again(np.ones(2))
        assert isinstance(out, np.ndarray) and out.tolist() == [2.0, 2.0]


def test_a_bound_method_not_held_by_its_class_pickles_by_binding_again():
    def raw(self, x):
        return x * self.factor

    scaler = helpers.Scaler(5.0)
    bound = torch_in_numpy_out(raw).__get__(scaler, type(scaler))  # held by no class attribute
    again = cloudpickle.loads(cloudpickle.dumps(bound))
    assert again(np.ones(1)).tolist() == [5.0] and isinstance(again(np.ones(1)), np.ndarray)


def test_how_a_function_pickles_does_not_depend_on_who_asks(monkeypatch):
    # The old design asked the caller's frames whether cloudpickle was running. Frames are
    # off limits now: with sys._getframe failing, pickling works all the same.
    @numpy_inside
    def local(x):
        return x + 1

    def no_frames(*args):
        raise AssertionError("a frame was inspected while pickling")

    monkeypatch.setattr(sys, "_getframe", no_frames)
    blob = cloudpickle.dumps(local)
    by_name = pickle.dumps(helpers.double)
    monkeypatch.undo()
    assert pickle.loads(blob)(torch.ones(1)).tolist() == [2.0]
    assert pickle.loads(by_name) is helpers.double
