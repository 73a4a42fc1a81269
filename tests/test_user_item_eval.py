"""What user-item evaluation ranks and whom it scores (tasks/user_item.py).

MostPop ranks every user's items by one fixed train count, so the values
below follow by hand from the tables in each test; the model's evaluation
goes through the same function.
"""

import logging

import numpy as np
import pytest

from jaxrec import config as config_lib
from jaxrec import cross_validation
from jaxrec import evaluate
from jaxrec import models
from jaxrec import train_state
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.tasks import user_item

NUM_ITEMS = 6


def _inter(pairs):
  pairs = np.asarray(pairs, np.int32).reshape(-1, 2)
  return Interactions(pairs[:, 0], pairs[:, 1])


def _task(num_users, train, val, test):
  """A LightGCN task on a hand-made split, scored at K = 1 and 2."""
  ds = Dataset('hand', 'test', num_users, NUM_ITEMS, _inter(train),
               _inter(val), _inter(test), np.arange(num_users).astype(str),
               np.arange(NUM_ITEMS).astype(str))
  config = config_lib.base('lightgcn')
  config.model.embed_dim = 4
  config.eval_ks = (1, 2)
  config.selection_metric = 'recall@2'
  return user_item.UserItem().from_dataset(config, models.get('lightgcn'),
                                           ds)


def _most_pop(task, split):
  return task.kind.baselines(task, split)['MostPop']


# Train counts: item 1 three times, items 0, 2, 3 once: MostPop ranks
# 1, 0, 2, 3, 4, 5 (ties to the lower id).
MASK_TRAIN = [(0, 0), (1, 1), (1, 2), (2, 1), (2, 3), (3, 1)]


def test_validation_items_are_masked_when_scoring_test_only():
  """Scoring test masks train and val items; scoring val masks train only.

  User 0: train {0}, val {1}, test {2}; user 3: train {1}, val {2}, test {0}.
  Test, user 0: train and val items masked, MostPop's list is 2, 3: a hit
  at rank 1. Left unmasked, val item 1 would take rank 1 (hit@1 = 0).
  Val, user 0: only train masked, the list is 1, 2: a hit at rank 1; were
  val masked too, its own truth could never be listed. Val, user 3: test
  item 0 stays rankable (1 is train), so the list is 0, 2: the hit is at
  rank 2 only; masking test when scoring val would move it to rank 1.
  """
  task = _task(4, MASK_TRAIN, val=[(0, 1), (3, 2)], test=[(0, 2), (3, 0)])
  test = _most_pop(task, 'test')
  # User 3 on test: train {1} and val {2} masked: list 0, 3: hit at rank 1.
  assert test['num_evaluated'] == 2
  assert test['hit@1'] == pytest.approx(1.0)
  val = _most_pop(task, 'val')
  assert val['num_evaluated'] == 2
  assert val['hit@1'] == pytest.approx(0.5)
  assert val['hit@2'] == pytest.approx(1.0)
  # nDCG@2 of user 3: one truth item at rank 2, IDCG over one rank.
  assert val['ndcg@2'] == pytest.approx((1.0 + 1 / np.log2(3)) / 2)


# User 3 has a test like and no train row (cold): MostPop would rank its
# test item 0 first, a hit, from no training at all.
COLD_TRAIN = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 1)]
COLD_TEST = [(0, 2), (1, 3), (2, 0), (3, 0)]


def test_users_without_train_rows_are_skipped_and_counted(caplog):
  """A user with test likes and no train row is skipped, and counted.

  MostPop at K = 1: user 0 lists 2 (hit), user 1 lists 1 (miss), user 2
  lists 0 (hit); the cold user 3 would list 0, a hit: hit@1 3/4 if scored.
  """
  with caplog.at_level(logging.WARNING):
    task = _task(4, COLD_TRAIN, val=[], test=COLD_TEST)
  got = _most_pop(task, 'test')
  assert got['hit@1'] == pytest.approx(2 / 3)
  assert got['recall@1'] == pytest.approx(2 / 3)
  assert got['num_evaluated'] == 3 and got['num_cold_skipped'] == 1
  assert '1 users with test likes have no train interaction' in caplog.text
  # The model's evaluation skips the same user.
  params = train_state.create(task, 0).params
  model = task.kind.evaluate(task, params, 'test')
  assert model['num_evaluated'] == 3 and model['num_cold_skipped'] == 1


def test_counts_are_not_metrics():
  """num_cold_skipped stays out of tables and cross-validation means."""
  row = {'recall@10': 0.5, 'num_evaluated': 3, 'num_cold_skipped': 1}
  assert evaluate.metric_columns([row]) == ['recall@10']
  mean, std = cross_validation.summarize([row, dict(row, **{'recall@10': 0.7})])
  assert set(mean) == set(std) == {'recall@10'}


def test_a_split_with_only_cold_users_has_nothing_to_evaluate():
  task = _task(4, COLD_TRAIN, val=[(3, 1)], test=COLD_TEST)
  assert not task.kind.has_split(task, 'val')
  assert user_item.num_cold(task.data, 'val') == 1
  assert task.kind.has_split(task, 'test')


def test_no_cold_users_leaves_results_unchanged():
  """Without cold users the truth is the split's likes, as before."""
  task = _task(4, MASK_TRAIN, val=[(0, 1), (3, 2)], test=[(0, 2), (3, 0)])
  for split in ('val', 'test'):
    got = user_item.truth(task.data, split)
    likes = getattr(task.data, split)
    np.testing.assert_array_equal(got.counts(),
                                  np.bincount(likes.user, minlength=4))
    assert user_item.num_cold(task.data, split) == 0
