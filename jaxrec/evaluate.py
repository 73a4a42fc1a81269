"""Evaluating a model (or MostPop) on a split, and from a saved run."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import jax
import ml_collections

from jaxrec import checkpoint
from jaxrec import metrics
from jaxrec import task as task_lib
from jaxrec import train_state
from jaxrec.errors import ConfigError


def evaluate_params(task: task_lib.Task, params: Any,
                    split: str) -> dict[str, float]:
  """Full-ranking metrics of the model with `params` on 'val' or 'test'."""
  # One device: params may come from a pmap replicated over several.
  params = jax.device_put(params, jax.local_devices()[0])
  outputs = jax.jit(task.model_lib.eval_outputs, static_argnums=0)(
      task.model, params, task.graph)
  return metrics.evaluate(task.model_lib.score, outputs, task.truth(split),
                          task.exclude(split), task.dataset.num_items,
                          task.config.eval_ks, task.config.eval_chunk_size)


def evaluate_most_popular(task: task_lib.Task, split: str) -> dict[str, float]:
  """The MostPop baseline (train counts) through the same evaluation."""
  pop = metrics.item_popularity(task.dataset.train, task.dataset.num_items)
  return metrics.evaluate(metrics.most_popular_scores, pop, task.truth(split),
                          task.exclude(split), task.dataset.num_items,
                          task.config.eval_ks, task.config.eval_chunk_size)


def format_table(rows: Mapping[str, Mapping[str, float]],
                 ks: Sequence[int]) -> str:
  """A text table: one row per model, columns metric@K."""
  cols = [f'{m}@{k}' for k in sorted(ks) for m in metrics.METRICS]
  width = max(len(r) for r in rows) + 2
  lines = [''.ljust(width) + ''.join(c.rjust(13) for c in cols)]
  for name, row in rows.items():
    lines.append(name.ljust(width) +
                 ''.join(f'{row[c]:13.4f}' for c in cols))
  return '\n'.join(lines)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run saved in WORKDIR/config.json."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise ConfigError(
        f'{path} not found: --workdir must be a folder written by '
        f'launch/train.py.')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def evaluate_workdir(workdir: str, split: str = 'test',
                     which: str = 'best') -> dict[str, float]:
  """Restores a run's checkpoint and evaluates it; writes eval_<split>.json.

  Args:
    workdir: folder of a run of launch/train.py.
    split: 'val' or 'test'.
    which: 'best' (on validation) or 'latest'.

  Returns:
    The metrics, plus 'epoch' (of the checkpoint).
  """
  if which not in ('best', 'latest'):
    raise ConfigError(f"checkpoint must be 'best' or 'latest', got {which!r}.")
  config = load_config(workdir)
  task = task_lib.build(config)
  ckpts = checkpoint.Checkpoints(workdir, train_state.selection_key(config),
                                 read_only=True)
  epoch = ckpts.best_epoch() if which == 'best' else ckpts.latest_epoch()
  if epoch is None:
    raise ConfigError(f'No checkpoint in {ckpts.directory}: the run has '
                            f'not reached its first evaluation.')
  state, _ = ckpts.restore(epoch, train_state.abstract(task))
  ckpts.close()
  result = evaluate_params(task, state.params, split)
  result['epoch'] = epoch
  with open(os.path.join(workdir, f'eval_{split}.json'), 'w') as f:
    json.dump({'split': split, 'checkpoint': which, **result}, f, indent=2)
  return result
