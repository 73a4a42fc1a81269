"""Writes a Dataset as a GRCN / MMGCN data folder (see grcn_files).

What the layout cannot hold (ratings, timestamps, names, other modalities)
is dropped; grcn_layout.load_grcn reads the folder back.
"""

from __future__ import annotations

import os

from absl import logging
import numpy as np

from jaxrec.data import grcn_files
from jaxrec.data import readers
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.errors import ConfigError

# Feature file names: 'movielens' (FeatureVideo_normal.npy, ...) or the short
# ones of Tiktok and Kwai (feat_v.npy, ...).
LAYOUTS = ('movielens', 'tiktok', 'kwai')


def _per_user(inter: Interactions, num_users: int,
              shift: int) -> list[list[int]]:
  """[U] lists of each user's items + shift, as Python ints, in row order."""
  order = np.argsort(inter.user, kind='stable')
  items = (inter.item[order].astype(np.int64) + shift).tolist()
  bounds = np.searchsorted(inter.user[order], np.arange(num_users + 1))
  return [items[bounds[u]:bounds[u + 1]] for u in range(num_users)]


def write_grcn(ds: Dataset,
               path: readers.PathLike,
               layout: str = 'movielens',
               offset_items: bool = True) -> None:
  """Writes a Dataset in the official GRCN layout (see grcn_files).

  Ratings, timestamps and names are not part of the layout and are dropped.

  Args:
    ds: the dataset; features under 'visual', 'acoustic', 'textual' (the
      textual one from item_bags if there, else item_features).
    path: the folder to write (created if needed).
    layout: 'movielens' (FeatureVideo_normal.npy, ...) or 'tiktok' / 'kwai'
      (feat_v.npy, feat_a.npy, feat_t.npy) feature file names.
    offset_items: write item ids as item + N_u, as the official files do;
      False writes them as they are, like the authors' toy sets.
  """
  if layout not in LAYOUTS:
    raise ConfigError(f'GRCN layout {layout!r} is not one of {list(LAYOUTS)}.')
  folder = os.fspath(path)
  os.makedirs(folder, exist_ok=True)
  shift = ds.num_users if offset_items else 0
  train = np.stack([ds.train.user.astype(np.int64),
                    ds.train.item.astype(np.int64) + shift], axis=1)
  np.save(os.path.join(folder, grcn_files.TRAIN_FILE), train)
  per_user = _per_user(ds.train, ds.num_users, shift)
  # Plain Python ints in a dict of sets, exactly like the official file.
  table = {u: set(items) for u, items in enumerate(per_user) if items}
  np.save(os.path.join(folder, grcn_files.DICT_FILE), table, allow_pickle=True)
  for name in ('val', 'test'):
    lists = np.empty(ds.num_users, dtype=object)
    # Every user gets a list, [user] alone when it has no items here.
    for u, items in enumerate(_per_user(getattr(ds, name), ds.num_users,
                                         shift)):
      lists[u] = [u] + items
    np.save(os.path.join(folder, grcn_files.LIST_FILES[name][0]), lists,
            allow_pickle=True)
  for m in grcn_files.MODALITIES:
    name = (grcn_files.MOVIELENS_FILES[m] if layout == 'movielens' else
            grcn_files.SHORT_STEMS[m] + '.npy')
    if m == 'textual' and m in ds.item_bags:
      np.save(os.path.join(folder, name), np.asarray(ds.item_bags[m],
                                                     np.int64))
    elif m in ds.item_features:
      np.save(os.path.join(folder, name), np.asarray(ds.item_features[m],
                                                     np.float32))
  # Only the textual modality may be a bag in this layout.
  skipped = sorted((set(ds.item_features) - set(grcn_files.MODALITIES)) |
                   (set(ds.item_bags) - {'textual'}))
  if skipped:
    logging.warning('write_grcn: modalities %s have no file in the GRCN '
                    'layout and were not written to %s.', skipped, folder)
