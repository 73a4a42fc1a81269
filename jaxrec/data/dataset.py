"""The one dataset type every loader, split and generator returns.

Ids are contiguous: users in [0, num_users), items in [0, num_items). The raw
ids read from disk are kept in `user_ids` / `item_ids` (index = contiguous id)
so that recommendations can be printed with the ids and names users know.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import numpy as np

from jaxrec.errors import DataError  # noqa: F401  (re-exported for loaders)


@dataclasses.dataclass(frozen=True)
class Interactions:
  """A table of (user, item) interactions.

  Attributes:
    user: int32 [n] contiguous user ids.
    item: int32 [n] contiguous item ids.
    rating: float32 [n] or None; an explicit rating or a like (1) / dislike
      (0) label, whichever the source has.
    timestamp: int64 [n] or None.
    liked: bool [n] or None; for signed feedback, whether each row is a like
      (True) or a dislike (False). None means implicit feedback: every row
      is a like.
  """

  user: np.ndarray
  item: np.ndarray
  rating: Optional[np.ndarray] = None
  timestamp: Optional[np.ndarray] = None
  liked: Optional[np.ndarray] = None

  def __post_init__(self):
    n = len(self.user)
    for name in ('item', 'rating', 'timestamp', 'liked'):
      col = getattr(self, name)
      if col is not None and len(col) != n:
        raise ValueError(f'Interactions.{name} has {len(col)} rows, user has {n}.')

  def __len__(self) -> int:
    return len(self.user)

  def select(self, index: np.ndarray) -> Interactions:
    """Rows picked by a boolean mask or an index array, in that order."""
    return Interactions(**{f.name: None if getattr(self, f.name) is None
                           else getattr(self, f.name)[index]
                           for f in dataclasses.fields(self)})

  def likes(self) -> Interactions:
    """The rows that are likes: all rows when `liked` is None (implicit)."""
    return self if self.liked is None else self.select(self.liked)

  @staticmethod
  def empty(like: Optional[Interactions] = None) -> Interactions:
    """A table with no rows (and the optional columns `like` has)."""
    def col(name, dtype):
      has = like is not None and getattr(like, name) is not None
      return np.zeros(0, dtype) if has else None
    return Interactions(np.zeros(0, np.int32), np.zeros(0, np.int32),
                        col('rating', np.float32), col('timestamp', np.int64),
                        col('liked', bool))

  @staticmethod
  def concat(parts: list[Interactions]) -> Interactions:
    """Rows of all parts, in order; an optional column survives if all have it."""
    def cat(name):
      cols = [getattr(p, name) for p in parts]
      return None if any(c is None for c in cols) else np.concatenate(cols)
    return Interactions(**{f.name: cat(f.name)
                           for f in dataclasses.fields(Interactions)})


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Users, items, a train/val/test split, and what is known about items.

  Attributes:
    name: short name for logs, e.g. 'ml-100k' or 'synthetic'.
    source: where it came from: a path, or a description of the generator.
    num_users: number of users U.
    num_items: number of items I.
    train, val, test: the split. Before splitting, every row is in `train`.
    user_ids: [U] raw user ids as strings.
    item_ids: [I] raw item ids as strings.
    item_names: [I] strings, or None when the source has no names.
    item_features: modality name -> float32 [I, d_m].
    item_bags: modality name -> int64 [2, n] bag of words: row 0 the item of
      each token, row 1 its word id (e.g. Tiktok's text modality).
  """

  name: str
  source: str
  num_users: int
  num_items: int
  train: Interactions
  val: Interactions
  test: Interactions
  user_ids: np.ndarray
  item_ids: np.ndarray
  item_names: Optional[np.ndarray] = None
  item_features: Mapping[str, np.ndarray] = dataclasses.field(
      default_factory=dict)
  item_bags: Mapping[str, np.ndarray] = dataclasses.field(
      default_factory=dict)

  @property
  def is_synthetic(self) -> bool:
    """Whether the data comes from a generator rather than real files."""
    return self.name.startswith('synthetic')

  @property
  def signed(self) -> bool:
    """Whether rows are marked as likes and dislikes (signed feedback)."""
    return self.train.liked is not None

  def replace(self, **changes) -> Dataset:
    """A copy with the given fields changed."""
    return dataclasses.replace(self, **changes)

  def all_interactions(self) -> Interactions:
    """Rows of train, val and test, in that order."""
    return Interactions.concat([self.train, self.val, self.test])

  def summary(self) -> str:
    """One line for logs: sizes of the split and where the data came from."""
    parts = (self.train, self.val, self.test)
    likes = ''
    if self.signed:
      likes = ' (likes ' + '/'.join(str(len(p.likes())) for p in parts) + ')'
    return (f'{self.name}: {self.num_users} users, {self.num_items} items, '
            f'train/val/test = {"/".join(str(len(p)) for p in parts)} '
            f'interactions{likes} (from {self.source})')


def remap_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Maps raw ids to contiguous ids.

  Numeric ids keep numeric order (so '10' follows '9'); others sort as text.

  Args:
    raw: [n] raw ids (strings or integers).

  Returns:
    (ids, vocab): int32 [n] contiguous ids and the [V] raw ids as strings, with
    vocab[ids] == raw.
  """
  raw = np.asarray(raw)
  if raw.dtype.kind in 'iu':
    # Already numbers: skip the text round trip (a copy of 12M+ strings on
    # big logs); the result is the same.
    uniq, ids = np.unique(raw, return_inverse=True)
    return ids.reshape(-1).astype(np.int32), uniq.astype(str)
  raw = raw.astype(str)
  try:
    as_int = raw.astype(np.int64)
  except ValueError:
    vocab, ids = np.unique(raw, return_inverse=True)
    return ids.astype(np.int32), vocab
  uniq, ids = np.unique(as_int, return_inverse=True)
  return ids.astype(np.int32), uniq.astype(str)
