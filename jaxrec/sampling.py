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
