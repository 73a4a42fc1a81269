"""User-item recommendation (LightGCN, GRCN, SiReN, PANE-GNN).

Data: a Dataset (jaxrec.data) of implicit feedback (every interaction a
like) or signed feedback (likes and dislikes, config.data.feedback). Graph:
the bipartite graph of the train likes. Batches: each train like (implicit
models) or each train rating (signed models) with sampled negatives, items
the user has no train interaction with. Evaluation: full ranking of all
items per user; ground truth = the split's likes; every train item (liked
or not; and every val item when scoring test) is excluded. Baseline:
MostPop (train likes).

Cold users (a user with likes in the evaluated split but no train row,
liked or not) are skipped, in the model's metrics and MostPop's alike: no
training example ever reached their embedding, so their ranking would be
the one of the initial weights. MMRec drops such users the same way. The
result counts them in 'num_cold_skipped', next to 'num_evaluated' (the users
scored); neither is a metric (evaluate.NOT_METRICS). Cold is a property of
the split, not of the model, so every model of a split is scored on the
same users: an implicit model on signed data still scores a user whose
train rows are all dislikes, which it does not train on. A split where
every user with likes is cold has nothing to evaluate (has_split is False).
"""

from __future__ import annotations

from absl import logging
import ml_collections
import numpy as np

from jaxrec import graphs
from jaxrec import metrics
from jaxrec import sampling
from jaxrec.data import pipeline
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError
from jaxrec.models.spec import ModelSpec
from jaxrec.tasks import base

NEGATIVE_SAMPLING = ('uniform', 'popularity')


def _check_sampling(config: ml_collections.ConfigDict, spec: ModelSpec,
                    ds: Dataset) -> None:
  """Refuses negative-sampling settings, or data, the model cannot use."""
  if config.negative_sampling not in NEGATIVE_SAMPLING:
    raise ConfigError(f'config.negative_sampling={config.negative_sampling!r}'
                      f' is not one of {NEGATIVE_SAMPLING}.')
  if config.num_negatives < 1:
    raise ConfigError(f'config.num_negatives={config.num_negatives} must be '
                      f'at least 1.')
  if spec.feedback == 'signed' and not ds.signed:
    raise ConfigError(
        f"{config.model.name} trains on likes and dislikes: set "
        f"config.data.feedback='signed' (and config.data.positive to the rule "
        f"that tells likes from dislikes).")


def _check(split: str) -> str:
  if split not in ('val', 'test'):
    raise ConfigError(f"split must be 'val' or 'test', got {split!r}.")
  return split


def _has_train(ds: Dataset) -> np.ndarray:
  """bool [U]: whether each user has a train row (liked or not)."""
  warm = np.zeros(ds.num_users, bool)
  warm[ds.train.user] = True
  return warm


def truth(ds: Dataset, split: str) -> metrics.UserItems:
  """Ground-truth items per user for 'val' or 'test': the split's likes.

  Cold users (no train row) get none, so evaluation skips them (see the
  module docstring).
  """
  likes = getattr(ds, _check(split)).likes()
  return metrics.UserItems([likes.select(_has_train(ds)[likes.user])],
                           ds.num_users)


def num_cold(ds: Dataset, split: str) -> int:
  """How many users have likes in the split but no train row (skipped)."""
  users = np.unique(getattr(ds, _check(split)).likes().user)
  return int(np.sum(~_has_train(ds)[users]))


def _evaluate(task: base.Task, score_fn: metrics.ScoreFn, outputs,
              split: str) -> dict[str, float]:
  """metrics.evaluate of a ScoreFn on a split, plus 'num_cold_skipped'."""
  ds, c = task.data, task.config
  result = metrics.evaluate(score_fn, outputs, truth(ds, split),
                            exclude(ds, split), ds.num_items, c.eval_ks,
                            c.eval_chunk_size,
                            # Hand-built configs may lack it: all.
                            c.get('num_devices', 0))
  result['num_cold_skipped'] = num_cold(ds, split)
  return result


def exclude(ds: Dataset, split: str) -> metrics.UserItems:
  """Items never ranked when scoring a split: train (and val for test).

  Every rated item counts, liked or not: a disliked train item is no
  recommendation (and a disliked test item stays rankable, as a miss).
  """
  parts = {'val': [ds.train], 'test': [ds.train, ds.val]}[_check(split)]
  return metrics.UserItems(parts, ds.num_users)


