"""Reads .npy files, including object arrays, without running code from them.

Object arrays in .npy files are pickles, and unpickling can call any function
the file names (e.g. os.system). `load_npy` unpickles them with an allowlist
that covers exactly what containers of ints and numpy arrays need, and then
checks that the result holds nothing else.
"""

from __future__ import annotations

import os
import pickle
import reprlib
from typing import Any, Union

import numpy as np

from jaxrec.data.dataset import DataError

# pylint: disable=g-import-not-at-top,protected-access
try:  # numpy >= 2
  from numpy._core import multiarray as _multiarray
  from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
  from numpy.core import multiarray as _multiarray
  from numpy.core import numeric as _numeric

PathLike = Union[str, os.PathLike]

_FIX = ('Fix: re-save the file with plain lists of ints (lists, sets and '
        'dicts of Python ints, or numeric numpy arrays).')


def _latin1_encode(text: str, encoding: str = 'latin1') -> bytes:
  """_codecs.encode as protocol-2 pickles use it for bytes: latin1 only."""
  if type(text) is not str or encoding not in ('latin1', 'latin-1'):
    raise pickle.UnpicklingError(
        f'_codecs.encode is allowed only as (str, "latin1"), got '
        f'({type(text).__name__}, {encoding!r})')
  return text.encode('latin1')


# Every global a pickle of ints, containers and numpy arrays refers to. Both
# numpy module names occur: numpy 1.x writes numpy.core, numpy 2 numpy._core;
# '__builtin__' is Python 2's name for builtins (the MMGCN-era files), and
# numpy < 1.17 saved with pickle protocol 2, which spells bytes as
# _codecs.encode(text, 'latin1'); protocol 5 rebuilds arrays with _frombuffer.
_ALLOWED = {('_codecs', 'encode'): _latin1_encode}
for _module in ('builtins', '__builtin__'):
  for _type in (set, frozenset, list, dict, int, bytes):
    _ALLOWED[(_module, _type.__name__)] = _type
for _module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
  _ALLOWED[(_module, '_reconstruct')] = _multiarray._reconstruct
  _ALLOWED[(_module, 'scalar')] = _multiarray.scalar
for _module in ('numpy.core.numeric', 'numpy._core.numeric'):
  _ALLOWED[(_module, '_frombuffer')] = _numeric._frombuffer
_ALLOWED[('numpy', 'ndarray')] = np.ndarray
_ALLOWED[('numpy', 'dtype')] = np.dtype
del _module, _type
# pylint: enable=g-import-not-at-top,protected-access

# Array dtype kinds accepted inside an object array: bool, ints, floats.
_NUMERIC_KINDS = 'biuf'
_CONTAINERS = (list, tuple, set, frozenset)


class _RestrictedUnpickler(pickle.Unpickler):
  """An Unpickler that resolves only the globals in _ALLOWED."""

  def __init__(self, file, path: str):
    # latin1 is numpy's advice for Python 2 pickles of arrays; Python 3
    # pickles carry no byte strings that it would affect.
    super().__init__(file, encoding='latin1')
    self._path = path

  def find_class(self, module: str, name: str) -> Any:
    """The allowed global module.name, or a DataError for any other."""
    found = _ALLOWED.get((module, name))
    if found is None:
      raise DataError(
          f'{self._path}: its pickled contents ask for {module}.{name}, which '
          f'is not part of a plain container of ints or a numpy array; '
          f'jaxrec will not run code from a data file, so it refuses to '
          f'load it. {_FIX}')
    return found


def _check_contents(obj: Any, path: str) -> None:
  """Raises DataError unless obj holds only ints, containers, numeric arrays."""
  # An explicit stack, since a deep nesting would overflow recursion.
  stack = [obj]
  while stack:
    x = stack.pop()
    kind = type(x)
    if kind is int or isinstance(x, np.integer):
      continue
    if kind in _CONTAINERS:
      # Most elements are ints: push only the others.
      stack.extend(y for y in x if type(y) is not int)
    elif kind is dict:
      stack.extend(x.keys())
      stack.extend(x.values())
    elif kind is np.ndarray and x.dtype.kind == 'O':
      stack.extend(x.ravel().tolist())
    elif kind is np.ndarray and x.dtype.kind in _NUMERIC_KINDS:
      continue
    else:
      shown = reprlib.repr(x)  # Short even for a huge value.
      what = (f'array of dtype {x.dtype}' if kind is np.ndarray else
              kind.__name__)
      raise DataError(
          f'{path} holds a value of type {what} ({shown}); expected only '
          f'ints, lists, tuples, sets, dicts and numeric arrays. {_FIX}')


def _read_header(f, path: str) -> tuple[tuple[int, ...], np.dtype]:
  """Reads the .npy magic and header; returns (shape, dtype)."""
  try:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
      shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
      # Version 3 only adds UTF-8 field names: a structured array, which
      # np.load reads itself (and refuses if it holds objects).
      return (), np.dtype(np.float64)
  except ValueError as e:
    raise DataError(f'{path} is not a valid .npy file ({e}). Fix: write it '
                    f'with numpy.save.') from None
  return shape, dtype


def _unpickle(f, path: str) -> Any:
  """Unpickles the rest of an open .npy file with the restricted Unpickler."""
  try:
    return _RestrictedUnpickler(f, path).load()
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # Any other failure means a truncated or foreign pickle: say so.
    raise DataError(f'{path}: its object array could not be unpickled '
                    f'({type(e).__name__}: {e}). Fix: check that the file was '
                    f'copied completely, or re-save it with plain lists of '
                    f'ints.') from None


def load_npy(path: PathLike) -> np.ndarray:
  """Reads a .npy file; object arrays are unpickled with a strict allowlist.

  Args:
    path: a .npy file written by numpy.save.

  Returns:
    The array: numeric arrays exactly as np.load reads them; object arrays
    (e.g. [L] lists of ints, or a 0-d array holding a dict of sets) with
    contents checked to be ints, lists, tuples, sets, dicts and numeric
    arrays only.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise DataError(f'{path} does not exist or is not a file; expected a .npy '
                    f'file written by numpy.save.')
  with open(path, 'rb') as f:
    shape, dtype = _read_header(f, path)
    array = _unpickle(f, path) if dtype.hasobject else None
  if array is None:
    try:
      return np.load(path, allow_pickle=False)
    except ValueError as e:
      raise DataError(f'{path} could not be read as a numeric .npy file '
                      f'({e}). {_FIX}') from None
  if type(array) is not np.ndarray or array.shape != tuple(shape):
    raise DataError(f'{path}: the header promises an object array of shape '
                    f'{tuple(shape)}, but the pickle holds '
                    f'{type(array).__name__} '
                    f'{getattr(array, "shape", "")}. {_FIX}')
  _check_contents(array, path)
  return array
