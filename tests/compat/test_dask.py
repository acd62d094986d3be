"""Dask: lazy arrays are never computed behind the caller's back; map_blocks is the way in."""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, to_numpy, to_torch, torch_in_numpy_out

da = pytest.importorskip("dask.array", reason="dask is not installed")


def test_a_dask_array_is_refused_naming_its_path_and_the_way_in():
    computed = []

    def block(i):
        computed.append(i)
        return np.ones(2)

    lazy = da.concatenate([da.from_delayed(__import__("dask").delayed(block)(i), (2,), float) for i in range(2)])
    for convert, name in ((to_torch, "to_torch"), (to_numpy, "to_numpy")):
        with pytest.raises(TypeError, match=rf"{name}\(\) argument 'data'\['x'\]: a dask Array is lazy") as info:
            convert({"x": lazy})
        assert "map_blocks" in str(info.value) and ".compute()" in str(info.value)

    @torch_in_numpy_out
    def f(batch):
        return batch

    with pytest.raises(TypeError, match=r"f\(\) argument 'batch'\[0\]: a dask Array is lazy"):
        f([lazy])
    assert computed == []  # nothing was computed


def test_map_blocks_runs_a_decorated_function_on_each_block():
    @numpy_inside
    def legacy(block):
        assert isinstance(block, np.ndarray)
        return block * 2

    @torch_in_numpy_out
    def on_tensors(block):
        assert isinstance(block, torch.Tensor)
        return block + 1

    x = da.arange(6, chunks=3, dtype=np.float64)
    assert x.map_blocks(legacy).compute().tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert x.map_blocks(on_tensors).compute().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_an_object_whose_dask_graph_is_none_is_not_lazy():
    class Eager(np.lib.mixins.NDArrayOperatorsMixin):  # as xarray over NumPy: __dask_graph__() is None
        def __init__(self, data):
            self.data = data

        def __dask_graph__(self):
            return None

        def __array__(self, dtype=None, copy=None):
            return self.data

    assert to_torch(Eager(np.ones(2))).tolist() == [1.0, 1.0]


@pytest.mark.slow
def test_a_64_mib_tensor_returned_from_a_dask_task_goes_out_of_band():
    import toolkit

    distributed = pytest.importorskip("distributed", reason="distributed is not installed")
    from distributed.protocol import serialize

    def make():
        return torch.arange(64 * 2**20 // 4, dtype=torch.float32)

    toolkit.register_dask()
    header, frames = serialize(make())
    inband = len(str(header))
    assert inband < 1024 and sum(memoryview(f).nbytes for f in frames) == 64 * 2**20
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(toolkit.register_dask)
        big = client.submit(make).result()
        grad = client.submit(lambda: torch.ones(2, requires_grad=True)).result()
    assert big[-1].item() == 64 * 2**20 // 4 - 1 and grad.requires_grad
