"""Tests of positive filtering, ratio / k-fold splits and duplicate checks."""

import numpy as np
import pytest

from jaxrec.data import dedupe
from jaxrec.data import likes
from jaxrec.data import splits
from jaxrec.data.dataset import DataError, Dataset, Interactions
from jaxrec.errors import ConfigError


def table(num_users=300, seed=0):
  """Synthetic interactions: users with 1..40 rows; timestamp = row id."""
  rng = np.random.default_rng(seed)
  sizes = rng.integers(1, 41, num_users)
  user = np.repeat(np.arange(num_users), sizes)
  perm = rng.permutation(len(user))  # Rows of a user are not contiguous.
  user = user[perm].astype(np.int32)
  n = len(user)
  item = rng.integers(0, 1000, n).astype(np.int32)
  rating = rng.integers(1, 6, n).astype(np.float32)
  return Interactions(user, item, rating, np.arange(n, dtype=np.int64))


def rows(inter):
  """Row ids of a split of `table()` (stored in the timestamp)."""
  return inter.timestamp


def assert_partition(inter, parts):
  """Asserts the parts' rows are disjoint and together are inter's rows."""
  ids = np.concatenate([rows(p) for p in parts])
  np.testing.assert_array_equal(np.sort(ids), rows(inter))


def per_user(inter, num_users):
  """Interactions per user."""
  return np.bincount(inter.user, minlength=num_users)


# --- filter_positive ---------------------------------------------------------


def test_filter_positive_rules():
  """Rules 'all', 'rating' and 'label' keep the right rows."""
  inter = Interactions(np.arange(4, dtype=np.int32), np.zeros(4, np.int32),
                       np.array([1, 3.5, 4, 5], np.float32))
  assert likes.filter_positive(inter, 'all', 4) is inter
  np.testing.assert_array_equal(
      likes.filter_positive(inter, 'rating', 4).user, [2, 3])
  labels = Interactions(np.arange(3, dtype=np.int32), np.zeros(3, np.int32),
                        np.array([1, 0, 1], np.float32))
  np.testing.assert_array_equal(
      likes.filter_positive(labels, 'label', 0).user, [0, 2])


def test_filter_positive_errors():
  """Non-0/1 labels, a missing rating column, an unknown rule."""
  inter = Interactions(np.arange(2, dtype=np.int32), np.zeros(2, np.int32),
                       np.array([1, 3], np.float32))
  with pytest.raises(DataError, match="'label'.*config.data.positive"):
    likes.filter_positive(inter, 'label', 0)
  bare = Interactions(inter.user, inter.item)
  with pytest.raises(DataError, match="'rating'.*config.data.positive='all'"):
    likes.filter_positive(bare, 'rating', 4)
  assert likes.filter_positive(bare, 'all', 4) is bare
  with pytest.raises(ConfigError, match='config.data.positive'):
    likes.filter_positive(inter, 'liked', 4)


# --- ratio_split -------------------------------------------------------------


def test_ratio_split_deterministic_in_seed():
  """Same seed, same split; another seed, another split."""
  inter = table()
  a_train, a_test = splits.ratio_split(inter, 0.2, seed=1)
  b_train, b_test = splits.ratio_split(inter, 0.2, seed=1)
  _, c_test = splits.ratio_split(inter, 0.2, seed=2)
  np.testing.assert_array_equal(rows(a_test), rows(b_test))
  np.testing.assert_array_equal(rows(a_train), rows(b_train))
  assert not np.array_equal(rows(a_test), rows(c_test))


@pytest.mark.parametrize('ratio', [0.1, 0.2, 0.5])
def test_ratio_split_per_user_counts(ratio):
  """Each user's test share is round(n * ratio), >= 1, < n."""
  inter = table()
  train, test = splits.ratio_split(inter, ratio, seed=0)
  assert_partition(inter, [train, test])
  n = per_user(inter, 300)
  n_test = per_user(test, 300)
  expected = np.minimum(np.maximum(np.floor(n * ratio + 0.5), n >= 2), n - 1)
  np.testing.assert_array_equal(n_test, expected)
  assert np.all(per_user(train, 300) >= 1)
  assert abs(len(test) / len(inter) - ratio) < 0.05


def test_ratio_split_small_users():
  """Users with 1, 2, 3 rows; ratio 0 keeps everything in train."""
  user = np.array([0, 1, 1, 2, 2, 2], np.int32)
  inter = Interactions(user, np.arange(6, dtype=np.int32))
  train, test = splits.ratio_split(inter, 0.1, seed=0)
  np.testing.assert_array_equal(per_user(test, 3), [0, 1, 1])
  np.testing.assert_array_equal(per_user(train, 3), [1, 1, 2])
  train, test = splits.ratio_split(inter, 0.0, seed=0)
  assert len(test) == 0 and len(train) == 6


def test_ratio_split_time_order_puts_latest_in_test():
  """Order 'time' puts each user's latest rows in test."""
  inter = table()
  # Shuffle timestamps so they disagree with row order; keep them unique.
  stamps = np.random.default_rng(3).permutation(len(inter)).astype(np.int64)
  inter = Interactions(inter.user, inter.item, inter.rating, stamps)
  train, test = splits.ratio_split(inter, 0.3, seed=0, order='time')
  latest_train = np.full(300, -1)
  np.maximum.at(latest_train, train.user, train.timestamp)
  earliest_test = np.full(300, np.iinfo(np.int64).max)
  np.minimum.at(earliest_test, test.user, test.timestamp)
  assert np.all(latest_train < earliest_test)
  # Time order ignores the seed.
  _, again = splits.ratio_split(inter, 0.3, seed=5, order='time')
  np.testing.assert_array_equal(test.timestamp, again.timestamp)


