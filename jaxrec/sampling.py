"""Training batches as a pure function of (seed, epoch, step).

A resumed run, or a run on another number of devices, sees exactly the
batches the uninterrupted run saw: nothing depends on sampler state.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jaxrec.data.dataset import DataError, Interactions


def pair_keys(users: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
  """int64 [n] keys user * I + item, for membership tests by searchsorted."""
  return users.astype(np.int64) * num_items + items.astype(np.int64)


def in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
  """bool [n]: whether each key is in the sorted int64 array sorted_keys."""
  if not len(sorted_keys):
    return np.zeros(np.shape(keys), bool)
  pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
  return sorted_keys[pos] == keys


class Known:
  """The set of (user, item) pairs seen in train, for rejecting negatives.

  Lookups go through a bit matrix (one bit per user-item pair) when it fits
  in DENSE_BITS: ten times faster than a binary search over the pairs for
  the ~40k negatives of a PANE-GNN batch. Larger catalogues use the search.
  """

  DENSE_BITS = 2**30  # 128 MiB

  def __init__(self, users: np.ndarray, items: np.ndarray, num_items: int):
    self.num_items = num_items
    self.keys = np.unique(pair_keys(users, items, num_items))
    num_users = int(users.max()) + 1 if len(users) else 0
    self.bits = None
    if num_users * num_items <= self.DENSE_BITS:
      dense = np.zeros((num_users, num_items), bool)
      dense[users, items] = True
      self.bits = np.packbits(dense, axis=1, bitorder='little')

  def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """bool [n]: whether each (user, item) pair is known."""
    if self.bits is not None:
      users, items = np.asarray(users), np.asarray(items)
      rows = np.minimum(users, len(self.bits) - 1)
      hit = (self.bits[rows, items >> 3] >> (items & 7)) & 1
      return (hit > 0) & (users < len(self.bits))
    return in_sorted(self.keys, pair_keys(users, items, self.num_items))


class AliasTable:
  """Draws from a fixed discrete distribution in O(1) each (Walker / Vose).

  Attributes:
    probs: float64 [I] the distribution.
  """

  def __init__(self, probs: np.ndarray):
    self.probs = np.asarray(probs, np.float64) / np.sum(probs)
    n = len(self.probs)
    scaled = self.probs * n
    self._accept = np.ones(n)
    self._alias = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
      s, l = small.pop(), large.pop()
      self._accept[s], self._alias[s] = scaled[s], l
      scaled[l] -= 1.0 - scaled[s]
      (small if scaled[l] < 1.0 else large).append(l)

  def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
    """int64 [n] indices drawn with probability `probs`."""
    i = rng.integers(0, len(self.probs), n)
    return np.where(rng.random(n) < self._accept[i], i, self._alias[i])


def negatives(users: np.ndarray, known: Known, rng: np.random.Generator,
              sampler: Optional[AliasTable] = None) -> np.ndarray:
  """Items drawn with replacement from those each user has not interacted with.

  Rejection sampling: draw from the whole catalogue, redraw only the known
  pairs until there are none (the caller guarantees every user has an
  unknown item of non-zero probability).

  Args:
    users: int [...] user ids (any shape).
    known: the pairs to avoid (train interactions).
    rng: numpy Generator (seeded by the caller from seed, epoch and step).
    sampler: item distribution, or None for uniform draws.

  Returns:
    int32 [...] item ids, the shape of users, never a known pair.
  """
  flat = np.asarray(users).reshape(-1)

  def draw(n):
    if sampler is None:
      return rng.integers(0, known.num_items, n)
    return sampler.draw(rng, n)

  items = draw(len(flat))
  bad = np.flatnonzero(known.contains(flat, items))
  while len(bad):
    items[bad] = draw(len(bad))
    bad = bad[known.contains(flat[bad], items[bad])]
  return items.astype(np.int32).reshape(np.shape(users))


def popularity(items: np.ndarray, num_items: int, power: float) -> np.ndarray:
  """Item probabilities proportional to train count ** power, float64 [I].

  Items never seen in train have probability 0 (SiReN's and PANE-GNN's
  sampler for ML-1M, with power 0.75, word2vec's exponent).

  Args:
    items: int [n] item ids of the train interactions.
    num_items: I.
    power: exponent of the counts.
  """
  counts = np.bincount(items, minlength=num_items).astype(np.float64)
  weights = np.where(counts > 0, counts ** power, 0.0)
  return weights / weights.sum()


def _check_samplable(users: np.ndarray, known: Known, num_users: int,
                     sampler: Optional[AliasTable]) -> None:
  """Raises DataError for users with no unknown item to sample."""
  probs = (np.full(known.num_items, 1.0 / known.num_items) if sampler is None
           else sampler.probs)
  key_users = known.keys // known.num_items
  known_mass = np.bincount(key_users,
                           weights=probs[known.keys % known.num_items],
                           minlength=num_users)
  stuck = np.flatnonzero(known_mass[np.unique(users)] > 1.0 - 1e-9)
  if len(stuck):
    raise DataError(
        f'Users {np.unique(users)[stuck][:5].tolist()} interacted with every '
        f'item that can be sampled: no negative can be drawn for them. Remove '
        f"them, or use config.negative_sampling='uniform'.")


# Values of config.train_examples (see BPRBatches).
TRAIN_EXAMPLES = ('every_row', 'user_uniform')


class BPRBatches:
  """(user, rated item, negatives) batches over training interactions.

  An epoch has as many examples as there are rows. 'every_row' visits
  every row once, in a seeded random order; 'user_uniform' (LightGCN-
  PyTorch's sampler) draws each example's user uniformly among the users
  with rows, then one of that user's rows uniformly, so every user weighs
  the same whatever their number of rows. The last batch is padded and
  its padding rows carry mask 0. Negatives are items the user has no known
  interaction with, drawn afresh for every batch.
  """

  def __init__(self, train: Interactions, num_users: int, num_items: int,
               batch_size: int, seed: int, known: Optional[Known] = None,
               num_negatives: Optional[int] = None,
               item_probs: Optional[np.ndarray] = None,
               examples: str = 'every_row'):
    """Batches over the rows of `train`.

    Args:
      train: the rows to visit (e.g. the likes, or all signed ratings).
      num_users: U.
      num_items: I.
      batch_size: rows per batch.
      seed: seed of the order and of the negatives.
      known: pairs never drawn as negatives (default: the rows themselves).
      num_negatives: None for one negative per row ('neg' [B]), or K for
        'neg' [B, K].
      item_probs: float [I] probabilities of the negatives (e.g.
        `popularity`), or None for uniform negatives.
      examples: one of TRAIN_EXAMPLES (see the class docstring).
    """
    self.users = train.user.astype(np.int32)
    self.items = train.item.astype(np.int32)
    self.signs = (None if train.liked is None else
                  np.where(train.liked, 1.0, -1.0).astype(np.float32))
    self.known = known or Known(self.users, self.items, num_items)
    self.batch_size = batch_size
    self.seed = seed
    self.num_negatives = num_negatives
    self.sampler = None if item_probs is None else AliasTable(item_probs)
    self.examples = examples
    # Rows grouped by user: user u's rows are by_user[starts[u]:][:counts[u]].
    self._by_user = np.argsort(self.users, kind='stable')
    self._counts = np.bincount(self.users, minlength=num_users)
    self._starts = np.cumsum(self._counts) - self._counts
    self._cached_epoch, self._cached_order = None, None
    _check_samplable(self.users, self.known, num_users, self.sampler)

  @property
  def num_examples(self) -> int:
    return len(self.users)

  @property
  def steps_per_epoch(self) -> int:
    return -(-len(self.users) // self.batch_size)

  def _order(self, epoch: int) -> np.ndarray:
    """The epoch's rows, in order (kept for the epoch's other steps)."""
    if self._cached_epoch != epoch:
      rng = np.random.default_rng([self.seed, epoch])
      if self.examples == 'user_uniform':
        self._cached_order = self._user_uniform(rng)
      else:
        self._cached_order = rng.permutation(len(self.users))
      self._cached_epoch = epoch
    return self._cached_order

  def _user_uniform(self, rng: np.random.Generator) -> np.ndarray:
    """len(rows) rows: a uniform user with rows, then one of its rows."""
    users = rng.choice(np.flatnonzero(self._counts), len(self.users))
    pick = (rng.random(len(users)) * self._counts[users]).astype(np.int64)
    return self._by_user[self._starts[users] + pick]

  def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
    """The batch at (epoch, step).

    Returns:
      dict of [B] arrays 'user', 'pos' (the rated item), 'mask' (float32),
      'sign' (float32 +1 like / -1 dislike, for signed rows) and 'neg' ([B]
      or [B, K] int32).
    """
    idx = self._order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
    users = self.users[idx]
    rng = np.random.default_rng([self.seed, epoch, step, 1])
    shape = users if self.num_negatives is None else np.repeat(
        users[:, None], self.num_negatives, axis=1)
    out = {'user': users, 'pos': self.items[idx],
           'neg': negatives(shape, self.known, rng, self.sampler),
           'mask': np.ones(len(idx), np.float32)}
    if self.signs is not None:
      out['sign'] = self.signs[idx]
    pad = self.batch_size - len(idx)
    return {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
            for k, v in out.items()}


def uniform_non_edges(n: int, edge_keys: np.ndarray, num_items: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Uniform random item pairs (a < b) that are not edges.

  Args:
    n: number of pairs.
    edge_keys: sorted int64 keys a * I + b (a < b) of the edges to avoid.
    num_items: I.
    rng: numpy Generator.

  Returns:
    (a, b): int32 [n] each, a < b, never an edge (pairs may repeat).
  """
  a, b = np.zeros(n, np.int64), np.zeros(n, np.int64)
  bad = np.arange(n)  # Rows still to draw.
  while len(bad):
    a[bad] = rng.integers(0, num_items, len(bad))
    b[bad] = rng.integers(0, num_items, len(bad))
    lo, hi = np.minimum(a[bad], b[bad]), np.maximum(a[bad], b[bad])
    bad = bad[(lo == hi) | in_sorted(edge_keys, lo * num_items + hi)]
  return (np.minimum(a, b).astype(np.int32), np.maximum(a, b).astype(np.int32))


def edge_keys(i: np.ndarray, j: np.ndarray, num_items: int) -> np.ndarray:
  """Sorted int64 keys min * I + max of undirected edges."""
  lo, hi = np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)
  return np.unique(lo * num_items + hi)


