"""Reads one tensor saved with torch.save, without PyTorch and without code.

torch.save (PyTorch >= 1.6) writes a zip archive:
  NAME/data.pkl     a protocol-2 pickle; a tensor is the call
                    torch._utils._rebuild_tensor_v2(storage, offset, size,
                    stride, requires_grad, OrderedDict()), its storage the
                    persistent id ('storage', torch.FloatStorage, key,
                    device, numel);
  NAME/data/KEY     each storage's raw bytes;
  NAME/byteorder    'little' or 'big' (absent in older files: little).
This reads an archive holding one dense tensor of numbers. Its unpickler
resolves only the storage types, the rebuild function and OrderedDict (the
empty backward hooks), so a file can name no other function to run. Files
in the legacy format (before PyTorch 1.6, or saved with
_use_new_zipfile_serialization=False) are not zip archives; load raises
NotZip for them, and DataError for anything else it cannot read.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np

from jaxrec.data.dataset import DataError

# Storage type -> numpy dtype (byte order added from NAME/byteorder).
_DTYPES = {'DoubleStorage': 'f8', 'FloatStorage': 'f4', 'HalfStorage': 'f2',
           'LongStorage': 'i8', 'IntStorage': 'i4', 'ShortStorage': 'i2',
           'CharStorage': 'i1', 'ByteStorage': 'u1', 'BoolStorage': 'b1'}


class NotZip(DataError):
  """The file is not a zip archive (e.g. PyTorch's legacy format)."""


class _StorageType(str):
  """A storage type named by the pickle (e.g. 'FloatStorage')."""


def _rebuild(storage: np.ndarray, offset: int, size: tuple, stride: tuple,
             requires_grad: bool = False, hooks=None, *unused) -> np.ndarray:
  """torch._utils._rebuild_tensor_v2 on a numpy storage: a strided copy."""
  del requires_grad, unused
  if hooks:
    raise pickle.UnpicklingError('the tensor has backward hooks')
  ints = lambda xs: all(type(x) is int and x >= 0 for x in xs)
  if not (ints((offset,)) and ints(size) and ints(stride) and
          len(size) == len(stride)):
    raise pickle.UnpicklingError(f'bad tensor layout: offset {offset!r}, '
                                 f'size {size!r}, stride {stride!r}')
  last = offset + sum((n - 1) * s for n, s in zip(size, stride))
  if 0 not in size and last >= len(storage):
    raise pickle.UnpicklingError(f'size {size} and stride {stride} reach '
                                 f'element {last} of a storage of '
                                 f'{len(storage)}')
  view = np.lib.stride_tricks.as_strided(
      storage[offset:], shape=size,
      strides=[s * storage.itemsize for s in stride], writeable=False)
  return np.array(view)


class _Unpickler(pickle.Unpickler):
  """Resolves the rebuild function, storage types and OrderedDict only."""

  def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str,
               order: str):
    super().__init__(io.BytesIO(data))
    self._archive, self._prefix, self._order = archive, prefix, order

  def find_class(self, module: str, name: str):
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if module == 'torch' and name in _DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(f'it refers to {module}.{name}, which is '
                                 f'not part of a plain tensor')

  def persistent_load(self, pid) -> np.ndarray:
    if not (type(pid) is tuple and len(pid) == 5 and pid[0] == 'storage' and
            type(pid[1]) is _StorageType and type(pid[4]) is int):
      raise pickle.UnpicklingError(f'unexpected persistent id {pid!r:.80}')
    dtype = np.dtype(_DTYPES[pid[1]]).newbyteorder(self._order)
    raw = self._archive.read(f'{self._prefix}data/{pid[2]}')
    if len(raw) < pid[4] * dtype.itemsize:
      raise pickle.UnpicklingError(f'storage {pid[2]} holds {len(raw)} '
                                   f'bytes, short of {pid[4]} elements')
    return np.frombuffer(raw, dtype, count=pid[4])


def load(path: str) -> np.ndarray:
  """The tensor torch.save wrote to path, as a numpy array (native order).

  Raises:
    NotZip: the file is not a zip archive.
    DataError: it is one, but not one dense tensor of numbers.
  """
  if not zipfile.is_zipfile(path):
    raise NotZip(f'{path} is not a zip archive (torch.save of PyTorch >= '
                 f'1.6).')
  try:
    with zipfile.ZipFile(path) as archive:
      names = [n for n in archive.namelist() if n.endswith('data.pkl')]
      if len(names) != 1:
        raise pickle.UnpicklingError('no single NAME/data.pkl in the archive')
      prefix = names[0][:-len('data.pkl')]
      order = (archive.read(prefix + 'byteorder').decode()
               if prefix + 'byteorder' in archive.namelist() else 'little')
      if order not in ('little', 'big'):
        raise pickle.UnpicklingError(f'byte order {order!r:.20}')
      value = _Unpickler(archive.read(names[0]), archive, prefix,
                         {'little': '<', 'big': '>'}[order]).load()
  except (pickle.UnpicklingError, zipfile.BadZipFile, KeyError, EOFError,
          ValueError, TypeError) as e:
    raise DataError(f'{path} is not one tensor of numbers saved by '
                    f'torch.save ({e}).') from None
  if type(value) is not np.ndarray:
    raise DataError(f'{path} holds a {type(value).__name__}, not one tensor.')
  return value.astype(value.dtype.newbyteorder('='))
