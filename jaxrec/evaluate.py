"""Restoring a saved run, and printing metrics tables.

A run is restored from its config.json, which reads config.data again: the
data is checked against the fingerprint training recorded
(jaxrec.fingerprint), so that a run is never scored on data it was not
trained on without saying so.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any, Mapping, Sequence

import ml_collections

from jaxrec import checkpoint
from jaxrec import config as config_lib
from jaxrec import files
from jaxrec import fingerprint
from jaxrec import models
from jaxrec import tasks
from jaxrec import train_state
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError

# Per-user / per-item counts, not metrics: left out of tables and of the
# mean / std of cross-validation.
NOT_METRICS = ('num_evaluated', 'num_cold_skipped', 'epoch')


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


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
  """['filter_threshold=0', ...] -> {'filter_threshold': 0, ...}.

  Values are Python literals (numbers, booleans, quoted strings); anything
  else is kept as a string.
  """
  result = {}
  for pair in pairs:
    key, sep, value = pair.partition('=')
    if not sep or not key:
      raise ConfigError(f'--override={pair!r}: write FIELD=VALUE, e.g. '
                        f'--override=filter_threshold=0.')
    try:
      result[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      result[key] = value
  return result


def with_overrides(config: ml_collections.ConfigDict,
                   overrides: Mapping[str, Any] | None
                   ) -> ml_collections.ConfigDict:
  """A copy of a saved run's config with some config.model fields changed.

  Only the fields the model's spec lists in eval_overrides may change: they
  act only when ranking (e.g. a ranking filter's threshold), so the trained
  parameters stay valid.

  Args:
    config: the run's config.
    overrides: {config.model field: value}; None or {} for none.
  """
  if not overrides:
    return config
  spec = models.get(config.model.name)
  allowed = spec.eval_overrides(config)
  for key in overrides:
    if key not in allowed:
      raise ConfigError(
          f'config.model.{key} cannot change at evaluation for this run '
          f'({spec.label(config)}): it would need retraining. Fields that '
          f'can: {list(allowed) or "none"}.')
  config = config.copy_and_resolve_references()
  for key, value in overrides.items():
    config.model[key] = type(config.model[key])(value)
  return config


def restore_run(workdir: str, which: str = 'best',
                overrides: Mapping[str, Any] | None = None,
                allow_data_change: bool = False
                ) -> tuple[tasks.Task, Any, int]:
  """Rebuilds a run's task from its config.json and restores parameters.

  Args:
    workdir: folder of a run of launch/train.py.
    which: 'best' (on validation) or 'latest'.
    overrides: config.model fields to rank with instead of the run's (see
      with_overrides), e.g. {'filter_threshold': 0.0}.
    allow_data_change: use the data config.data reads now even if it
      differs from the data the run trained on (the difference is logged).

  Returns:
    (task, params, epoch of the checkpoint).

  Raises:
    fingerprint.DataChanged: the data differs, and allow_data_change is
      False.
  """
  if which not in ('best', 'latest'):
    raise ConfigError(f"checkpoint must be 'best' or 'latest', got {which!r}.")
  config = with_overrides(load_config(workdir), overrides)
  task = tasks.build(config)
  fingerprint.check(workdir, fingerprint.of_data(task.data),
                    allow_data_change,
                    getattr(task.data, 'source', config.data.path),
                    'use the run')
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  epoch = ckpts.best_epoch() if which == 'best' else ckpts.latest_epoch()
  if epoch is None:
    raise ConfigError(f'No checkpoint in {ckpts.directory}: the run has not '
                      f'reached its first evaluation.')
  state, _ = ckpts.restore(epoch, train_state.abstract(task))
  ckpts.close()
  return task, state.params, epoch


def evaluate_workdir(workdir: str, split: str = 'test', which: str = 'best',
                     overrides: Mapping[str, Any] | None = None,
                     allow_data_change: bool = False) -> dict[str, float]:
  """Restores a run's checkpoint and evaluates it; writes eval_<split>.json.

  Holds the workdir's lock (jaxrec.workdir) while it runs: it writes to the
  run's folder, and the checkpoint it reads must not change meanwhile.

  Args:
    workdir: folder of a run of launch/train.py.
    split: 'val' or 'test'.
    which: 'best' (on validation) or 'latest'.
    overrides: config.model fields to rank with (see with_overrides); the
      result goes to eval_<split>_<field><value>.json.
    allow_data_change: see restore_run.

  Returns:
    The metrics, plus 'epoch' (of the checkpoint).
  """
  load_config(workdir)  # A clear error for a folder that holds no run.
  with workdir_lib.lock(workdir, 'evaluate'):
    return _evaluate_locked(workdir, split, which, overrides,
                            allow_data_change)


def _evaluate_locked(workdir: str, split: str, which: str,
                     overrides: Mapping[str, Any] | None,
                     allow_data_change: bool) -> dict[str, float]:
  """evaluate_workdir, with the workdir's lock held."""
  task, params, epoch = restore_run(workdir, which, overrides,
                                    allow_data_change)
  if not task.kind.has_split(task, split):
    raise ConfigError(f'The run has no {split} split to evaluate.')
  result = task.kind.evaluate(task, params, split)
  result['epoch'] = epoch
  record = {'split': split, 'checkpoint': which, **result,
            **dict(overrides or {})}
  # Whole, and by process 0 only in a multi-process run (jaxrec.files).
  files.write_json(eval_file(workdir, split, overrides), record)
  return result


def eval_file(workdir: str, split: str,
              overrides: Mapping[str, Any] | None = None) -> str:
  """WORKDIR/eval_<split>.json, or eval_<split>_<field><value>...json."""
  suffix = ''.join(f'_{k}{v:g}' if isinstance(v, float) else f'_{k}{v}'
                   for k, v in sorted((overrides or {}).items()))
  return os.path.join(workdir, f'eval_{split}{suffix}.json')
