"""The data a run trained on, fingerprinted, so that the run stays tied to it.

Evaluation and recommendation rebuild a run's data from config.json, that
is, they read config.data.path again. If the files changed since training
the numbers would silently be those of other data, or the restore would
fail on mismatched shapes. Training writes WORKDIR/data_fingerprint.json;
evaluation and resume compare the data they load with it and stop with a
DataChanged that names what changed, unless told to accept the change.

The fingerprint walks the task's data (a Dataset, an ItemGraph, any
dataclass of arrays) generically: one part per field, labelled by the field
('train interactions', 'user ids', "item features 'visual'"), each a hash
of its arrays' contents, with its size so that the error can say '709 ->
714 rows'. Strings and numbers (names, paths, counts) are left out: a moved
data folder is the same data, and counts follow from the arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping

import numpy as np
from absl import logging

from jaxrec import files
from jaxrec.errors import UserError

FILE = 'data_fingerprint.json'
VERSION = 1
# Elements hashed per update: bounds the memory of the dtype conversion.
_CHUNK = 1 << 20


class DataChanged(UserError):
  """The data a run loads is not the data it was trained on."""


def _update(h, name: str, array: np.ndarray) -> None:
  """Feeds a field's name, shape and contents to the hash.

  Integers hash as int64 and booleans as uint8, so that a loader that
  narrows or widens a column's dtype does not count as changed data; other
  numbers hash as stored (float32 vs float64 are different values); text
  and objects hash as their UTF-8 strings.
  """
  array = np.asarray(array)
  kind = array.dtype.kind
  kind = 'i' if kind in 'iub' else array.dtype.str if kind in 'fc' else 'T'
  h.update(f'{name}{array.shape}{kind}'.encode())
  flat = array.reshape(-1)
  for start in range(0, len(flat), _CHUNK):
    part = flat[start:start + _CHUNK]
    if kind == 'i':
      data = part.astype('<i8').tobytes()
    elif kind == 'T':
      data = '\x1f'.join(map(str, part)).encode() + b'\x1e'
    else:
      data = np.ascontiguousarray(part).tobytes()
    h.update(data)


def _part(value: Any) -> dict[str, Any]:
  """{'hash', 'size'} of one field: an array, or a dataclass of arrays."""
  h = hashlib.blake2b(digest_size=16)
  if dataclasses.is_dataclass(value):
    arrays = [(f.name, getattr(value, f.name))
              for f in dataclasses.fields(value)]
    arrays = [(n, a) for n, a in arrays if isinstance(a, np.ndarray)]
  else:
    arrays = [('', np.asarray(value))]
  for name, array in arrays:
    _update(h, name, array)
  size = len(arrays[0][1]) if arrays and np.ndim(arrays[0][1]) else 0
  return {'hash': h.hexdigest(), 'size': size}


def _add(parts: dict[str, Any], label: str, value: Any) -> None:
  """Adds a field's part(s); mappings give one part per key."""
  if value is None or isinstance(value, (str, bytes, int, float)):
    return
  if isinstance(value, Mapping):
    for key in sorted(value):
      _add(parts, f'{label} {key!r}', value[key])
  elif dataclasses.is_dataclass(value):
    parts[f'{label} {type(value).__name__.lower()}'] = _part(value)
  else:
    parts[label] = _part(value)


def of_data(data: Any) -> dict[str, dict[str, Any]]:
  """The parts of a task's data: label -> {'hash', 'size'}.

  Args:
    data: a dataclass whose fields are arrays, dataclasses of arrays
      (Interactions, Edges), mappings of arrays (item features), or
      strings and numbers (left out).
  """
  parts = {}
  for field in dataclasses.fields(data):
    _add(parts, field.name.replace('_', ' '), getattr(data, field.name))
  return parts


def save(workdir: str, parts: Mapping[str, Any]) -> None:
  """Writes WORKDIR/data_fingerprint.json (aside, then renamed)."""
  files.write_json(os.path.join(workdir, FILE),
                   {'version': VERSION, 'parts': dict(parts)})


def load(workdir: str) -> dict[str, Any] | None:
  """The saved parts, or None for a run saved before fingerprints existed."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)['parts']


def changes(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
  """What differs, e.g. ['train interactions (709 -> 714 rows)']."""
  out = []
  for label in [*saved, *(k for k in now if k not in saved)]:
    old, new = saved.get(label), now.get(label)
    if old == new:
      continue
    if old is None or new is None:
      out.append(f'{label} ({"new" if old is None else "gone"})')
    elif old['size'] != new['size']:
      out.append(f'{label} ({old["size"]} -> {new["size"]} rows)')
    else:
      out.append(f'{label} (same size, other values)')
  return out


def check(workdir: str, parts: Mapping[str, Any], allow_change: bool,
          source: str, what: str) -> None:
  """Refuses data that differs from the data the run in workdir trained on.

  Args:
    workdir: the run's folder.
    parts: of_data() of the data loaded now.
    allow_change: log the difference as a warning instead of refusing.
    source: where the data was read from (for the message).
    what: what would use the data, e.g. 'evaluate' or 'resume'.

  Raises:
    DataChanged: the data differs and allow_change is False.
  """
  saved = load(workdir)
  if saved is None:
    logging.warning('%s has no %s (saved by an older jaxrec): cannot check '
                    'that %s is the data the run trained on.', workdir, FILE,
                    source)
    return
  diff = changes(saved, parts)
  if not diff:
    return
  message = (f'The data differs from what {workdir} was trained on: '
             f'{", ".join(diff)} (read from {source}). Restore the data the '
             f'run trained on, or pass --allow_data_change '
             f'(allow_data_change=True) to {what} with this data anyway.')
  if not allow_change:
    raise DataChanged(message)
  logging.warning('%s', message.split(' Restore')[0])
