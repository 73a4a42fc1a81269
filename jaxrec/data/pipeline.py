"""From `config.data` to a split Dataset: read, keep positives, split, check."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Callable, Optional

import ml_collections
import numpy as np

from jaxrec.data import baskets
from jaxrec.data import csv_files
from jaxrec.data import fold_files
from jaxrec.data import grcn_layout
from jaxrec.data import item_graph
from jaxrec.data import lightgcn_text
from jaxrec.data import mmrec
from jaxrec.data import movielens
from jaxrec.data import recbole
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data import triples
from jaxrec.data.dataset import DataError, Dataset
from jaxrec.data.item_graph import ItemGraph
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
SPLITS = ('given', 'ratio', 'kfold')
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
    return _load_grcn(synthetic_grcn_folder(cfg.grcn), cfg)
  return LOADERS[fmt](os.path.expanduser(cfg.path), cfg)


def synthetic_grcn_folder(g: ml_collections.ConfigDict) -> str:
  """The built-in synthetic GRCN data, written once in the official layout.

  Writing it to disk and reading it back through the real loader means the
  default run exercises exactly the path users' own files take.

  Args:
    g: config.data.grcn (synthetic_preset, synthetic_users, ...).

  Returns:
    A folder under the system's temporary directory.
  """
  # The folder name is the dataset's name: 'synthetic-...' flags it as such.
  name = (f'synthetic-{g.synthetic_preset}-u{g.synthetic_users}-'
          f'i{g.synthetic_items}-n{g.synthetic_noise}-s{g.synthetic_seed}')
  folder = os.path.join(tempfile.gettempdir(), 'jaxrec-synthetic-grcn', name)
  if not os.path.exists(os.path.join(folder, 'train.npy')):
    ds = grcn_layout.synthetic_grcn(g.synthetic_preset, g.synthetic_users,
                                    g.synthetic_items, g.synthetic_seed,
                                    g.synthetic_noise)
    # Written aside and renamed: a concurrent run never reads half a folder.
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    staging = tempfile.mkdtemp(dir=os.path.dirname(folder))
    grcn_layout.write_grcn(ds, staging, layout=g.synthetic_preset)
    try:
      os.rename(staging, folder)
    except OSError:  # Another run got there first.
      shutil.rmtree(staging, ignore_errors=True)
  return folder



def split(ds: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """Applies cfg.split ('given', 'ratio' or 'kfold'), then carves validation."""
  if cfg.split not in SPLITS:
    raise DataError(f'config.data.split={cfg.split!r} is not one of {SPLITS}.')
  if cfg.split == 'given':
    if not len(ds.test):
      raise DataError(
          f'{ds.source}: config.data.split="given" but the data has no test '
          f"file. Use config.data.split='ratio' or 'kfold', or add the file.")
  else:
    pool = ds.all_interactions()
    if cfg.split == 'ratio':
      train, test = splits.ratio_split(pool, cfg.test_ratio, cfg.split_seed,
                                       cfg.split_order)
    else:
      if not 0 <= cfg.fold < cfg.num_folds:
        raise DataError(f'config.data.fold={cfg.fold} must be in '
                        f'[0, config.data.num_folds={cfg.num_folds}).')
      train, test = splits.kfold_split(pool, cfg.num_folds, cfg.fold,
                                       cfg.split_seed)
    empty = type(pool).empty(like=pool)
    ds = ds.replace(train=train, val=empty, test=test)
  if not len(ds.val) and cfg.val_ratio > 0:
    ds = splits.carve_validation(ds, cfg.val_ratio, cfg.split_seed,
                                 cfg.split_order)
  return ds


def keep_positive(ds: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """Keeps the interactions that count as positive (cfg.positive) everywhere."""
  keep = lambda x: splits.filter_positive(x, cfg.positive, cfg.min_rating,
                                          cfg.threshold)
  return ds.replace(train=keep(ds.train), val=keep(ds.val),
                    test=keep(ds.test))


def mark_likes(ds: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """Keeps every interaction and sets `liked` from cfg.positive (signed).

  Args:
    ds: the dataset as read, with ratings or labels.
    cfg: `config.data`; positive, min_rating and threshold give the likes.

  Returns:
    The dataset with train / val / test `liked` bool [n] set: True where the
    row is positive under cfg.positive, False (a dislike) elsewhere.
  """
  if any(part.rating is None for part in (ds.train, ds.val, ds.test)):
    raise DataError(
        f"{ds.source}: config.data.feedback='signed' needs a rating or label "
        f"column to tell likes from dislikes, but this data has none. Fix: "
        f"set config.data.feedback='implicit', or read a file with ratings "
        f"(for CSVs, config.data.csv.rating_column).")
  mark = lambda x: dataclasses.replace(x, liked=splits.positive_mask(
      x, cfg.positive, cfg.min_rating, cfg.threshold))
  return ds.replace(train=mark(ds.train), val=mark(ds.val),
                    test=mark(ds.test))


def _like_rule(cfg: ml_collections.ConfigDict) -> str:
  """How cfg.positive picks likes, for messages."""
  return {'rating': f'rating >= config.data.min_rating={cfg.min_rating}',
          'threshold': f'rating > config.data.threshold='
                       f'{cfg.threshold}',
          'label': 'label == 1'}.get(cfg.positive, cfg.positive)


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
  if cfg.positive not in splits.RULES:
    raise ConfigError(f'config.data.positive={cfg.positive!r} is not one of '
                      f'{list(splits.RULES)}.')
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


def check(ds: Dataset,
          cfg: Optional[ml_collections.ConfigDict] = None) -> None:
  """Refuses splits a run cannot use (empty train or test, ids out of range).

  Args:
    ds: the split dataset.
    cfg: `config.data`, to name the like rule in messages about signed data.
  """
  for name in ('train', 'test'):
    if not len(getattr(ds, name)):
      raise DataError(f'{ds.source}: the {name} split is empty after filtering '
                      f'and splitting; check config.data.positive / '
                      f'min_rating and the split ratios.')
  if ds.signed:
    rule = 'the config.data.positive rule' if cfg is None else _like_rule(cfg)
    for name, role in (('train', 'the positive graph'),
                       ('test', 'the ground truth of evaluation')):
      if not len(getattr(ds, name).likes()):
        raise DataError(
            f'{ds.source}: the {name} split has no likes ({rule}), and its '
            f'likes are {role}; all {len(getattr(ds, name))} rows are '
            f'dislikes. Fix: loosen config.data.positive / min_rating / '
            f'threshold, or change the split (config.data.split, test_ratio,'
            f' fold).')
  for name in ('train', 'val', 'test'):
    part = getattr(ds, name)
    if len(part) and (part.user.min() < 0 or part.user.max() >= ds.num_users
                      or part.item.min() < 0 or part.item.max() >= ds.num_items):
      raise DataError(f'{ds.source}: {name} ids out of range '
                      f'[0, {ds.num_users}) x [0, {ds.num_items}).')
  for m, f in ds.item_features.items():
    if f.shape[0] != ds.num_items:
      raise DataError(f'{ds.source}: item features {m!r} have {f.shape[0]} '
                      f'rows for {ds.num_items} items.')
    if not np.all(np.isfinite(f)):
      raise DataError(f'{ds.source}: item features {m!r} contain NaN or inf.')
  for m, bag in ds.item_bags.items():
    if bag.ndim != 2 or bag.shape[0] != 2 or (
        bag.size and not 0 <= bag[0].min() <= bag[0].max() < ds.num_items):
      raise DataError(f'{ds.source}: bag of words {m!r} must be [2, n] '
                      f'(item, word) pairs with items in [0, {ds.num_items}).')


def load(cfg: ml_collections.ConfigDict) -> Dataset:
  """The dataset a run trains on: read, likes kept or marked, split, checked.

  Implicit feedback (cfg.feedback='implicit') keeps the positives before
  splitting (the RecBole convention), so ratios apply to the positive
  interactions. Signed feedback keeps every rating and marks it as a like or
  a dislike before splitting (SiReN's and PANE-GNN's protocol): the split
  sees all ratings and every row keeps its sign.

  Args:
    cfg: `config.data` (see jaxrec/config.py for the fields).

  Returns:
    The Dataset with train / val / test filled in; for signed feedback each
    part's `liked` is set.
  """
  check_config(cfg)
  ds = read(cfg)
  if cfg.feedback == 'signed':
    ds = mark_likes(ds, cfg)
  else:
    ds = keep_positive(ds, cfg)
  ds = split(ds, cfg)
  check(ds, cfg)
  return ds


ITEM_GRAPH_SOURCES = ('toy', 'baskets', 'histories')


def _edges_from_baskets(cfg: ml_collections.ConfigDict):
  """Edges between items bought in the same order, with ids and names."""
  b = cfg.item_graph.baskets
  log = baskets.load_baskets(cfg.path, b.order_column, b.item_column,
                             b.time_column, b.names_path, b.name_column)
  sizes = np.bincount(log.order)
  keep = sizes[log.order] <= b.max_basket if b.max_basket else slice(None)
  edges = item_graph.group_pairs(log.order[keep], log.item[keep],
                                 num_items=len(log.item_ids))
  return edges, log.item_ids, log.item_names, {}, 'baskets'


def _edges_from_histories(cfg: ml_collections.ConfigDict):
  """Edges between items the same user interacted with (positives only)."""
  # Co-interaction edges come from likes only, so data.feedback plays no
  # part here: dislikes are dropped as with implicit feedback.
  ds = keep_positive(read(cfg), cfg)
  g = cfg.item_graph
  edges = item_graph.from_histories(
      ds.all_interactions(), ds.num_items, max_offset=g.max_offset or None,
      window=g.window or None, max_per_user=g.max_per_user or None)
  return (edges, ds.item_ids, ds.item_names, dict(ds.item_features),
          f'{ds.name}-histories')


def _edges_from_toy(cfg: ml_collections.ConfigDict):
  """The GCN article's toy: three categories of items."""
  t = cfg.item_graph.toy
  edges, category = item_graph.toy_categories(
      t.num_items, t.category_size, t.p_in, t.p_out, t.seed)
  names = np.array([f'item {i} (category {c})' for i, c in enumerate(category)])
  return (edges, np.arange(t.num_items).astype(str), names, {},
          'synthetic-toy')


