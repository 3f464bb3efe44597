"""A simulated second device for tests on a CPU-only machine: the device mistakes that
only a GPU run would reveal, found without one.

Inside ``with SimulatedDevice() as sim:``, tensors created on or moved to ``sim.device``
(the ``meta`` device type, which needs no driver) are CPU tensors wrapped in
:class:`SimTensor`, which reports that device; every operation runs on the wrapped CPU
data, so results are the CPU's. Like a CUDA device, the mode

- raises on an operation that mixes a simulated tensor with a CPU tensor of one or more
  dimensions (0-dim CPU tensors are scalars, allowed as on CUDA), and on a CPU
  ``torch.Generator`` used to fill or draw a simulated tensor;
- counts host reads (``syncs``: ``.item()``, ``float()``, ``bool()``, ``.cpu()``, ``.tolist()``
  of a simulated tensor: each one waits for the GPU), uploads (``uploads``: a CPU tensor
  copied to the device; from pageable memory without ``non_blocking`` CUDA makes the host
  wait for the stream, so each one mid-step also drains the GPU's queue) and implicit
  copies of CPU index tensors (``implicit_copies``), so a test can bound them per step.

``.numpy()`` of a simulated tensor fails as it does for a CUDA tensor."""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

DEVICE = torch.device("meta")
_ACTIVE: list[SimulatedDevice] = []  # the modes entered, innermost last
aten = torch.ops.aten
TRANSFERS = {aten._to_copy.default, aten.copy_.default}  # cross-device by design
INDEXING = {aten.index.Tensor, aten.index_put_.default, aten.index_put.default}


class DeviceMismatch(RuntimeError):
    """What CUDA would raise: tensors of two devices in one operation."""


class SimTensor(torch.Tensor):
    """A CPU tensor that reports the simulated device; only the mode may operate on it."""

    @staticmethod
    def __new__(cls, inner: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(
            cls,
            inner.shape,
            strides=inner.stride(),
            storage_offset=inner.storage_offset(),
            dtype=inner.dtype,
            device=DEVICE,
            requires_grad=inner.requires_grad,
        )

    def __init__(self, inner: torch.Tensor):
        self.inner = inner

    def __repr__(self) -> str:
        return f"SimTensor({self.inner!r})"

    # Python-level reads that never reach the dispatcher for a tensor subclass.
    def tolist(self):
        _ACTIVE[-1]._sync("tolist")
        return self.inner.tolist()

    def numpy(self, *args, **kwargs):
        raise TypeError(
            "can't convert a device tensor to numpy (CUDA raises: can't convert cuda:0 "
            "device type tensor to numpy); use Tensor.cpu() first"
        )

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on a simulated tensor outside SimulatedDevice")


def _is_sim_device(device) -> bool:
    return device is not None and torch.device(device).type == DEVICE.type


class SimulatedDevice(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.device = DEVICE
        self.syncs = 0
        self.uploads = 0
        self.implicit_copies = 0
        self.sync_ops: dict[str, int] = {}

    def __enter__(self):
        _ACTIVE.append(self)
        self._factories = _DataFactories().__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        out = super().__exit__(*exc)
        self._factories.__exit__(*exc)
        return out

    def _sync(self, func) -> None:
        self.syncs += 1
        name = str(func)
        self.sync_ops[name] = self.sync_ops.get(name, 0) + 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        on_sim = any(isinstance(t, SimTensor) for t in flat)
        to_sim = _is_sim_device(kwargs.get("device"))
        to_cpu = "device" in kwargs and kwargs["device"] is not None and not to_sim
        if (on_sim or to_sim) and func not in TRANSFERS:
            self._check_devices(func, args, flat)
            if kwargs.get("generator") is not None:
                raise DeviceMismatch(
                    f"{func}: a CPU torch.Generator on a simulated-device tensor (CUDA "
                    "raises: Expected a 'cuda' device type for generator); draw on the "
                    "CPU, then move the result"
                )
        if func is aten.copy_.default and not isinstance(args[0], SimTensor) and on_sim:
            self._sync(func)  # device -> host copy into a CPU tensor
        if func is aten._to_copy.default and on_sim and to_cpu:
            self._sync(func)
        if func in TRANSFERS and not on_sim and to_sim:
            self.uploads += 1
        if func is aten.copy_.default and isinstance(args[0], SimTensor):
            self.uploads += not isinstance(args[1], SimTensor)
        inner_args, inner_kwargs = tree_map(
            lambda t: t.inner if isinstance(t, SimTensor) else t, (args, kwargs)
        )
        if to_sim:
            inner_kwargs["device"] = torch.device("cpu")
        out = func(*inner_args, **inner_kwargs)
        if on_sim and not isinstance(out, torch.Tensor | tuple | list):
            self._sync(func)  # a Python number or bool read from the device
            return out
        if _mutates_first(func) and isinstance(args[0], SimTensor):
            return args[0]
        if (on_sim and not to_cpu) or to_sim:
            return tree_map(
                lambda t: SimTensor(t) if type(t) is torch.Tensor else t,
                out,
            )
        return out

    def _check_devices(self, func, args, flat) -> None:
        for t in flat:
            if isinstance(t, SimTensor) or not isinstance(t, torch.Tensor) or t.dim() == 0:
                continue
            if func in INDEXING and t.dtype in (torch.long, torch.int, torch.bool):
                self.implicit_copies += 1  # CUDA copies CPU indices over, each call
                continue
            raise DeviceMismatch(
                f"{func}: a CPU tensor {tuple(t.shape)} {t.dtype} meets a tensor on the "
                "device (CUDA raises: Expected all tensors to be on the same device)"
            )


class _DataFactories(TorchFunctionMode):
    """``torch.tensor(data, device=...)`` and its kin build their tensor below the
    dispatcher: build it on the CPU, then move it (through the dispatch mode)."""

    FACTORIES = (torch.tensor, torch.as_tensor, torch.asarray)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self.FACTORIES and _is_sim_device(kwargs.get("device")):
            kwargs["device"] = torch.device("cpu")
            return func(*args, **kwargs).to(DEVICE)
        return func(*args, **kwargs)


def _mutates_first(func) -> bool:
    schema = func._schema
    first = schema.arguments[0] if schema.arguments else None
    return bool(first is not None and first.alias_info is not None and first.alias_info.is_write)