class LinkBatches:
  """Link-prediction batches: train edges (label 1) and fresh non-edges (0).

  Every epoch draws new negatives, `neg_ratio` per positive, uniformly from
  the item pairs that are not train edges; positives and negatives are
  shuffled together and cut into batches, the last one padded (mask 0).
  """

  def __init__(self, i: np.ndarray, j: np.ndarray, num_items: int,
               batch_size: int, neg_ratio: int, seed: int):
    if len(i) >= num_items * (num_items - 1) // 2:
      raise DataError('The training graph is complete: there are no '
                      'non-edges to sample as negatives.')
    self.i, self.j = i.astype(np.int32), j.astype(np.int32)
    self.num_items = num_items
    self.keys = edge_keys(i, j, num_items)
    self.batch_size = batch_size
    self.neg_ratio = neg_ratio
    self.seed = seed
    self._cached_epoch, self._cached = None, None

  @property
  def num_examples(self) -> int:
    return len(self.i) * (1 + self.neg_ratio)

  @property
  def steps_per_epoch(self) -> int:
    return -(-self.num_examples // self.batch_size)

  def _epoch(self, epoch: int) -> dict[str, np.ndarray]:
    """All of an epoch's examples, shuffled (kept for its other steps)."""
    if self._cached_epoch != epoch:
      rng = np.random.default_rng([self.seed, epoch])
      na, nb = uniform_non_edges(len(self.i) * self.neg_ratio, self.keys,
                                 self.num_items, rng)
      order = rng.permutation(self.num_examples)
      self._cached = {
          'src': np.concatenate([self.i, na])[order],
          'dst': np.concatenate([self.j, nb])[order],
          'label': np.concatenate([np.ones(len(self.i), np.float32),
                                   np.zeros(len(na), np.float32)])[order],
      }
      self._cached_epoch = epoch
    return self._cached

  def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
    """The batch at (epoch, step): [B] 'src', 'dst', 'label', 'mask'."""
    rows = slice(step * self.batch_size, (step + 1) * self.batch_size)
    part = {k: v[rows] for k, v in self._epoch(epoch).items()}
    pad = self.batch_size - len(part['src'])
    out = {k: np.concatenate([v, np.zeros(pad, v.dtype)])
           for k, v in part.items()}
    out['mask'] = np.concatenate([np.ones(len(part['src']), np.float32),
                                  np.zeros(pad, np.float32)])
    return out
