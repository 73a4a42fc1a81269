"""Reads transaction logs: a CSV of (order id, item id [, timestamp]) rows."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Optional

import numpy as np

from jaxrec.data import readers
from jaxrec.data.dataset import DataError, remap_ids


@dataclasses.dataclass(frozen=True)
class Baskets:
  """Orders as rows (order, item), items remapped to contiguous ids.

  Attributes:
    order: int64 [n] contiguous order ids.
    item: int32 [n] contiguous item ids.
    timestamp: float64 [n] or None.
    item_ids: [I] raw item ids as strings.
    item_names: [I] strings, or None.
  """

  order: np.ndarray
  item: np.ndarray
  timestamp: Optional[np.ndarray]
  item_ids: np.ndarray
  item_names: Optional[np.ndarray] = None


def _header(path: str) -> list[str]:
  """The comma-separated header fields of a CSV."""
  first = readers.read_text(path, 'a CSV with a header line').split('\n', 1)[0]
  return [f.strip() for f in first.split(',')]


def _column(header: list[str], name: str, path: str, key: str) -> int:
  """Index of a named column, or a DataError naming the config key to set."""
  if name not in header:
    raise DataError(f'{path}: no column {name!r} in the header {header}. '
                    f'Fix: set config.data.baskets.{key} to the right column '
                    f'name.')
  return header.index(name)


def load_baskets(path: str, order_column: str = 'order_id',
                 item_column: str = 'item_id', time_column: str = '',
                 names_path: str = '', name_column: str = 'name') -> Baskets:
  """Reads a transaction CSV (with a header) and optional item names.

  Args:
    path: CSV with a header naming at least `order_column` and `item_column`
      (other columns are ignored); comma-separated, no quoted commas.
    order_column: header name of the order (basket) id.
    item_column: header name of the item id.
    time_column: header name of a numeric timestamp, or '' for none.
    names_path: optional CSV with `item_column` and `name_column` (quoted
      values allowed), e.g. product titles.
    name_column: header name of the item name in names_path.

  Returns:
    The Baskets.
  """
  path = readers.require_file(path, 'a CSV of orders: order id, item id')
  header = _header(path)
  wanted = {_column(header, order_column, path, 'order_column'): 'order',
            _column(header, item_column, path, 'item_column'): 'item'}
  if time_column:
    wanted[_column(header, time_column, path, 'time_column')] = 'time'
  kinds = {'order': 'token', 'item': 'token', 'time': 'float'}
  names = [wanted.get(c, f'_{c}') for c in range(len(header))]
  table = readers.read_columns(
      path, ',', names, [kinds.get(n, 'skip') for n in names], header=True,
      what='a CSV of orders with a header line')
  order, _ = remap_ids(table['order'])
  item, item_ids = remap_ids(table['item'])
  item_names = None
  if names_path:
    item_names = _read_names(names_path, item_column, name_column, item_ids)
  return Baskets(order.astype(np.int64), item,
                 table['time'] if time_column else None, item_ids, item_names)


def _read_names(path: str, id_column: str, name_column: str,
                item_ids: np.ndarray) -> np.ndarray:
  """Item names from a CSV, aligned with item_ids ('' where missing)."""
  text = readers.read_text(path, f'a CSV with columns {id_column}, '
                                 f'{name_column}', encoding=('utf-8',
                                                             'latin-1'))
  rows = list(csv.reader(io.StringIO(text)))
  if not rows or id_column not in rows[0] or name_column not in rows[0]:
    raise DataError(f'{path}: the header must name {id_column!r} and '
                    f'{name_column!r}; it is {rows[0] if rows else "empty"}. '
                    f'Fix: set config.data.baskets.name_column.')
  a, b = rows[0].index(id_column), rows[0].index(name_column)
  table = {r[a]: r[b] for r in rows[1:] if len(r) > max(a, b)}
  return np.array([table.get(i, '') for i in item_ids])

