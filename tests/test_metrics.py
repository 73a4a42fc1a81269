"""Ranking metrics against values computed by hand on tiny rankings."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import metrics
from jaxrec.data.dataset import Interactions


def _user_items(pairs, num_users):
  pairs = np.asarray(pairs, np.int32).reshape(-1, 2)
  return metrics.UserItems([Interactions(pairs[:, 0], pairs[:, 1])], num_users)


def _fixed_scores(table, users):
  """ScoreFn over a fixed [U, I] score table."""
  return table[users]


def _eval(scores, truth, exclude, ks, chunk_size=2):
  scores = jnp.asarray(scores, jnp.float32)
  u, i = scores.shape
  return metrics.evaluate(_fixed_scores, scores, _user_items(truth, u),
                          _user_items(exclude, u), i, ks, chunk_size)


D = 1.0 / np.log2(np.arange(2, 12))  # discounts of ranks 0..9


def test_hand_computed_values():
  # 6 items. User 0: ranking 0,1,2,3,4,5 with item 1 excluded -> top list
  # 0,2,3,4,5; truth {2, 5} -> hits at ranks 1 and 4.
  # User 1: ranking 5,4,3,2,1,0; truth {5} -> hit at rank 0.
  # User 2: no truth -> skipped.
  scores = [[6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1]]
  truth = [(0, 2), (0, 5), (1, 5)]
  exclude = [(0, 1), (2, 0)]
  got = _eval(scores, truth, exclude, ks=(1, 3, 5))
  assert got['num_evaluated'] == 2
  # K = 3: user 0 top 0,2,3 -> 1 hit; user 1 top 5,4,3 -> 1 hit.
  assert got['precision@3'] == pytest.approx((1 / 3 + 1 / 3) / 2)
  assert got['recall@3'] == pytest.approx((1 / 2 + 1) / 2)
  ndcg0 = D[1] / (D[0] + D[1])  # IDCG over min(|T|=2, K=3) = 2 ranks.
  assert got['ndcg@3'] == pytest.approx((ndcg0 + 1.0) / 2)
  assert got['hit@3'] == pytest.approx(1.0)
  # K = 5: user 0 hits at ranks 1 and 4.
  assert got['recall@5'] == pytest.approx(1.0)
  assert got['ndcg@5'] == pytest.approx(((D[1] + D[4]) / (D[0] + D[1]) + 1) / 2)
  # K = 1: only user 1 hits; IDCG over min(|T|, 1) = 1 rank.
  assert got['precision@1'] == pytest.approx(0.5)
  assert got['ndcg@1'] == pytest.approx(0.5)
  assert got['hit@1'] == pytest.approx(0.5)


def test_ties_break_by_lower_item_id():
  # All scores equal: the top-2 is items 0 and 1.
  got = _eval([[0, 0, 0, 0]], truth=[(0, 1)], exclude=[], ks=(1, 2))
  assert got['hit@1'] == 0.0
  assert got['ndcg@2'] == pytest.approx(D[1] / D[0])
  got = _eval([[0, 0, 0, 0]], truth=[(0, 0)], exclude=[(0, 0)], ks=(3,))
  assert got['hit@3'] == 0.0  # an excluded truth item never counts


def test_fewer_truth_items_than_k():
  # One truth item ranked first: a perfect nDCG even at K = 5 (IDCG over 1).
  got = _eval([[9, 1, 1, 1, 1, 1, 1]], truth=[(0, 0)], exclude=[], ks=(5,))
  assert got['ndcg@5'] == pytest.approx(1.0)
  assert got['recall@5'] == pytest.approx(1.0)
  assert got['precision@5'] == pytest.approx(0.2)


def test_chunking_does_not_change_results():
  rng = np.random.default_rng(0)
  scores = rng.normal(size=(11, 30))
  truth = [(u, i) for u in range(11) for i in rng.choice(30, 3, replace=False)
           if u != 4]  # user 4 has no truth
  exclude = [(u, i) for u in range(11) for i in range(u, u + 2)]
  a = _eval(scores, truth, exclude, ks=(5, 10), chunk_size=3)
  b = _eval(scores, truth, exclude, ks=(5, 10), chunk_size=64)
  assert a == pytest.approx(b)
  assert a['num_evaluated'] == 10


def test_excluded_items_are_never_recommended():
  # Items 0-2 excluded and top-scored: the top-3 must be items 3-5.
  got = _eval([[9, 9, 9, 1, 1, 1]], truth=[(0, 3), (0, 4), (0, 5)],
              exclude=[(0, 0), (0, 1), (0, 2)], ks=(3,))
  assert got['precision@3'] == pytest.approx(1.0)
  assert got['ndcg@3'] == pytest.approx(1.0)


def test_most_popular_ranks_by_train_counts():
  train = Interactions(np.array([0, 1, 2, 2], np.int32),
                       np.array([3, 3, 3, 1], np.int32))
  pop = metrics.item_popularity(train, 4)
  np.testing.assert_array_equal(pop, [0, 1, 0, 3])
  truth = metrics.UserItems([Interactions(np.array([0], np.int32),
                                          np.array([1], np.int32))], 3)
  got = metrics.evaluate(metrics.most_popular_scores, jnp.asarray(pop), truth,
                         metrics.UserItems([train], 3), 4, ks=(1,))
  # User 0 has item 3 excluded, so the most popular remaining is item 1.
  assert got['hit@1'] == 1.0


def test_nan_scores_are_reported():
  with pytest.raises(FloatingPointError, match='NaN'):
    _eval([[np.nan, 1.0, 0.0]], truth=[(0, 1)], exclude=[], ks=(1,))
