"""Closed-form metric values where the truth set is larger than K.

Each case names the plausible wrong implementation it separates from the
definitions in jaxrec/metrics.py (IDCG over min(|T|, K) ranks, recall over
|T|, precision over K, averages per user).
"""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import metrics
from jaxrec.data.dataset import Interactions

D = 1.0 / np.log2(np.arange(2, 12))  # discount of 0-based rank r: D[r]


def _evaluate(scores, truth, ks):
  scores = jnp.asarray(scores, jnp.float32)
  u, i = scores.shape
  pairs = np.asarray(truth, np.int32).reshape(-1, 2)
  truth = metrics.UserItems([Interactions(pairs[:, 0], pairs[:, 1])], u)
  none = metrics.UserItems([Interactions(np.zeros(0, np.int32),
                                         np.zeros(0, np.int32))], u)
  return metrics.evaluate(lambda t, users: t[users], scores, truth, none, i,
                          ks, chunk_size=2)


# 8 items ranked 0, 1, ..., 7 (score 7 - item). |T| = 4 > K = 2.
RANKED = [[7, 6, 5, 4, 3, 2, 1, 0]]


def test_ndcg_ideal_is_over_min_of_truth_and_k():
  """Truth {0, 2, 4, 6}, K = 2: one hit at rank 0 of two listed.

  nDCG@2 = D0 / (D0 + D1), the ideal list holding min(|T|, K) = 2 hits.
  An IDCG over all |T| = 4 ranks gives D0 / (D0 + D1 + D2 + D3) = 0.39
  instead of 0.61.
  """
  got = _evaluate(RANKED, [(0, 0), (0, 2), (0, 4), (0, 6)], ks=(2,))
  assert got['ndcg@2'] == pytest.approx(D[0] / (D[0] + D[1]))
  assert got['ndcg@2'] != pytest.approx(D[0] / D[:4].sum())


def test_recall_divides_by_truth_size_not_by_k():
  """Same user: recall@2 = 1 / |T| = 1/4; over min(|T|, K) it would be
  1/2. precision@2 = 1/2, hit@2 = 1."""
  got = _evaluate(RANKED, [(0, 0), (0, 2), (0, 4), (0, 6)], ks=(2,))
  assert got['recall@2'] == pytest.approx(0.25)
  assert got['precision@2'] == pytest.approx(0.5)
  assert got['hit@2'] == pytest.approx(1.0)


def test_a_full_top_k_of_hits_is_a_perfect_ndcg():
  """Truth {0, 1, 2, 5, 7}, K = 3: the top 3 are all hits, so nDCG@3 = 1
  (< 1 with IDCG over |T| = 5), recall@3 = 3/5, precision@3 = 1. At K = 6
  (|T| = 5 < K): hits at ranks 0, 1, 2, 5, so nDCG@6 = (D0 + D1 + D2 +
  D5) / (D0 + ... + D4) and precision@6 = 4/6."""
  got = _evaluate(RANKED, [(0, 0), (0, 1), (0, 2), (0, 5), (0, 7)],
                  ks=(3, 6))
  assert got['ndcg@3'] == pytest.approx(1.0)
  assert got['recall@3'] == pytest.approx(3 / 5)
  assert got['precision@3'] == pytest.approx(1.0)
  assert got['ndcg@6'] == pytest.approx(
      (D[0] + D[1] + D[2] + D[5]) / D[:5].sum())
  assert got['recall@6'] == pytest.approx(4 / 5)
  assert got['precision@6'] == pytest.approx(4 / 6)


def test_metrics_are_averaged_per_user_not_pooled():
  """User 0: |T| = 4, one hit in the top 2 (recall 1/4); user 1: |T| = 1,
  a hit (recall 1). The mean is 5/8; pooled hits over pooled truth would be
  2/5. nDCG@2 is the mean of D0 / (D0 + D1) and 1."""
  scores = RANKED + [[0, 1, 2, 3, 4, 5, 6, 7]]  # user 1 ranks item 7 first
  got = _evaluate(scores, [(0, 0), (0, 2), (0, 4), (0, 6), (1, 7)], ks=(2,))
  assert got['num_evaluated'] == 2
  assert got['recall@2'] == pytest.approx((0.25 + 1.0) / 2)
  assert got['ndcg@2'] == pytest.approx((D[0] / (D[0] + D[1]) + 1.0) / 2)
  assert got['precision@2'] == pytest.approx((0.5 + 0.5) / 2)
