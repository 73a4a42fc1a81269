"""Reads and writes the GRCN / MMGCN data layout, and makes synthetic stand-ins.

The official GRCN code (Wei et al., ACM MM 2020) reads folders such as
`Data/movielens/` holding:

  train.npy            int64 [E, 2] rows [user, item + N_u]: item ids are
                       offset by the number of users N_u.
  val_full.npy         [L] object array of lists [user, item + N_u, ...]
  test_full.npy        (the README calls them val.npy / test.npy).
  user_item_dict.npy   {user: set(item + N_u)}: train.npy again, as a dict.
  features             row k = item k (not offset). MovieLens:
                       FeatureVideo_normal.npy (2048-d), FeatureAudio_avg_
                       normal.npy (128-d), FeatureText_stl_normal.npy (100-d);
                       Tiktok / Kwai: feat_v.pt, feat_a.pt, feat_t.pt, where
                       Tiktok's feat_t is a [2, n] bag of words.

Object arrays are pickles; they are read with `safe_pickle.load_npy`, which
refuses to run code from a data file.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Optional

from absl import logging
import numpy as np

from jaxrec.data import readers
from jaxrec.data import safe_pickle
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data.dataset import DataError, Dataset, Interactions
from jaxrec.errors import ConfigError

MODALITIES = ('visual', 'acoustic', 'textual')
TRAIN_FILE = 'train.npy'
DICT_FILE = 'user_item_dict.npy'
# Split -> accepted file names, preferred first.
LIST_FILES = {'val': ('val_full.npy', 'val.npy'),
              'test': ('test_full.npy', 'test.npy')}
MOVIELENS_FILES = {'visual': 'FeatureVideo_normal.npy',
                   'acoustic': 'FeatureAudio_avg_normal.npy',
                   'textual': 'FeatureText_stl_normal.npy'}
SHORT_STEMS = {'visual': 'feat_v', 'acoustic': 'feat_a', 'textual': 'feat_t'}
LAYOUTS = ('movielens', 'tiktok', 'kwai')

# Feature widths of the real data sets; Tiktok's text is a bag of words.
PRESETS = {
    'movielens': {'visual': 2048, 'acoustic': 128, 'textual': 100},
    'tiktok': {'visual': 128, 'acoustic': 128},
    'kwai': {'visual': 2048},
}
BAG_PRESETS = ('tiktok',)
VOCAB_SIZE = 2000
WORDS_PER_ITEM = (10, 30)
IN_CLUSTER_WORDS = 0.8
NUM_CLUSTERS = 10

_EXPECTED_DIR = (
    'a GRCN / MMGCN data folder holding train.npy (int rows [user, item + '
    'N_u]), val_full.npy and test_full.npy (or val.npy and test.npy: object '
    'arrays of lists [user, item + N_u, ...]), optionally user_item_dict.npy, '
    'and optional item features: FeatureVideo_normal.npy, '
    'FeatureAudio_avg_normal.npy, FeatureText_stl_normal.npy (MovieLens) or '
    'feat_v, feat_a, feat_t as .npy or .pt (Tiktok, Kwai)')
_LIST = 'a list [user, item + N_u, item + N_u, ...] of integer ids'


@dataclasses.dataclass(frozen=True)
class _Pairs:
  """(user, item) pairs read from one file, ids as written there.

  Attributes:
    path: the file.
    user: int64 [n] user of each pair.
    item: int64 [n] item id of each pair as in the file (maybe offset).
    row: int64 [n] row of train.npy, or index of the list, of each pair.
    owners: int64 [L] user of every row or list, items or not.
    unit: 'row' or 'list', for messages.
  """

  path: str
  user: np.ndarray
  item: np.ndarray
  row: np.ndarray
  owners: np.ndarray
  unit: str

  def where(self, k: int) -> str:
    """Names pair k's place, e.g. '.../train.npy, row 7'."""
    return f'{self.path}, {self.unit} {self.row[k]}'


