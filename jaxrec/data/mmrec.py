"""Reads and writes MMRec's data layout (enoche/MMRec, multimodal recommenders).

MMRec users keep one folder per dataset, `data/NAME/`, holding:

  NAME.inter       tab-separated, a header row, columns userID, itemID and
                   x_label (0 = train, 1 = validation, 2 = test); others
                   (rating, timestamp) are ignored, as MMRec ignores them.
  image_feat.npy   float [N_i, d_v], row k = item k (MMRec's
                   vision_feature_file).
  text_feat.npy    float [N_i, d_t], row k = item k (text_feature_file).

Ids are already contiguous and 0-based in MMRec's files (it sizes its tables
by max id + 1, and item k's features are row k), so they are kept as they
are. Like MMRec (filter_out_cod_start_users), validation and test rows of
users with no train row are dropped. The image features become modality
'visual' and the text features 'textual', GRCN's names, so has_v / has_t
switch them.
"""

from __future__ import annotations

import os

from absl import logging
import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data import recbole
from jaxrec.data import safe_pickle
from jaxrec.data.dataset import DataError, Dataset, Interactions

# x_label -> split name (MMRec's inter_splitting_label).
SPLIT_LABELS = {0: 'train', 1: 'val', 2: 'test'}
# Feature file config field -> jaxrec modality name.
MODALITY = {'vision_feature_file': 'visual', 'text_feature_file': 'textual'}

_EXPECTED = ('an MMRec data folder data/NAME/ holding NAME.inter (tab-'
             'separated with a header; columns userID, itemID, x_label with '
             '0/1/2 = train/valid/test) and the item features image_feat.npy '
             'and text_feat.npy (row k = item k)')


def find_inter(path: str, inter_file: str = '') -> str:
  """The .inter file: `path` itself, path/inter_file, path/NAME.inter, or
  the folder's only *.inter file."""
  if not os.path.isdir(path):
    return readers.require_file(path, _EXPECTED)
  if inter_file:
    return readers.require_file(os.path.join(path, inter_file), _EXPECTED)
  named = os.path.join(path, os.path.basename(os.path.abspath(path)) +
                       '.inter')
  if os.path.isfile(named):
    return named
  return recbole.find_inter(
      path, _EXPECTED, 'name the file with --config.data.mmrec.inter_file='
      'FILE (MMRec\'s inter_file_name)')


def _read_inter(path: str, sep: str, user: str, item: str,
                label: str) -> readers.Table:
  """Reads the user, item and split-label columns of an MMRec .inter file."""
  header = readers.read_line(path, 1)
  if not header.strip():
    raise DataError(f'{path} is empty or its first line is blank; expected '
                    f'{_EXPECTED}.')
  names = [n.strip() for n in header.split(sep)]
  for field, name in (('user_column', user), ('item_column', item),
                      ('split_column', label)):
    if name not in names:
      raise readers.line_error(
          path, 1, header, f'the header has no column {name!r} (it has '
          f'{names})', f'a header naming the {field.split("_")[0]} column '
          f'{name!r}', fix=f'rename the column, or set --config.data.mmrec.'
          f'{field}=NAME (MMRec\'s USER_ID_FIELD / ITEM_ID_FIELD / '
          f'inter_splitting_label)')
  kinds = ['id' if n in (user, item, label) else 'skip' for n in names]
  table = readers.read_columns(path, sep, names, kinds, header=True,
                               what=_EXPECTED)
  bad = np.flatnonzero(~np.isin(table[label], list(SPLIT_LABELS)))
  if len(bad):
    number = int(table.line[bad[0]])
    raise readers.line_error(
        path, number, readers.read_line(path, number),
        f'{label} is {table[label][bad[0]]}', f'{label} 0 (train), 1 '
        f'(validation) or 2 (test)', fix='correct the label')
  return table


