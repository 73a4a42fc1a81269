"""Per-user ratio and k-fold splits, and the split a run trains on.

`prepare` is where a raw dataset (everything as read, before splitting)
becomes a run's train / val / test: likes kept or marked, split, checked.
"""

from __future__ import annotations

from typing import Optional

import ml_collections
import numpy as np

from jaxrec import checks
from jaxrec.data import likes
from jaxrec.data.dataset import DataError, Dataset, Interactions
from jaxrec.errors import ConfigError

ORDERS = ('random', 'time')
SPLITS = ('given', 'ratio', 'kfold')

# Separate random streams, so that carving validation out of a train split
# made with the same seed does not reuse the test split's shuffle.
_TEST_STREAM = 0
_VAL_STREAM = 1


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
  checks.check_choice(order, 'config.data.split_order', ORDERS)
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


def split(ds: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """Applies cfg.split ('given', 'ratio' or 'kfold'), then carves validation."""
  if cfg.split not in SPLITS:
    raise DataError(f'config.data.split={cfg.split!r} is not one of {SPLITS}.')
  if cfg.split == 'given':
    if not len(ds.test):
      raise DataError(
          f'{ds.source}: config.data.split="given" but the data has no test '
          f"file. Use config.data.split='ratio' or 'kfold', or add the file.")
  else:
    pool = ds.all_interactions()
    if cfg.split == 'ratio':
      train, test = ratio_split(pool, cfg.test_ratio, cfg.split_seed,
                                cfg.split_order)
    else:
      if not 0 <= cfg.fold < cfg.num_folds:
        raise DataError(f'config.data.fold={cfg.fold} must be in '
                        f'[0, config.data.num_folds={cfg.num_folds}).')
      train, test = kfold_split(pool, cfg.num_folds, cfg.fold,
                                cfg.split_seed)
    empty = type(pool).empty(like=pool)
    ds = ds.replace(train=train, val=empty, test=test)
  if not len(ds.val) and cfg.val_ratio > 0:
    ds = carve_validation(ds, cfg.val_ratio, cfg.split_seed, cfg.split_order)
  return ds


def _check_likes(ds: Dataset, rule: str) -> None:
  """Refuses signed train or test splits without likes (rule: for messages)."""
  for name, role in (('train', 'the positive graph'),
                     ('test', 'the ground truth of evaluation')):
    if not len(getattr(ds, name).likes()):
      raise DataError(
          f'{ds.source}: the {name} split has no likes ({rule}), and its '
          f'likes are {role}; all {len(getattr(ds, name))} rows are '
          f'dislikes. Fix: loosen config.data.positive / min_rating / '
          f'threshold, or change the split (config.data.split, test_ratio,'
          f' fold).')


def check(ds: Dataset,
          cfg: Optional[ml_collections.ConfigDict] = None) -> None:
  """Refuses splits a run cannot use (empty train or test, ids out of range).

  Args:
    ds: the split dataset.
    cfg: `config.data`, to name the like rule in messages about signed data.
  """
  for name in ('train', 'test'):
    if not len(getattr(ds, name)):
      raise DataError(f'{ds.source}: the {name} split is empty after filtering '
                      f'and splitting; check config.data.positive / '
                      f'min_rating and the split ratios.')
  if ds.signed:
    _check_likes(ds, 'the config.data.positive rule' if cfg is None
                 else likes.like_rule(cfg))
  for name in ('train', 'val', 'test'):
    part = getattr(ds, name)
    if len(part) and (part.user.min() < 0 or part.user.max() >= ds.num_users
                      or part.item.min() < 0
                      or part.item.max() >= ds.num_items):
      raise DataError(f'{ds.source}: {name} ids out of range '
                      f'[0, {ds.num_users}) x [0, {ds.num_items}).')
  for m, f in ds.item_features.items():
    if f.shape[0] != ds.num_items:
      raise DataError(f'{ds.source}: item features {m!r} have {f.shape[0]} '
                      f'rows for {ds.num_items} items.')
    if not np.all(np.isfinite(f)):
      raise DataError(f'{ds.source}: item features {m!r} contain NaN or inf.')
  for m, bag in ds.item_bags.items():
    if bag.ndim != 2 or bag.shape[0] != 2 or (
        bag.size and not 0 <= bag[0].min() <= bag[0].max() < ds.num_items):
      raise DataError(f'{ds.source}: bag of words {m!r} must be [2, n] '
                      f'(item, word) pairs with items in [0, {ds.num_items}).')


def prepare(raw: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """The split a run trains on, from the dataset as read.

  Implicit feedback (cfg.feedback='implicit') keeps the positives before
  splitting (the RecBole convention), so ratios apply to the positive
  interactions. Signed feedback keeps every rating and marks it as a like or
  a dislike before splitting (SiReN's and PANE-GNN's protocol): the split
  sees all ratings and every row keeps its sign.

  Args:
    raw: the dataset as a loader returns it (all rows in train unless its
      files are split).
    cfg: `config.data` (see jaxrec/data/config.py for the fields).

  Returns:
    The Dataset with train / val / test filled in and checked; for signed
    feedback each part's `liked` is set.
  """
  if cfg.feedback == 'signed':
    ds = likes.mark_likes(raw, cfg)
  else:
    ds = likes.keep_positive(raw, cfg)
  ds = split(ds, cfg)
  check(ds, cfg)
  return ds