def load_item_graph(cfg: ml_collections.ConfigDict) -> ItemGraph:
  """The item co-occurrence graph a run trains on, edges split and checked.

  Args:
    cfg: `config.data`; cfg.item_graph.source picks 'toy', 'baskets' (a CSV
      at cfg.path) or 'histories' (any user-item format, cfg.format /
      cfg.path / cfg.positive). cfg.val_ratio and cfg.test_ratio are shares
      of edges held out.

  Returns:
    The ItemGraph.
  """
  source = cfg.item_graph.source
  if source not in ITEM_GRAPH_SOURCES:
    raise DataError(f'config.data.item_graph.source={source!r} is not one of '
                    f'{ITEM_GRAPH_SOURCES}.')
  if source == 'baskets' and not os.path.exists(os.path.expanduser(cfg.path)):
    raise DataError(f'config.data.path={cfg.path!r} does not exist; it must '
                    f'be the baskets CSV (order id, item id [, timestamp]).')
  read_edges = {'toy': _edges_from_toy, 'baskets': _edges_from_baskets,
                'histories': _edges_from_histories}[source]
  edges, item_ids, names, features, name = read_edges(cfg)
  edges = edges.select(edges.weight >= cfg.item_graph.min_count)
  if not len(edges):
    raise DataError(f'No item pairs co-occur (min_count='
                    f'{cfg.item_graph.min_count}): the item graph is empty.')
  train, val, test = item_graph.split_edges(edges, cfg.val_ratio,
                                            cfg.test_ratio, cfg.split_seed)
  return ItemGraph(
      name=name,
      source=('GCN article toy graph; NOT real data' if source == 'toy'
              else os.fspath(cfg.path)),
      num_items=len(item_ids), train=train, val=val, test=test,
      item_ids=item_ids, item_names=names, item_features=features)