def _read_features(path: str, num_items: int, max_item: int,
                   inter_path: str, field: str) -> np.ndarray:
  """Reads and checks one feature matrix: float32 [rows, d], rows >= items."""
  array = safe_pickle.load_npy(path)
  if array.dtype.kind not in 'biuf' or array.ndim != 2:
    raise DataError(
        f'{path} holds an array of dtype {array.dtype} and shape '
        f'{array.shape}; expected a float matrix [N_i, d] with row k the '
        f'feature of item k. Fix: re-save it with numpy.save(path, '
        f'features.astype(numpy.float32)), or set --config.data.mmrec.'
        f'{field}=\'\' to leave this modality out.')
  if array.shape[0] <= max_item:
    raise DataError(
        f'{path} has {array.shape[0]} rows, but {inter_path} uses item id '
        f'{max_item}: row k must be the feature of item k, so it needs at '
        f'least {max_item + 1} rows. Fix: re-export the features for every '
        f'item, or remove the interactions of items without features.')
  if num_items and array.shape[0] != num_items:
    raise DataError(
        f'{path} has {array.shape[0]} rows but the other feature file has '
        f'{num_items}; both must have one row per item. Fix: re-export them '
        f'for the same items.')
  finite = np.isfinite(array)
  if not finite.all():
    row = int(np.flatnonzero(~finite.all(axis=1))[0])
    raise DataError(
        f'{path}: row {row} (item {row}) holds NaN or inf '
        f'({int((~finite).sum())} values in {int((~finite.all(1)).sum())} '
        f'rows). Fix: re-encode those items, or fill them (MMRec fills '
        f'missing raw features before encoding).')
  return array.astype(np.float32)


def _all_features(inter: str, max_item: int, vision_feature_file: str,
                  text_feature_file: str) -> dict[str, np.ndarray]:
  """Modality -> float32 [N_i, d] of the feature files next to `inter`.

  A named file that is absent is skipped with a warning, as in MMRec; but
  when files are named and none exists, that is an error.
  """
  folder = os.path.dirname(inter)
  features, wanted = {}, 0
  rows = 0
  for field, name in (('vision_feature_file', vision_feature_file),
                      ('text_feature_file', text_feature_file)):
    if not name:
      continue
    wanted += 1
    file = os.path.join(folder, name)
    if not os.path.isfile(file):
      logging.warning('%s does not exist: modality %r is left out.', file,
                      MODALITY[field])
      continue
    features[MODALITY[field]] = _read_features(file, rows, max_item, inter,
                                               field)
    rows = features[MODALITY[field]].shape[0]
  if wanted and not features:
    raise DataError(
        f'{folder} has neither feature file ({vision_feature_file!r}, '
        f'{text_feature_file!r}); expected {_EXPECTED}. Fix: copy the '
        f'features next to {os.path.basename(inter)}, name them with '
        f'--config.data.mmrec.vision_feature_file / text_feature_file, or '
        f"set both to '' to read the interactions alone.")
  return features


def _drop_cold_start(
    parts: dict[str, Interactions], lines: dict[str, np.ndarray],
    num_users: int, inter: str
) -> tuple[dict[str, Interactions], dict[str, np.ndarray]]:
  """(parts, lines) without the val / test rows of users with no train row."""
  parts, lines = dict(parts), dict(lines)
  seen = np.zeros(num_users, bool)
  seen[parts['train'].user] = True
  for name in ('val', 'test'):
    warm = seen[parts[name].user]
    if not warm.all():
      logging.info('%s: dropped %d %s rows of users with no train row '
                   '(MMRec\'s filter_out_cod_start_users).', inter,
                   int((~warm).sum()), name)
    parts[name] = parts[name].select(warm)
    lines[name] = lines[name][warm]
  return parts, lines


