"""Restoring a saved run, and printing metrics tables."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import ml_collections

from jaxrec import checkpoint
from jaxrec import config as config_lib
from jaxrec import tasks
from jaxrec import train_state
from jaxrec.errors import ConfigError
from jaxrec.models import pane_gnn

# Per-user / per-item counts, not metrics: left out of tables.
NOT_METRICS = ('num_evaluated', 'epoch')


def _column_key(name: str) -> tuple[int, int]:
  """Sorts 'auc' first, then metric@K by K and METRICS order."""
  if '@' not in name:
    return (-1, 0)
  metric, k = name.split('@')
  order = ('recall', 'ndcg', 'precision', 'hit')
  return (int(k), order.index(metric) if metric in order else len(order))


def metric_columns(rows: Sequence[Mapping[str, float]]) -> list[str]:
  """The metric names of some result dicts, in reading order."""
  names = {c for row in rows for c in row if c not in NOT_METRICS}
  return sorted(names, key=_column_key)


def format_line(result: Mapping[str, float]) -> str:
  """'auc 0.9312  recall@10 0.0561  ...' for logs."""
  return '  '.join(f'{c} {result[c]:.4f}' for c in metric_columns([result]))


def format_table(rows: Mapping[str, Mapping[str, float]]) -> str:
  """A text table: one row per model, one column per metric."""
  cols = metric_columns(list(rows.values()))
  width = max(len(r) for r in rows) + 2
  lines = [''.ljust(width) + ''.join(c.rjust(13) for c in cols)]
  for name, row in rows.items():
    lines.append(name.ljust(width) + ''.join(
        f'{row[c]:13.4f}' if c in row else ' ' * 13 for c in cols))
  return '\n'.join(lines)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run saved in WORKDIR/config.json."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise ConfigError(f'{path} not found: --workdir must be a folder written '
                      f'by launch/train.py.')
  with open(path) as f:
    return config_lib.from_saved(json.load(f))


def restore_run(workdir: str, which: str = 'best',
                filter_threshold: float | None = None
                ) -> tuple[tasks.Task, Any, int]:
  """Rebuilds a run's task from its config.json and restores parameters.

  Args:
    workdir: folder of a run of launch/train.py.
    which: 'best' (on validation) or 'latest'.
    filter_threshold: PANE-GNN only: rank with this delta instead of the
      run's config.model.filter_threshold.

  Returns:
    (task, params, epoch of the checkpoint).
  """
  if which not in ('best', 'latest'):
    raise ConfigError(f"checkpoint must be 'best' or 'latest', got {which!r}.")
  config = load_config(workdir)
  if filter_threshold is not None:
    config = pane_gnn.with_filter_threshold(config, filter_threshold)
  task = tasks.build(config)
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  epoch = ckpts.best_epoch() if which == 'best' else ckpts.latest_epoch()
  if epoch is None:
    raise ConfigError(f'No checkpoint in {ckpts.directory}: the run has not '
                      f'reached its first evaluation.')
  state, _ = ckpts.restore(epoch, train_state.abstract(task))
  ckpts.close()
  return task, state.params, epoch


def evaluate_workdir(workdir: str, split: str = 'test', which: str = 'best',
                     filter_threshold: float | None = None
                     ) -> dict[str, float]:
  """Restores a run's checkpoint and evaluates it; writes eval_<split>.json.

  Args:
    workdir: folder of a run of launch/train.py.
    split: 'val' or 'test'.
    which: 'best' (on validation) or 'latest'.
    filter_threshold: PANE-GNN only: rank with this delta (see restore_run),
      and write eval_<split>_delta<value>.json.

  Returns:
    The metrics, plus 'epoch' (of the checkpoint).
  """
  task, params, epoch = restore_run(workdir, which, filter_threshold)
  if not task.kind.has_split(task, split):
    raise ConfigError(f'The run has no {split} split to evaluate.')
  result = task.kind.evaluate(task, params, split)
  result['epoch'] = epoch
  record = {'split': split, 'checkpoint': which, **result}
  if filter_threshold is not None:
    record['filter_threshold'] = filter_threshold
  with open(eval_file(workdir, split, filter_threshold), 'w') as f:
    json.dump(record, f, indent=2)
  return result


def eval_file(workdir: str, split: str,
              filter_threshold: float | None = None) -> str:
  """WORKDIR/eval_<split>.json, or eval_<split>_delta<value>.json."""
  delta = '' if filter_threshold is None else f'_delta{filter_threshold:g}'
  return os.path.join(workdir, f'eval_{split}{delta}.json')

