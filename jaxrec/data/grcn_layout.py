"""Reads a GRCN / MMGCN data folder (files: see grcn_files) into a Dataset.

Sizes the files leave open are inferred and said where they came from, ids
and features are checked against them, and every error names the file, the
row or list, and the fix.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import grcn_files
from jaxrec.data import grcn_offset
from jaxrec.data import readers
from jaxrec.data import safe_pickle
from jaxrec.data.dataset import DataError, Dataset, Interactions

_Parts = dict[str, grcn_files.Pairs]


def _check_users(parts: _Parts, num_users: int, users_from: str,
                 users_given: bool) -> None:
  """Raises DataError at the first user outside [0, N_u)."""
  for p in parts.values():
    bad = np.flatnonzero((p.owners < 0) | (p.owners >= num_users))
    if len(bad):
      unit = f'{p.path}, {p.unit} {bad[0]}'
      raise DataError(
          f'{unit}: user id {p.owners[bad[0]]} is outside [0, N_u) with '
          f'N_u={num_users} ({users_from}). Fix: correct the id' +
          (', or pass a larger num_users' if users_given else '') + '.')


def _check_dict(path: str, train: grcn_files.Pairs, user: np.ndarray,
                item: np.ndarray, num_users: int, num_items: int,
                shift: int) -> None:
  """Raises DataError unless user_item_dict.npy holds train.npy's pairs."""
  array = safe_pickle.load_npy(path)
  table = array.item() if array.ndim == 0 else None
  if type(table) is not dict:
    raise DataError(f'{path} does not hold a dict {{user: set of item + '
                    f'N_u}}. Fix: delete it (jaxrec reads train.npy only) or '
                    f're-save it from train.npy.')
  values = list(table.values())
  try:
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    d_user = np.repeat(np.fromiter(table.keys(), np.int64, len(values)),
                       lengths)
    d_item = np.fromiter(itertools.chain.from_iterable(values), np.int64,
                         int(lengths.sum())) - shift
  except (TypeError, ValueError, OverflowError):
    raise DataError(f'{path} is not a dict {{user: set of item + N_u}} of '
                    f'integer ids. Fix: delete it (jaxrec reads train.npy '
                    f'only) or re-save it from train.npy.') from None
  fits = ((d_user >= 0) & (d_user < num_users) & (d_item >= 0) &
          (d_item < num_items))
  d_keys = np.unique(d_user[fits] * num_items + d_item[fits])
  t_keys = np.unique(user * num_items + item)
  differ = np.setxor1d(d_keys, t_keys, assume_unique=True)
  suspects = np.concatenate([differ // num_items, d_user[~fits]])
  if not len(suspects):
    return
  u = int(suspects.min())
  in_dict = np.sort(d_item[d_user == u]) + shift
  in_train = np.unique(train.item[train.user == u])
  raise DataError(
      f'{path} disagrees with {train.path}: user {u} has items '
      f'{in_dict[:10].tolist()}{"..." if len(in_dict) > 10 else ""} there but '
      f'{in_train[:10].tolist()}{"..." if len(in_train) > 10 else ""} in '
      f'train.npy (ids as written; {len(differ) + int((~fits).sum())} '
      f'differing (user, item) pair(s) in all). The dict only repeats '
      f'train.npy, so one of them is stale. Fix: delete '
      f'{grcn_files.DICT_FILE} (jaxrec reads train.npy only) or re-save it '
      f'from train.npy.')


def _check_features(files: dict[str, str], kinds: dict[str, str],
                    arrays: dict[str, np.ndarray], num_items: int,
                    items_from: str) -> tuple[dict[str, np.ndarray],
                                              dict[str, np.ndarray]]:
  """Checks the features read against N_i; returns (dense features, bags)."""
  features, bags = {}, {}
  for m, file in files.items():
    x = arrays[file]
    if kinds[file] == 'bag':
      bad = np.flatnonzero((x[0] < 0) | (x[0] >= num_items) | (x[1] < 0))
      if len(bad):
        raise DataError(
            f'{file}, column {bad[0]}: the bag-of-words entry [item; word] = '
            f'{x[:, bad[0]].tolist()} needs an item in [0, {num_items}) (N_i '
            f'from {items_from}) and a word id >= 0. Fix: correct the entry.')
      bags[m] = x
      continue
    if len(x) != num_items:
      raise DataError(
          f'{file} has {len(x)} rows, but there are N_i={num_items} items '
          f'(N_i from {items_from}); row k of a feature file is item k, so it '
          f'needs exactly N_i rows. Fix: check that the file belongs to this '
          f'data set, or pass num_items / num_users.')
    x = x.astype(np.float32)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
      r = int(np.flatnonzero(~finite)[0])
      raise DataError(f'{file}, row {r} (item {r}): holds NaN or inf '
                      f'({int((~finite).sum())} row(s) in all); features must '
                      f'be finite. Fix: recompute or impute those rows.')
    features[m] = x
  return features, bags


def _read_parts(folder: str) -> _Parts:
  """Reads train.npy and the val / test lists of a folder, ids as written."""
  expected = grcn_files.EXPECTED_DIR
  if not os.path.isdir(folder):
    raise DataError(f'{folder} is not a folder; expected {expected}.')
  train_path = os.path.join(folder, grcn_files.TRAIN_FILE)
  if not os.path.isfile(train_path):
    held = sorted(os.listdir(folder))
    shown = ', '.join(held[:20]) + (', ...' if len(held) > 20 else '')
    raise DataError(f'{folder} has no {grcn_files.TRAIN_FILE}; expected '
                    f'{expected}. It holds: {shown or "nothing"}. Fix: point '
                    f'the path at the folder that holds these files.')
  parts = {'train': grcn_files.read_train(train_path)}
  for name, names in grcn_files.LIST_FILES.items():
    list_path = grcn_files.find(folder, names)
    if list_path is None:
      raise DataError(f'{folder} has neither {" nor ".join(names)}; the GRCN '
                      f'layout always has a {name} split. Expected '
                      f'{expected}.')
    parts[name] = grcn_files.read_lists(list_path)
  return parts


def _num_users(parts: _Parts, num_users: int) -> tuple[int, str]:
  """(N_u, where it came from): num_users, or the largest user id + 1."""
  if num_users:
    return num_users, 'the num_users argument'
  num_users = int(max(p.owners.max(initial=-1) for p in parts.values())) + 1
  return num_users, ('inferred as the largest user id + 1; pass num_users if '
                     'some users appear in no file')


def _read_features(files: dict[str, str]
                   ) -> tuple[dict[str, str], dict[str, np.ndarray]]:
  """Reads modality -> file: (file -> 'bag' or 'dense', file -> array)."""
  kinds, arrays = {}, {}
  for m, file in files.items():
    kinds[file], arrays[file] = grcn_files.read_feature(file, m)
  return kinds, arrays


def _known_num_items(num_items: int, kinds: dict[str, str],
                     arrays: dict[str, np.ndarray]) -> tuple[int | None, str]:
  """(N_i, where from) as known before the ids are read, or (None, '').

  N_i is num_items, or else the row count the dense feature files agree on.
  """
  if num_items:
    return num_items, 'the num_items argument'
  rows = {f: len(x) for f, x in arrays.items() if kinds[f] == 'dense'}
  if len(set(rows.values())) == 1:
    return next(iter(rows.values())), f'the rows of {", ".join(rows)}'
  return None, ''


def _num_items(parts: _Parts, kinds: dict[str, str],
               arrays: dict[str, np.ndarray], num_items: int, shift: int,
               num_users: int, users_from: str) -> tuple[int, str]:
  """(N_i, where it came from), and every item id checked against it.

  N_i is num_items, or else the largest of (largest item id - shift + 1)
  and the dense feature files' row counts.
  """
  if num_items:
    items_from = 'the num_items argument'
  else:
    top = max(parts.values(), key=lambda p: p.item.max(initial=-1))
    candidates = [(int(top.item.max(initial=-1)) - shift + 1,
                   (f'the largest item id in {top.path} - N_u + 1, with '
                    f'N_u={num_users} ({users_from})'))]
    candidates += [(len(x), f'the rows of {file}')
                   for file, x in arrays.items() if kinds[file] == 'dense']
    num_items, items_from = max(candidates, key=lambda c: c[0])
  limit = (f'N_u + N_i = {num_users} + {num_items}' if shift else
           f'N_i = {num_items} (the ids are not offset by N_u)')
  for p in parts.values():
    # Offset ids are >= N_u (grcn_offset decided so); plain ones may be < 0.
    bad = np.flatnonzero(p.item < 0)
    if len(bad):
      raise DataError(f'{p.where(bad[0])}: item id {p.item[bad[0]]} is '
                      f'negative. Fix: correct the id.')
    bad = np.flatnonzero(p.item - shift >= num_items)
    if len(bad):
      raise DataError(
          f'{p.where(bad[0])}: item id {p.item[bad[0]]} is not below '
          f'{limit} (N_i from {items_from}). Fix: correct the id, or pass '
          f'the right num_items / num_users.')
  return num_items, items_from


def load_grcn(path: readers.PathLike,
              num_users: int = 0,
              num_items: int = 0,
              duplicates: str = 'error') -> Dataset:
  """Reads a GRCN / MMGCN data folder with its given split.

  Args:
    path: a folder with train.npy, val_full.npy (or val.npy), test_full.npy
      (or test.npy), optionally user_item_dict.npy and feature files (see
      grcn_files).
    num_users: N_u, the offset of item ids; 0 infers it as the largest user
      id in train / val / test + 1.
    num_items: N_i; 0 infers it as the largest of (largest item id - N_u + 1)
      and the feature files' row counts.
    duplicates: 'error', 'keep_first' or 'keep_last' for a (user, item) pair
      repeated within a file or found in two files.

  Returns:
    A Dataset with contiguous ids (user u, item = file id - N_u), no ratings
    or timestamps, user_ids / item_ids '0', '1', ... (the files' ids), dense
    features in item_features (float32 [N_i, d]) and a [2, n] textual bag of
    words in item_bags, under the modality names 'visual', 'acoustic' and
    'textual'. Item ids written without the offset (the authors' toy sets)
    are detected, fixed and reported with a warning; a folder whose ids
    are partly offset is refused, naming the rows (see grcn_offset).
  """
  folder = os.fspath(path)
  parts = _read_parts(folder)
  users_given = bool(num_users)
  num_users, users_from = _num_users(parts, num_users)
  _check_users(parts, num_users, users_from, users_given)
  feature_files = grcn_files.feature_files(folder)
  kinds, arrays = _read_features(feature_files)
  offset = grcn_offset.is_offset(parts, num_users, users_from,
                                 *_known_num_items(num_items, kinds, arrays))
  shift = num_users if offset else 0
  num_items, items_from = _num_items(parts, kinds, arrays, num_items, shift,
                                     num_users, users_from)
  features, bags = _check_features(feature_files, kinds, arrays, num_items,
                                   items_from)
  inter = {name: Interactions(p.user.astype(np.int32),
                              (p.item - shift).astype(np.int32))
           for name, p in parts.items()}
  dict_path = os.path.join(folder, grcn_files.DICT_FILE)
  if os.path.isfile(dict_path):
    _check_dict(dict_path, parts['train'], inter['train'].user,
                inter['train'].item, num_users, num_items, shift)
  dataset = Dataset(
      name=os.path.basename(os.path.abspath(folder)), source=folder,
      num_users=num_users, num_items=num_items,
      user_ids=np.arange(num_users).astype(str),
      item_ids=np.arange(num_items).astype(str),
      item_features=features, item_bags=bags, **inter)
  # Messages of check_duplicates say 'line'; here that is the row or list.
  note = ' (line = 0-based {}' + (', item = id - N_u)' if offset else ')')
  dataset, _ = dedupe.check_duplicates(
      dataset, duplicates,
      files={name: p.path + note.format(p.unit) for name, p in parts.items()},
      lines={name: p.row for name, p in parts.items()})
  return dataset
