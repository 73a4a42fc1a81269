"""User-item recommendation from implicit feedback (LightGCN, GRCN).

Data: a Dataset (jaxrec.data); graph: the bipartite user-item graph of the
train interactions; batches: BPR triples; evaluation: full ranking of all
items per user, train items (and val items for test) excluded; baseline:
MostPop.
"""

from __future__ import annotations

import sys
from types import ModuleType

import ml_collections

from jaxrec import graphs
from jaxrec import metrics
from jaxrec import sampling
from jaxrec.data import pipeline
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError
from jaxrec.tasks import base


def build(config: ml_collections.ConfigDict, model_lib: ModuleType) -> base.Task:
  """Loads the data (config.data), builds the training graph and the model."""
  return from_dataset(config, model_lib, pipeline.load(config.data))


def from_dataset(config: ml_collections.ConfigDict, model_lib: ModuleType,
                 ds: Dataset) -> base.Task:
  """The Task for an already split Dataset (e.g. one made in memory)."""
  base.check_config(config, ds.num_items, metric_names(config))
  base.log_data(ds.summary(), ds.is_synthetic)
  graph = graphs.bipartite(ds.train.user, ds.train.item, ds.num_users,
                           ds.num_items)
  model = model_lib.create(config, ds)
  return base.Task(config, sys.modules[__name__], ds, graph,
                   model_lib.inputs(config, ds, graph), model_lib, model)


def batches(task: base.Task, num_devices: int) -> sampling.BPRBatches:
  """BPR (user, positive, negative) batches over the train interactions."""
  ds = task.data
  size = base.effective_batch_size(task.config, len(ds.train), num_devices)
  return sampling.BPRBatches(ds.train, ds.num_users, ds.num_items, size,
                             task.config.seed)


def metric_names(config: ml_collections.ConfigDict) -> list[str]:
  """Every metric evaluate() returns, e.g. 'recall@20'."""
  return [f'{m}@{k}' for k in config.eval_ks for m in metrics.METRICS]


def _check(split: str) -> str:
  if split not in ('val', 'test'):
    raise ConfigError(f"split must be 'val' or 'test', got {split!r}.")
  return split


def has_split(task: base.Task, split: str) -> bool:
  """Whether the split has interactions to evaluate on."""
  return len(getattr(task.data, _check(split))) > 0


def truth(ds: Dataset, split: str) -> metrics.UserItems:
  """Ground-truth items per user for 'val' or 'test'."""
  return metrics.UserItems([getattr(ds, _check(split))], ds.num_users)


def exclude(ds: Dataset, split: str) -> metrics.UserItems:
  """Items never ranked when scoring a split: train (and val for test)."""
  parts = {'val': [ds.train], 'test': [ds.train, ds.val]}[_check(split)]
  return metrics.UserItems(parts, ds.num_users)


def evaluate(task: base.Task, params, split: str) -> dict[str, float]:
  """Full-ranking metrics of the model on 'val' or 'test'."""
  ds, c = task.data, task.config
  return metrics.evaluate(task.model_lib.score, base.model_outputs(task, params),
                          truth(ds, split), exclude(ds, split), ds.num_items,
                          c.eval_ks, c.eval_chunk_size)


def baselines(task: base.Task, split: str) -> dict[str, dict[str, float]]:
  """MostPop (train interaction counts) through the same evaluation."""
  ds, c = task.data, task.config
  pop = metrics.item_popularity(ds.train, ds.num_items)
  return {'MostPop': metrics.evaluate(
      metrics.most_popular_scores, pop, truth(ds, split), exclude(ds, split),
      ds.num_items, c.eval_ks, c.eval_chunk_size)}


def recommend(task: base.Task, params, user: str | None = None,
              item: str | None = None, k: int = 10,
              exclude_known: bool = True) -> list[base.Recommendation]:
  """Top-k items for a user (raw id).

  Args:
    task: the task.
    params: model parameters.
    user: the user's raw id (as in the data files).
    item: unsupported here (item-to-item lists come from item_item models).
    k: list length.
    exclude_known: leave out every item the user interacted with (in any
      split).

  Returns:
    k rows with raw item ids and names.
  """
  ds = task.data
  if item is not None or user is None:
    raise ConfigError(f'{task.config.model.name} recommends items to users: '
                      f'pass --user=ID (not --item).')
  u = base.lookup(ds.user_ids, user, 'user')
  parts = [ds.train, ds.val, ds.test] if exclude_known else [
      ds.train.select(slice(0, 0))]
  seen = metrics.UserItems(parts, ds.num_users)
  return base.recommend_rows(task, params, u, seen, ds.item_ids,
                             ds.item_names, k)
