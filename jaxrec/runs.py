"""One training run's life around its steps: open, after each epoch, report.

train.py (one run) and stacked.py (several runs in one program) drive the
same Run: open_run() checks the config against the workdir, builds the task,
checks the data against a resumed run's and restores its latest checkpoint;
end_epoch() logs an epoch, evaluates it when due, tracks the best epoch and
early stopping, and saves the checkpoint; final_report() evaluates the best
checkpoint. So a run's files are the same however it was trained, and a run
started in one way resumes in the other.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable

import jax
import ml_collections
from absl import logging

from jaxrec import checkpoint
from jaxrec import distributed
from jaxrec import evaluate
from jaxrec import fingerprint
from jaxrec import progress as progress_lib
from jaxrec import run_files
from jaxrec import tasks
from jaxrec import train_state
from jaxrec.errors import ConfigError, TrainingDiverged
from jaxrec.run_files import MetricsLog

# split ('val' / 'test') -> the model's metrics at this epoch.
EvaluateFn = Callable[[str], dict[str, float]]


@dataclasses.dataclass
class Run:
  """A run while it trains: its task, files, state and progress.

  Attributes:
    config: the run config.
    workdir: its folder.
    task: the built task.
    log: its metrics.jsonl.
    ckpts: its checkpoints.
    batches: its training batches (task.kind.batches).
    console: its epoch lines.
    state: the train state after the last finished epoch.
    progress: 'epoch' (epochs done), 'best_epoch', 'best_selection',
      'evals_since_best', 'finished' (stopped early); saved with each
      checkpoint.
  """

  config: ml_collections.ConfigDict
  workdir: str
  task: tasks.Task
  log: MetricsLog
  ckpts: checkpoint.Checkpoints
  batches: Any
  console: progress_lib.Console
  state: train_state.TrainState
  progress: dict[str, Any]

  @property
  def active(self) -> bool:
    """Whether epochs are left: not stopped early, num_epochs not reached."""
    return (not self.progress['finished'] and
            self.progress['epoch'] < self.config.num_epochs)


def open_run(config: ml_collections.ConfigDict, workdir: str,
             allow_data_change: bool, devices: int,
             label: str = '') -> Run:
  """A fresh run in workdir, or the resumed one; the workdir lock is held.

  Args:
    config: the run config.
    workdir: the run's folder.
    allow_data_change: resume even if the data differs (fingerprint).
    devices: devices the global batch is split across.
    label: prefix of the run's console lines (stacked runs name theirs).

  Returns:
    The Run, its state and progress restored from the latest checkpoint.
  """
  run_files.check_config_matches(config, workdir)
  task = tasks.build(config)  # Loads and checks the data: fails early.
  data = fingerprint.of_data(task.data)
  log = MetricsLog(workdir)
  ckpts = checkpoint.Checkpoints(workdir)
  if ckpts.latest_epoch() is not None:
    fingerprint.check(workdir, data, allow_data_change,
                      getattr(task.data, 'source', config.data.path),
                      'resume')
  if not task.kind.has_split(task, 'val'):
    logging.warning('No validation split: checkpoints are ranked by the '
                    'training loss and early stopping watches it.')
  state, progress = _start(task, ckpts, log, devices)
  run = Run(config, workdir, task, log, ckpts, task.kind.batches(task, devices),
            progress_lib.Console(config, progress['epoch'], label), state,
            progress)
  if run.active:
    run_files.record_settings(config, workdir, data, progress['epoch'])
  else:
    logging.info('Nothing left to train: the run ended at epoch %d (%s); '
                 'config.json keeps the settings it ran with.',
                 progress['epoch'], 'early stop' if progress['finished']
                 else f'num_epochs={config.num_epochs}')
  return run


def end_epoch(run: Run, state: train_state.TrainState, loss: float,
              seconds: float, elapsed: float, evaluate_fn: EvaluateFn) -> None:
  """Records one trained epoch: log, evaluation when due, checkpoint.

  Args:
    run: the run; its state and progress are updated in place.
    state: the state after the epoch.
    loss: the epoch's mean batch loss.
    seconds: the epoch's wall time.
    elapsed: wall time since training started.
    evaluate_fn: split -> metrics of `state` (called only when the epoch is
      evaluated).

  Raises:
    TrainingDiverged: the loss is not finite.
  """
  config, progress = run.config, run.progress
  _check_finite(loss, progress['epoch'], run.ckpts, config)
  run.state = state
  progress['epoch'] = epoch = progress['epoch'] + 1
  evaluated = (not epoch % config.eval_every_epochs or
               epoch == config.num_epochs)
  _log_epoch(config, run.batches, run.log, run.console, epoch, loss, seconds,
             elapsed, evaluated)
  if evaluated:
    # Process 0's value steers every process of a multi-process run.
    selection = distributed.agree(_select(run, evaluate_fn, loss, epoch))
    _track(progress, selection, epoch, config.patience)
    run.ckpts.save(epoch, state, progress, selection)


def _new_progress() -> dict[str, Any]:
  return {'epoch': 0, 'best_epoch': None, 'best_selection': None,
          'evals_since_best': 0, 'finished': False}


def _select(run: Run, evaluate_fn: EvaluateFn, loss: float,
            epoch: int) -> float:
  """Evaluates (and logs) the epoch; returns the selection value.

  Higher is better: config.selection_metric on validation, or minus the
  training loss when the data has no validation split. The test split,
  evaluated here too with config.log_test_every_eval, is only logged: it
  never reaches the return value, so checkpoints and early stopping are
  the same with or without it.
  """
  task, log = run.task, run.log
  splits = ['val']
  if task.config.log_test_every_eval:
    splits.append('test')
  record, results = {}, {}
  for split in splits:
    if not task.kind.has_split(task, split):
      continue
    results[split] = m = evaluate_fn(split)
    record.update({f'{split}/{k}': v for k, v in m.items()})
  if record:
    log.write({'epoch': epoch, **record})
  selection = (record[f'val/{task.config.selection_metric}'] if 'val' in
               results else -loss)
  # The epoch's one line: its training figures with these metrics.
  run.console.note_eval(epoch, results, selection, log.read)
  return selection


def _start(task: tasks.Task, ckpts: checkpoint.Checkpoints, log: MetricsLog,
           devices: int):
  """A fresh state and progress, or the latest checkpoint's (resume)."""
  state = train_state.create(task, task.config.seed)
  progress = _new_progress()
  if ckpts.latest_epoch() is not None:
    state, progress = ckpts.restore(ckpts.latest_epoch(), state)
    log.truncate_after(progress['epoch'])
    logging.info('Resumed from %s at epoch %d.', ckpts.directory,
                 progress['epoch'])
    _apply_patience(progress, task.config.patience)
  elif os.path.exists(log.path):
    # Killed before its first checkpoint: the run starts over, so the
    # records of its first attempt go.
    log.truncate_after(0)
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info('Model %s: %d parameters; training on %d device(s) (%s).',
               task.config.model.name, n_params, devices,
               jax.default_backend())
  return state, progress


