"""From `config.data` to a split Dataset: read by the format's loader, split.

The path of a run's data: `load` checks the settings, `read` dispatches to
the loader of data.format (or the built-in generators), and splits.prepare
turns the raw dataset into train / val / test once.
"""

from __future__ import annotations

import os
from typing import Callable

import ml_collections

from jaxrec.data import csv_files
from jaxrec.data import fold_files
from jaxrec.data import grcn_layout
from jaxrec.data import lightgcn_text
from jaxrec.data import likes
from jaxrec.data import mmrec
from jaxrec.data import movielens
from jaxrec.data import recbole
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data import synthetic_grcn
from jaxrec.data import triples
from jaxrec.data.dataset import DataError, Dataset
from jaxrec.errors import ConfigError


def _load_grcn(path: str, cfg: ml_collections.ConfigDict) -> Dataset:
  """Reads the GRCN/MMGCN folder layout with cfg.grcn's sizes."""
  g = cfg.grcn
  return grcn_layout.load_grcn(path, g.num_users, g.num_items, cfg.duplicates)


# Explicit dispatch: data.format -> loader(path, config.data).
LOADERS: dict[str, Callable[[str, ml_collections.ConfigDict], Dataset]] = {
    'movielens': lambda p, c: movielens.load_movielens(p, c.duplicates),
    'recbole': lambda p, c: recbole.load_recbole(p, c.duplicates),
    'lightgcn_text': lambda p, c: lightgcn_text.load_lightgcn_text(
        p, c.duplicates),
    'triples': lambda p, c: triples.load_triples(p, c.duplicates),
    'grcn': _load_grcn,
    'mmrec': lambda p, c: mmrec.load_mmrec(
        p, c.mmrec.inter_file, c.mmrec.user_column, c.mmrec.item_column,
        c.mmrec.split_column, c.mmrec.sep, c.mmrec.vision_feature_file,
        c.mmrec.text_feature_file, c.mmrec.filter_cold_start_users,
        c.duplicates),
    'fold_files': lambda p, c: fold_files.load_fold_files(
        p, c.num_folds, c.fold, c.fold_pattern, c.duplicates),
    'csv': lambda p, c: csv_files.load_csv(
        p, c.csv.user_column, c.csv.item_column, c.csv.rating_column,
        c.csv.time_column, c.csv.sep, c.csv.train_file, c.csv.val_file,
        c.csv.test_file, c.duplicates),
}
FORMATS = ('synthetic', 'auto', *LOADERS)
FEEDBACKS = ('implicit', 'signed')
# Formats whose loader already splits train from test by their files, so
# that data.split must be 'given'.
PRESPLIT = ('fold_files', 'mmrec')


def _inter_format(path: str) -> str:
  """'recbole' for a typed header (user_id:token ...), else 'mmrec'."""
  with open(path, 'rb') as f:
    header = f.readline().decode('utf-8', 'replace')
  return 'recbole' if ':' in header else 'mmrec'


def detect_format(path: str) -> str:
  """Guesses the on-disk format of a file or folder (for data.format='auto')."""
  if os.path.isfile(path):
    name = os.path.basename(path)
    if name.endswith('.inter'):
      return _inter_format(path)
    if name in ('u.data', 'ratings.dat', 'ratings.csv'):
      return 'movielens'
  elif os.path.isdir(path):
    names = set(os.listdir(path))
    inters = sorted(n for n in names if n.endswith('.inter'))
    if inters:
      return _inter_format(os.path.join(path, inters[0]))
    if names & {'u.data', 'ratings.dat', 'ratings.csv'}:
      return 'movielens'
  raise DataError(
      f"config.data.path={path!r}: cannot tell its format (looked for *.inter, "
      f"u.data, ratings.dat, ratings.csv). Set config.data.format to one of "
      f"{sorted(LOADERS)}.")


def resolve_format(cfg: ml_collections.ConfigDict) -> str:
  """The format cfg (a `config.data`) reads: cfg.format, or detected for 'auto'.

  Raises DataError for an unknown format, or a path that does not exist.
  """
  if cfg.format not in FORMATS:
    raise DataError(f'config.data.format={cfg.format!r} is not one of '
                    f'{list(FORMATS)}.')
  if cfg.format == 'synthetic' or (cfg.format == 'grcn' and not cfg.path):
    return cfg.format
  path = os.path.expanduser(cfg.path)
  if not path or not os.path.exists(path):
    hint = cfg.get('download_hint', '')
    raise DataError(
        f'config.data.path={cfg.path!r} does not exist. Point it at the data '
        f'with --config.data.path=DIR.' + (f' {hint}' if hint else ''))
  return detect_format(path) if cfg.format == 'auto' else cfg.format


def read(cfg: ml_collections.ConfigDict) -> Dataset:
  """Reads the raw dataset named by cfg (a `config.data`), before splitting."""
  fmt = resolve_format(cfg)
  if fmt == 'synthetic':
    return synthetic.generate(**cfg.synthetic.to_dict())
  if fmt == 'grcn' and not cfg.path:
    g = cfg.grcn
    return synthetic_grcn.builtin_grcn(g.synthetic_preset, g.synthetic_users,
                                       g.synthetic_items, g.synthetic_seed,
                                       g.synthetic_noise)
  return LOADERS[fmt](os.path.expanduser(cfg.path), cfg)


def check_config(cfg: ml_collections.ConfigDict) -> None:
  """Refuses data settings that cannot work together, before reading files.

  Args:
    cfg: `config.data`.
  """
  feedback = cfg.feedback
  if feedback not in FEEDBACKS:
    raise ConfigError(
        f'config.data.feedback={feedback!r} is not one of {list(FEEDBACKS)}: '
        f"'implicit' drops the interactions that are not positive, 'signed' "
        f'keeps them as dislikes.')
  if cfg.positive not in likes.RULES:
    raise ConfigError(f'config.data.positive={cfg.positive!r} is not one of '
                      f'{list(likes.RULES)}.')
  if feedback == 'signed' and cfg.positive == 'all':
    raise ConfigError(
        "config.data.feedback='signed' needs a rule that separates likes "
        "from dislikes, but config.data.positive='all' makes every "
        "interaction a like. Fix: set config.data.positive='threshold' "
        "(rating > config.data.threshold; SiReN and PANE-GNN use 3.5, and "
        "2.0 on KuaiRec's watch_ratio), 'rating' (rating >= "
        "config.data.min_rating) or 'label' (label == 1).")
  if cfg.format in PRESPLIT and cfg.split != 'given':
    raise ConfigError(
        f"config.data.format={cfg.format!r} reads the test split from its "
        f"files (fold config.data.fold), but config.data.split="
        f"{cfg.split!r} would split again. Fix: set config.data.split="
        f"'given'.")


def load(cfg: ml_collections.ConfigDict) -> Dataset:
  """The dataset a run trains on: read, likes kept or marked, split, checked.

  Args:
    cfg: `config.data` (see jaxrec/data/config.py for the fields).

  Returns:
    The Dataset with train / val / test filled in; for signed feedback each
    part's `liked` is set (see splits.prepare).
  """
  check_config(cfg)
  return splits.prepare(read(cfg), cfg)
