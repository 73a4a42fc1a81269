"""Everything a run derives from its config: data, graph and model.

Training and evaluate-from-checkpoint both build their Task from the same
config, so a restored model sees exactly the data it was trained on.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

import flax.linen as nn
import jraph
import ml_collections
from absl import logging

from jaxrec import graphs
from jaxrec import metrics
from jaxrec import models
from jaxrec.data import pipeline
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Task:
  """A dataset, its training graph and the model to train on it."""

  config: ml_collections.ConfigDict
  dataset: Dataset
  graph: jraph.GraphsTuple
  model_lib: ModuleType
  model: nn.Module

  def truth(self, split: str) -> metrics.UserItems:
    """Ground-truth items per user for 'val' or 'test'."""
    return metrics.UserItems([getattr(self.dataset, _check(split))],
                             self.dataset.num_users)

  def exclude(self, split: str) -> metrics.UserItems:
    """Items never ranked when scoring a split: train (and val for test)."""
    parts = {'val': [self.dataset.train],
             'test': [self.dataset.train, self.dataset.val]}[_check(split)]
    return metrics.UserItems(parts, self.dataset.num_users)


def _check(split: str) -> str:
  if split not in ('val', 'test'):
    raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
  return split


def log_dataset(ds: Dataset) -> None:
  """Logs what the run trains on; synthetic data is flagged loudly."""
  logging.info('Dataset %s', ds.summary())
  if ds.is_synthetic:
    logging.warning(
        'Training on SYNTHETIC data (the built-in default), not a real '
        'dataset. For real data set --config.data.format and '
        '--config.data.path, or use e.g. configs/lightgcn_ml100k.py.')


def check_config(config: ml_collections.ConfigDict, ds: Dataset) -> None:
  """Refuses training settings that cannot work, before any training."""
  positive = {'batch_size': config.batch_size,
              'num_epochs': config.num_epochs,
              'eval_every_epochs': config.eval_every_epochs,
              'eval_chunk_size': config.eval_chunk_size,
              'learning_rate': config.learning_rate}
  for name, value in positive.items():
    if not value > 0:
      raise ConfigError(f'config.{name}={value} must be positive.')
  if max(config.eval_ks) > ds.num_items:
    raise ConfigError(f'config.eval_ks={tuple(config.eval_ks)} asks for more '
                      f'items than the {ds.num_items} in {ds.name}.')
  names = [f'{m}@{k}' for m in metrics.METRICS for k in config.eval_ks]
  if config.selection_metric not in names:
    raise ConfigError(f'config.selection_metric={config.selection_metric!r} '
                      f'is not computed; choose one of {names}.')


def build(config: ml_collections.ConfigDict) -> Task:
  """Loads the data, builds the training graph and the model."""
  ds = pipeline.load(config.data)
  check_config(config, ds)
  log_dataset(ds)
  graph = graphs.bipartite(ds.train.user, ds.train.item, ds.num_users,
                           ds.num_items)
  model_lib = models.get(config.model.name)
  model = model_lib.create(config, ds.num_users, ds.num_items)
  return Task(config, ds, graph, model_lib, model)
