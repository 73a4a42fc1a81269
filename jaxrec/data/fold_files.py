"""Reads ratings cut into k fold files (SiReN's and PANE-GNN's ML-1M)."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data.dataset import DataError, Dataset, Interactions
from jaxrec.errors import ConfigError

# Separators tried on a file's first line, in order; None is whitespace.
SEPARATORS = ('::', '\t', ',', None)

_LINE = 'user,item,rating or user,item,rating,timestamp'
_NAMES = ('user', 'item', 'rating', 'timestamp')
_KINDS = ('id', 'id', 'float', 'int')
_ORIGIN = (
    "These are the fold files of SiReN and PANE-GNN (ML-1M cut into 5 random "
    "folds, test_1m1.dat ... test_1m5.dat, shipped with their code). Fix: "
    "copy them into the folder, set config.data.fold_pattern to their names "
    "({} = fold number from 1), or read MovieLens's ratings.dat with "
    "config.data.format='movielens' and config.data.split='kfold' instead.")


def fold_paths(folder: str, num_folds: int, pattern: str) -> list[str]:
  """The [num_folds] fold files: pattern.format(k) in folder, k = 1..k."""
  return [os.path.join(folder, pattern.format(k))
          for k in range(1, num_folds + 1)]


def _first_line(path: str) -> tuple[int, str]:
  """(1-based number, text) of the first non-blank line of a file."""
  with open(path, 'rb') as f:
    for number, raw in enumerate(f, 1):
      line = raw.decode('utf-8', 'replace').lstrip('\ufeff').rstrip('\r\n')
      if line.strip():
        return number, line
  raise DataError(f'{path} has no data rows; expected lines of {_LINE}. '
                  f'Fix: check that the file was copied completely.')


def _layout(path: str) -> tuple[Optional[str], int]:
  """(separator, number of fields) of a fold file, from its first line."""
  number, line = _first_line(path)
  sep = next((s for s in SEPARATORS if s is None or s in line))
  count = len(line.split(sep))
  if count not in (3, 4):
    raise readers.line_error(
        path, number, line, f'found {count} fields',
        f'3 or 4 fields ({_LINE}), separated by commas, "::", tabs or '
        f'spaces')
  return sep, count


def read_fold(path: str) -> readers.Table:
  """Reads one fold file.

  Args:
    path: lines `user,item,rating[,timestamp]`, no header; the separator
      (',', '::', tab or spaces) and the field count (3 or 4) come from the
      first line and must hold on every line.

  Returns:
    A Table with int64 [n] user, item (and timestamp with 4 fields) and
    float64 [n] rating.
  """
  sep, count = _layout(path)
  return readers.read_columns(
      path, sep, _NAMES[:count], _KINDS[:count],
      what=f'a fold file of lines {_LINE}')


def load_fold_files(path: readers.PathLike, num_folds: int, fold: int,
                    pattern: str = 'test_1m{}.dat',
                    duplicates: str = 'error') -> Dataset:
  """Reads a folder of k fold files; fold `fold` is test, the others train.

  Args:
    path: a folder with the num_folds files pattern.format(k), k = 1..
      num_folds, each line `user,item,rating[,timestamp]`.
    num_folds: number of fold files k >= 2 (config.data.num_folds).
    fold: the test fold, 0-based: file fold + 1 is test (config.data.fold).
    pattern: the file names, with {} for the fold number from 1.
    duplicates: 'error', 'keep_first' or 'keep_last' for a (user, item) pair
      repeated within a file, or found in two files (it is then kept in the
      lower-numbered file only, whichever fold is test).

  Returns:
    A Dataset with test = fold `fold`'s rows, train = the other files' rows
    in file order, empty val (carved later from data.val_ratio); int32 user
    and item remapped jointly over all files, raw ids kept, float32 rating,
    int64 timestamp when every file has one.
  """
  folder = os.fspath(path)
  if not os.path.isdir(folder):
    raise DataError(f'config.data.path={folder!r} is not a folder; '
                    f'data.format=fold_files expects a folder holding '
                    f'{num_folds} fold files named {pattern!r}. {_ORIGIN}')
  if num_folds < 2 or not 0 <= fold < num_folds:
    raise ConfigError(
        f'config.data.fold={fold} must be in [0, config.data.num_folds='
        f'{num_folds}) with num_folds >= 2; fold k (0-based) is the file '
        f'{pattern!r} with k + 1 for {{}}.')
  paths = fold_paths(folder, num_folds, pattern)
  missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
  if missing:
    raise DataError(
        f'{folder} lacks {len(missing)} of the {num_folds} fold files '
        f'(config.data.fold_pattern={pattern!r}, config.data.num_folds='
        f'{num_folds}): {", ".join(missing)}. {_ORIGIN}')
  tables = [read_fold(p) for p in paths]
  users, user_ids = readers.joint_ids([t['user'] for t in tables])
  items, item_ids = readers.joint_ids([t['item'] for t in tables])
  with_time = all('timestamp' in t.columns for t in tables)
  parts = [Interactions(user, item, t['rating'].astype(np.float32),
                        t['timestamp'] if with_time else None)
           for t, user, item in zip(tables, users, items)]
  parts = _dedupe(parts, tables, user_ids, item_ids, duplicates)
  test = parts[fold]
  train = Interactions.concat(parts[:fold] + parts[fold + 1:])
  return Dataset(
      name=os.path.basename(os.path.abspath(folder)), source=folder,
      num_users=len(user_ids), num_items=len(item_ids), train=train,
      val=Interactions.empty(like=train), test=test, user_ids=user_ids,
      item_ids=item_ids)


def _dedupe(parts: list[Interactions], tables: list[readers.Table],
            user_ids: np.ndarray, item_ids: np.ndarray,
            policy: str) -> list[Interactions]:
  """Applies the duplicates policy within each fold file and across files.

  Files are compared pairwise, so a message names the two files and lines
  involved, and what is kept does not depend on which fold is test.
  """
  parts = list(parts)
  for j in range(len(parts)):
    for k in range(j + 1, len(parts)):
      pair = Dataset(
          name='folds', source='', num_users=len(user_ids),
          num_items=len(item_ids), train=parts[j],
          val=Interactions.empty(like=parts[j]), test=parts[k],
          user_ids=user_ids, item_ids=item_ids)
      # Line numbers only appear in errors, and 'error' drops nothing, so
      # they stay aligned with the rows whenever they are used.
      lines = ({'train': tables[j].line, 'test': tables[k].line}
               if policy == 'error' else None)
      pair, _ = dedupe.check_duplicates(
          pair, policy, files={'train': tables[j].path,
                               'test': tables[k].path}, lines=lines)
      parts[j], parts[k] = pair.train, pair.test
  return parts
