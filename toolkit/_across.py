"""Tensors across processes at NumPy's cost: protocol-5 out-of-band buffers for CPU tensors.

torch's own reduction writes a tensor's bytes into the pickle stream (in
band): a 64 MiB tensor is 64 MiB of pickle, copied on the way out and on
the way in. NumPy arrays go out of band under protocol 5 (one
``PickleBuffer`` over their memory). Here a CPU tensor goes the same way:
its *storage* is one buffer (bytes, whatever the dtype: ``bfloat16``,
``bool`` and complex too), and the tensor is rebuilt over it with its
dtype, shape, strides and offset, so views of one storage share one buffer
and come back as views of one storage.

Tensors that need torch's own reduction keep it: those that require grad
(the graph), sparse, quantized and nested ones, and tensor subclasses
(``nn.Parameter``). A CUDA tensor is brought to the host for its buffer and
goes back to its device where the receiving process has it. A received
buffer that is read-only (shared memory, an object store) follows the
read-only rule of ``to_torch``: the tensor is a copy, never writable memory
over read-only pages.

Nothing here is installed globally: :class:`Pickler` and :func:`dumps` are
the opt-in, and ``pickle``, ``torch.save`` and ``torch.load`` are unchanged.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any

import torch

from ._dynamo import skip_frames

__all__ = ["Pickler", "dumps", "loads", "rebuild_tensor", "register_dask", "register_ray", "storage_buffer"]


class _Storage:
    """One storage's bytes, pickled once however many tensors view it (pickle's memo keeps one)."""

    __slots__ = ("bytes",)

    def __init__(self, data: Any) -> None:
        self.bytes = data  # a uint8 NumPy view of the storage

    def __reduce_ex__(self, protocol: Any) -> Any:
        if isinstance(protocol, int) and protocol >= 5:
            return _storage_from, (pickle.PickleBuffer(self.bytes),)
        return _storage_from, (self.bytes.tobytes(),)


def _storage_from(buffer: Any) -> torch.UntypedStorage:
    """The storage over a received buffer; a copy where the buffer is read-only (section 1's rule)."""
    view = memoryview(buffer)
    if view.readonly:
        view = memoryview(bytearray(view))  # a tensor over read-only memory could be written to
    if view.nbytes == 0:
        return torch.UntypedStorage(0)  # type: ignore[no-untyped-call]
    return torch.frombuffer(view, dtype=torch.uint8).untyped_storage()


def storage_buffer(t: torch.Tensor) -> Any:
    """A uint8 NumPy view of the whole storage of a CPU tensor."""
    storage = t.untyped_storage()
    return torch.empty(0, dtype=torch.uint8).set_(storage).numpy()


def rebuild_tensor(
    storage: torch.UntypedStorage, dtype: str, shape: tuple[int, ...], stride: tuple[int, ...], offset: int, device: str
) -> torch.Tensor:
    """A tensor over ``storage`` as it was sent, on its device where this process has it."""
    dt = getattr(torch, dtype)
    if not isinstance(dt, torch.dtype):
        raise pickle.UnpicklingError(f"not a torch dtype: {dtype!r}")
    t = torch.empty(0, dtype=dt).set_(storage, offset, shape, stride)
    if device != "cpu":
        try:
            t = t.to(device)
        except (RuntimeError, AssertionError):  # no such device here: it stays on the CPU
            pass
    return t


def _takes(obj: Any) -> bool:
    """Whether this reduction takes ``obj`` (else torch's own reduction does)."""
    return (
        type(obj) is torch.Tensor
        and not obj.requires_grad
        and obj.layout == torch.strided
        and not obj.is_quantized
        and not obj.is_nested
        and obj.device.type in ("cpu", "cuda")
    )


class Pickler(pickle.Pickler):
    """A protocol-5 pickler whose CPU tensors go out of band, one buffer per storage.

    >>> import io, pickle, torch
    >>> buffers = []
    >>> data = io.BytesIO()
    >>> Pickler(data, buffer_callback=buffers.append).dump({"x": torch.arange(4.0)})
    >>> pickle.loads(data.getvalue(), buffers=buffers)["x"]
    tensor([0., 1., 2., 3.])

    .. versionadded:: 0.3
    """

    def __init__(self, file: Any, protocol: int = 5, **kwargs: Any) -> None:
        super().__init__(file, protocol=max(protocol, 5), **kwargs)
        self._storages: dict[tuple[int, int], _Storage] = {}  # (data pointer, bytes) -> its one buffer
        self._kept: list[Any] = []  # what the buffers view, alive until the pickle is written

    def reducer_override(self, obj: Any) -> Any:
        if not _takes(obj):
            return NotImplemented
        data, layout = _parts(obj)
        key = (data.ctypes.data, data.nbytes)  # views of one storage: one buffer
        box = self._storages.get(key)
        if box is None:
            box = self._storages[key] = _Storage(data)
            self._kept.append(data)  # a resolved or host copy must outlive the pickling
        return rebuild_tensor, (box, *layout)


def _parts(t: torch.Tensor) -> tuple[Any, tuple[str, tuple[int, ...], tuple[int, ...], int, str]]:
    """A tensor this reduction takes as its storage's bytes (a uint8 NumPy view) and how to view them."""
    device = str(t.device)
    if t.is_conj() or t.is_neg() or t.device.type != "cpu":
        t = t.resolve_conj().resolve_neg().cpu()
    layout = (str(t.dtype).removeprefix("torch."), tuple(t.shape), t.stride(), int(t.storage_offset()), device)
    return storage_buffer(t), layout


def _from_parts(data: Any, layout: tuple[str, tuple[int, ...], tuple[int, ...], int, str]) -> torch.Tensor:
    return rebuild_tensor(_storage_from(data), *layout)


# -- the engines' serializers -------------------------------------------------------------------


def _ray_serialize(t: torch.Tensor) -> Any:
    if not _takes(t):
        return ("pickled", pickle.dumps(t, protocol=5))
    data, layout = _parts(t)
    return ("buffer", data, layout)  # Ray puts the NumPy array in its object store, out of band


def _ray_deserialize(parts: Any) -> torch.Tensor:
    if parts[0] == "pickled":
        tensor: torch.Tensor = pickle.loads(parts[1])
        return tensor
    return _from_parts(parts[1], parts[2])  # read-only in the object store: a copy, by the rule


def register_ray() -> None:
    """Install this reduction as Ray's serializer for tensors, in the process that calls it.

    Ray keeps serializers per process: call it in the driver, and in the
    workers through ``ray.init(runtime_env={"worker_process_setup_hook":
    toolkit.register_ray})``, so the tensors tasks return go out of band too.

    .. versionadded:: 0.3
    """
    import ray

    ray.util.register_serializer(torch.Tensor, serializer=_ray_serialize, deserializer=_ray_deserialize)


def _dask_serialize(t: torch.Tensor) -> tuple[dict[str, Any], list[Any]]:
    if not _takes(t):
        return {"toolkit": "pickled"}, [pickle.dumps(t, protocol=5)]
    data, layout = _parts(t)
    return {"toolkit": "buffer", "layout": list(layout)}, [memoryview(data)]


def _dask_deserialize(header: dict[str, Any], frames: list[Any]) -> torch.Tensor:
    if header.get("toolkit") == "pickled":
        tensor: torch.Tensor = pickle.loads(frames[0])
        return tensor
    dtype, shape, stride, offset, device = header["layout"]
    return _from_parts(frames[0] if frames else b"", (dtype, tuple(shape), tuple(stride), offset, device))


def register_dask() -> None:
    """Install this reduction as Dask distributed's serializer for tensors, in the calling process.

    For the workers: ``client.run(toolkit.register_dask)`` (and call it in the
    client too, for what it sends and receives).

    .. versionadded:: 0.3
    """
    wire: Any = importlib.import_module("distributed.protocol.serialize")  # the module, not its function
    wire.dask_serialize.register(torch.Tensor)(_dask_serialize)
    wire.dask_deserialize.register(torch.Tensor)(_dask_deserialize)


def dumps(obj: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """``obj`` pickled with its CPU tensors out of band: ``(data, buffers)`` for :func:`loads`.

    >>> import torch
    >>> data, buffers = dumps({"x": torch.ones(2, 3, dtype=torch.bfloat16)})
    >>> len(buffers), loads(data, buffers)["x"].dtype
    (1, torch.bfloat16)

    .. versionadded:: 0.3
    """
    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    Pickler(out, buffer_callback=buffers.append).dump(obj)
    return out.getvalue(), buffers


def loads(data: bytes, buffers: Any = ()) -> Any:
    """What :func:`dumps` (or :class:`Pickler`) wrote, rebuilt over ``buffers``.

    .. versionadded:: 0.3
    """
    return pickle.loads(data, buffers=list(buffers))


skip_frames(__name__)
