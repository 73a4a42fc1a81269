"""Reads the LightGCN / NGCF layout: train.txt, test.txt of `user item ...`."""

from __future__ import annotations

import os

import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data.dataset import DataError, Dataset, Interactions

# Split name -> file name; val.txt is optional.
FILES = {'train': 'train.txt', 'val': 'val.txt', 'test': 'test.txt'}

_LINE = 'user item item ...: non-negative integer ids separated by spaces'
_EXPECTED_DIR = (f'a folder with train.txt and test.txt (and optionally '
                 f'val.txt) in the LightGCN layout, lines of {_LINE}')


def read_lists(path: str) -> tuple[readers.Table, np.ndarray]:
  """Reads `user item item ...` lines.

  Args:
    path: the file.

  Returns:
    (table, users): a Table with int64 [n] 'user' and 'item', one row per
    (user, item) pair, and int64 [L] the user of every non-blank line (a
    user may have no items).
  """
  what = f'LightGCN-style lists ({_LINE})'
  text = readers.read_text(path, what).rstrip('\n')
  counts = readers.count_fields(text, None)
  if not counts.sum():
    raise DataError(f'{path} has no data rows; expected lines of {_LINE}. '
                    f'Fix: check that the file was written completely.')
  tokens = text.split()
  ids = None
  if len(tokens) == counts.sum():
    ids = readers.parse_column(np.array(tokens), 'id')
  if ids is None:
    return _read_lists_slowly(text, path)
  sizes = counts[counts > 0]
  starts = np.cumsum(sizes) - sizes
  is_item = np.ones(len(ids), bool)
  is_item[starts] = False
  line = np.repeat(np.flatnonzero(counts > 0) + 1, sizes - 1)
  table = readers.Table(path, {'user': np.repeat(ids[starts], sizes - 1),
                               'item': ids[is_item]}, line.astype(np.int64))
  return table, ids[starts]


def _read_lists_slowly(text: str, path: str) -> tuple[readers.Table,
                                                      np.ndarray]:
  """read_lists line by line; raises DataError at the first bad id."""
  users, pair_user, items, lines = [], [], [], []
  for number, line in enumerate(text.split('\n'), 1):
    row = line.split()
    if not row:
      continue
    ids = [readers.parse_value(path, number, line, 'item' if k else 'user',
                               'id', token) for k, token in enumerate(row)]
    users.append(ids[0])
    pair_user.extend([ids[0]] * (len(ids) - 1))
    items.extend(ids[1:])
    lines.extend([number] * (len(ids) - 1))
  table = readers.Table(path, {'user': np.array(pair_user, np.int64),
                               'item': np.array(items, np.int64)},
                        np.array(lines, np.int64))
  return table, np.array(users, np.int64)


def load_lightgcn_text(path: readers.PathLike,
                       duplicates: str = 'error') -> Dataset:
  """Reads a LightGCN / NGCF data folder with its given split.

  Args:
    path: a folder with train.txt, test.txt and optionally val.txt, each line
      `user item item ...` (a user with no items may appear alone).
    duplicates: 'error', 'keep_first' or 'keep_last' for a (user, item) pair
      repeated within a file or found in two files.

  Returns:
    A Dataset with the files' rows in train / val / test (int32 user and item,
    no ratings or timestamps); ids are remapped jointly over all files (so
    users listed without items count too) and the raw ids kept.
  """
  folder = os.fspath(path)
  if not os.path.isdir(folder):
    raise DataError(f'{folder} is not a folder; expected {_EXPECTED_DIR}.')
  read = {}
  for name, file in FILES.items():
    file_path = os.path.join(folder, file)
    if name == 'val' and not os.path.exists(file_path):
      continue
    read[name] = read_lists(readers.require_file(
        file_path, f'{file} of {_EXPECTED_DIR}'))
  tables = [table for table, _ in read.values()]
  # Users listed without items get ids too.
  users, user_ids = readers.joint_ids([t['user'] for t in tables] +
                                      [listed for _, listed in read.values()])
  items, item_ids = readers.joint_ids([t['item'] for t in tables])
  parts = {name: Interactions(user, item)
           for name, user, item in zip(read, users, items)}
  parts.setdefault('val', Interactions.empty(like=parts['train']))
  dataset = Dataset(
      name=os.path.basename(os.path.abspath(folder)), source=folder,
      num_users=len(user_ids), num_items=len(item_ids),
      user_ids=user_ids, item_ids=item_ids, **parts)
  dataset, _ = dedupe.check_duplicates(
      dataset, duplicates,
      files={name: table.path for name, table in zip(read, tables)},
      lines={name: table.line for name, table in zip(read, tables)})
  return dataset
