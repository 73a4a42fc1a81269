"""Positive filtering, per-user ratio and k-fold splits, duplicate checks."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from absl import logging
import numpy as np

from jaxrec.data.dataset import DataError, Dataset, Interactions
from jaxrec.errors import ConfigError

RULES = ('all', 'rating', 'threshold', 'label')
ORDERS = ('random', 'time')
DUPLICATE_POLICIES = ('error', 'keep_first', 'keep_last')
SPLIT_NAMES = ('train', 'val', 'test')

# Separate random streams, so that carving validation out of a train split
# made with the same seed does not reuse the test split's shuffle.
_TEST_STREAM = 0
_VAL_STREAM = 1


def _check_choice(value: str, choices: Sequence[str], key: str) -> None:
  """Raises ConfigError unless value is one of choices (config key `key`)."""
  if value not in choices:
    raise ConfigError(f'{key}={value!r} is not one of {list(choices)}.')


def positive_mask(inter: Interactions, rule: str, min_rating: float,
                  threshold: float = 3.5) -> np.ndarray:
  """Which interactions count as positive (likes).

  Args:
    inter: [n] interactions.
    rule: 'all' (every row); 'rating' (rating >= min_rating, RecBole's
      convention); 'threshold' (rating > threshold, SiReN's and PANE-GNN's);
      'label' (rating == 1, and every rating must be a 0/1 label).
    min_rating: the threshold of rule 'rating' (config.data.min_rating).
    threshold: the threshold of rule 'threshold' (config.data.threshold).

  Returns:
    bool [n]: True where the row is positive.
  """
  _check_choice(rule, RULES, 'config.data.positive')
  if rule == 'all':
    return np.ones(len(inter), bool)
  if inter.rating is None:
    raise DataError(
        f"positive rule {rule!r} needs a rating or label column, but these "
        f"interactions have none (e.g. LightGCN text files). Fix: set "
        f"config.data.positive='all'.")
  if rule == 'rating':
    return inter.rating >= min_rating
  if rule == 'threshold':
    return inter.rating > threshold
  bad = (inter.rating != 0) & (inter.rating != 1)
  if np.any(bad):
    others = np.unique(inter.rating[bad])
    raise DataError(
        f"positive rule 'label' needs 0/1 labels, but {int(bad.sum())} "
        f"ratings are other values ({', '.join(map(str, others[:5]))}...). "
        f"Fix: set config.data.positive='rating' with config.data.min_rating"
        f" or 'threshold' with config.data.threshold, or 'all'.")
  return inter.rating == 1


def filter_positive(inter: Interactions, rule: str, min_rating: float,
                    threshold: float = 3.5) -> Interactions:
  """Keeps the interactions that count as positive.

  Args:
    inter: [n] interactions.
    rule: 'all', 'rating', 'threshold' or 'label' (see positive_mask).
    min_rating: the threshold of rule 'rating'.
    threshold: the threshold of rule 'threshold'.

  Returns:
    The [m <= n] kept rows, in their order (inter itself for rule 'all').
  """
  mask = positive_mask(inter, rule, min_rating, threshold)
  return inter if rule == 'all' else inter.select(mask)


def _rank_from_end(user: np.ndarray,
                   key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Each row's rank from the last within its user, ordered by key then row.

  Args:
    user: int [n] user ids.
    key: [n] sort key; the row with the largest key of a user gets rank 0.

  Returns:
    (rank, count): int64 [n] rank from the end within the user, and int64 [n]
    number of rows of that row's user.
  """
  n = len(user)
  order = np.lexsort((np.arange(n), key, user))
  sorted_user = user[order]
  starts = np.flatnonzero(np.r_[True, sorted_user[1:] != sorted_user[:-1]])
  sizes = np.diff(np.r_[starts, n])
  count = np.repeat(sizes, sizes)
  rank_sorted = count - 1 - (np.arange(n) - np.repeat(starts, sizes))
  rank, count_out = np.empty(n, np.int64), np.empty(n, np.int64)
  rank[order] = rank_sorted
  count_out[order] = count
  return rank, count_out


def _num_held_out(count: np.ndarray, ratio: float) -> np.ndarray:
  """Rows to hold out of a user with `count` rows: round(count * ratio).

  At least one when the user has two or more rows (and ratio > 0), and never
  all of them, so every user keeps a training interaction.
  """
  held = np.floor(count * ratio + 0.5).astype(np.int64)
  if ratio > 0:
    held = np.where(count >= 2, np.maximum(held, 1), held)
  return np.minimum(held, count - 1)


