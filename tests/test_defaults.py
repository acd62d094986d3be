"""default_device / default_float_dtype: scope, nesting, threads, asyncio tasks, validation."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from toolkit import (
    DeviceError,
    ScopeError,
    default_device,
    default_float_dtype,
    get_default_device,
    get_default_float_dtype,
    to_torch,
)

CPU = torch.device("cpu")
META = torch.device("meta")


def test_defaults_outside_any_scope():
    assert get_default_device() == CPU
    assert get_default_float_dtype() is None


def test_nesting_and_restore():
    with default_device("meta"):
        assert get_default_device() == META
        with default_device("cpu"):
            assert get_default_device() == CPU
        assert get_default_device() == META
    assert get_default_device() == CPU
    with default_float_dtype("float32"):
        with default_float_dtype(torch.float16):
            assert get_default_float_dtype() is torch.float16
        assert get_default_float_dtype() is torch.float32
    assert get_default_float_dtype() is None


def test_restored_when_the_block_raises():
    with pytest.raises(KeyError), default_device("meta"), default_float_dtype("float16"):
        raise KeyError("boom")
    assert get_default_device() == CPU
    assert get_default_float_dtype() is None


def test_torch_default_device_is_honoured_when_no_context():
    torch.set_default_device("meta")
    try:
        assert get_default_device() == META
        with default_device("cpu"):
            assert get_default_device() == CPU
    finally:
        torch.set_default_device(None)
    assert get_default_device() == CPU
    with torch.device("meta"):
        assert get_default_device() == META


def test_as_decorator_on_sync_and_async():
    @default_device("meta")
    def where():
        return get_default_device()

    @default_float_dtype("float32")
    async def which():
        await asyncio.sleep(0)
        return get_default_float_dtype()

    assert where() == META
    assert asyncio.run(which()) is torch.float32
    assert get_default_device() == CPU and get_default_float_dtype() is None


def test_decorator_restores_on_exception():
    @default_device("meta")
    def fail():
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        fail()
    assert get_default_device() == CPU


def test_validated_on_the_with_line():
    with pytest.raises(DeviceError, match="invalid device 'cdua'"):
        default_device("cdua")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            default_device("cuda")
        with pytest.raises(ValueError):
            default_device(0)
    else:
        with pytest.raises(DeviceError, match="CUDA device"):
            default_device(f"cuda:{torch.cuda.device_count()}")
    with pytest.raises(TypeError):
        default_device(3.5)
    with pytest.raises(ValueError, match="floating"):
        default_float_dtype("int64")
    with pytest.raises(ValueError, match="ambiguous"):
        default_float_dtype("float")


def test_auto_prefers_cuda_with_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "2")
    with default_device("auto"):
        assert get_default_device() == torch.device("cuda", 2)
    monkeypatch.delenv("LOCAL_RANK")
    assert default_device("auto").device == torch.device("cuda")  # the current CUDA device


def test_auto_falls_back_to_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert default_device("auto").device == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert default_device("auto").device == CPU


def test_auto_takes_another_accelerator_torch_reports(monkeypatch):
    class Accelerator:
        @staticmethod
        def is_available():
            return True

        @staticmethod
        def current_accelerator():
            return torch.device("xpu")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch, "accelerator", Accelerator, raising=False)
    assert default_device("auto").device == torch.device("xpu")


def test_auto_is_the_cpu_in_a_forked_child_and_cuda_there_says_why(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "_is_in_bad_fork", lambda: True)  # forked after CUDA was initialised
    assert default_device("auto").device == CPU
    with pytest.raises(DeviceError, match=r"forked after CUDA was initialised.*main process.*'auto'"):
        default_device("cuda")
    with pytest.raises(DeviceError, match="forked after CUDA"):
        to_torch(np.ones(1), device="cuda")


class _Converting(torch.utils.data.Dataset):
    """A dataset whose items are made by decorated functions, in the DataLoader's workers."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        from toolkit import torch_in_numpy_out

        with default_device("auto"):
            where = str(get_default_device())
        try:
            default_device("cuda")
        except DeviceError as exc:
            refusal = str(exc)
        else:
            refusal = ""
        doubled = torch_in_numpy_out(lambda x: x * 2)(np.full(2, float(i)))
        return {"where": where, "refusal": refusal, "doubled": doubled}


