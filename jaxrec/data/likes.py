"""Which interactions are likes: the config.data.positive rules.

Implicit feedback keeps the likes and drops the rest; signed feedback keeps
every row and marks it (Interactions.liked).
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

from jaxrec import checks
from jaxrec.data.dataset import DataError, Dataset, Interactions

RULES = ('all', 'rating', 'threshold', 'label')


def positive_mask(inter: Interactions, rule: str, min_rating: float,
                  threshold: float = 3.5) -> np.ndarray:
  """Which interactions count as positive (likes).

  Args:
    inter: [n] interactions.
    rule: 'all' (every row); 'rating' (rating >= min_rating, RecBole's
      convention); 'threshold' (rating > threshold, SiReN's and PANE-GNN's);
      'label' (rating == 1, and every rating must be a 0/1 label).
    min_rating: the threshold of rule 'rating' (config.data.min_rating).
    threshold: the threshold of rule 'threshold' (config.data.threshold).

  Returns:
    bool [n]: True where the row is positive.
  """
  checks.check_choice(rule, 'config.data.positive', RULES)
  if rule == 'all':
    return np.ones(len(inter), bool)
  if inter.rating is None:
    raise DataError(
        f"positive rule {rule!r} needs a rating or label column, but these "
        f"interactions have none (e.g. LightGCN text files). Fix: set "
        f"config.data.positive='all'.")
  if rule == 'rating':
    return inter.rating >= min_rating
  if rule == 'threshold':
    return inter.rating > threshold
  bad = (inter.rating != 0) & (inter.rating != 1)
  if np.any(bad):
    others = np.unique(inter.rating[bad])
    raise DataError(
        f"positive rule 'label' needs 0/1 labels, but {int(bad.sum())} "
        f"ratings are other values ({', '.join(map(str, others[:5]))}...). "
        f"Fix: set config.data.positive='rating' with config.data.min_rating"
        f" or 'threshold' with config.data.threshold, or 'all'.")
  return inter.rating == 1


def filter_positive(inter: Interactions, rule: str, min_rating: float,
                    threshold: float = 3.5) -> Interactions:
  """Keeps the interactions that count as positive.

  Args:
    inter: [n] interactions.
    rule: 'all', 'rating', 'threshold' or 'label' (see positive_mask).
    min_rating: the threshold of rule 'rating'.
    threshold: the threshold of rule 'threshold'.

  Returns:
    The [m <= n] kept rows, in their order (inter itself for rule 'all').
  """
  mask = positive_mask(inter, rule, min_rating, threshold)
  return inter if rule == 'all' else inter.select(mask)


def keep_positive(ds: Dataset, cfg: ml_collections.ConfigDict) -> Dataset:
  """Keeps the interactions that count as positive (cfg.positive) everywhere."""
  keep = lambda x: filter_positive(x, cfg.positive, cfg.min_rating,
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
  mark = lambda x: dataclasses.replace(x, liked=positive_mask(
      x, cfg.positive, cfg.min_rating, cfg.threshold))
  return ds.replace(train=mark(ds.train), val=mark(ds.val),
                    test=mark(ds.test))


def like_rule(cfg: ml_collections.ConfigDict) -> str:
  """How cfg.positive picks likes, for messages."""
  return {'rating': f'rating >= config.data.min_rating={cfg.min_rating}',
          'threshold': f'rating > config.data.threshold='
                       f'{cfg.threshold}',
          'label': 'label == 1'}.get(cfg.positive, cfg.positive)