def _read_train(path: str) -> _Pairs:
  """Reads train.npy: int [E, 2] rows [user, item + N_u]."""
  pairs = safe_pickle.load_npy(path)
  if pairs.dtype.kind not in 'iu' or pairs.ndim != 2 or pairs.shape[1] != 2:
    raise DataError(
        f'{path} holds an array of dtype {pairs.dtype} and shape '
        f'{pairs.shape}; expected integer rows [user, item + N_u], shape '
        f'(E, 2). Fix: re-save it as numpy.save(path, '
        f'numpy.array(pairs, dtype=numpy.int64)).')
  if not len(pairs):
    raise DataError(f'{path} has no rows; expected {_EXPECTED_DIR}. Fix: '
                    f'check that the file was copied completely.')
  pairs = pairs.astype(np.int64)
  rows = np.arange(len(pairs), dtype=np.int64)
  return _Pairs(path, pairs[:, 0], pairs[:, 1], rows, pairs[:, 0], 'row')


def _bad_list(path: str, lists: list) -> DataError:
  """The DataError for the first list holding a non-integer (slow path)."""
  for k, ids in enumerate(lists):
    for v in ids:
      if type(v) is not int and not isinstance(v, np.integer):
        return DataError(f'{path}, list {k}: element {v!r} is not an integer '
                         f'id; expected {_LIST}. Fix: re-save the lists '
                         f'with integer ids only.')
  return DataError(f'{path}: an id does not fit in int64; expected {_LIST}.')


def _read_lists(path: str) -> _Pairs:
  """Reads val_full.npy / test_full.npy: lists [user, item + N_u, ...]."""
  array = safe_pickle.load_npy(path)
  if array.dtype.kind in 'iu' and array.ndim == 2:
    # np.save turns lists of equal length into an int matrix: one per row.
    lengths = np.full(array.shape[0], array.shape[1], np.int64)
    flat = array.reshape(-1).astype(np.int64)
  elif array.dtype.kind == 'O' and array.ndim == 1:
    # A loop over users (each element is one user's list), not interactions.
    lists = [x.tolist() if type(x) is np.ndarray else x for x in array]
    is_list = np.fromiter((type(x) in (list, tuple) for x in lists), bool,
                          len(lists))
    if not is_list.all():
      k = int(np.flatnonzero(~is_list)[0])
      raise DataError(f'{path}, list {k}: is a {type(lists[k]).__name__} '
                      f'({lists[k]!r:.80}); expected {_LIST}. Fix: re-save '
                      f'the file with one such list per user.')
    lengths = np.fromiter(map(len, lists), np.int64, len(lists))
    try:
      flat = np.fromiter(itertools.chain.from_iterable(lists), np.int64,
                         int(lengths.sum()))
    except (TypeError, ValueError, OverflowError):
      raise _bad_list(path, lists) from None
  else:
    raise DataError(f'{path} holds an array of dtype {array.dtype} and shape '
                    f'{array.shape}; expected a 1-d object array of lists, '
                    f'each {_LIST}. Fix: re-save it with numpy.save and '
                    f'allow_pickle=True.')
  if np.any(lengths == 0):
    k = int(np.flatnonzero(lengths == 0)[0])
    raise DataError(f'{path}, list {k}: is empty; expected {_LIST} (a user '
                    f'with no items appears as [user]). Fix: delete the list '
                    f'or add the user id.')
  starts = np.cumsum(lengths) - lengths
  owners = flat[starts]
  is_item = np.ones(len(flat), bool)
  is_item[starts] = False
  rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths - 1)
  return _Pairs(path, np.repeat(owners, lengths - 1), flat[is_item], rows,
                owners, 'list')


def _find(folder: str, names: tuple[str, ...]) -> Optional[str]:
  """The first of names that exists in folder, as a path, or None."""
  for name in names:
    candidate = os.path.join(folder, name)
    if os.path.isfile(candidate):
      return candidate
  return None


def _conversion(path: str) -> str:
  """The one-line command that converts a .pt feature file to .npy."""
  stem = os.path.splitext(os.path.basename(path))[0]
  return (f'python -c "import torch, numpy; numpy.save(\'{stem}.npy\', '
          f'torch.load(\'{stem}.pt\').numpy())"')