@pytest.mark.slow
def test_dataloader_workers_use_the_cpu_for_auto_and_say_why_for_cuda():
    # spawn: forking a process that has imported JAX (the compat suite does) may deadlock
    loader = torch.utils.data.DataLoader(_Converting(), batch_size=2, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)
    assert [b["where"] for b in batches] == [["cpu", "cpu"], ["cpu", "cpu"]]
    assert all("a DataLoader worker process, where CUDA cannot be used" in r for b in batches for r in b["refusal"])
    assert torch.cat([b["doubled"] for b in batches]).tolist() == [[0.0, 0.0], [2.0, 2.0], [4.0, 4.0], [6.0, 6.0]]


def test_device_names_people_write_suggest_torchs():
    for given, meant in (("gpu", "cuda"), ("GPU", "cuda"), ("nvidia", "cuda"), ("cdua", "cuda"), ("cuda0", "cuda:0")):
        with pytest.raises(DeviceError, match=f"did you mean '{meant}'") as info:
            default_device(given)
        assert "xpu" not in str(info.value) and "Expected one of" not in str(info.value)


def test_factories_true_makes_factories_allocate_there():
    with default_device("meta", factories=True):
        assert torch.zeros(3).device == META
    assert torch.zeros(3).device == CPU
    with default_device("meta"):
        assert torch.zeros(3).device == CPU


def test_factories_true_refuses_async_functions():
    with pytest.raises(TypeError, match="async"):

        @default_device("meta", factories=True)
        async def f():
            pass


def test_threads_are_isolated():
    errors = []
    barrier = threading.Barrier(4)

    def worker(device, dtype):
        try:
            with default_device(device), default_float_dtype(dtype):
                for _ in range(300):
                    barrier_wait = barrier.n_waiting  # interleave with the others
                    del barrier_wait
                    assert get_default_device() == torch.device(device)
                    assert get_default_float_dtype() is dtype
                    assert to_torch(np.zeros(1)).dtype is dtype
                    assert to_torch(np.zeros(1)).device == torch.device(device)
            barrier.wait(timeout=10)
            assert get_default_device() == CPU
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    settings = [("cpu", torch.float32), ("meta", torch.float16), ("cpu", torch.float64), ("meta", torch.bfloat16)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: worker(*s), settings))
    assert not errors, errors
    assert get_default_device() == CPU


def test_asyncio_tasks_are_isolated_and_inherit():
    async def task(device, dtype, checks):
        with default_device(device), default_float_dtype(dtype):
            for _ in range(200):
                await asyncio.sleep(0)  # let the sibling tasks run in between
                checks.append(get_default_device() == torch.device(device))
                checks.append(get_default_float_dtype() is dtype)
            child = await asyncio.create_task(report())
            threaded = await asyncio.to_thread(get_default_float_dtype)
        return child, threaded

    async def report():
        return get_default_device(), get_default_float_dtype()

    async def main():
        checks = []
        results = await asyncio.gather(
            task("meta", torch.float16, checks), task("cpu", torch.float32, checks), task("meta", torch.float64, checks)
        )
        return checks, results

    checks, results = asyncio.run(main())
    assert all(checks) and len(checks) == 1200
    assert results[0] == ((META, torch.float16), torch.float16)
    assert results[1] == ((CPU, torch.float32), torch.float32)
    assert get_default_float_dtype() is None


def test_repr():
    assert repr(default_device("meta")) == "default_device('meta')"
    assert repr(default_float_dtype("float32")) == "default_float_dtype('float32')"


def test_one_instance_shared_by_threads_and_tasks():
    meta = default_device("meta")  # e.g. made once at module level

    def in_thread(_):
        with meta:
            with meta:
                assert get_default_device() == META
            assert get_default_device() == META
        return get_default_device()

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(in_thread, range(200))) == {CPU}

    async def in_task():
        with meta:
            await asyncio.sleep(0)
            assert get_default_device() == META
        return get_default_device()

    async def main():
        return await asyncio.gather(*(in_task() for _ in range(50)))

    assert set(asyncio.run(main())) == {CPU}
    assert get_default_device() == CPU


