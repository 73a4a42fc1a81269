"""Training batches as a pure function of (seed, epoch, step).

A resumed run, or a run on another number of devices, sees exactly the
batches the uninterrupted run saw: nothing depends on sampler state.
"""

from __future__ import annotations

import numpy as np

from jaxrec.data.dataset import DataError, Interactions


def pair_keys(users: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
  """int64 [n] keys user * I + item, for membership tests by searchsorted."""
  return users.astype(np.int64) * num_items + items.astype(np.int64)


class Known:
  """The set of (user, item) pairs seen in train, for rejecting negatives."""

  def __init__(self, users: np.ndarray, items: np.ndarray, num_items: int):
    self.num_items = num_items
    self.keys = np.unique(pair_keys(users, items, num_items))

  def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """bool [n]: whether each (user, item) pair is known."""
    keys = pair_keys(users, items, self.num_items)
    pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
    return self.keys[pos] == keys


def uniform_negatives(users: np.ndarray, known: Known,
                      rng: np.random.Generator) -> np.ndarray:
  """Items drawn uniformly from those each user has not interacted with.

  Rejection sampling: redraw only the collisions until there are none. The
  caller guarantees every user has at least one unknown item.

  Args:
    users: int [n] user ids.
    known: the train pairs.
    rng: numpy Generator (seeded by the caller from seed, epoch and step).

  Returns:
    int32 [n] item ids, never a known pair.
  """
  items = rng.integers(0, known.num_items, len(users))
  bad = np.flatnonzero(known.contains(users, items))
  while len(bad):
    items[bad] = rng.integers(0, known.num_items, len(bad))
    bad = bad[known.contains(users[bad], items[bad])]
  return items.astype(np.int32)


class BPRBatches:
  """(user, positive, negative) batches over the train interactions.

  Each epoch visits every train interaction once in a seeded random order;
  the last batch is padded and its padding rows carry mask 0.
  """

  def __init__(self, train: Interactions, num_users: int, num_items: int,
               batch_size: int, seed: int):
    self.users = train.user.astype(np.int32)
    self.items = train.item.astype(np.int32)
    self.known = Known(self.users, self.items, num_items)
    self.batch_size = batch_size
    self.seed = seed
    self._cached_epoch, self._cached_order = None, None
    per_user = np.bincount(self.users, minlength=num_users)
    full = np.flatnonzero(per_user >= num_items)
    if len(full):
      raise DataError(f'Users {full[:5].tolist()} interacted with every item: '
                      f'no negative can be sampled for them. Remove them.')

  @property
  def num_examples(self) -> int:
    return len(self.users)

  @property
  def steps_per_epoch(self) -> int:
    return -(-len(self.users) // self.batch_size)

  def _order(self, epoch: int) -> np.ndarray:
    """The epoch's visiting order (kept for the epoch's other steps)."""
    if self._cached_epoch != epoch:
      rng = np.random.default_rng([self.seed, epoch])
      self._cached_order = rng.permutation(len(self.users))
      self._cached_epoch = epoch
    return self._cached_order

  def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
    """The batch at (epoch, step).

    Returns:
      dict of [B] arrays: 'user', 'pos', 'neg' (int32) and 'mask' (float32).
    """
    idx = self._order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
    users, pos = self.users[idx], self.items[idx]
    rng = np.random.default_rng([self.seed, epoch, step, 1])
    neg = uniform_negatives(users, self.known, rng)
    pad = self.batch_size - len(idx)
    padded = lambda a: np.concatenate([a, np.zeros(pad, a.dtype)])
    return {
        'user': padded(users), 'pos': padded(pos), 'neg': padded(neg),
        'mask': padded(np.ones(len(idx), np.float32)),
    }


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
    hit = lo == hi
    if len(edge_keys):
      keys = lo * num_items + hi
      pos = np.minimum(np.searchsorted(edge_keys, keys), len(edge_keys) - 1)
      hit |= edge_keys[pos] == keys
    bad = bad[hit]
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
