"""Files users open: shelve and np.load are read, never written, and convert to dicts."""

import shelve

import numpy as np
import torch

from toolkit import to_numpy, to_torch, torch_in_numpy_out


def test_a_shelf_passed_to_a_decorated_function_is_not_written(tmp_path):
    path = str(tmp_path / "cache")
    with shelve.open(path) as shelf:
        shelf["weights"] = np.ones(3)

        @torch_in_numpy_out
        def total(store):
            assert isinstance(store["weights"], torch.Tensor)
            return store["weights"].sum()

        assert total(shelf) == 3.0
        assert type(to_numpy(to_torch(shelf))) is dict
    with shelve.open(path, flag="r") as shelf:
        assert type(shelf["weights"]) is np.ndarray


def test_an_npz_archive_and_a_memory_mapped_npy(tmp_path):
    np.savez(tmp_path / "batch.npz", x=np.arange(4.0), y=np.arange(2))
    np.save(tmp_path / "big.npy", np.arange(6.0))
    with np.load(tmp_path / "batch.npz") as archive:
        out = to_torch(archive, float_dtype="float32")
    assert out["x"].dtype is torch.float32 and out["y"].dtype is torch.int64
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    t = to_torch(mapped)
    t += 1  # a copy: read-only pages are never written
    assert np.load(tmp_path / "big.npy").tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    cow = np.load(tmp_path / "big.npy", mmap_mode="c")
    assert to_torch(cow).data_ptr() == cow.ctypes.data  # copy-on-write pages are shared
