"""Ray (local, two CPUs): decorated functions as tasks, decorated methods on actors, by value.

One Ray runtime serves the module. Every function here is local or in this
module, which Ray's workers cannot import: they travel by value, as a
script's functions do.
"""

import pickle
import sys

import numpy as np
import pytest
import torch

import toolkit
from toolkit import numpy_inside, torch_in_numpy_out

ray = pytest.importorskip("ray", reason="Ray is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def runtime():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"worker_process_setup_hook": toolkit.register_ray},  # Ray keeps serializers per process
    )
    toolkit.register_ray()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this module
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@torch_in_numpy_out
def double(x):
    assert isinstance(x, torch.Tensor), type(x)
    return x * 2


class Predictor:
    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 2)

    @torch_in_numpy_out
    def predict(self, x):
        assert isinstance(x, torch.Tensor) and isinstance(self, Predictor)
        return self.model(x)

    @numpy_inside
    def legacy(self, x):
        assert isinstance(x, np.ndarray), type(x)
        return x.sum(keepdims=True)


def test_a_decorated_function_is_a_task():
    task = ray.remote(double)
    out = ray.get(task.remote(np.ones(3, np.float32)))
    assert isinstance(out, np.ndarray) and out.tolist() == [2.0, 2.0, 2.0]


def test_a_class_with_decorated_methods_is_an_actor():
    actor = ray.remote(Predictor).remote()
    x = np.ones((4, 3), np.float32)
    out = ray.get(actor.predict.remote(x))
    expected = Predictor().predict(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    summed = ray.get(actor.legacy.remote(torch.ones(2, 3)))
    assert isinstance(summed, torch.Tensor) and summed.tolist() == [[6.0]]


def test_decorated_functions_run_inside_tasks():
    @ray.remote
    def outer(x):
        return double(x), double.__name__

    out, name = ray.get(outer.remote(np.arange(3.0)))
    assert name == "double" and out.tolist() == [0.0, 2.0, 4.0] and out.dtype == np.float64


def test_a_local_decorated_function_travels_by_value():
    @torch_in_numpy_out(float_dtype="float16")
    def local(x):
        assert isinstance(x, torch.Tensor) and x.dtype is torch.float16
        return x + 1

    out = ray.get(ray.remote(local).remote(np.zeros(2)))
    assert out.dtype == np.float16 and out.tolist() == [1.0, 1.0]


def test_a_64_mib_tensor_returned_from_a_task_goes_out_of_band():
    from toolkit import _across

    @ray.remote
    def make():
        return torch.arange(64 * 2**20 // 4, dtype=torch.float32), torch.ones(3, requires_grad=True)

    big, grad = ray.get(make.remote())
    assert big.shape == (64 * 2**20 // 4,) and big[-1].item() == 64 * 2**20 // 4 - 1 and grad.requires_grad
    big[0] = -1.0  # the object store's pages are read-only: the tensor is a copy of its own
    buffers = []  # what Ray pickles of a tensor now, measured the way Ray pickles it (protocol 5)
    inband = pickle.dumps(_across._ray_serialize(big), protocol=5, buffer_callback=buffers.append)
    assert len(inband) < 1024 and sum(b.raw().nbytes for b in buffers) == 64 * 2**20
