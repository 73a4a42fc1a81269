"""The training loop: pmap train step, evaluation, early stopping, resume.

train_and_evaluate(config, workdir) trains, evaluates on validation every
`eval_every_epochs`, keeps the latest and the best checkpoint, stops early
after `patience` evaluations without improvement, and finally reports the
best checkpoint on validation and test. Started on a workdir that already
holds checkpoints, it resumes from the latest one and continues exactly as
the uninterrupted run would have (batches depend only on seed, epoch, step).

Files in the workdir:
  config.json     the full config (launch/evaluate.py rebuilds from it)
  metrics.jsonl   one JSON object per line: train/* records ('epoch',
                  'step'); one per evaluation ('epoch', val/* and, with
                  config.log_test_every_eval, test/* of that epoch, logged
                  only); last, the final report ('best_epoch', val/* and
                  test/* of the best checkpoint, baseline/<name>/* on test)
  checkpoints/    orbax checkpoints (latest + best)
"""

from __future__ import annotations

import functools
import json
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
from jaxrec import config as config_lib
from jaxrec import evaluate
from jaxrec import progress as progress_lib
from jaxrec import tasks
from jaxrec import train_state
from jaxrec.errors import ConfigError, TrainingDiverged
from jaxrec.models import spec as spec_lib

# The device axis of the train step's pmap; only this file names it.
AXIS = 'batch'
# Keys that may change when a run is resumed (e.g. to train longer).
RESUMABLE_KEYS = ('num_epochs', 'patience', 'num_devices', 'eval_chunk_size',
                  'log_every_epochs', 'log_test_every_eval')


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


class MetricsLog:
  """WORKDIR/metrics.jsonl: one JSON object per line, appended and flushed."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, 'metrics.jsonl')

  def write(self, record: dict[str, Any]) -> None:
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')

  def read(self) -> list[dict[str, Any]]:
    if not os.path.exists(self.path):
      return []
    with open(self.path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def truncate_after(self, epoch: int) -> None:
    """Drops records of epochs after `epoch` (they will be redone on resume)."""
    kept = [r for r in self.read() if r.get('epoch', 0) <= epoch
            and 'best_epoch' not in r]
    with open(self.path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in kept)


def check_config_matches(config: ml_collections.ConfigDict,
                         workdir: str) -> None:
  """Refuses to resume a workdir whose saved config differs (but for RESUMABLE_KEYS).

  Fields added to jaxrec since the run was saved count as their defaults
  (config_lib.from_saved), which is what the saved run did.
  """
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.loads(config_lib.from_saved(json.load(f)).to_json())
  changed = [k for k in _diff(old, json.loads(config.to_json()))
             if k not in RESUMABLE_KEYS]
  if changed:
    raise ConfigError(
        f'{workdir} holds a run with a different config (changed: '
        f'{", ".join(changed)}). Resume it with the same config, or pass a '
        f'new --workdir.')


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes WORKDIR/config.json (launch/evaluate.py rebuilds the run from it)."""
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    json.dump(json.loads(config.to_json()), f, indent=2)


def _diff(a: Any, b: Any, prefix: str = '') -> list[str]:
  """Dotted keys whose values differ between two nested dicts."""
  if isinstance(a, dict) and isinstance(b, dict):
    keys = sorted(set(a) | set(b))
    return [d for k in keys
            for d in _diff(a.get(k), b.get(k), f'{prefix}{k}.')]
  return [] if a == b else [prefix[:-1]]


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
            log: MetricsLog) -> float:
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
  progress_lib.console(log, task.config).note_eval(epoch, results, selection,
                                                   log.read)
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
  n_params = sum(x.size for x in jax.tree.leaves(state.params))
  logging.info('Model %s: %d parameters; training on %d device(s) (%s).',
               task.config.model.name, n_params, num_devices(task.config),
               jax.default_backend())
  return state, progress


def _check_finite(loss: float, epoch: int, ckpts: checkpoint.Checkpoints,
                  config: ml_collections.ConfigDict) -> None:
  if not math.isfinite(loss):
    raise TrainingDiverged(
        f'Training diverged in epoch {epoch + 1}: the loss is {loss}. The '
        f'last good checkpoint is epoch {ckpts.latest_epoch()} in '
        f'{ckpts.directory}. Lower --config.learning_rate (now '
        f'{config.learning_rate}) and start a new --workdir.')


def _log_epoch(config: ml_collections.ConfigDict, batches, log: MetricsLog,
               epoch: int, loss: float, seconds: float,
               epochs_done: int, elapsed: float) -> None:
  """Logs the epoch's loss, speed and ETA; writes them to metrics.jsonl.

  Both every log_every_epochs, and last; an evaluated epoch is also shown,
  on one line with its evaluation (which _select adds).
  """
  rate = batches.num_examples / seconds
  shown = not epoch % config.log_every_epochs or epoch == config.num_epochs
  # The loop's rule for the epochs it evaluates.
  evaluated = (not epoch % config.eval_every_epochs or
               epoch == config.num_epochs)
  progress_lib.console(log, config, epoch - epochs_done).note_train(
      epoch, loss, rate, elapsed, evaluated, shown)
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


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, float]:
  """Trains (or resumes) a run in `workdir` and evaluates its best checkpoint.

  Args:
    config: the run config (see jaxrec/config.py).
    workdir: folder for config.json, metrics.jsonl and checkpoints/.

  Returns:
    The best checkpoint's metrics: 'val/...' and 'test/...' keys.
  """
  os.makedirs(workdir, exist_ok=True)
  check_config_matches(config, workdir)
  devices = num_devices(config)
  task = tasks.build(config)  # Loads and checks the data: fails early.
  save_config(config, workdir)
  log = MetricsLog(workdir)
  ckpts = checkpoint.Checkpoints(workdir)
  if not task.kind.has_split(task, 'val'):
    logging.warning('No validation split: checkpoints are ranked by the '
                    'training loss and early stopping watches it.')
  state, progress = _start(task, ckpts, log)
  batches = task.kind.batches(task, devices)
  p_step = make_step(task)
  start, t_start = progress['epoch'], time.time()
  inputs = jax.device_put(task.inputs)

  while not progress['finished'] and progress['epoch'] < config.num_epochs:
    t0 = time.time()
    state, loss = run_epoch(p_step, state, inputs, batches, progress['epoch'],
                            devices)
    _check_finite(loss, progress['epoch'], ckpts, config)
    progress['epoch'] = epoch = progress['epoch'] + 1
    _log_epoch(config, batches, log, epoch, loss, time.time() - t0,
               epoch - start, time.time() - t_start)
    if epoch % config.eval_every_epochs and epoch != config.num_epochs:
      continue
    selection = _select(task, state, loss, epoch, log)
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
