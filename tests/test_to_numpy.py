"""to_numpy: detaching, bits, upcasts, 0-d scalars, sharing and refusals."""

import warnings

import numpy as np
import pytest
import torch
from helpers import DLPackOnly

from toolkit import ConversionError, CopyError, to_numpy


def test_cpu_tensor_shares_memory():
    t = torch.arange(4.0)
    a = to_numpy(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 9.0
    assert t[0].item() == 9.0


def test_requires_grad_is_detached_silently_and_still_shares():
    w = torch.ones(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = to_numpy(w)
    assert a.tolist() == [1.0, 1.0, 1.0]
    assert np.shares_memory(a, w.detach().numpy())


def test_conjugate_bit_is_resolved():
    z = torch.tensor([1 + 2j, 3 - 1j])
    out = to_numpy(z.conj())
    np.testing.assert_array_equal(out, np.array([1 - 2j, 3 + 1j], dtype=np.complex64))
    assert z[0].item() == 1 + 2j  # the input keeps its values


def test_negative_bit_is_resolved():
    z = torch.tensor([1 + 2j])
    neg = z.conj().imag  # a view with the negative bit set
    assert neg.is_neg()
    assert to_numpy(neg).tolist() == [-2.0]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(torch.bfloat16, np.float32), (torch.float16, np.float16)]
    + [
        (d, np.float32)
        for d in vars(torch).values()
        if isinstance(d, torch.dtype) and str(d).startswith("torch.float8_e")
    ],
)
def test_dtypes_numpy_lacks_are_upcast(dtype, expected):
    t = torch.tensor([1.0, 2.0]).to(dtype)
    out = to_numpy(t)
    assert out.dtype == expected
    assert out.tolist() == [1.0, 2.0]


def test_complex32_becomes_complex64_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.tensor([1 + 1j, 2 + 0j], dtype=torch.complex64).to(torch.complex32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = to_numpy(t)
    assert out.dtype == np.complex64 and out.tolist() == [1 + 1j, 2 + 0j]


def test_zero_d_tensors_become_numpy_scalars():
    out = to_numpy({"loss": torch.tensor(0.5), "n": torch.tensor(3), "ok": torch.tensor(True)})
    assert type(out["loss"]) is np.float32 and out["loss"] == 0.5
    assert type(out["n"]) is np.int64
    assert type(out["ok"]) is np.bool_


def test_zero_d_numpy_array_passes_through():
    a = np.array(1.5)
    assert to_numpy(a) is a


def test_sparse_becomes_dense():
    dense = torch.eye(3)
    out = to_numpy(dense.to_sparse())
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "Sparse CSR tensor support is in beta"
        csr = dense.to_sparse_csr()
    out_csr = to_numpy(csr)
    np.testing.assert_array_equal(out_csr, np.eye(3, dtype=np.float32))


def test_numpy_arrays_pass_through_unless_asked():
    a = np.arange(3)
    masked = np.ma.masked_array([1.0, 2.0], mask=[True, False])
    assert to_numpy(a) is a
    assert to_numpy(masked) is masked
    assert to_numpy(a, dtype="float32").dtype == np.float32
    copied = to_numpy(a, copy=True)
    assert copied is not a and not np.shares_memory(copied, a)


def test_dtype_casts_tensors():
    out = to_numpy(torch.arange(3), dtype="float64")
    assert out.dtype == np.float64 and out.tolist() == [0.0, 1.0, 2.0]
    assert to_numpy(torch.ones(2, dtype=torch.bfloat16), dtype="float16").dtype == np.float16


def test_copy_true_returns_new_memory():
    t = torch.arange(3.0)
    a = to_numpy(t, copy=True)
    a[0] = 5.0
    assert t[0].item() == 0.0


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: torch.ones(2, dtype=torch.bfloat16), "upcasting"),
        (lambda: torch.tensor([1j]).conj(), "conjugate"),
        (lambda: torch.tensor([1 + 2j]).conj().imag, "negative"),
        (lambda: torch.eye(2).to_sparse(), "sparse"),
        (lambda: torch.tensor(1.0), "0-d"),
        (lambda: torch.ones(2, dtype=torch.float64), "changing dtype"),
    ],
)
def test_copy_false_refuses(make, reason):
    dtype = "float32" if reason == "changing dtype" else None
    with pytest.raises(CopyError, match=reason) as info:
        to_numpy([make()], dtype=dtype, copy=False)
    assert str(info.value).startswith("to_numpy() argument 'data'[0]: ")


