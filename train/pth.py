"""A PyTorch legacy (non-zip) ``.pth`` state dict read with numpy: no torch, and no pickle allowed to run code.

The legacy layout, in order: a pickled magic number, a pickled protocol
version (1001), a pickled sys-info dict, the pickled state dict (an
``OrderedDict`` of tensors, each ``torch._utils._rebuild_tensor_v2`` over a
storage named by a persistent id), the pickled list of storage keys, then
each storage's raw little-endian bytes after an int64 element count.

A pickle can call anything it names, so every pickle here goes through an
unpickler that resolves exactly the four globals this layout needs, to
stand-ins of our own, and refuses any other global before it is looked up.
"""

import collections
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vclf.runtime.errors import BadModelError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


class PthError(BadModelError):
    """Not a legacy PyTorch state dict this reader accepts."""


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: np.dtype
    size: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, stride, requires_grad=False, hooks=None, *rest) -> _TensorRef:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: where the tensor lies, checked, for reading later."""
    if not isinstance(storage, _Storage) or not isinstance(offset, int) or offset < 0:
        raise PthError("a tensor without a valid storage and offset")
    if not all(isinstance(v, int) and v >= 0 for v in (*shape, *stride)) or len(shape) != len(stride):
        raise PthError("a tensor with an invalid shape or stride")
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride)) if all(shape) else offset - 1
    if last >= storage.size:
        raise PthError(f"a tensor reaches past its storage {storage.key}")
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise PthError(f"names {module}.{name}, which a state dict never needs; refused") from None

    def persistent_load(self, pid):
        # ("storage", type, key, location, size, view metadata): views of storages are not this layout.
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], _StorageType) and pid[5] is None):
            raise PthError(f"an unexpected persistent id {str(pid)[:80]}")
        _, kind, key, _location, size, _ = pid
        if not isinstance(key, str) or not isinstance(size, int) or size < 0:
            raise PthError("a storage without a valid key and size")
        return _Storage(key, STORAGE_DTYPES[kind.name], size)


def _unpickle(stream: io.BufferedIOBase):
    return _RestrictedUnpickler(stream).load()


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a legacy ``.pth`` state dict, by name, as numpy arrays (copies, C order).

    Raises PthError naming ``path`` and the cause for anything else,
    including a pickle naming a global outside this layout.
    """
    try:
        return _read(Path(path))
    except PthError as exc:
        raise PthError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise PthError(f"{path}: not a legacy PyTorch state dict ({type(exc).__name__}: {str(exc)[:120]})") from None


def _read(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as stream:
        if _unpickle(stream) != MAGIC_NUMBER:
            raise PthError("not a legacy PyTorch file (no magic number)")
        if _unpickle(stream) != PROTOCOL_VERSION:
            raise PthError(f"not protocol {PROTOCOL_VERSION}")
        info = _unpickle(stream)
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise PthError("not written little-endian")
        state = _unpickle(stream)
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef) for k, v in state.items()):
            raise PthError("not a state dict of named tensors")
        keys = _unpickle(stream)
        storages = {ref.storage.key: ref.storage for ref in state.values()}
        if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
            raise PthError("its storage list does not match its tensors")
        data = {key: _read_storage(stream, storages[key]) for key in keys}
        if stream.read(1):
            raise PthError("bytes after its last storage")
    return {
        name: np.lib.stride_tricks.as_strided(
            data[ref.storage.key][ref.offset :], ref.shape, tuple(s * ref.storage.dtype.itemsize for s in ref.stride)
        ).copy()
        for name, ref in state.items()
    }


def _read_storage(stream: io.BufferedIOBase, storage: _Storage) -> np.ndarray:
    count = np.frombuffer(stream.read(8), "<i8")
    if count.shape != (1,) or int(count[0]) != storage.size:
        raise PthError(f"storage {storage.key} holds another size than its tensors say")
    raw = stream.read(storage.size * storage.dtype.itemsize)
    if len(raw) != storage.size * storage.dtype.itemsize:
        raise PthError(f"storage {storage.key} is cut short")
    return np.frombuffer(raw, storage.dtype)
