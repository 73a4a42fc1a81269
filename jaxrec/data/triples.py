"""Reads `user item label` triples split into train.txt, valid.txt, test.txt."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data.dataset import DataError, Dataset, Interactions

# Split name -> file name; only train.txt is required.
FILES = {'train': 'train.txt', 'val': 'valid.txt', 'test': 'test.txt'}
INFO_FILE = 'info.txt'

_COLUMNS = ('user', 'item', 'label')
_EXPECTED_DIR = ('a folder with train.txt (and optionally valid.txt, test.txt '
                 'and info.txt) holding lines "user item label"')


def read_info(path: str) -> dict[str, int]:
  """Reads the 'users N' and 'items M' lines of an info.txt, ignoring others."""
  expected = 'lines "users N" and "items M" with non-negative integers'
  counts = {}
  text = readers.read_text(path, f'an {INFO_FILE} with {expected}')
  for number, line in enumerate(text.split('\n'), 1):
    words = line.split()
    if len(words) >= 1 and words[0] in ('users', 'items'):
      if len(words) != 2 or not words[1].isdigit():
        raise readers.line_error(path, number, line,
                                 f'the {words[0]} count is not a number',
                                 expected)
      counts[words[0]] = int(words[1])
  for key in ('users', 'items'):
    if key not in counts:
      raise DataError(f'{path} has no "{key} N" line; expected {expected}. '
                      f'Fix: add the line, or delete {INFO_FILE} to have '
                      f'the ids remapped.')
  return counts


def _check_range(table: readers.Table, column: str, count: int,
                 info_path: str) -> None:
  """Raises DataError at the first id in `column` that is >= count."""
  bad = np.flatnonzero(table[column] >= count)
  if len(bad):
    number = int(table.line[bad[0]])
    name = column + 's'
    raise readers.line_error(
        table.path, number, readers.read_line(table.path, number),
        f'{column} id {table[column][bad[0]]} is not below the {count} '
        f'{name} that {info_path} gives', f'{column} ids in [0, {count})',
        fix=f'correct the id, or the "{name}" count in {info_path}')


def _ids(tables: list[readers.Table], column: str,
         count: Optional[int]) -> tuple[list[np.ndarray], np.ndarray]:
  """Contiguous int32 ids of a column per table, and the raw-id vocab."""
  if count is None:
    return readers.joint_ids([t[column] for t in tables])
  # info.txt gives the id space: keep ids as they are.
  return ([t[column].astype(np.int32) for t in tables],
          np.arange(count).astype(str))


def load_triples(path: readers.PathLike, duplicates: str = 'error') -> Dataset:
  """Reads a folder of `user item label` files with its given split.

  Args:
    path: a folder with train.txt and optionally valid.txt and test.txt, each
      line `user item label` (whitespace-separated; label 1.00 liked, 0.00
      disliked), and optionally info.txt with lines `users N`, `items M`.
    duplicates: 'error', 'keep_first' or 'keep_last' for a (user, item) pair
      repeated within a file or found in two files.

  Returns:
    A Dataset with the files' rows in train / val / test (int32 user and item,
    float32 rating = the label). With info.txt ids are kept as given and
    num_users / num_items come from it; without, ids are remapped jointly
    over all files.
  """
  folder = os.fspath(path)
  if not os.path.isdir(folder):
    raise DataError(f'{folder} is not a folder; expected {_EXPECTED_DIR}.')
  tables = {}
  for name, file in FILES.items():
    file_path = os.path.join(folder, file)
    if name != 'train' and not os.path.exists(file_path):
      continue
    tables[name] = readers.read_columns(
        file_path, None, _COLUMNS, ('id', 'id', 'float'),
        what=f'{file} of {_EXPECTED_DIR}')
  info_path = os.path.join(folder, INFO_FILE)
  counts = {'users': None, 'items': None}
  if os.path.exists(info_path):
    counts = read_info(info_path)
    for table in tables.values():
      _check_range(table, 'user', counts['users'], info_path)
      _check_range(table, 'item', counts['items'], info_path)
  users, user_ids = _ids(list(tables.values()), 'user', counts['users'])
  items, item_ids = _ids(list(tables.values()), 'item', counts['items'])
  parts = {name: Interactions(user, item, table['label'].astype(np.float32))
           for (name, table), user, item in zip(tables.items(), users, items)}
  for name in FILES:
    parts.setdefault(name, Interactions.empty(like=parts['train']))
  dataset = Dataset(
      name=os.path.basename(os.path.abspath(folder)), source=folder,
      num_users=len(user_ids), num_items=len(item_ids),
      user_ids=user_ids, item_ids=item_ids, **parts)
  dataset, _ = dedupe.check_duplicates(
      dataset, duplicates,
      files={name: table.path for name, table in tables.items()},
      lines={name: table.line for name, table in tables.items()})
  return dataset
