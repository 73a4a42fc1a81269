"""Reads RecBole atomic files: <name>.inter and the optional <name>.item."""

from __future__ import annotations

import dataclasses
import glob
import os

from absl import logging
import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data.dataset import DataError, Dataset, Interactions, remap_ids

TYPES = ('token', 'token_seq', 'float', 'float_seq')
# Item fields that hold the item's name, in order of preference.
TITLE_FIELDS = ('movie_title', 'title', 'name')

_INTER_FIELDS = ('user_id:token and item_id:token, optionally rating:float '
                 '(or label:float) and timestamp:float')
_EXPECTED_INTER = (f'a RecBole .inter file: a tab-separated header of '
                   f'name:type fields ({_INTER_FIELDS}), then one '
                   f'interaction per line')


def find_inter(path: readers.PathLike, expected: str = _EXPECTED_INTER,
               fix: str = 'point the path at the .inter file itself') -> str:
  """The .inter file at path: itself, or the one *.inter in the folder.

  Args:
    path: a file or a folder.
    expected: what the error says the file should be.
    fix: what the error tells the user to do when a folder holds no or
      several *.inter files.
  """
  path = os.fspath(path)
  if not os.path.isdir(path):
    return readers.require_file(path, expected)
  found = sorted(glob.glob(os.path.join(path, '*.inter')))
  if len(found) != 1:
    listed = ', '.join(os.path.basename(f) for f in found) or 'none'
    raise DataError(
        f'{path} holds {len(found)} *.inter files ({listed}); expected '
        f'exactly one, {expected}. Fix: {fix}.')
  return found[0]


def read_header(path: str, what: str, fields_hint: str) -> dict[str, str]:
  """Reads a RecBole header line into {field name: type}, in file order."""
  line = readers.read_line(readers.require_file(path, what), 1)
  if not line.strip():
    raise DataError(f'{path} is empty or its first line is blank; expected '
                    f'{what}.')
  fields = {}
  for field in line.split('\t'):
    name, colon, kind = field.strip().partition(':')
    if not colon or not name or kind not in TYPES:
      raise readers.line_error(
          path, 1, line, f'header field {field!r} is not name:type with a '
          f'known type', f'tab-separated name:type fields ({fields_hint}) '
          f'with types {", ".join(TYPES)}', fix='correct the header')
    if name in fields:
      raise readers.line_error(path, 1, line, f'field {name!r} appears twice',
                               'each field once', fix='correct the header')
    fields[name] = kind
  return fields


def _require(path: str, line: str, fields: dict[str, str], name: str,
             kind: str, expected: str) -> None:
  """Raises DataError unless the header has field `name` of type `kind`."""
  if fields.get(name) != kind:
    problem = (f'the header has {name}:{fields[name]}' if name in fields
               else f'the header has no {name} field')
    raise readers.line_error(path, 1, line, problem, expected,
                             fix=f'name the field {name}:{kind}')


def read_inter(path: str) -> readers.Table:
  """Reads a .inter file: user_id, item_id, and rating, timestamp if present.

  Args:
    path: the .inter file.

  Returns:
    A Table with str [n] user_id, item_id, and float64 [n] 'rating' (from
    rating or label) and 'timestamp' when the header has them.
  """
  fields = read_header(path, _EXPECTED_INTER, _INTER_FIELDS)
  line = readers.read_line(path, 1)
  for name in ('user_id', 'item_id'):
    _require(path, line, fields, name, 'token', _INTER_FIELDS)
  rating = next((f for f in ('rating', 'label') if f in fields), None)
  for name in (rating, 'timestamp'):
    if name in fields:
      _require(path, line, fields, name, 'float', _INTER_FIELDS)
  wanted = {'user_id': 'token', 'item_id': 'token', 'timestamp': 'float'}
  if rating is not None:
    wanted[rating] = 'float'
  kinds = [wanted.get(name, 'skip') for name in fields]
  table = readers.read_columns(path, '\t', list(fields), kinds, header=True,
                               what=_EXPECTED_INTER)
  columns = dict(table.columns)
  if rating is not None:
    columns['rating'] = columns.pop(rating)
  return dataclasses.replace(table, columns=columns)