def load_mmrec(path: readers.PathLike, inter_file: str = '',
               user_column: str = 'userID', item_column: str = 'itemID',
               split_column: str = 'x_label', sep: str = '\t',
               vision_feature_file: str = 'image_feat.npy',
               text_feature_file: str = 'text_feat.npy',
               filter_cold_start_users: bool = True,
               duplicates: str = 'error') -> Dataset:
  """Reads an MMRec dataset folder with its given train / valid / test split.

  Args:
    path: the folder data/NAME/ (or its .inter file).
    inter_file: the .inter file's name in the folder ('' = NAME.inter, or
      the only *.inter file).
    user_column, item_column, split_column: MMRec's USER_ID_FIELD,
      ITEM_ID_FIELD and inter_splitting_label.
    sep: MMRec's field_separator.
    vision_feature_file, text_feature_file: feature files in the folder
      ('' = leave the modality out); a missing one is skipped, as in MMRec.
    filter_cold_start_users: drop val / test rows of users absent from
      train (MMRec's filter_out_cod_start_users).
    duplicates: 'error', 'keep_first' or 'keep_last' for repeated pairs.

  Returns:
    A Dataset with train / val / test from x_label (int32 ids as in the
    file), num_users = max user id + 1, num_items = the feature rows (or max
    item id + 1 without features), item_features 'visual' / 'textual'.
  """
  path = os.fspath(path)
  inter = find_inter(path, inter_file)
  table = _read_inter(inter, sep, user_column, item_column, split_column)
  user = table[user_column].astype(np.int64)
  item = table[item_column].astype(np.int64)
  features = _all_features(inter, int(item.max()), vision_feature_file,
                           text_feature_file)
  num_users = int(user.max()) + 1
  # Without features, as in MMRec: max item id + 1.
  num_items = (next(iter(features.values())).shape[0] if features
               else int(item.max()) + 1)
  parts, lines = {}, {}
  for value, name in SPLIT_LABELS.items():
    keep = table[split_column] == value
    parts[name] = Interactions(user[keep].astype(np.int32),
                               item[keep].astype(np.int32))
    lines[name] = table.line[keep]
  if not len(parts['train']):
    raise DataError(f'{inter}: no row has {split_column} 0 (train); expected '
                    f'{_EXPECTED}. Fix: label the training rows 0.')
  if filter_cold_start_users:
    parts, lines = _drop_cold_start(parts, lines, num_users, inter)
  dataset = Dataset(
      name=os.path.splitext(os.path.basename(inter))[0], source=inter,
      num_users=num_users, num_items=num_items,
      user_ids=np.arange(num_users).astype(str),
      item_ids=np.arange(num_items).astype(str), item_features=features,
      **parts)
  dataset, _ = dedupe.check_duplicates(
      dataset, duplicates, files={n: inter for n in SPLIT_LABELS.values()},
      lines=lines)
  return dataset


def write_mmrec(ds: Dataset, folder: str, name: str | None = None,
                features: dict[str, str] | None = None) -> str:
  """Writes a split Dataset as an MMRec folder (NAME.inter + features).

  Args:
    ds: the dataset; its ids are written as they are.
    folder: the folder to create (data/NAME).
    name: NAME (default: the folder's name).
    features: modality -> file name (default: 'visual' -> image_feat.npy,
      'textual' -> text_feat.npy).

  Returns:
    The path of the .inter file.
  """
  name = name or os.path.basename(os.path.abspath(folder))
  features = features or {'visual': 'image_feat.npy',
                          'textual': 'text_feat.npy'}
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, name + '.inter')
  with open(path, 'w') as f:
    f.write('userID\titemID\tx_label\n')
    for value, split in SPLIT_LABELS.items():
      part = getattr(ds, split)
      for u, i in zip(part.user.tolist(), part.item.tolist()):
        f.write(f'{u}\t{i}\t{value}\n')
  for modality, file in features.items():
    if modality in ds.item_features:
      np.save(os.path.join(folder, file),
              np.asarray(ds.item_features[modality], np.float32))
  return path
