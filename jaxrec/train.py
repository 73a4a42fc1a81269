"""The training loop: pmap train step, evaluation, early stopping, resume.

train_and_evaluate(config, workdir) trains, evaluates on validation every
`eval_every_epochs`, keeps the latest and the best checkpoint, stops early
after `patience` evaluations without improvement, and finally reports the
best checkpoint on validation and test. Started on a workdir that already
holds checkpoints, it resumes from the latest one and continues exactly as
the uninterrupted run would have (batches depend only on seed, epoch, step).
The RESUMABLE_KEYS may change on resume: a run that stopped early continues
when its stop condition no longer holds under the new patience, and a run
that reached num_epochs continues when num_epochs is raised. One process at
a time trains in a workdir (jaxrec.workdir), and a resume refuses data that
differs from the data the run trained on (jaxrec.fingerprint).

Files in the workdir (jaxrec.run_files writes all but checkpoints/):
  config.json     the full config (launch/evaluate.py rebuilds from it), as
                  of the last call that trained
  metrics.jsonl   one JSON object per line: train/* records ('epoch',
                  'step'); one per evaluation ('epoch', val/* and, with
                  config.log_test_every_eval, test/* of that epoch, logged
                  only); last, the final report ('best_epoch', val/* and
                  test/* of the best checkpoint, baseline/<name>/* on test)
  checkpoints/    orbax checkpoints (latest + best)
  resumes.jsonl, data_fingerprint.json, .jaxrec.lock: see run_files,
                  fingerprint and workdir
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from jaxrec import checkpoint
from jaxrec import evaluate
from jaxrec import fingerprint
from jaxrec import progress as progress_lib
from jaxrec import run_files
from jaxrec import tasks
from jaxrec import train_state
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError, TrainingDiverged
from jaxrec.models import spec as spec_lib
# Re-exported: the run's records were defined here before run_files.
from jaxrec.run_files import (  # pylint: disable=unused-import
    MetricsLog, RESUMABLE_KEYS, check_config_matches, save_config)

# The device axis of the train step's pmap; only this file names it.
AXIS = 'batch'


def _step_context(rng: jax.Array) -> spec_lib.StepContext:
  """What a loss may do across the global batch, bound to the device axis."""
  return spec_lib.StepContext(
      rng=rng, batch_sum=lambda x: jax.lax.psum(x, AXIS),
      # Used for ids and masks, never for values that need a gradient.
      gather_batch=lambda x: jax.lax.all_gather(x, AXIS, tiled=True))


def train_step(spec: spec_lib.ModelSpec, model, loss_params, seed: int,
               state: train_state.TrainState, inputs,
               batch: dict[str, jax.Array], step: jax.Array):
  """One optimizer step on this device's shard of the global batch.

  Runs under pmap: the state and the model inputs (graph, features) are
  broadcast, the batch is sharded.
  The loss is the exact mean over the unpadded examples of the global batch
  (local masked sums, psum'ed, divided by the global count), so any number
  of devices computes the same update.

  Args:
    spec: the model's spec (its loss).
    model: the flax module.
    loss_params: spec.loss_params(config), the loss's hyper-parameters.
    seed: config.seed.
    state: train state (identical on every device).
    inputs: the model's inputs (the training graph, and features if any).
    batch: this device's [B / D] arrays, including 'mask'.
    step: global step number (folds into the dropout key).

  Returns:
    (new state, global mean loss).
  """
  # One key on every device: the randomness (dropout, edge dropout) acts on
  # the full-graph forward that each device computes, so D devices must draw
  # what one device draws for the update to be the one-device update.
  ctx = _step_context(jax.random.fold_in(jax.random.key(seed), step))
  count = jax.lax.psum(jnp.sum(batch['mask']), AXIS)

  def local_loss_sum(params):
    per_example = spec.loss(model, params, inputs, batch, loss_params, ctx)
    return jnp.sum(per_example * batch['mask'])

  loss, grads = jax.value_and_grad(local_loss_sum)(state.params)
  grads = jax.tree.map(lambda g: jax.lax.psum(g, AXIS) / count, grads)
  loss = jax.lax.psum(loss, AXIS) / count
  return state.apply_gradients(grads=grads), loss


def make_step(task: tasks.Task):
  """The pmapped train step: state and inputs broadcast, batch sharded."""
  step = functools.partial(train_step, task.spec, task.model,
                           task.spec.loss_params(task.config),
                           task.config.seed)
  return jax.pmap(step, axis_name=AXIS, in_axes=(None, None, 0, None),
                  out_axes=(None, None))


def shard(batch: dict[str, np.ndarray], num_devices: int):
  """[B] arrays -> [D, B / D] arrays for pmap."""
  return {k: v.reshape(num_devices, -1, *v.shape[1:]) for k, v in batch.items()}


def num_devices(config: ml_collections.ConfigDict) -> int:
  """Devices to train on; the global batch must split evenly across them."""
  n = config.num_devices or jax.local_device_count()
  if n > jax.local_device_count():
    raise ConfigError(f'config.num_devices={n} but only '
                     f'{jax.local_device_count()} devices are available.')
  if config.batch_size % n:  # 0 (full batches) is rounded up to fit.
    raise ConfigError(f'config.batch_size={config.batch_size} does not split '
                     f'across {n} devices; use a multiple of {n}.')
  return n


def run_epoch(p_step, state, inputs, batches, epoch: int, devices: int):
  """One pass over the training examples; returns (state, mean batch loss).

  Long epochs log steps/s and their ETA every few seconds (StepMeter).
  """
  steps = batches.steps_per_epoch
  losses = []
  meter = progress_lib.StepMeter(epoch + 1, steps)
  for s in range(steps):
    batch = shard(batches.batch(epoch, s), devices)
    state, loss = p_step(state, inputs, batch, epoch * steps + s)
    losses.append(loss)  # Kept on device: no host sync inside the epoch,
    meter.tick(s + 1, loss)  # but when a progress line is printed.
  return state, float(jnp.mean(jnp.stack(losses)))


def _new_progress() -> dict[str, Any]:
  return {'epoch': 0, 'best_epoch': None, 'best_selection': None,
          'evals_since_best': 0, 'finished': False}


def _select(task: tasks.Task, state, loss: float, epoch: int,
            log: MetricsLog, console: progress_lib.Console) -> float:
  """Evaluates (and logs) the epoch; returns the selection value.

  Higher is better: config.selection_metric on validation, or minus the
  training loss when the data has no validation split. The test split,
  evaluated here too with config.log_test_every_eval, is only logged: it
  never reaches the return value, so checkpoints and early stopping are
  the same with or without it.
  """
  splits = ['val']
  if task.config.log_test_every_eval:
    splits.append('test')
  record, results = {}, {}
  for split in splits:
    if not task.kind.has_split(task, split):
      continue
    results[split] = m = task.kind.evaluate(task, state.params, split)
    record.update({f'{split}/{k}': v for k, v in m.items()})
  if record:
    log.write({'epoch': epoch, **record})
  selection = (record[f'val/{task.config.selection_metric}'] if 'val' in
               results else -loss)
  # The epoch's one line: its training figures with these metrics.
  console.note_eval(epoch, results, selection, log.read)
  return selection


def _start(task: tasks.Task, ckpts: checkpoint.Checkpoints,
           log: MetricsLog):
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
               task.config.model.name, n_params, num_devices(task.config),
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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       allow_data_change: bool = False) -> dict[str, float]:
  """Trains (or resumes) a run in `workdir` and evaluates its best checkpoint.

  Args:
    config: the run config (see jaxrec/config.py).
    workdir: folder for config.json, metrics.jsonl and checkpoints/.
    allow_data_change: resume even if the data differs from the data the
      run trained on (data_fingerprint.json); the difference is logged.

  Returns:
    The best checkpoint's metrics: 'val/...' and 'test/...' keys.

  Raises:
    workdir.WorkdirBusy: another process trains or evaluates in workdir.
    fingerprint.DataChanged: resuming on other data.
  """
  os.makedirs(workdir, exist_ok=True)
  with workdir_lib.lock(workdir, 'train'):
    return _train_locked(config, workdir, allow_data_change)


def _train_locked(config: ml_collections.ConfigDict, workdir: str,
                  allow_data_change: bool) -> dict[str, float]:
  """train_and_evaluate, with the workdir's lock held."""
  check_config_matches(config, workdir)
  devices = num_devices(config)
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
  state, progress = _start(task, ckpts, log)
  if not progress['finished'] and progress['epoch'] < config.num_epochs:
    run_files.record_settings(config, workdir, data, progress['epoch'])
  else:
    logging.info('Nothing left to train: the run ended at epoch %d (%s); '
                 'config.json keeps the settings it ran with.',
                 progress['epoch'], 'early stop' if progress['finished']
                 else f'num_epochs={config.num_epochs}')
  batches = task.kind.batches(task, devices)
  p_step = make_step(task)
  console = progress_lib.Console(config, progress['epoch'])
  t_start = time.time()
  inputs = jax.device_put(task.inputs)

  while not progress['finished'] and progress['epoch'] < config.num_epochs:
    t0 = time.time()
    state, loss = run_epoch(p_step, state, inputs, batches, progress['epoch'],
                            devices)
    _check_finite(loss, progress['epoch'], ckpts, config)
    progress['epoch'] = epoch = progress['epoch'] + 1
    evaluated = (not epoch % config.eval_every_epochs or
                 epoch == config.num_epochs)
    _log_epoch(config, batches, log, console, epoch, loss, time.time() - t0,
               time.time() - t_start, evaluated)
    if not evaluated:
      continue
    selection = _select(task, state, loss, epoch, log, console)
    _track(progress, selection, epoch, config.patience)
    ckpts.save(epoch, state, progress, selection)

  result = _final_report(task, ckpts, state, log)
  ckpts.close()
  return result


def _final_report(task: tasks.Task, ckpts: checkpoint.Checkpoints, state,
                  log: MetricsLog) -> dict[str, float]:
  """Evaluates the best checkpoint on val and test, with baselines on test."""
  best = ckpts.best_epoch()
  if best is None:
    raise ConfigError('No checkpoint was saved: num_epochs must reach at least '
                      'one evaluation.')
  state, _ = ckpts.restore(best, state)
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
