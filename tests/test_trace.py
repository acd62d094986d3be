"""toolkit.trace(): every conversion in its scope, where, what, shared or copied and why."""

import asyncio
import dataclasses
import threading

import numpy as np
import pytest
import torch

from toolkit import (
    Record,
    default_device,
    numpy_in_numpy_out,
    to_numpy,
    to_torch,
    torch_in_numpy_out,
    trace,
)


def test_nothing_is_recorded_outside_a_scope():
    to_torch(np.zeros(3))
    with trace() as log:
        pass
    to_torch(np.zeros(3))
    assert len(log) == 0 and str(log) == "no conversions"


def test_records_are_plain_data_with_a_readable_row():
    with trace() as log:
        to_torch({"x": np.zeros((2, 3))}, float_dtype="float32")
    (record,) = log
    assert isinstance(record, Record) and dataclasses.is_dataclass(record)
    assert dataclasses.asdict(record) == {
        "function": "to_torch()",
        "path": "argument 'data'['x']",
        "source_library": "numpy",
        "source_dtype": "float64",
        "source_shape": (2, 3),
        "source_device": "cpu",
        "target_library": "torch",
        "target_dtype": "float32",
        "target_device": "cpu",
        "nbytes": 24,
        "copied": True,
        "reason": "dtype float64 -> float32",
    }
    assert str(record) == (
        "to_torch() argument 'data'['x']: numpy float64[2, 3] cpu -> torch float32 cpu, 24 B copied: "
        "dtype float64 -> float32"
    )


def test_shared_memory_is_recorded_as_shared():
    with trace() as log:
        to_torch(np.zeros(4))
        to_numpy(torch.zeros(4))
    assert [r.copied for r in log] == [False, False]
    assert log.copies == [] and log.bytes_copied == 0


@pytest.mark.parametrize(
    ("convert", "value", "reason"),
    [
        (to_torch, np.arange(3.0)[::-1], "negative strides"),
        (to_torch, np.zeros(3, dtype=">f8"), "byte order"),
        (to_torch, np.broadcast_to(np.zeros(1), (3,)), "read-only array"),
        (to_torch, np.arange(33.0)[1:].view(np.complex128), "misaligned"),
        (lambda v: to_torch(v, copy=True), np.zeros(3), "copy=True"),
        (lambda v: to_torch(v, device="meta"), np.zeros(3), "device cpu -> meta"),
        (to_numpy, torch.tensor([1 + 1j]).conj(), "conjugate bit"),
        (to_numpy, torch.ones(2, dtype=torch.bfloat16), "bfloat16 upcast"),
        (to_numpy, torch.tensor(1.5), "0-d tensor to NumPy scalar"),
        (lambda v: to_numpy(v, dtype="float16"), torch.ones(2), "dtype float32 -> float16"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_each_copy_says_why(convert, value, reason):
    with trace() as log:
        convert(value)
    (record,) = log
    assert record.copied and reason in record.reason, record.reason
    assert log.copies == [record] and log.bytes_copied == record.nbytes


def test_a_decorated_call_records_arguments_and_results_under_their_names():
    @torch_in_numpy_out(float_dtype="float32")
    def predict(batch, scale):
        return {"y": batch["x"] * scale}, batch["x"].sum()

    with trace() as log:
        predict({"x": np.ones((4, 2)), "name": "a"}, scale=np.float64(2.0))
    rows = [(r.function, r.path, r.copied) for r in log]
    assert rows == [
        ("predict()", "argument 'batch'['x']", True),
        ("predict()", "argument 'scale'", True),
        ("predict()", "return value[0]['y']", False),
        ("predict()", "return value[1]", True),
    ]
    assert log[0].reason == "dtype float64 -> float32"
    assert log[1].reason.startswith("NumPy scalar")


def test_a_tensor_that_requires_grad_in_a_numpy_body_is_recorded_as_copied():
    @numpy_in_numpy_out
    def legacy(x):
        return x

    with trace() as log, pytest.warns(UserWarning):
        legacy(torch.ones(3, requires_grad=True))
    assert log[0].copied and "requires grad (NumPy body)" in log[0].reason


def test_scopes_nest_and_inner_records_appear_in_the_outer():
    with trace() as outer:
        to_torch(np.zeros(1))
        with trace() as inner:
            to_torch(np.zeros(2))
        to_torch(np.zeros(3))
    assert [r.source_shape for r in inner] == [(2,)]
    assert [r.source_shape for r in outer] == [(1,), (2,), (3,)]


def test_a_trace_sees_only_its_own_thread():
    started, done = threading.Event(), threading.Event()

    def other():
        started.wait(5)
        to_torch(np.zeros(5))
        done.set()

    worker = threading.Thread(target=other)
    worker.start()
    with trace() as log:
        started.set()
        done.wait(5)
        to_torch(np.zeros(1))
    worker.join()
    assert [r.source_shape for r in log] == [(1,)]


def test_a_trace_is_scoped_per_asyncio_task():
    async def convert(n):
        await asyncio.sleep(0)
        to_torch(np.zeros(n))

    async def main():
        with trace() as log:
            await convert(1)
            other = asyncio.create_task(asyncio.sleep(0))  # a sibling started in scope inherits it
            await other
        outside = asyncio.create_task(convert(2))
        await outside
        return log

    log = asyncio.run(main())
    assert [r.source_shape for r in log] == [(1,)]


def test_the_hidden_copy_of_a_read_only_memmap_and_its_fix(tmp_path):
    path = tmp_path / "features.npy"
    np.save(path, np.zeros((64, 8), np.float32))

    @torch_in_numpy_out
    def model(features):
        return features.sum()

    read_only = np.load(path, mmap_mode="r")
    with trace() as log:
        model(read_only)
    first = log.copies[0]
    assert (first.path, first.reason, first.nbytes) == ("argument 'features'", "read-only array", 64 * 8 * 4)
    copy_on_write = np.load(path, mmap_mode="c")
    with trace() as log:
        model(copy_on_write)
    assert log.copies == [log[-1]] and log[-1].path == "return value"  # only the 0-d result


def test_on_the_meta_device_a_move_is_a_copy():
    with trace() as log, default_device("meta"):
        to_torch({"a": np.zeros(2), "t": torch.zeros(2)})
    assert [r.reason for r in log] == ["device cpu -> meta", "device cpu -> meta"]