def _load_pt(path: str) -> np.ndarray:
  """Reads a tensor saved with torch.save, through PyTorch when installed."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError(
        f'{path} is a PyTorch file, and PyTorch is not installed here, so it '
        f'cannot be read. Fix: convert it to .npy once, where PyTorch is '
        f'installed, by running in {os.path.dirname(path) or "."}: '
        f'{_conversion(path)} (the .npy file is preferred when both '
        f'exist).') from None
  try:
    value = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(value, torch.Tensor):
      raise TypeError(f'it holds a {type(value).__name__}, not a tensor')
    return value.detach().cpu().numpy()
  except Exception as e:  # pylint: disable=broad-except
    # torch raises many types for a foreign or damaged file; report any.
    raise DataError(f'{path} could not be read as one tensor with '
                    f'torch.load(weights_only=True) ({e}). Fix: check the '
                    f'file, or convert it to .npy: {_conversion(path)}.'
                    ) from None


def _feature_files(folder: str) -> dict[str, str]:
  """Modality -> the feature file found for it (MovieLens name, .npy, .pt)."""
  found = {}
  for m in MODALITIES:
    stem = SHORT_STEMS[m]
    path = _find(folder, (MOVIELENS_FILES[m], stem + '.npy', stem + '.pt'))
    if path is not None:
      found[m] = path
  return found


def _read_feature(path: str, modality: str) -> tuple[str, np.ndarray]:
  """Reads one feature file; returns ('bag', int64 [2, n]) or ('dense', x)."""
  array = _load_pt(path) if path.endswith('.pt') else safe_pickle.load_npy(
      path)
  if (modality == 'textual' and array.dtype.kind in 'iu' and array.ndim == 2
      and array.shape[0] == 2):
    return 'bag', array.astype(np.int64)
  if array.dtype.kind not in 'biuf' or array.ndim != 2:
    raise DataError(
        f'{path} holds an array of dtype {array.dtype} and shape '
        f'{array.shape}; expected a float matrix [N_i, d] with row k the '
        f'{modality} feature of item k' +
        (', or a [2, n] integer bag of words [item; word id]'
         if modality == 'textual' else '') + '. Fix: re-save it in that form.')
  return 'dense', array


def _check_ids(parts: dict[str, _Pairs], num_users: int, users_from: str,
               offset: bool, users_given: bool) -> None:
  """Raises DataError at the first user outside [0, N_u) or item below 0."""
  for p in parts.values():
    bad = np.flatnonzero((p.owners < 0) | (p.owners >= num_users))
    if len(bad):
      unit = f'{p.path}, {p.unit} {bad[0]}'
      raise DataError(
          f'{unit}: user id {p.owners[bad[0]]} is outside [0, N_u) with '
          f'N_u={num_users} ({users_from}). Fix: correct the id' +
          (', or pass a larger num_users' if users_given else '') + '.')
    low = num_users if offset else 0
    bad = np.flatnonzero(p.item < low)
    if len(bad):
      k = bad[0]
      why = (f'below N_u={num_users}: in this layout item k is written as '
             f'k + N_u, as train.npy does' if offset else 'negative')
      raise DataError(f'{p.where(k)}: item id {p.item[k]} is {why}. Fix: '
                      f'correct the id, or re-export the file with item ids '
                      f'offset by N_u like train.npy.')


def _check_dict(path: str, train: _Pairs, user: np.ndarray, item: np.ndarray,
                num_users: int, num_items: int, shift: int) -> None:
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
      f'train.npy, so one of them is stale. Fix: delete {DICT_FILE} '
      f'(jaxrec reads train.npy only) or re-save it from train.npy.')


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


def load_grcn(path: readers.PathLike,
              num_users: int = 0,
              num_items: int = 0,
              duplicates: str = 'error') -> Dataset:
  """Reads a GRCN / MMGCN data folder with its given split.

  Args:
    path: a folder with train.npy, val_full.npy (or val.npy), test_full.npy
      (or test.npy), optionally user_item_dict.npy and feature files (see the
      module docstring).
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
    are detected, fixed and reported with a warning.
  """
  folder = os.fspath(path)
  if not os.path.isdir(folder):
    raise DataError(f'{folder} is not a folder; expected {_EXPECTED_DIR}.')
  train_path = os.path.join(folder, TRAIN_FILE)
  if not os.path.isfile(train_path):
    held = sorted(os.listdir(folder))
    shown = ', '.join(held[:20]) + (', ...' if len(held) > 20 else '')
    raise DataError(f'{folder} has no {TRAIN_FILE}; expected {_EXPECTED_DIR}. '
                    f'It holds: {shown or "nothing"}. Fix: point the path at '
                    f'the folder that holds these files.')
  parts = {'train': _read_train(train_path)}
  for name, names in LIST_FILES.items():
    list_path = _find(folder, names)
    if list_path is None:
      raise DataError(f'{folder} has neither {" nor ".join(names)}; the GRCN '
                      f'layout always has a {name} split. Expected '
                      f'{_EXPECTED_DIR}.')
    parts[name] = _read_lists(list_path)

  users_given = bool(num_users)
  if users_given:
    users_from = 'the num_users argument'
  else:
    num_users = int(max(p.owners.max(initial=-1) for p in parts.values())) + 1
    users_from = ('inferred as the largest user id + 1; pass num_users if '
                  'some users appear in no file')
  # The official files offset item ids by N_u; the authors' toy sets do not.
  offset = bool(parts['train'].item.min() >= num_users)
  shift = num_users if offset else 0
  if not offset:
    logging.warning(
        'item ids in %s are not offset by the number of users (N_u=%d); '
        'added N_u, as the GRCN maintainers advise.',
        ', '.join(p.path for p in parts.values()), num_users)
  _check_ids(parts, num_users, users_from, offset, users_given)

  feature_files = _feature_files(folder)
  kinds, arrays = {}, {}
  for m, file in feature_files.items():
    kinds[file], arrays[file] = _read_feature(file, m)
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
  for p in parts.values():
    bad = np.flatnonzero(p.item - shift >= num_items)
    if len(bad):
      raise DataError(
          f'{p.where(bad[0])}: item id {p.item[bad[0]]} is not below N_u + '
          f'N_i = {num_users} + {num_items} (N_i from {items_from}). Fix: '
          f'correct the id, or pass the right num_items / num_users.')

  features, bags = _check_features(feature_files, kinds, arrays, num_items,
                                   items_from)
  inter = {name: Interactions(p.user.astype(np.int32),
                              (p.item - shift).astype(np.int32))
           for name, p in parts.items()}
  dict_path = os.path.join(folder, DICT_FILE)
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
  dataset, _ = splits.check_duplicates(
      dataset, duplicates,
      files={name: p.path + note.format(p.unit) for name, p in parts.items()},
      lines={name: p.row for name, p in parts.items()})
  return dataset


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
  """Writes a Dataset in the official GRCN layout (see the module docstring).

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
  np.save(os.path.join(folder, TRAIN_FILE), train)
  per_user = _per_user(ds.train, ds.num_users, shift)
  # Plain Python ints in a dict of sets, exactly like the official file.
  table = {u: set(items) for u, items in enumerate(per_user) if items}
  np.save(os.path.join(folder, DICT_FILE), table, allow_pickle=True)
  for name in ('val', 'test'):
    lists = np.empty(ds.num_users, dtype=object)
    # Every user gets a list, [user] alone when it has no items here.
    for u, items in enumerate(_per_user(getattr(ds, name), ds.num_users,
                                         shift)):
      lists[u] = [u] + items
    np.save(os.path.join(folder, LIST_FILES[name][0]), lists,
            allow_pickle=True)
  for m in MODALITIES:
    name = (MOVIELENS_FILES[m] if layout == 'movielens' else
            SHORT_STEMS[m] + '.npy')
    if m == 'textual' and m in ds.item_bags:
      np.save(os.path.join(folder, name), np.asarray(ds.item_bags[m],
                                                     np.int64))
    elif m in ds.item_features:
      np.save(os.path.join(folder, name), np.asarray(ds.item_features[m],
                                                     np.float32))
  # Only the textual modality may be a bag in this layout.
  skipped = sorted((set(ds.item_features) - set(MODALITIES)) |
                   (set(ds.item_bags) - {'textual'}))
  if skipped:
    logging.warning('write_grcn: modalities %s have no file in the GRCN '
                    'layout and were not written to %s.', skipped, folder)


