"""What every task kind shares: the Task record, the TaskKind interface and
checks before training.

A task kind (user_item, item_item) knows its data, graph, training batches,
evaluation and baselines; a model's spec names its kind (ModelSpec.task).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jraph
import ml_collections
import numpy as np
from absl import logging

from jaxrec import checks
from jaxrec import sampling
from jaxrec import config as config_lib
from jaxrec.errors import ConfigError
from jaxrec.models.spec import ModelSpec


@dataclasses.dataclass(frozen=True)
class Task:
  """A model, the data it trains on, and how to train and evaluate it.

  Attributes:
    config: the run config.
    kind: the task kind (a TaskKind: UserItem, ItemItem).
    data: the kind's data (a Dataset, an ItemGraph, ...).
    graph: the padded training graph.
    inputs: what the model is applied to: the graph, or the graph with item
      features (spec.inputs builds it).
    spec: the model's spec (see jaxrec.models).
    model: the flax module.
  """

  config: ml_collections.ConfigDict
  kind: 'TaskKind'
  data: Any
  graph: jraph.GraphsTuple
  inputs: Any
  spec: ModelSpec
  model: nn.Module


class TaskKind:
  """What a task kind does; user_item.UserItem and item_item.ItemItem.

  Stateless: every method takes the Task (or the config) it acts on.
  """

  def build(self, config: ml_collections.ConfigDict, spec: ModelSpec) -> Task:
    """The Task of a config: data loaded and checked, graph and model built."""
    raise NotImplementedError

  def batches(self, task: Task, num_devices: int):
    """An object with steps_per_epoch, num_examples and batch(epoch, step)
    -> dict of [B] arrays incl. 'mask' (pure in epoch and step)."""
    raise NotImplementedError

  def metric_names(self, config: ml_collections.ConfigDict) -> list[str]:
    """The names evaluate() returns (for config.selection_metric)."""
    raise NotImplementedError

  def has_split(self, task: Task, split: str) -> bool:
    """Whether 'val' / 'test' has ground truth."""
    raise NotImplementedError

  def evaluate(self, task: Task, params, split: str) -> dict[str, float]:
    """The model's metrics on 'val' or 'test'."""
    return self.evaluate_outputs(task, model_outputs(task, params), split)

  def evaluate_outputs(self, task: Task, outputs,
                       split: str) -> dict[str, float]:
    """The metrics of the model's ranking outputs (spec.eval_outputs), e.g.
    one run's slice of stacked runs' outputs (jaxrec.stacked)."""
    raise NotImplementedError

  def baselines(self, task: Task, split: str) -> dict[str, dict[str, float]]:
    """{baseline name: metrics} through the same evaluation."""
    raise NotImplementedError

  def queries(self, task: Task, exclude_known: bool = True
              ) -> tuple[str, np.ndarray, Any]:
    """What recommendations rank for, and what they never list.

    Returns:
      (query column name, e.g. 'user_id'; [Q] raw ids of the queries;
      metrics.UserItems of the items never listed for each query).
    """
    raise NotImplementedError

  def recommend(self, task: Task, params, user: str | None = None,
                item: str | None = None, k: int = 10,
                exclude_known: bool = True) -> list['Recommendation']:
    """Top-k rows for a user or an anchor item (raw ids)."""
    raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Recommendation:
  """One row of a recommendation list, with the ids users know."""

  rank: int
  item_id: str
  name: str
  score: float


def check_config(config: ml_collections.ConfigDict, num_candidates: int | None,
                 metric_names: Sequence[str]) -> None:
  """Refuses run-level settings that cannot work, before any training.

  Every run-level field of jaxrec/config.py base() is checked here; the
  launchers call this before they make the run's folder.

  Args:
    config: the run config.
    num_candidates: how many items each ranking chooses from, or None
      before the data is loaded (eval_ks is then checked against it later).
    metric_names: the metrics the task's evaluation computes.
  """
  checks.check_fields(config, 'config', {
      'seed': checks.NON_NEGATIVE_INT,
      'learning_rate': checks.POSITIVE,
      'batch_size': checks.NON_NEGATIVE_INT,  # 0 = full batches.
      'num_epochs': checks.POSITIVE_INT,
      'l2_weight': checks.NON_NEGATIVE,
      'num_negatives': checks.POSITIVE_INT,
      # Popularity ** power: a negative power gives unseen items weight inf.
      'negative_power': checks.NON_NEGATIVE,
      'num_devices': checks.NON_NEGATIVE_INT,  # 0 = all local devices.
      'eval_every_epochs': checks.POSITIVE_INT,
      'log_every_epochs': checks.POSITIVE_INT,
      'eval_chunk_size': checks.POSITIVE_INT,
      'patience': checks.NON_NEGATIVE_INT,  # 0 = never stop early.
  }, config_lib.base(config.model.name))
  checks.check_choice(config.negative_sampling, 'config.negative_sampling',
                      ('uniform', 'popularity'))
  checks.check_choice(config.train_examples, 'config.train_examples',
                      sampling.TRAIN_EXAMPLES)
  checks.check_choice(config.shard_graph, 'config.shard_graph', (False, True))
  checks.check_choice(config.shard_tables, 'config.shard_tables',
                      (False, True))
  if config.shard_tables:
    _check_row_sharding(config)
  ks = tuple(config.eval_ks)
  if not ks or not all(checks.POSITIVE_INT.accepts(k) for k in ks):
    # Before selection_metric, whose names are made from eval_ks.
    raise ConfigError(f'config.eval_ks={ks} must be cut-offs K >= 1; e.g. '
                      f"--config.eval_ks='(10, 20)'.")
  if num_candidates is not None and max(ks) > num_candidates:
    raise ConfigError(f'config.eval_ks={ks} asks for more items than the '
                      f'{num_candidates} there are; choose smaller cut-offs.')
  if config.selection_metric not in metric_names:
    raise ConfigError(f'config.selection_metric={config.selection_metric!r} '
                      f'is not computed; choose one of {list(metric_names)}.')


