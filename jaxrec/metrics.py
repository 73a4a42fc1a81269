"""Full-ranking top-K evaluation: precision, recall, nDCG and hit rate.

Every item is ranked for every evaluated user. Items to exclude (train
items, and validation items when scoring test) get -inf before the top-K.
Users without ground truth are skipped. Users are scored in fixed-size
chunks, the last one padded, so the device program compiles once.
Ties are broken by item id (lower first), as `lax.top_k` does.

Definitions for a user with truth set T and top-K list L:
  precision@K = |L & T| / K
  recall@K    = |L & T| / |T|
  nDCG@K      = sum_{r: L[r] in T} 1/log2(r + 2) / sum_{r < min(|T|, K)} 1/log2(r + 2)
  hit@K       = 1 if L & T else 0
Each is averaged over the evaluated users.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data.dataset import Interactions
from jaxrec.errors import ConfigError, DataError, TrainingDiverged

METRICS = ('precision', 'recall', 'ndcg', 'hit')
# score_fn(outputs, users [C]) -> scores [C, I]; outputs is any pytree.
ScoreFn = Callable[[Any, jax.Array], jax.Array]


class UserItems:
  """Per-user item lists in CSR form (host numpy).

  Attributes:
    indptr: int64 [U + 1]; user u's items are indices[indptr[u]:indptr[u+1]].
    indices: int32 [n] item ids, grouped by user.
  """

  def __init__(self, parts: Sequence[Interactions], num_users: int):
    users = np.concatenate([p.user for p in parts]).astype(np.int64)
    items = np.concatenate([p.item for p in parts]).astype(np.int32)
    order = np.argsort(users, kind='stable')
    self.indices = items[order]
    self.indptr = np.concatenate(
        [[0], np.cumsum(np.bincount(users, minlength=num_users))])

  def counts(self) -> np.ndarray:
    """int [U] number of items per user."""
    return np.diff(self.indptr)

  def dense(self, users: np.ndarray, num_items: int) -> np.ndarray:
    """bool [len(users), I] with True where the user has the item."""
    starts, ends = self.indptr[users], self.indptr[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                                   lengths)
    out = np.zeros((len(users), num_items), bool)
    out[rows, self.indices[np.repeat(starts, lengths) + offsets]] = True
    return out


def _discounts(k: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(k) + 2.0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _chunk_sums(score_fn: ScoreFn, ks: tuple[int, ...], outputs, users,
                exclude, truth, valid):
  """Sums of each metric over the valid users of one chunk.

  Args:
    score_fn: see ScoreFn.
    ks: cut-offs, e.g. (10, 20).
    outputs: the model's evaluation outputs.
    users: int32 [C] user ids (padding rows repeat a real id).
    exclude: bool [C, I] items to rank last (-inf).
    truth: bool [C, I] ground truth.
    valid: float32 [C] 1 for real users with truth, else 0.

  Returns:
    dict 'metric@k' -> float32 sum over the chunk's valid users, and 'nan':
    the number of NaN scores.
  """
  scores = score_fn(outputs, users).astype(jnp.float32)
  out = {'nan': jnp.sum(jnp.isnan(scores) & (valid[:, None] > 0))}
  scores = jnp.where(exclude, -jnp.inf, scores)
  _, top = jax.lax.top_k(scores, max(ks))
  hits = jnp.take_along_axis(truth, top, axis=1).astype(jnp.float32)
  n_truth = truth.sum(axis=1).astype(jnp.float32)
  discount = jnp.asarray(_discounts(max(ks)), jnp.float32)
  ideal = jnp.cumsum(discount)
  for k in ks:
    n_hit = hits[:, :k].sum(axis=1)
    dcg = (hits[:, :k] * discount[:k]).sum(axis=1)
    idcg = ideal[jnp.clip(jnp.minimum(n_truth, k).astype(jnp.int32) - 1, 0)]
    per_user = {
        'precision': n_hit / k,
        'recall': n_hit / jnp.maximum(n_truth, 1.0),
        'ndcg': dcg / idcg,
        'hit': (n_hit > 0).astype(jnp.float32),
    }
    for name in METRICS:
      out[f'{name}@{k}'] = jnp.sum(per_user[name] * valid)
  return out


def evaluate(score_fn: ScoreFn, outputs, truth: UserItems,
             exclude: UserItems, num_items: int,
             ks: Sequence[int] = (10, 20), chunk_size: int = 256
             ) -> dict[str, float]:
  """Full-ranking metrics averaged over the users that have truth items.

  Args:
    score_fn: (outputs, users [C]) -> scores [C, I]; must be jit-compatible.
    outputs: pytree the scores are computed from (e.g. final embeddings).
    truth: the held-out items per user.
    exclude: items never to recommend per user (e.g. train items).
    num_items: I.
    ks: cut-offs.
    chunk_size: users per device call.

  Returns:
    dict 'precision@K', 'recall@K', 'ndcg@K', 'hit@K' for each K, and
    'num_evaluated' (how many users, or anchor items, were evaluated).
  """
  ks = tuple(sorted(int(k) for k in ks))
  if ks[-1] > num_items:
    raise ConfigError(f'Cut-off K={ks[-1]} (config.eval_ks) exceeds the '
                      f'{num_items} items.')
  users = np.flatnonzero(truth.counts() > 0)
  if not len(users):
    raise DataError('No user has ground-truth items in this split: nothing '
                    'to evaluate.')
  sums = None
  for start in range(0, len(users), chunk_size):
    chunk = users[start:start + chunk_size]
    valid = np.zeros(chunk_size, np.float32)
    valid[:len(chunk)] = 1.0
    chunk = np.concatenate([chunk, np.full(chunk_size - len(chunk), chunk[0])])
    part = _chunk_sums(score_fn, ks, outputs, chunk.astype(np.int32),
                       exclude.dense(chunk, num_items),
                       truth.dense(chunk, num_items), valid)
    sums = part if sums is None else jax.tree.map(jnp.add, sums, part)
  sums = jax.device_get(sums)
  if sums.pop('nan'):
    raise TrainingDiverged('The model produced NaN scores: training has '
                             'diverged (try a lower learning_rate).')
  result = {k: float(v) / len(users) for k, v in sums.items()}
  result['num_evaluated'] = len(users)
  return result


def most_popular_scores(popularity: jax.Array, users: jax.Array) -> jax.Array:
  """ScoreFn of the MostPop baseline: every user gets the item counts."""
  return jnp.broadcast_to(popularity, (users.shape[0], popularity.shape[0]))


def item_popularity(train: Interactions, num_items: int) -> np.ndarray:
  """float32 [I] train interaction count per item (MostPop's outputs)."""
  return np.bincount(train.item, minlength=num_items).astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _gather_scores(score_fn: ScoreFn, outputs, anchors, rows, cols):
  """Scores of (anchors[rows[p]], cols[p]) pairs from one chunk's rows."""
  return score_fn(outputs, anchors)[rows, cols].astype(jnp.float32)


def pair_scores(score_fn: ScoreFn, outputs, src: np.ndarray, dst: np.ndarray,
                chunk_size: int = 256) -> np.ndarray:
  """Scores of (src, dst) pairs with a ranking ScoreFn, in fixed-size chunks.

  Args:
    score_fn: (outputs, anchors [C]) -> scores [C, I].
    outputs: its outputs.
    src: int [P] anchor of each pair.
    dst: int [P] item of each pair.
    chunk_size: anchors per device call.

  Returns:
    float32 [P] the score of dst in src's ranking.
  """
  anchors, inverse = np.unique(src, return_inverse=True)
  chunk_of = inverse // chunk_size
  order = np.argsort(chunk_of, kind='stable')
  bounds = np.searchsorted(chunk_of[order], np.arange(chunk_of.max() + 2))
  # Pairs per call are padded to one size, so the program compiles once.
  width = int(np.diff(bounds).max())
  out = np.zeros(len(src), np.float32)
  for c in range(len(bounds) - 1):
    chunk = anchors[c * chunk_size:(c + 1) * chunk_size]
    chunk = np.concatenate([chunk, np.full(chunk_size - len(chunk), chunk[0])])
    idx = order[bounds[c]:bounds[c + 1]]
    rows = np.zeros(width, np.int32)
    cols = np.zeros(width, np.int32)
    rows[:len(idx)] = inverse[idx] - c * chunk_size
    cols[:len(idx)] = dst[idx]
    scores = _gather_scores(score_fn, outputs, chunk.astype(np.int32), rows,
                            cols)
    out[idx] = np.asarray(scores)[:len(idx)]
  return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
  """Area under the ROC curve: P(pos score > neg score), ties counting 1/2.

  Args:
    pos: [P] scores of positive pairs.
    neg: [Q] scores of negative pairs.

  Returns:
    The AUC (Mann-Whitney U / (P Q)).
  """
  scores = np.concatenate([pos, neg]).astype(np.float64)
  order = np.argsort(scores, kind='stable')
  ranks = np.empty(len(scores))
  ranks[order] = np.arange(1, len(scores) + 1)
  # Tied scores share their average rank.
  uniq, inverse, counts = np.unique(scores, return_inverse=True,
                                    return_counts=True)
  if len(uniq) < len(scores):
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
  u = ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
  return float(u / (len(pos) * len(neg)))