def _bag_of_words(item_cluster: np.ndarray, num_clusters: int,
                  rng: np.random.Generator) -> np.ndarray:
  """A bag of words whose words come mostly from the item's cluster's slice.

  Args:
    item_cluster: int [I] cluster of each item.
    num_clusters: C; the vocabulary is cut into C slices.
    rng: numpy Generator.

  Returns:
    int64 [2, n]: row 0 the item of each token, row 1 its word id.
  """
  num_items = len(item_cluster)
  low, high = WORDS_PER_ITEM
  item = np.repeat(np.arange(num_items), rng.integers(low, high + 1,
                                                      num_items))
  width = VOCAB_SIZE // num_clusters
  own = rng.random(len(item)) < IN_CLUSTER_WORDS
  word = np.where(own,
                  item_cluster[item] * width + rng.integers(0, width,
                                                            len(item)),
                  rng.integers(0, VOCAB_SIZE, len(item)))
  return np.stack([item, word]).astype(np.int64)


def synthetic_grcn(preset: str = 'movielens',
                   num_users: int = 3000,
                   num_items: int = 1500,
                   seed: int = 0,
                   noise: float = 0.0) -> Dataset:
  """A scaled-down synthetic multimodal data set with real feature widths.

  Built on `synthetic.generate` (planted clusters, so features are
  informative), ~20 interactions per user, split per user 80 / 10 / 10 into
  train / val / test.

  Args:
    preset: 'movielens' (visual 2048, acoustic 128, textual 100), 'tiktok'
      (visual 128, acoustic 128, textual a bag of words over 2000 words) or
      'kwai' (visual 2048).
    num_users: U.
    num_items: I.
    seed: everything is deterministic in it.
    noise: false-positive interactions, as a share of the true ones.

  Returns:
    A Dataset named 'synthetic-<preset>' with float32 item_features and, for
    'tiktok', item_bags['textual'] (int64 [2, n]); no ratings or timestamps.
  """
  if preset not in PRESETS:
    raise ConfigError(f'synthetic GRCN preset {preset!r} is not one of '
                      f'{list(PRESETS)}.')
  num_clusters = max(1, min(NUM_CLUSTERS, num_items // 2))
  ds, planted = synthetic.generate_planted(
      num_users=num_users, num_items=num_items, num_clusters=num_clusters,
      interactions_per_user=20.0, noise=noise,
      feature_dims=PRESETS[preset], seed=seed)
  bags = {}
  if preset in BAG_PRESETS:
    bags['textual'] = _bag_of_words(planted.item_cluster, num_clusters,
                                    np.random.default_rng([seed, 1]))
  # The GRCN layout has no ratings or timestamps.
  everything = Interactions(ds.train.user, ds.train.item)
  rest, test = splits.ratio_split(everything, 0.1, seed)
  ds = ds.replace(train=rest, val=Interactions.empty(like=rest), test=test)
  # 1/9 of the remaining 90% is 10% of the whole.
  ds = splits.carve_validation(ds, 1 / 9, seed)
  args = (f'preset={preset!r}, num_users={num_users}, num_items={num_items}, '
          f'seed={seed}, noise={noise}')
  return ds.replace(
      name=f'synthetic-{preset}',
      source=(f'jaxrec.data.grcn_layout.synthetic_grcn({args}); NOT real '
              f'data: planted clusters with the real {preset} feature '
              f'widths'),
      item_bags=bags)