def test_copy_false_shares_when_it_can():
    t = torch.arange(3.0)
    assert np.shares_memory(to_numpy(t, copy=False), t.numpy())


def test_meta_tensor_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"to_numpy\(\) argument 'data'\['x'\]: cannot convert a meta tensor"):
        to_numpy({"x": torch.zeros(2, device="meta")})


def test_quantized_tensor_is_refused_with_a_hint():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)
    with pytest.raises(ConversionError, match=r"quantized tensor \(torch.qint8\).*dequantize"):
        to_numpy(q)


@pytest.mark.parametrize("name", ["uint4", "int2", "bits8", "bits16"])
def test_sub_byte_and_bit_tensors_are_refused(name):
    dtype = getattr(torch, name, None)
    if dtype is None:
        pytest.skip(f"no torch.{name}")
    try:
        t = torch.empty(2, dtype=dtype)
    except Exception:
        pytest.skip(f"this torch cannot allocate {name}")
    with pytest.raises(TypeError, match=f"NumPy has no dtype {name}"):
        to_numpy(t)


def test_dlpack_and_array_likes_convert():
    source = torch.arange(3.0)
    out = to_numpy(DLPackOnly(source))
    assert isinstance(out, np.ndarray) and np.shares_memory(out, source.numpy())

    class Viewable:
        def __array__(self, dtype=None, copy=None):
            return np.ones(2)

    assert to_numpy([Viewable()])[0].tolist() == [1.0, 1.0]


def test_input_tensor_is_unchanged():
    t = torch.tensor([1 + 1j]).conj()
    to_numpy(t)
    assert t.is_conj()


def test_nested_tensors_are_refused_with_a_hint():
    nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)
    with pytest.raises(
        TypeError, match=r"^to_numpy\(\) argument 'data'\[0\]: cannot convert a nested .*to_padded_tensor"
    ):
        to_numpy([nested])
    with warnings.catch_warnings():  # the strided layout is a prototype, says torch
        warnings.simplefilter("ignore", UserWarning)
        strided = torch.nested.as_nested_tensor([torch.ones(2), torch.ones(3)])
    with pytest.raises(TypeError, match="nested"):
        to_numpy(strided)


def test_a_tensor_that_requires_grad_gives_a_read_only_view():
    # NumPy writes bypass torch's version counter: a writable shared array would silently
    # rewrite a parameter, or values autograd saved for backward.
    weight = torch.nn.Parameter(torch.ones(3))
    y = torch.sigmoid(weight * 2)  # sigmoid saves its output for backward
    for t in (weight, y):
        a = to_numpy(t)
        assert not a.flags.writeable and np.shares_memory(a, t.detach().numpy())
        with pytest.raises(ValueError, match="read-only"):
            a[:] = 0
        b = to_numpy(t, copy=True)
        b[:] = 0  # a copy is the caller's to write
    y.sum().backward()
    assert weight.tolist() == [1.0, 1.0, 1.0] and weight.grad is not None
    with torch.no_grad():
        assert not to_numpy(weight).flags.writeable  # whatever the grad mode
    assert to_numpy(torch.ones(2)).flags.writeable  # no graph: a writable shared array
    assert to_numpy(weight, dtype="float64").flags.writeable  # a cast is new memory


def test_results_for_a_numpy_caller_follow_the_read_only_rule():
    from toolkit import torch_in_numpy_out

    model = torch.nn.Linear(2, 2)

    @torch_in_numpy_out
    def weights_and_output(x):
        return model.weight, model(x)

    w, out = weights_and_output(np.ones((1, 2), np.float32))
    assert not w.flags.writeable and not out.flags.writeable
    assert np.shares_memory(w, model.weight.detach().numpy())


@pytest.mark.parametrize("transform", ["vmap", "grad", "jacrev"])
def test_torch_func_transforms_get_one_sentence(transform):
    from toolkit import numpy_inside

    @numpy_inside
    def legacy(x):
        return x * 2

    body = (lambda x: legacy(x).sum()) if transform == "grad" else legacy
    transformed = getattr(torch.func, transform)(body)
    with pytest.raises(
        TypeError, match=r"legacy\(\) argument 'x': cannot convert a tensor inside a torch.func"
    ) as info:
        transformed(torch.ones(3, 2) if transform == "vmap" else torch.ones(3))
    assert "data pointer" not in str(info.value) and "custom_op" in str(info.value)
    with pytest.raises(TypeError, match=r"to_numpy\(\) argument 'data': cannot convert a tensor inside a torch.func"):
        torch.func.vmap(to_numpy)(torch.ones(2, 2))
