"""The files of the GRCN / MMGCN data layout: their names, and reading each.

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
refuses to run code from a data file; .pt files are read by `torch_pt`
(no PyTorch needed), or by PyTorch for its legacy format. grcn_layout.load_grcn reads a whole
folder with these; grcn_write.write_grcn writes one.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Optional

import numpy as np

from jaxrec.data import safe_pickle
from jaxrec.data import torch_pt
from jaxrec.data.dataset import DataError

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

EXPECTED_DIR = (
    'a GRCN / MMGCN data folder holding train.npy (int rows [user, item + '
    'N_u]), val_full.npy and test_full.npy (or val.npy and test.npy: object '
    'arrays of lists [user, item + N_u, ...]), optionally user_item_dict.npy, '
    'and optional item features: FeatureVideo_normal.npy, '
    'FeatureAudio_avg_normal.npy, FeatureText_stl_normal.npy (MovieLens) or '
    'feat_v, feat_a, feat_t as .npy or .pt (Tiktok, Kwai)')
_LIST = 'a list [user, item + N_u, item + N_u, ...] of integer ids'


@dataclasses.dataclass(frozen=True)
class Pairs:
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

  def where_many(self, ks: np.ndarray, shown: int = 3) -> str:
    """Names the places of pairs ks (a non-empty index array), with counts.

    E.g. '.../train.npy: row 3 (item id 2), row 17 (item id 0), row 20 (item
    id 5) and 4 more; 7 item ids in 7 rows'; the first `shown` are listed.
    """
    plural = lambda n, word: f'{n} {word}' + ('s' if n != 1 else '')
    places = ', '.join(f'{self.unit} {self.row[k]} (item id {self.item[k]})'
                       for k in ks[:shown])
    more = f' and {len(ks) - shown} more' if len(ks) > shown else ''
    units = len(np.unique(self.row[ks]))
    return (f'{self.path}: {places}{more}; {plural(len(ks), "item id")} in '
            f'{plural(units, self.unit)}')


def read_train(path: str) -> Pairs:
  """Reads train.npy: int [E, 2] rows [user, item + N_u]."""
  pairs = safe_pickle.load_npy(path)
  if pairs.dtype.kind not in 'iu' or pairs.ndim != 2 or pairs.shape[1] != 2:
    raise DataError(
        f'{path} holds an array of dtype {pairs.dtype} and shape '
        f'{pairs.shape}; expected integer rows [user, item + N_u], shape '
        f'(E, 2). Fix: re-save it as numpy.save(path, '
        f'numpy.array(pairs, dtype=numpy.int64)).')
  if not len(pairs):
    raise DataError(f'{path} has no rows; expected {EXPECTED_DIR}. Fix: '
                    f'check that the file was copied completely.')
  pairs = pairs.astype(np.int64)
  rows = np.arange(len(pairs), dtype=np.int64)
  return Pairs(path, pairs[:, 0], pairs[:, 1], rows, pairs[:, 0], 'row')


def _bad_list(path: str, lists: list) -> DataError:
  """The DataError for the first list holding a non-integer (slow path)."""
  for k, ids in enumerate(lists):
    for v in ids:
      if type(v) is not int and not isinstance(v, np.integer):
        return DataError(f'{path}, list {k}: element {v!r} is not an integer '
                         f'id; expected {_LIST}. Fix: re-save the lists '
                         f'with integer ids only.')
  return DataError(f'{path}: an id does not fit in int64; expected {_LIST}.')


def read_lists(path: str) -> Pairs:
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
  return Pairs(path, np.repeat(owners, lengths - 1), flat[is_item], rows,
               owners, 'list')


def find(folder: str, names: tuple[str, ...]) -> Optional[str]:
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


def load_pt(path: str) -> np.ndarray:
  """Reads a tensor saved with torch.save.

  The zip format (PyTorch >= 1.6) is read by torch_pt, with or without
  PyTorch installed, so every machine reads such a file alike. Other files
  (PyTorch's legacy format) go through torch.load(weights_only=True) when
  PyTorch is installed.
  """
  try:
    return torch_pt.load(path)
  except DataError as e:
    reason = str(e)
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError(
        f'{reason} PyTorch is not installed here to read other formats. '
        f'Fix: convert it to .npy once, where PyTorch is installed, by '
        f'running in {os.path.dirname(path) or "."}: {_conversion(path)} '
        f'(the .npy file is preferred when both exist).') from None
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


def feature_files(folder: str) -> dict[str, str]:
  """Modality -> the feature file found for it (MovieLens name, .npy, .pt)."""
  found = {}
  for m in MODALITIES:
    stem = SHORT_STEMS[m]
    path = find(folder, (MOVIELENS_FILES[m], stem + '.npy', stem + '.pt'))
    if path is not None:
      found[m] = path
  return found


def read_feature(path: str, modality: str) -> tuple[str, np.ndarray]:
  """Reads one feature file; returns ('bag', int64 [2, n]) or ('dense', x)."""
  array = load_pt(path) if path.endswith('.pt') else safe_pickle.load_npy(path)
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
