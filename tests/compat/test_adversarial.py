"""Inputs built to hurt: each runs in a child process, since the failure they provoke is a crash.

A segfault or abort in the child shows as a non-zero exit after the last case that passed.
"""

import subprocess
import sys
import textwrap

CASES = textwrap.dedent(
    """
    import os, sys, tempfile, warnings
    import numpy as np, torch
    from toolkit import CopyError, to_numpy, to_torch, torch_inside, numpy_inside

    def case(name):
        def run(fn):
            fn()
            print("ok", name, flush=True)
        return run

    @case("complex128 at an 8-byte offset")
    def _():
        raw = np.arange(65, dtype=np.float64)
        z = raw[1:].view(np.complex128)
        t = to_torch(z)
        assert complex((t * 2).sum()) == complex((z * 2).sum())
        assert torch_inside(lambda x: x.conj() * x)(z).shape == (32,)

    @case("complex64 at a 4-byte offset")
    def _():
        raw = np.arange(65, dtype=np.float32)
        z = raw[1:].view(np.complex64)
        assert np.allclose(to_numpy(to_torch(z) * 1j), z * 1j)

    @case("float64 at a 4-byte offset")
    def _():
        buf = bytearray(8 * 9 + 4)
        x = np.frombuffer(buf, dtype=np.float64, count=9, offset=4)
        assert not x.flags.aligned
        t = to_torch(x)
        assert t.sum().item() == 0.0 and t.data_ptr() % 8 == 0

    @case("read-only memmap behind a DLPack producer, written through the tensor")
    def _():
        class Producer:
            def __init__(self, a): self.a = a
            def __dlpack__(self, **kw): return self.a.__dlpack__(**kw)
            def __dlpack_device__(self): return self.a.__dlpack_device__()
        path = os.path.join(tempfile.mkdtemp(), "x.bin")
        np.arange(1024.0).tofile(path)
        m = np.memmap(path, dtype=np.float64, mode="r")
        try:
            t = to_torch(Producer(m))
        except BufferError:  # NumPy 1 will not export read-only memory through DLPack
            assert np.lib.NumpyVersion(np.__version__) < "2.0.0"
            return
        t.fill_(7.0)
        assert np.fromfile(path)[0] == 0.0

    @case("negative strides, 2-d, and the length-1 axis ascontiguousarray leaves")
    def _():
        a = np.arange(12.0).reshape(3, 4)[::-1, ::-2]
        assert to_torch(a).tolist() == a.tolist()
        b = np.ascontiguousarray(np.arange(3.0)[::-1][:1])
        assert to_torch(b).tolist() == b.tolist()

    @case("big-endian complex and a byte-swapped 0-d array")
    def _():
        z = np.array([1 + 2j, 3 - 4j], dtype=">c16")
        assert to_torch(z).tolist() == [1 + 2j, 3 - 4j]
        assert to_torch(np.array(5.0, dtype=">f8")).item() == 5.0

    @case("empty arrays with odd strides")
    def _():
        e = np.empty((0, 3))[:, ::-1]
        assert tuple(to_torch(e).shape) == (0, 3)
        assert to_numpy(torch.empty(0, 2).t()).shape == (2, 0)

    @case("nested, sparse, meta and quantized tensors")
    def _():
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)
        for bad in (nested, torch.empty(2, device="meta")):
            try:
                to_numpy(bad)
            except TypeError:
                pass
            else:
                raise AssertionError("converted " + repr(type(bad)))
        assert to_numpy(torch.eye(2).to_sparse()).tolist() == [[1.0, 0.0], [0.0, 1.0]]

    @case("a NumPy body handed a non-contiguous tensor that requires grad")
    def _():
        w = torch.randn(4, 4, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = numpy_inside(lambda x: x * 2)(w.t()[::2])
        assert out.shape == (2, 4)
    print("all done", flush=True)
    """
)


def test_no_input_crashes_the_process():
    ran = subprocess.run([sys.executable, "-c", CASES], capture_output=True, text=True, timeout=300)
    passed = [line for line in ran.stdout.splitlines() if line.startswith("ok ")]
    assert ran.returncode == 0, f"exit {ran.returncode} after {passed[-1:]}\n{ran.stderr[-3000:]}"
    assert ran.stdout.rstrip().endswith("all done") and len(passed) == 9