def _apply_patience(progress: dict[str, Any], patience: int) -> None:
  """Re-decides a restored run's early stop under the patience given now.

  The checkpoint holds the early-stopping count, so a run that stopped with
  patience P continues with a larger one exactly as an uninterrupted run
  with that patience would have, and a lower one stops it.
  """
  stop = bool(patience) and progress['evals_since_best'] >= patience
  if progress['finished'] and not stop:
    logging.info('The run stopped early at epoch %d (%d evaluations without '
                 'improvement); with patience %d it continues.',
                 progress['epoch'], progress['evals_since_best'], patience)
  progress['finished'] = stop


def _check_finite(loss: float, epoch: int, ckpts: checkpoint.Checkpoints,
                  config: ml_collections.ConfigDict) -> None:
  if math.isfinite(loss):
    return
  fix = (f'Lower --config.learning_rate (now {config.learning_rate}) and '
         f'start a new --workdir.')
  if ckpts.latest_epoch() is None:
    first = min(config.eval_every_epochs, config.num_epochs)
    raise TrainingDiverged(
        f'Training diverged in epoch {epoch + 1}, before the first '
        f'checkpoint (saved at the first evaluation, epoch {first}): the '
        f'loss is {loss} and there is nothing to resume from. {fix}')
  raise TrainingDiverged(
      f'Training diverged in epoch {epoch + 1}: the loss is {loss}. The '
      f'last good checkpoint is epoch {ckpts.latest_epoch()} in '
      f'{ckpts.directory}. {fix}')


def _log_epoch(config: ml_collections.ConfigDict, batches, log: MetricsLog,
               console: progress_lib.Console, epoch: int, loss: float,
               seconds: float, elapsed: float, evaluated: bool) -> None:
  """Logs the epoch's loss, speed and ETA; writes them to metrics.jsonl.

  Both every log_every_epochs, and last; an evaluated epoch is also shown,
  on one line with its evaluation (which _select adds).
  """
  rate = batches.num_examples / seconds
  shown = not epoch % config.log_every_epochs or epoch == config.num_epochs
  console.note_train(epoch, loss, rate, elapsed, evaluated, shown)
  if shown:
    log.write({'epoch': epoch, 'step': epoch * batches.steps_per_epoch,
               'train/loss': loss, 'train/examples_per_sec': rate,
               'train/epoch_seconds': seconds})


def _track(progress: dict[str, Any], selection: float, epoch: int,
           patience: int) -> None:
  """Updates the best epoch and the early-stopping count in place."""
  if (progress['best_selection'] is None or
      selection > progress['best_selection']):
    progress.update(best_epoch=epoch, best_selection=selection,
                    evals_since_best=0)
  else:
    progress['evals_since_best'] += 1
  if patience and progress['evals_since_best'] >= patience:
    logging.info('Early stop: no improvement for %d evaluations (best at '
                 'epoch %d).', patience, progress['best_epoch'])
    progress['finished'] = True


def final_report(task: tasks.Task, ckpts: checkpoint.Checkpoints, state,
                  log: MetricsLog) -> dict[str, float]:
  """Evaluates the best checkpoint on val and test, with baselines on test."""
  best = ckpts.best_epoch()
  if best is None:
    raise ConfigError('No checkpoint was saved: num_epochs must reach at least '
                      'one evaluation.')
  state, _ = ckpts.restore(best, state)
  if distributed.is_primary():  # It writes files (e.g. edge weights).
    task.spec.after_training(task.model, state.params, task.inputs,
                             ckpts.workdir)
  result, rows = {}, {}
  for split in ('val', 'test'):
    if task.kind.has_split(task, split):
      m = task.kind.evaluate(task, state.params, split)
      rows[f'{task.config.model.name} ({split})'] = m
      result.update({f'{split}/{k}': v for k, v in m.items()})
  record = {'best_epoch': best, **result}
  if task.kind.has_split(task, 'test'):
    for name, m in task.kind.baselines(task, 'test').items():
      rows[f'{name} (test)'] = m
      record.update({f'baseline/{name}/{k}': v for k, v in m.items()})
  if rows:
    logging.info('Best checkpoint: epoch %d of %s\n%s', best,
                 ckpts.directory, evaluate.format_table(rows))
  log.write(record)
  return result