class UserItem(base.TaskKind):
  """The user-item task kind (see the module docstring)."""

  def build(self, config: ml_collections.ConfigDict,
            spec: ModelSpec) -> base.Task:
    """Loads the data (config.data), builds the training graph and model."""
    return self.from_dataset(config, spec, pipeline.load(config.data))

  def from_dataset(self, config: ml_collections.ConfigDict, spec: ModelSpec,
                   ds: Dataset) -> base.Task:
    """The Task for an already split Dataset (e.g. one made in memory)."""
    base.check_config(config, ds.num_items, self.metric_names(config))
    _check_sampling(config, spec, ds)
    base.log_data(ds.summary(), ds.is_synthetic)
    for split in ('val', 'test'):
      if num_cold(ds, split):
        logging.warning(
            '%d users with %s likes have no train interaction: evaluation '
            'skips them (num_cold_skipped), since their embeddings never '
            'train.', num_cold(ds, split), split)
    likes = ds.train.likes()
    graph = graphs.bipartite(likes.user, likes.item, ds.num_users,
                             ds.num_items)
    model = spec.create(config, ds)
    return base.Task(config, self, ds, graph, spec.inputs(config, ds, graph),
                     spec, model)

  def batches(self, task: base.Task, num_devices: int) -> sampling.BPRBatches:
    """Training rows with config.num_negatives sampled negatives each.

    Signed models visit every train rating (with its sign); implicit models
    the train likes. Negatives are never a train item of the user (liked or
    not), drawn uniformly or by popularity (config.negative_sampling).
    """
    ds, c = task.data, task.config
    rows = ds.train if task.spec.feedback == 'signed' else ds.train.likes()
    size = base.effective_batch_size(c, len(rows), num_devices)
    probs = (sampling.popularity(ds.train.item, ds.num_items,
                                 c.negative_power)
             if c.negative_sampling == 'popularity' else None)
    # Implicit models with one negative get the classic 'neg' [B].
    classic = c.num_negatives == 1 and task.spec.feedback == 'implicit'
    return sampling.BPRBatches(
        rows, ds.num_users, ds.num_items, size, c.seed,
        known=sampling.Known(ds.train.user, ds.train.item, ds.num_items),
        num_negatives=None if classic else c.num_negatives, item_probs=probs,
        examples=c.train_examples)

  def metric_names(self, config: ml_collections.ConfigDict) -> list[str]:
    """Every metric evaluate() returns, e.g. 'recall@20'."""
    return [f'{m}@{k}' for k in config.eval_ks for m in metrics.METRICS]

  def has_split(self, task: base.Task, split: str) -> bool:
    """Whether the split has likes of users with a train row to evaluate."""
    return bool(truth(task.data, split).counts().any())

  def evaluate_outputs(self, task: base.Task, outputs,
                       split: str) -> dict[str, float]:
    """Full-ranking metrics of the model on 'val' or 'test'.

    Cold users are skipped and counted in 'num_cold_skipped'.
    """
    return _evaluate(task, task.spec.score, outputs, split)

  def baselines(self, task: base.Task,
                split: str) -> dict[str, dict[str, float]]:
    """MostPop (train like counts) through the same evaluation."""
    ds = task.data
    pop = metrics.item_popularity(ds.train.likes(), ds.num_items)
    return {'MostPop': _evaluate(task, metrics.most_popular_scores, pop,
                                 split)}

  def recommend(self, task: base.Task, params, user: str | None = None,
                item: str | None = None, k: int = 10,
                exclude_known: bool = True) -> list[base.Recommendation]:
    """Top-k items for a user (raw id).

    Args:
      task: the task.
      params: model parameters.
      user: the user's raw id (as in the data files).
      item: unsupported here (item-to-item lists come from item_item
        models).
      k: list length.
      exclude_known: leave out every item the user interacted with (in any
        split).

    Returns:
      k rows with raw item ids and names.
    """
    ds = task.data
    if item is not None or user is None:
      raise ConfigError(f'{task.config.model.name} recommends items to '
                        f'users: pass --user=ID (not --item).')
    u = base.lookup(ds.user_ids, user, 'user')
    _, _, seen = self.queries(task, exclude_known)
    return base.recommend_rows(task, params, u, seen, ds.item_ids,
                               ds.item_names, k)

  def queries(self, task: base.Task, exclude_known: bool = True
              ) -> tuple[str, np.ndarray, metrics.UserItems]:
    """Users, and the items never listed for them: with exclude_known,
    every item they interacted with in any split; else none."""
    ds = task.data
    parts = [ds.train, ds.val, ds.test] if exclude_known else [
        ds.train.select(slice(0, 0))]
    return 'user_id', ds.user_ids, metrics.UserItems(parts, ds.num_users)
