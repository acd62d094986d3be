"""toolkit.dumps / loads / Pickler: CPU tensors out of band, one buffer per storage, nothing global."""

import copyreg
import io
import pickle

import numpy as np
import pytest
import torch

import toolkit
from toolkit import Pickler, dumps, loads

DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
    torch.complex64,
    torch.complex128,
    torch.float8_e4m3fn,
    torch.uint16,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_round_trips_out_of_band(dtype):
    t = torch.arange(6).reshape(2, 3).to(dtype)
    data, buffers = dumps(t)
    back = loads(data, buffers)
    assert len(buffers) == 1 and len(data) < 1024
    assert back.dtype is dtype and back.shape == t.shape
    assert torch.equal(back.view(torch.uint8), t.view(torch.uint8))  # the same bytes (float8 has no ==)


def test_views_of_one_storage_share_one_buffer_and_come_back_as_views():
    base = torch.arange(12.0).reshape(3, 4)
    obj = {"base": base, "t": base.t(), "row": base[1], "step": base[:, ::2], "again": base}
    data, buffers = dumps(obj)
    back = loads(data, buffers)
    assert len(buffers) == 1
    for key in obj:
        assert torch.equal(back[key], obj[key]) and back[key].stride() == obj[key].stride()
    back["base"][1, 0] = -1.0
    assert back["row"][0] == -1.0 and back["t"][0, 1] == -1.0 and back["again"] is back["base"]


def test_zero_d_empty_and_resolved_bits():
    obj = [torch.tensor(3.5), torch.empty(0, 3), torch.tensor([1 + 2j]).conj(), -torch.ones(2).neg()]
    back = loads(*dumps(obj))
    assert back[0].shape == () and back[0].item() == 3.5 and back[1].shape == (0, 3)
    assert back[2].tolist() == [1 - 2j] and not back[2].is_conj() and back[3].tolist() == [1.0, 1.0]


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")  # deprecated, still made
@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")  # torch's own quantized reduction
def test_tensors_that_need_torchs_reduction_keep_it():
    grad = torch.ones(3, requires_grad=True)
    sparse = torch.eye(3).to_sparse()
    quantized = torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)
    parameter = torch.nn.Parameter(torch.ones(2))
    data, buffers = dumps([grad, sparse, quantized, parameter])
    g, s, q, p = loads(data, buffers)
    assert g.requires_grad and s.is_sparse and q.is_quantized and type(p) is torch.nn.Parameter
    assert torch.equal(s.to_dense(), torch.eye(3)) and q.dequantize().tolist() == [1.0, 1.0]
    assert g.tolist() == [1.0] * 3 and p.requires_grad and p.tolist() == [1.0, 1.0]


def test_a_64_mib_tensor_is_under_1_kib_in_band():
    big = torch.ones(64 * 2**20 // 4)
    data, buffers = dumps(big)
    assert len(data) < 1024 and sum(b.raw().nbytes for b in buffers) == 64 * 2**20
    assert len(pickle.dumps(big, protocol=5)) > 64 * 2**20  # torch's own: in band


def test_read_only_buffers_give_copies():
    t = torch.arange(4.0)
    data, buffers = dumps(t)
    frozen = [pickle.PickleBuffer(bytes(b.raw())) for b in buffers]  # as shared memory hands them back
    back = loads(data, frozen)
    back[0] = 9.0  # writable: its own memory
    assert back.tolist() == [9.0, 1.0, 2.0, 3.0]
    writable = [pickle.PickleBuffer(bytearray(b.raw())) for b in buffers]
    shared = loads(data, writable)
    assert np.shares_memory(shared.numpy(), np.frombuffer(writable[0].raw(), dtype=np.float32))


def test_the_pickler_is_a_pickle_pickler_and_nothing_global_changes(tmp_path):
    assert issubclass(Pickler, pickle.Pickler)
    t = torch.arange(3.0)
    before = pickle.dumps(t, protocol=5)
    table = dict(copyreg.dispatch_table)
    buffers = []
    out = io.BytesIO()
    Pickler(out, buffer_callback=buffers.append).dump([t, t])
    assert len(buffers) == 1 and pickle.loads(out.getvalue(), buffers=buffers)[0].tolist() == [0.0, 1.0, 2.0]
    assert pickle.dumps(t, protocol=5) == before and dict(copyreg.dispatch_table) == table
    torch.save({"w": t}, tmp_path / "w.pt")
    assert torch.load(tmp_path / "w.pt", weights_only=True)["w"].tolist() == [0.0, 1.0, 2.0]
    assert toolkit.dumps is dumps and toolkit.loads is loads


@pytest.mark.cuda
def test_cuda_tensors_come_back_on_their_device():
    t = torch.arange(4.0, device="cuda")
    data, buffers = dumps({"t": t})
    back = loads(data, buffers)["t"]
    assert back.device == t.device and torch.equal(back, t) and len(buffers) == 1