def _dense(table: readers.Table, field: str) -> np.ndarray:
  """Parses a float_seq column into float32 [n, d]; all rows must have d."""
  col = table[field]
  expected = f'space-separated finite numbers in field {field!r}'
  sizes = readers.count_fields('\n'.join(col), None)
  odd = np.flatnonzero(sizes != sizes[0])
  if len(odd):
    number = int(table.line[odd[0]])
    raise readers.line_error(
        table.path, number, readers.read_line(table.path, number),
        f'field {field!r} has {sizes[odd[0]]} numbers, but line '
        f'{table.line[0]} has {sizes[0]}', expected + ', as many on every line')
  values = readers.parse_column(np.array(' '.join(col).split()), 'float')
  if values is None:
    # Find the bad value: a loop over item rows, not interactions.
    for r, text in enumerate(col):
      if readers.parse_column(np.array(text.split()), 'float') is None:
        number = int(table.line[r])
        raise readers.line_error(
            table.path, number, readers.read_line(table.path, number),
            f'field {field!r} is {text!r}', expected)
  return values.reshape(len(col), sizes[0]).astype(np.float32)


def read_items(path: str, item_ids: np.ndarray
               ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
  """Reads item names and features from a .item file.

  Args:
    path: the .item file.
    item_ids: [I] raw item ids of the dataset (items of the .inter file).

  Returns:
    (item_names, item_features): [I] names from the first of TITLE_FIELDS
    present (None if none is), and per token_seq field a float32 [I, V]
    multi-hot, per float_seq field a float32 [I, d] matrix, both named after
    the field. Items absent from the .inter file are dropped; items absent
    from the .item file get '' and zero rows.
  """
  what = ('a RecBole .item file: a tab-separated name:type header with '
          'item_id:token, then one item per line')
  hint = 'item_id:token, then e.g. movie_title:token_seq, class:token_seq'
  fields = read_header(path, what, hint)
  _require(path, readers.read_line(path, 1), fields, 'item_id', 'token', hint)
  title = next((f for f in TITLE_FIELDS
                if fields.get(f) in ('token', 'token_seq')), None)
  kinds = ['token' if name == 'item_id' else
           'str' if name == title or fields[name].endswith('_seq') else 'skip'
           for name in fields]
  table = readers.read_columns(path, '\t', list(fields), kinds, header=True,
                               what=what)
  index = readers.lookup_ids(item_ids, table['item_id'])
  features = {}
  for name, kind in fields.items():
    if name == title:
      continue
    if kind == 'float_seq':
      features[name] = _dense(table, name)[index >= 0]
    elif kind == 'token_seq':
      features[name], _ = readers.multi_hot(table[name][index >= 0], None)
  rated = index[index >= 0]
  missing = len(item_ids) - len(np.unique(rated))
  if missing:
    logging.warning('%s lacks %d of the %d items of the interactions: they '
                    'get no name and zero features.', path, missing,
                    len(item_ids))
  features = {name: readers.scatter_rows(rated, f, len(item_ids))
              for name, f in features.items()}
  names = None
  if title is not None:
    names = readers.scatter_rows(rated, table[title][index >= 0],
                                 len(item_ids))
  return names, features


def load_recbole(path: readers.PathLike, duplicates: str = 'error') -> Dataset:
  """Reads RecBole atomic files as unsplit interactions (all in train).

  Args:
    path: a .inter file, or a folder holding exactly one. The sibling
      <same stem>.item, when it exists, gives item names and features.
    duplicates: 'error', 'keep_first' or 'keep_last' for repeated (user,
      item) rows.

  Returns:
    A Dataset named after the file stem with train = every interaction
    (int32 user/item, float32 rating and int64 timestamp when present),
    empty val/test, the raw ids, and the .item file's names and features.
  """
  inter_path = find_inter(path)
  table = read_inter(inter_path)
  user, user_ids = remap_ids(table['user_id'])
  item, item_ids = remap_ids(table['item_id'])
  rating = table.columns.get('rating')
  timestamp = table.columns.get('timestamp')
  train = Interactions(
      user, item, None if rating is None else rating.astype(np.float32),
      None if timestamp is None else np.round(timestamp).astype(np.int64))
  stem = os.path.splitext(inter_path)[0]
  names, features = None, {}
  if os.path.isfile(stem + '.item'):
    names, features = read_items(stem + '.item', item_ids)
  return dedupe.unsplit_dataset(
      os.path.basename(stem), os.fspath(path), train, user_ids, item_ids,
      names, features, duplicates, inter_path, table.line)
