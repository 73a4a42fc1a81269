"""From `config.data` to a split Dataset: read by the format's loader, split.

The path of a run's data: `load` checks the settings, `read` dispatches to
the loader of data.format (or the built-in generators), and splits.prepare
turns the raw dataset into train / val / test once.
"""

from __future__ import annotations

import os
from typing import Callable

import ml_collections

from jaxrec import checks
from jaxrec.data import config as data_config
from jaxrec.data import csv_files
from jaxrec.data import dedupe
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


def _check_synthetic(cfg: ml_collections.ConfigDict,
                     defaults: ml_collections.ConfigDict) -> None:
  """config.data.synthetic: the built-in generator's arguments."""
  s = cfg.synthetic
  checks.check_fields(s, 'config.data.synthetic', {
      'num_users': checks.POSITIVE_INT,
      'num_items': checks.Rule(integer=True, low=2),
      'num_clusters': checks.Rule(integer=True, low=1,
                                  high=max(1, s.num_items // 2)),
      'interactions_per_user': checks.POSITIVE,
      'in_cluster': checks.PROBABILITY,
      'noise': checks.NON_NEGATIVE,
      'feature_noise': checks.NON_NEGATIVE,
      'dislikes_per_user': checks.NON_NEGATIVE,
      'seed': checks.NON_NEGATIVE_INT,
  }, defaults.synthetic)
  for name, width in s.feature_dims.items():
    checks.check_number(width, f'config.data.synthetic.feature_dims.{name}',
                        checks.POSITIVE_INT)


def _check_grcn(cfg: ml_collections.ConfigDict,
                defaults: ml_collections.ConfigDict) -> None:
  """config.data.grcn: the layout's sizes, and the built-in data's."""
  rules = {'num_users': checks.NON_NEGATIVE_INT,  # 0 = infer.
           'num_items': checks.NON_NEGATIVE_INT}
  if not cfg.path:
    checks.check_choice(cfg.grcn.synthetic_preset,
                        'config.data.grcn.synthetic_preset',
                        list(synthetic_grcn.PRESETS))
    rules.update(synthetic_users=checks.POSITIVE_INT,
                 synthetic_items=checks.Rule(integer=True, low=2),
                 synthetic_noise=checks.NON_NEGATIVE,
                 synthetic_seed=checks.NON_NEGATIVE_INT)
  checks.check_fields(cfg.grcn, 'config.data.grcn', rules, defaults.grcn)


def _check_item_graph(cfg: ml_collections.ConfigDict,
                      defaults: ml_collections.ConfigDict) -> None:
  """config.data.item_graph: how item-item models build their graph."""
  g, d = cfg.item_graph, defaults.item_graph
  checks.check_fields(g, 'config.data.item_graph', {
      'min_count': checks.NON_NEGATIVE_INT,
      'max_offset': checks.NON_NEGATIVE_INT,  # 0 = all.
      'window': checks.NON_NEGATIVE,  # 0 = any.
      'max_per_user': checks.NON_NEGATIVE_INT,  # 0 = all.
  }, d)
  checks.check_fields(g.baskets, 'config.data.item_graph.baskets',
                      {'max_basket': checks.NON_NEGATIVE_INT}, d.baskets)
  checks.check_fields(g.toy, 'config.data.item_graph.toy', {
      'num_items': checks.Rule(integer=True, low=2),
      'category_size': checks.POSITIVE_INT,
      'p_in': checks.PROBABILITY,
      'p_out': checks.PROBABILITY,
      'seed': checks.NON_NEGATIVE_INT,
  }, d.toy)


def _check_fields(cfg: ml_collections.ConfigDict) -> None:
  """Each field of `config.data` on its own: its choices or its range."""
  defaults = data_config.default_config()
  # data.format, feedback and positive have their own messages, below.
  checks.check_choices(cfg, 'config.data', {
      'duplicates': dedupe.DUPLICATE_POLICIES, 'split': splits.SPLITS,
      'split_order': splits.ORDERS})
  checks.check_fields(cfg, 'config.data', {
      'min_rating': checks.FINITE,
      'threshold': checks.FINITE,
      'test_ratio': checks.FRACTION,
      'val_ratio': checks.FRACTION,
      'split_seed': checks.NON_NEGATIVE_INT,
  }, defaults)
  if cfg.split == 'kfold' or cfg.format == 'fold_files':
    checks.check_number(cfg.num_folds, 'config.data.num_folds',
                        checks.Rule(integer=True, low=2), defaults.num_folds)
    checks.check_number(cfg.fold, 'config.data.fold', checks.Rule(
        integer=True, low=0, high=cfg.num_folds, high_open=True), 0)
  if cfg.format == 'fold_files' and '{}' not in cfg.fold_pattern:
    raise ConfigError(f'config.data.fold_pattern={cfg.fold_pattern!r} needs '
                      f"'{{}}' where the fold number goes, e.g. "
                      f"--config.data.fold_pattern='test_1m{{}}.dat'.")
  if cfg.format == 'synthetic':
    _check_synthetic(cfg, defaults)
  if cfg.format == 'grcn':
    _check_grcn(cfg, defaults)
  _check_item_graph(cfg, defaults)


def check_config(cfg: ml_collections.ConfigDict) -> None:
  """Refuses data settings that cannot work, before reading files.

  Every field of `config.data` that the data's format and split read is
  checked here (jaxrec/data/config.py lists them); the launchers call this
  before they make the run's folder.

  Args:
    cfg: `config.data`.
  """
  _check_fields(cfg)
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
  if cfg.item_graph.source == 'histories':
    # data.format is read (an unknown format, a path that does not exist),
    # except by item graphs built from baskets or the toy graph.
    resolve_format(cfg)


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