def test_ratio_split_errors():
  """No timestamps for time order, unknown order, ratio out of range."""
  inter = table(10)
  with pytest.raises(DataError, match='timestamps'):
    splits.ratio_split(Interactions(inter.user, inter.item), 0.2, 0, 'time')
  with pytest.raises(ConfigError, match='split_order'):
    splits.ratio_split(inter, 0.2, 0, 'newest')
  with pytest.raises(ConfigError, match='ratio'):
    splits.ratio_split(inter, 1.0, 0)


# --- kfold_split -------------------------------------------------------------


def test_kfold_folds_disjoint_cover_and_balanced():
  """Folds partition the rows into near-equal parts; seeded."""
  inter = table()
  k = 5
  tests = []
  for fold in range(k):
    train, test = splits.kfold_split(inter, k, fold, seed=0)
    assert_partition(inter, [train, test])
    assert len(test) in (len(inter) // k, -(-len(inter) // k))
    tests.append(test)
  assert_partition(inter, tests)
  _, other = splits.kfold_split(inter, k, 0, seed=1)
  assert not np.array_equal(rows(tests[0]), rows(other))
  _, same = splits.kfold_split(inter, k, 0, seed=0)
  np.testing.assert_array_equal(rows(tests[0]), rows(same))


def test_kfold_bad_arguments():
  """A fold out of range or a single fold is refused."""
  with pytest.raises(ConfigError, match='fold'):
    splits.kfold_split(table(10), 5, 5, 0)
  with pytest.raises(ConfigError, match='num_folds'):
    splits.kfold_split(table(10), 1, 0, 0)


# --- carve_validation --------------------------------------------------------


def dataset(train, val=None, test=None, num_users=300, num_items=1000):
  """A Dataset around the given parts."""
  empty = Interactions.empty(like=train)
  return Dataset('t', 'test', num_users, num_items, train,
                 empty if val is None else val, empty if test is None else test,
                 np.arange(num_users).astype(str),
                 np.arange(num_items).astype(str))


def test_carve_validation():
  """Validation comes out of train per user; test is untouched."""
  inter = table()
  train, test = splits.ratio_split(inter, 0.2, seed=0)
  ds = dataset(train, test=test)
  assert splits.carve_validation(ds, 0.0, 0) is ds
  carved = splits.carve_validation(ds, 0.1, 0)
  assert_partition(train, [carved.train, carved.val])
  assert carved.test is ds.test
  assert np.all(per_user(carved.train, 300) >= 1)
  assert 0.05 < len(carved.val) / len(train) < 0.15


# --- check_duplicates --------------------------------------------------------


def pairs(users, items, ratings=None):
  """Interactions from lists."""
  return Interactions(np.array(users, np.int32), np.array(items, np.int32),
                      None if ratings is None else
                      np.array(ratings, np.float32))


def test_check_duplicates_within_split():
  """error names both lines; keep_first / keep_last keep that row."""
  ds = dataset(pairs([0, 1, 0, 0], [5, 5, 5, 6], [1, 2, 3, 4]))
  with pytest.raises(DataError) as info:
    dedupe.check_duplicates(ds, 'error', files={'train': 'r.txt'},
                            lines={'train': np.array([2, 3, 4, 5])})
  message = str(info.value)
  for needle in ('r.txt', 'user 0 and item 5', 'line 2', 'line 4',
                 "duplicates='keep_first'"):
    assert needle in message
  first, removed = dedupe.check_duplicates(ds, 'keep_first')
  np.testing.assert_array_equal(first.train.rating, [1, 2, 4])
  assert removed == {'train': 1, 'val': 0, 'test': 0}
  last, _ = dedupe.check_duplicates(ds, 'keep_last')
  np.testing.assert_array_equal(last.train.rating, [2, 3, 4])
  clean = dataset(pairs([0, 1], [5, 5]))
  assert dedupe.check_duplicates(clean)[1] == {'train': 0, 'val': 0, 'test': 0}


def test_check_duplicates_across_splits():
  """A pair in train and test: error, or dropped from test."""
  ds = dataset(pairs([0, 1], [5, 5]), val=pairs([2], [7]),
               test=pairs([1, 3, 2], [5, 5, 7]))
  with pytest.raises(DataError, match=r'a\.txt \(line 2\).*c\.txt \(line 1\)'):
    dedupe.check_duplicates(ds, 'error', files={'train': 'a.txt',
                                                'val': 'b.txt',
                                                'test': 'c.txt'})
  kept, removed = dedupe.check_duplicates(ds, 'keep_last')
  np.testing.assert_array_equal(kept.test.user, [3])
  assert len(kept.train) == 2 and len(kept.val) == 1
  assert removed == {'train': 0, 'val': 0, 'test': 2}
  with pytest.raises(ConfigError, match='duplicates'):
    dedupe.check_duplicates(ds, 'drop')