def test_device_presence_is_checked_each_time(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with monkeypatch.context() as patched:
        patched.setattr(torch.cuda, "is_available", lambda: True)
        patched.setattr(torch.cuda, "device_count", lambda: 2)
        default_device("cuda:1")  # accepted while CUDA seems present
    with pytest.raises(DeviceError):
        default_device("cuda:1")  # and refused once it is not: no stale answer


def test_repr_says_what_was_asked_for():
    assert repr(default_device("auto")) == "default_device('auto')"
    assert default_device("auto").device == CPU  # on a machine without CUDA or MPS


@pytest.mark.parametrize("scope", [default_device("meta"), default_float_dtype("float16")], ids=repr)
def test_on_a_generator_the_scope_holds_only_while_the_body_runs(scope):
    @scope
    def steps():
        for _ in range(2):
            yield get_default_device(), get_default_float_dtype()

    inside = (META, None) if isinstance(scope, default_device) else (CPU, torch.float16)
    gen = steps()
    assert next(gen) == inside
    assert (get_default_device(), get_default_float_dtype()) == (CPU, None)  # not in the caller between yields
    assert next(gen) == inside
    assert list(gen) == []


def test_on_an_async_generator_the_scope_holds_only_while_the_body_runs():
    @default_device("meta")
    async def steps():
        yield get_default_device()
        await asyncio.sleep(0)
        yield get_default_device()

    async def main():
        seen = []
        async for device in steps():
            seen.append((device, get_default_device()))
        return seen

    assert asyncio.run(main()) == [(META, CPU), (META, CPU)]


def test_leaving_a_scope_in_another_thread_raises_and_changes_nothing():
    scope = default_device("meta")
    scope.__enter__()
    errors = []

    def leave():
        try:
            scope.__exit__(None, None, None)
        except Exception as exc:
            errors.append(exc)
        errors.append(get_default_device())

    worker = threading.Thread(target=leave)
    worker.start()
    worker.join()
    assert isinstance(errors[0], RuntimeError) and isinstance(errors[0], ScopeError)
    assert "default_device('meta')" in str(errors[0]) and "thread or asyncio task" in str(errors[0])
    assert errors[1] == CPU
    assert get_default_device() == META  # this thread's scope is still in force
    scope.__exit__(None, None, None)
    assert get_default_device() == CPU


def test_leaving_a_scope_in_another_task_raises():
    import contextvars

    scope = default_float_dtype("float16")
    task_context = contextvars.copy_context()  # what an asyncio task runs in
    task_context.run(scope.__enter__)
    with pytest.raises(ScopeError, match="thread or asyncio task"):
        scope.__exit__(None, None, None)
    assert get_default_float_dtype() is None
    assert task_context.run(get_default_float_dtype) is torch.float16
    task_context.run(scope.__exit__, None, None, None)  # left where it was entered: fine
    assert task_context.run(get_default_float_dtype) is None


def test_leaving_scopes_out_of_order_raises_and_changes_nothing():
    outer, inner = default_device("meta"), default_float_dtype("float16")
    outer.__enter__()
    inner.__enter__()
    with pytest.raises(ScopeError, match=r"default_device\('meta'\) was left out of order.*default_float_dtype"):
        outer.__exit__(None, None, None)
    assert (get_default_device(), get_default_float_dtype()) == (META, torch.float16)
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert (get_default_device(), get_default_float_dtype()) == (CPU, None)


def test_threads_from_an_executor_inherit_a_scope_only_through_copy_context():
    import contextvars

    with default_device("meta"), ThreadPoolExecutor(1) as pool:
        plain = pool.submit(get_default_device).result()
        copied = pool.submit(contextvars.copy_context().run, get_default_device).result()
    assert (plain, copied) == (CPU, META)


def test_an_unusable_device_says_so_in_one_sentence():
    with pytest.raises(DeviceError) as info:
        default_device("xla")  # a device type torch knows, with no backend in this build
    message = str(info.value)
    assert message.startswith("device 'xla' is not usable on this machine: ")
    assert "\n" not in message and len(message) < 200


def test_a_decorators_auto_is_decided_at_each_call(monkeypatch):
    from toolkit import torch_in_torch_out

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    where = torch_in_torch_out(device="auto")(lambda x: x.device)  # applied where "auto" would be mps
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert where(np.ones(1)) == CPU  # called where it is the CPU


def test_auto_takes_no_index():
    with pytest.raises(DeviceError, match="'auto' takes no index"):
        default_device("auto:0")
    with pytest.raises(DeviceError, match="did you mean 'cuda'"):
        default_device("gpu0")
