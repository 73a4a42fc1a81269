"""Repeated (user, item) pairs, as loaders find them: refuse, or keep one.

Loaders call this right after reading, with the file and line of every row,
so that an error names both places a pair occurs.
"""

from __future__ import annotations

from typing import Mapping, Optional

from absl import logging
import numpy as np

from jaxrec import checks
from jaxrec.data.dataset import DataError, Dataset, Interactions

DUPLICATE_POLICIES = ('error', 'keep_first', 'keep_last')
SPLIT_NAMES = ('train', 'val', 'test')


def _pair_key(inter: Interactions, num_items: int) -> np.ndarray:
  """int64 [n] key identifying each row's (user, item) pair."""
  return inter.user.astype(np.int64) * num_items + inter.item


def _fix(where: str) -> str:
  """The fix suggested for duplicate rows."""
  return (f"Fix: remove the repeated rows {where}, or set config.data."
          f"duplicates='keep_first' or 'keep_last' to keep one of each.")


def _dedupe_within(ds: Dataset, name: str, file: str, line: np.ndarray,
                   policy: str) -> np.ndarray:
  """Indices of the rows of split `name` to keep under the policy."""
  part = getattr(ds, name)
  key = _pair_key(part, ds.num_items)
  uniq, first, inverse = np.unique(key, return_index=True,
                                   return_inverse=True)
  if len(uniq) == len(key):
    return np.arange(len(key))
  if policy == 'error':
    repeat = np.ones(len(key), bool)
    repeat[first] = False
    r = np.flatnonzero(repeat)[0]
    f = first[inverse[r]]
    pairs = int(np.sum(np.bincount(inverse) > 1))
    raise DataError(
        f'{file}: user {ds.user_ids[part.user[r]]} and item '
        f'{ds.item_ids[part.item[r]]} appear on line {line[f]} and again on '
        f'line {line[r]}; {pairs} (user, item) pairs occur more than once '
        f'({len(key) - len(uniq)} extra rows). {_fix("from " + file)}')
  if policy == 'keep_last':
    _, last_reversed = np.unique(key[::-1], return_index=True)
    return np.sort(len(key) - 1 - last_reversed)
  return np.sort(first)


def _seen_earlier(ds: Dataset, part: Interactions, key: np.ndarray,
                  file: str, line: np.ndarray, earlier: list,
                  policy: str) -> np.ndarray:
  """bool [n]: rows of `part` whose pair an earlier split already holds.

  Args:
    ds: the dataset, for raw ids in messages.
    part: [n] the split's rows, deduplicated within.
    key: int64 [n] their pair keys.
    file, line: the split's file and [n] line numbers, for messages.
    earlier: (file, sorted keys, their line numbers) of each earlier split.
    policy: 'error' raises at the first such row.
  """
  seen = np.zeros(len(part), bool)
  for e_file, e_keys, e_lines in earlier:
    if not len(key) or not len(e_keys):
      continue  # np.isin would still sort the other side.
    in_e = np.isin(key, e_keys)
    if policy == 'error' and np.any(in_e):
      r = np.flatnonzero(in_e)[0]
      e_line = e_lines[np.searchsorted(e_keys, key[r])]
      raise DataError(
          f'user {ds.user_ids[part.user[r]]} and item '
          f'{ds.item_ids[part.item[r]]} are in both {e_file} (line '
          f'{e_line}) and {file} (line {line[r]}); {int(in_e.sum())} pairs '
          f'of {file} are already in {e_file}, which leaks them from '
          f'training into evaluation. {_fix("from " + file)}')
    seen |= in_e
  return seen


def check_duplicates(
    dataset: Dataset,
    policy: str = 'error',
    files: Optional[Mapping[str, str]] = None,
    lines: Optional[Mapping[str, np.ndarray]] = None,
) -> tuple[Dataset, dict[str, int]]:
  """Applies a duplicates policy within each split and across splits.

  A (user, item) pair repeated within a split, or present in two splits,
  either raises (policy 'error') or is reduced to one row: 'keep_first' /
  'keep_last' keep that occurrence within a split, and a pair already in an
  earlier split (train before val before test) is dropped from the later one.

  Args:
    dataset: the dataset as read (contiguous ids, raw ids in user_ids and
      item_ids for the messages).
    policy: 'error', 'keep_first' or 'keep_last' (config.data.duplicates).
    files: split name -> the file it was read from, for messages.
    lines: split name -> int64 [n] 1-based line number of each row; row
      numbers when absent.

  Returns:
    (dataset, removed): the deduplicated dataset and, per split name, how many
    rows were dropped from it.
  """
  checks.check_choice(policy, 'config.data.duplicates', DUPLICATE_POLICIES)
  files, lines = dict(files or {}), dict(lines or {})
  earlier = []  # (file, sorted keys, their line numbers) of earlier splits.
  removed = {}
  for name in SPLIT_NAMES:
    part = getattr(dataset, name)
    file = files.get(name, f'the {name} split')
    line = np.asarray(lines.get(name, np.arange(1, len(part) + 1)))
    keep = _dedupe_within(dataset, name, file, line, policy)
    part, line = part.select(keep), line[keep]
    key = _pair_key(part, dataset.num_items)
    seen = _seen_earlier(dataset, part, key, file, line, earlier, policy)
    part, line = part.select(~seen), line[~seen]
    removed[name] = len(getattr(dataset, name)) - len(part)
    if removed[name]:
      logging.warning('%s: dropped %d repeated (user, item) rows '
                      '(config.data.duplicates=%r).', file, removed[name],
                      policy)
    dataset = dataset.replace(**{name: part})
    order = np.argsort(key[~seen], kind='stable')
    earlier.append((file, key[~seen][order], line[order]))
  return dataset, removed


def unsplit_dataset(name: str, source: str, train: Interactions,
                    user_ids: np.ndarray, item_ids: np.ndarray,
                    item_names: Optional[np.ndarray],
                    item_features: Mapping[str, np.ndarray], duplicates: str,
                    file: str, lines: np.ndarray) -> Dataset:
  """A Dataset of one interaction log (all in train), duplicates checked.

  Args:
    name, source, user_ids, item_ids, item_names, item_features: see Dataset.
    train: [n] the log's interactions.
    duplicates: the duplicates policy (see check_duplicates).
    file: the file the log was read from, for messages.
    lines: int64 [n] 1-based line number of each row in `file`.

  Returns:
    The Dataset, with empty val and test.
  """
  empty = Interactions.empty(like=train)
  dataset = Dataset(name=name, source=source, num_users=len(user_ids),
                    num_items=len(item_ids), train=train, val=empty,
                    test=empty, user_ids=user_ids, item_ids=item_ids,
                    item_names=item_names, item_features=item_features)
  dataset, _ = check_duplicates(dataset, duplicates, files={'train': file},
                                lines={'train': lines})
  return dataset
