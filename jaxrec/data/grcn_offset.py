"""Whether a GRCN folder writes item k as k + N_u, decided from every item id.

The official files offset item ids by the number of users N_u (train.npy,
val_full.npy, test_full.npy and user_item_dict.npy alike); the authors' toy
sets do not. An id below N_u can only be a plain id (or a mistake); an id
at or above N_u can be either, since a plain layout with more items than
users has such ids too. So, over the item ids of all three files:

  - none below N_u: offset;
  - all below N_u: plain (logged, since the official files are offset);
  - some below N_u: plain if N_i is known (num_items, or the row count of
    the dense feature files) and every id is below it. Otherwise the ids
    are mixed, and a DataError names the rows that break the reading with
    the fewest such rows (or, with N_i unknown, the rows below N_u).

A single reading is used for every file: a few stray ids never switch the
whole folder to the other reading (which trained on N_u phantom items, or
blamed the feature files for having N_i rows).
"""

from __future__ import annotations

from typing import Callable, Optional

from absl import logging
import numpy as np

from jaxrec.data import grcn_files
from jaxrec.data.dataset import DataError

_Parts = dict[str, grcn_files.Pairs]
_OFFSET = 'offset by N_u (item k written as k + N_u, as the official files are)'


def _select(parts: _Parts, bad: Callable[[np.ndarray], np.ndarray]
            ) -> dict[str, np.ndarray]:
  """name -> indices of the pairs whose item id bad() marks."""
  return {name: np.flatnonzero(bad(p.item)) for name, p in parts.items()}


def _count(found: dict[str, np.ndarray]) -> int:
  return sum(len(k) for k in found.values())


def _listing(parts: _Parts, found: dict[str, np.ndarray]) -> str:
  """'<file>: row 3 (item id 2), ...; <file>: ...' for the files with any."""
  return '; and '.join(parts[name].where_many(k)
                       for name, k in found.items() if len(k))


def _mixed(parts: _Parts, num_users: int, users_from: str,
           num_items: Optional[int], items_from: str) -> DataError:
  """The DataError for ids that neither reading accepts."""
  total = sum(len(p.item) for p in parts.values())
  low = _select(parts, lambda i: i < num_users)
  head = (f'Item ids are mixed: {_count(low)} of {total} are below '
          f'N_u={num_users} ({users_from}) and the others are not, so they '
          f'are neither all {_OFFSET} nor all plain item ids.')
  if not num_items:
    return DataError(
        f'{head} Below N_u: {_listing(parts, low)}. Fix: correct those ids '
        f'(add N_u) if the files are offset; if they are plain ids and there '
        f'are more items than users, pass the item count '
        f'(--config.data.grcn.num_items) so the two can be told apart.')
  top = num_users + num_items
  as_offset = _select(parts, lambda i: (i < num_users) | (i >= top))
  as_plain = _select(parts, lambda i: i >= num_items)
  if _count(as_offset) <= _count(as_plain):
    return DataError(
        f'{head} Read as offset (ids in [N_u, N_u + N_i) = [{num_users}, '
        f'{top}), N_i={num_items} from {items_from}), these are not: '
        f'{_listing(parts, as_offset)}. Read as plain ids, '
        f'{_count(as_plain)} would not be below N_i. Fix: correct those ids.')
  return DataError(
      f'{head} Read as plain ids (below N_i={num_items}, from {items_from}), '
      f'these are not: {_listing(parts, as_plain)}. Read as offset, '
      f'{_count(as_offset)} would be outside [N_u, N_u + N_i). Fix: correct '
      f'those ids.')


def is_offset(parts: _Parts, num_users: int, users_from: str,
              num_items: Optional[int], items_from: str) -> bool:
  """Whether the item ids of every file are offset by N_u (module docstring).

  Args:
    parts: split name -> the pairs read from its file, ids as written.
    num_users: N_u.
    users_from: where N_u came from, for messages.
    num_items: N_i when known (the num_items argument, or the dense feature
      files' row count), else None.
    items_from: where N_i came from, for messages.

  Returns:
    True for offset ids, False for plain ones.

  Raises:
    DataError: the ids are mixed; the message names the offending rows.
  """
  below = _count(_select(parts, lambda i: i < num_users))
  if not below:
    return True
  plain = (below == sum(len(p.item) for p in parts.values()) or
           (num_items and not _count(_select(parts,
                                             lambda i: i >= num_items))))
  if not plain:
    raise _mixed(parts, num_users, users_from, num_items, items_from)
  logging.warning(
      'item ids in %s are not offset by the number of users (N_u=%d); '
      'added N_u, as the GRCN maintainers advise.',
      ', '.join(p.path for p in parts.values()), num_users)
  return False