def _ratio_split(inter: Interactions, ratio: float, seed: int, order: str,
                 stream: int) -> tuple[Interactions, Interactions]:
  """ratio_split with a chosen random stream."""
  _check_choice(order, ORDERS, 'config.data.split_order')
  if not 0 <= ratio < 1:
    raise ConfigError(f'split ratio {ratio} (config.data.test_ratio / '
                      f'val_ratio) must be in [0, 1).')
  if order == 'time':
    if inter.timestamp is None:
      raise DataError(
          "split order 'time' needs timestamps, but these interactions have "
          "none. Fix: set config.data.split_order='random'.")
    key = inter.timestamp
  else:
    key = np.random.default_rng([seed, stream]).permutation(len(inter))
  rank, count = _rank_from_end(inter.user, key)
  held = rank < _num_held_out(count, ratio)
  return inter.select(~held), inter.select(held)


def ratio_split(inter: Interactions,
                test_ratio: float,
                seed: int,
                order: str = 'random') -> tuple[Interactions, Interactions]:
  """Splits each user's interactions into train and test.

  A user with n rows gives round(n * test_ratio) of them to test (halves
  round up), at least one when n >= 2, and always keeps one in train.

  Args:
    inter: [n] interactions.
    test_ratio: share of each user's rows for test, in [0, 1).
    seed: seed of the shuffle within each user (order 'random').
    order: 'random' (seeded shuffle within the user) or 'time' (each user's
      latest rows go to test; ties broken by row order).

  Returns:
    (train, test): disjoint row subsets covering inter, in input order.
  """
  return _ratio_split(inter, test_ratio, seed, order, _TEST_STREAM)


def kfold_split(inter: Interactions, num_folds: int, fold: int,
                seed: int) -> tuple[Interactions, Interactions]:
  """Cuts a seeded permutation of all rows into folds; one fold is test.

  Args:
    inter: [n] interactions.
    num_folds: number of folds k >= 2; fold sizes differ by at most one.
    fold: the test fold, in [0, k).
    seed: seed of the permutation (the same for every fold of a run).

  Returns:
    (train, test): the other k - 1 folds and fold `fold`, in input order.
  """
  if num_folds < 2 or not 0 <= fold < num_folds:
    raise ConfigError(f'k-fold split needs num_folds >= 2 and 0 <= fold < '
                    f'num_folds; got num_folds={num_folds}, fold={fold}.')
  n = len(inter)
  perm = np.random.default_rng([seed, _TEST_STREAM]).permutation(n)
  fold_of = np.empty(n, np.int64)
  fold_of[perm] = np.arange(n) * num_folds // max(n, 1)
  test = fold_of == fold
  return inter.select(~test), inter.select(test)


def carve_validation(dataset: Dataset, val_ratio: float, seed: int,
                     order: str = 'random') -> Dataset:
  """Moves a per-user share of train into val (see ratio_split).

  Args:
    dataset: a split dataset.
    val_ratio: share of each user's train rows for val; 0 keeps val as is.
    seed: seed of the shuffle (a different stream from ratio_split's).
    order: 'random' or 'time' (each user's latest train rows go to val).

  Returns:
    The dataset with the moved rows appended to val.
  """
  if val_ratio == 0:
    return dataset
  train, val = _ratio_split(dataset.train, val_ratio, seed, order, _VAL_STREAM)
  if len(dataset.val):
    val = Interactions.concat([dataset.val, val])
  return dataset.replace(train=train, val=val)


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
  _check_choice(policy, DUPLICATE_POLICIES, 'config.data.duplicates')
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
    seen = np.zeros(len(part), bool)
    for e_file, e_keys, e_lines in earlier:
      if not len(key) or not len(e_keys):
        continue  # np.isin would still sort the other side.
      in_e = np.isin(key, e_keys)
      if policy == 'error' and np.any(in_e):
        r = np.flatnonzero(in_e)[0]
        e_line = e_lines[np.searchsorted(e_keys, key[r])]
        raise DataError(
            f'user {dataset.user_ids[part.user[r]]} and item '
            f'{dataset.item_ids[part.item[r]]} are in both {e_file} (line '
            f'{e_line}) and {file} (line {line[r]}); {int(in_e.sum())} pairs '
            f'of {file} are already in {e_file}, which leaks them from '
            f'training into evaluation. {_fix("from " + file)}')
      seen |= in_e
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