def _check_row_sharding(config: ml_collections.ConfigDict) -> None:
  """config.shard_tables needs a model with row tables, and no edge split."""
  from jaxrec import models  # pylint: disable=g-import-not-at-top
  if config.shard_graph:
    raise ConfigError('config.shard_tables=True already splits the edges (by '
                      'the rows they update); set config.shard_graph=False.')
  if not models.get(config.model.name).row_tables:
    able = sorted(n for n, s in models.MODELS.items() if s.row_tables)
    raise ConfigError(
        f'config.shard_tables=True: model {config.model.name!r} cannot split '
        f'its tables by rows (models that can: {able}); use '
        f'config.shard_graph=True to split its graph work instead.')


def log_data(summary: str, synthetic: bool) -> None:
  """Logs the run's data; synthetic data is flagged loudly.

  Training, evaluation and recommendation all build the task, so the words
  hold for each of them (no "Training on").
  """
  logging.info('Dataset %s', summary)
  if synthetic:
    logging.warning(
        'Data: SYNTHETIC built-in dataset, NOT real data; its metrics and '
        'recommendations say nothing about real users. For real data, train '
        'with --config.data.format and --config.data.path (or a config such '
        'as configs/lightgcn_ml100k.py).')


def effective_batch_size(config: ml_collections.ConfigDict, num_examples: int,
                         num_devices: int) -> int:
  """config.batch_size, or for 0 the whole epoch in one batch.

  The full batch is rounded up to a multiple of the device count (padding
  rows carry mask 0).
  """
  if config.batch_size:
    return config.batch_size
  return -(-num_examples // num_devices) * num_devices


def model_outputs(task: Task, params) -> Any:
  """The model's ranking outputs, on one device (params may be replicated)."""
  params = jax.device_put(params, jax.local_devices()[0])
  return jax.jit(task.spec.eval_outputs, static_argnums=0)(
      task.model, params, task.inputs)


def lookup(vocab: np.ndarray, raw: str, what: str) -> int:
  """The contiguous id of a raw id, or a clear error."""
  hits = np.flatnonzero(vocab == str(raw))
  if not len(hits):
    raise ConfigError(f'Unknown {what} id {raw!r}; ids look like '
                      f'{", ".join(vocab[:5])}, ...')
  return int(hits[0])


def recommend_rows(task: Task, params, query: int, known,
                   item_ids: np.ndarray, item_names: np.ndarray | None,
                   k: int) -> list[Recommendation]:
  """The k best items for one query row (a user, or an anchor item).

  Args:
    task: the task (its model scores the query against every item).
    params: model parameters.
    query: contiguous id of the user or anchor item.
    known: metrics.UserItems whose items for `query` are never listed.
    item_ids: [I] raw item ids.
    item_names: [I] names, or None.
    k: list length.

  Returns:
    Up to k Recommendations, best first.
  """
  outputs = model_outputs(task, params)
  scores = np.asarray(task.spec.score(outputs,
                                      np.array([query], np.int32)))[0]
  exclude = known.dense(np.array([query]), len(item_ids))[0]
  scores = np.where(exclude, -np.inf, scores)
  top = np.argsort(-scores, kind='stable')[:k]
  top = top[np.isfinite(scores[top])]
  name = lambda i: '' if item_names is None else str(item_names[i])
  return [Recommendation(r + 1, str(item_ids[i]), name(i), float(scores[i]))
          for r, i in enumerate(top)]
