"""User-item recommendation (LightGCN, GRCN, SiReN, PANE-GNN).

Data: a Dataset (jaxrec.data) of implicit feedback (every interaction a
like) or signed feedback (likes and dislikes, config.data.feedback). Graph:
the bipartite graph of the train likes. Batches: each train like (implicit
models) or each train rating (signed models) with sampled negatives, items
the user has no train interaction with. Evaluation: full ranking of all
items per user; ground truth = the split's likes; every train item (liked
or not; and every val item when scoring test) is excluded. Baseline:
MostPop (train likes).
"""

from __future__ import annotations

import ml_collections

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


def truth(ds: Dataset, split: str) -> metrics.UserItems:
  """Ground-truth items per user for 'val' or 'test': the split's likes."""
  return metrics.UserItems([getattr(ds, _check(split)).likes()], ds.num_users)


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
        num_negatives=None if classic else c.num_negatives, item_probs=probs)

  def metric_names(self, config: ml_collections.ConfigDict) -> list[str]:
    """Every metric evaluate() returns, e.g. 'recall@20'."""
    return [f'{m}@{k}' for k in config.eval_ks for m in metrics.METRICS]

  def has_split(self, task: base.Task, split: str) -> bool:
    """Whether the split has likes to evaluate on."""
    return len(getattr(task.data, _check(split)).likes()) > 0

  def evaluate(self, task: base.Task, params, split: str) -> dict[str, float]:
    """Full-ranking metrics of the model on 'val' or 'test'."""
    ds, c = task.data, task.config
    return metrics.evaluate(task.spec.score, base.model_outputs(task, params),
                            truth(ds, split), exclude(ds, split), ds.num_items,
                            c.eval_ks, c.eval_chunk_size)

  def baselines(self, task: base.Task,
                split: str) -> dict[str, dict[str, float]]:
    """MostPop (train like counts) through the same evaluation."""
    ds, c = task.data, task.config
    pop = metrics.item_popularity(ds.train.likes(), ds.num_items)
    return {'MostPop': metrics.evaluate(
        metrics.most_popular_scores, pop, truth(ds, split),
        exclude(ds, split), ds.num_items, c.eval_ks, c.eval_chunk_size)}

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
    parts = [ds.train, ds.val, ds.test] if exclude_known else [
        ds.train.select(slice(0, 0))]
    seen = metrics.UserItems(parts, ds.num_users)
    return base.recommend_rows(task, params, u, seen, ds.item_ids,
                               ds.item_names, k)
