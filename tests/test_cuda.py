"""What needs a real GPU. Skipped cleanly without CUDA; run on a GPU machine with -m cuda."""

import numpy as np
import pytest
import torch

from toolkit import (
    default_device,
    get_default_device,
    numpy_inside,
    to_numpy,
    to_torch,
    torch_in_numpy_out,
    torch_inside,
)

pytestmark = pytest.mark.cuda


def test_to_torch_places_on_cuda_and_back():
    a = np.arange(6.0).reshape(2, 3)
    t = to_torch(a, device="cuda")
    assert t.is_cuda and t.dtype is torch.float64
    back = to_numpy(t)
    np.testing.assert_array_equal(back, a)


def test_cast_and_move_in_one_step():
    t = to_torch(np.arange(4.0), device="cuda", dtype="float32")
    assert t.is_cuda and t.dtype is torch.float32
    t16 = to_torch(np.arange(4.0, dtype=np.float16), device="cuda", float_dtype="float32")
    assert t16.dtype is torch.float32 and t16.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_silent_copies_to_cuda():
    a = np.arange(6, dtype=">f4")[::-1]
    a.flags.writeable = False
    assert to_torch(a, device="cuda").cpu().tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


def test_cuda_tensor_to_numpy_with_grad_and_bits():
    z = torch.tensor([1 + 2j], device="cuda", requires_grad=False).conj()
    assert to_numpy(z).tolist() == [1 - 2j]
    w = torch.ones(2, device="cuda", requires_grad=True)
    out = to_numpy({"loss": (w * 2).sum(), "bf": w.to(torch.bfloat16)})
    assert out["loss"] == 4.0 and out["bf"].dtype == np.float32


def test_copy_false_refuses_device_moves():
    with pytest.raises(ValueError, match="moving"):
        to_numpy(torch.ones(1, device="cuda"), copy=False)
    with pytest.raises(ValueError, match="moving"):
        to_torch(np.ones(1), device="cuda", copy=False)


def test_default_device_cuda_and_auto(monkeypatch):
    with default_device("cuda"):
        assert to_torch(np.ones(1)).is_cuda
        assert to_torch(torch.ones(1)).is_cuda
    monkeypatch.setenv("LOCAL_RANK", "0")
    with default_device("auto"):
        assert get_default_device() == torch.device("cuda", 0)
    with pytest.raises(RuntimeError):
        default_device(f"cuda:{torch.cuda.device_count()}")


def test_decorators_on_cuda():
    @torch_in_numpy_out(device="cuda")
    def metric(pred, target):
        assert pred.is_cuda and target.is_cuda
        return (pred == target).float().mean()

    assert metric(np.array([1, 2]), np.array([1, 0])) == 0.5

    @numpy_inside
    def legacy(x):
        return x.astype(np.float64) * 2

    out = legacy(torch.ones(2, device="cuda"))
    assert out.is_cuda and out.dtype is torch.float32

    @torch_inside(device="cuda")
    def on_gpu(x):
        assert x.is_cuda
        return x + 1

    back = on_gpu(torch.zeros(2))
    assert back.device.type == "cpu" and back.tolist() == [1.0, 1.0]


def test_module_on_cuda():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        @torch_in_numpy_out
        def forward(self, x):
            assert x.is_cuda and x.dtype is torch.float32
            return self.linear(x)

    net = Net().cuda()
    assert net(np.ones((3, 2))).shape == (3, 1)


def test_cupy_dlpack_zero_copy():
    cupy = pytest.importorskip("cupy")
    c = cupy.arange(6, dtype=cupy.float32)
    t = to_torch(c)
    assert t.is_cuda and t.data_ptr() == c.data.ptr
    rev = c[::-1]
    assert to_torch(rev).tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert to_numpy(c).tolist() == list(range(6))
