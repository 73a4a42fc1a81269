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
differs from the data the run trained on (jaxrec.fingerprint). What happens
around the steps (logging, evaluation, checkpoints, the final report) is
jaxrec.runs, shared with jaxrec.stacked (several runs in one program).

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
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxrec import distributed
from jaxrec import graph_shards
from jaxrec import kernels
from jaxrec import progress as progress_lib
from jaxrec import row_shards
from jaxrec import runs
from jaxrec import tasks
from jaxrec import train_state
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError
from jaxrec.models import spec as spec_lib
# Re-exported: the run's records were defined here before run_files.
from jaxrec.run_files import (  # pylint: disable=unused-import
    MetricsLog, RESUMABLE_KEYS, check_config_matches, save_config)

# The device axis of the train step's pmap; the edge-sharded kernels sum over
# it too (kernels.py defines it, so that they need not import this file).
AXIS = kernels.AXIS


def _step_context(rng: jax.Array) -> spec_lib.StepContext:
  """What a loss may do across the global batch, bound to the device axis."""
  return spec_lib.StepContext(
      rng=rng, batch_sum=lambda x: jax.lax.psum(x, AXIS),
      # Used for ids and masks, never for values that need a gradient.
      gather_batch=lambda x: jax.lax.all_gather(x, AXIS, tiled=True))


def loss_and_grads(spec: spec_lib.ModelSpec, model, loss_params, seed,
                   params, inputs, batch: dict[str, jax.Array],
                   step: jax.Array, complete=None):
  """The global batch's mean loss and its gradient, on this device's shard.

  Runs under pmap (train_step; jaxrec.stacked vmaps it over runs inside
  the pmap): the parameters and the model inputs (graph, features) are
  the same on every device, the batch is sharded. The loss is the exact
  mean over the unpadded examples of the global batch (local masked sums,
  psum'ed, divided by the global count), so any number of devices computes
  the same update.

  Args:
    spec: the model's spec (its loss).
    model: the flax module.
    loss_params: spec.loss_params(config), the loss's hyper-parameters.
    seed: config.seed (an int, or a traced int32 for stacked runs).
    params: the parameters.
    inputs: the model's inputs (the training graph, and features if any).
    batch: this device's [B / D] arrays, including 'mask'.
    step: global step number (folds into the dropout key).
    complete: None, or a tree like params of bools: True on row-sharded
      tables (config.shard_tables), whose gradient on each device is
      already the global batch's for the device's own rows
      (kernels_rows.py), so it is not summed over devices.

  Returns:
    (global mean loss, its gradient with respect to params).
  """
  # One key on every device: the randomness (dropout, edge dropout) acts on
  # the full-graph forward that each device computes, so D devices must draw
  # what one device draws for the update to be the one-device update.
  ctx = _step_context(jax.random.fold_in(jax.random.key(seed), step))
  count = jax.lax.psum(jnp.sum(batch['mask']), AXIS)

  def local_loss_sum(params):
    per_example = spec.loss(model, params, inputs, batch, loss_params, ctx)
    return jnp.sum(per_example * batch['mask'])

  loss, grads = jax.value_and_grad(local_loss_sum)(params)
  if complete is None:
    complete = jax.tree.map(lambda _: False, grads)
  grads = jax.tree.map(
      lambda g, done: (g if done else jax.lax.psum(g, AXIS)) / count, grads,
      complete)
  return jax.lax.psum(loss, AXIS) / count, grads


def train_step(spec: spec_lib.ModelSpec, model, loss_params, seed: int,
               state: train_state.TrainState, inputs,
               batch: dict[str, jax.Array], step: jax.Array, complete=None):
  """One optimizer step (see loss_and_grads); returns (new state, loss).
  Adam acts element by element, so a device updates its own table rows."""
  loss, grads = loss_and_grads(spec, model, loss_params, seed, state.params,
                               inputs, batch, step, complete)
  return state.apply_gradients(grads=grads), loss


def make_step(task: tasks.Task, inputs_axes=None, state_axes=None):
  """The pmapped train step: state broadcast, batch sharded; the inputs
  broadcast, or with config.shard_graph each graph's edge arrays split
  over the devices (inputs_axes: graph_shards.shard_inputs's in_axes);
  with config.shard_tables the tables' rows too (state_axes:
  row_shards.state_axes)."""
  complete = None if state_axes is None else jax.tree.map(
      lambda axis: axis == 0, state_axes.params, is_leaf=lambda x: x is None)
  step = functools.partial(train_step, task.spec, task.model,
                           task.spec.loss_params(task.config),
                           task.config.seed, complete=complete)
  return jax.pmap(step, axis_name=AXIS,
                  in_axes=(state_axes, inputs_axes, 0, None),
                  out_axes=(state_axes, None))


def replicate(tree, num_devices: int):
  """tree placed as the pmapped step returns its broadcast outputs: on the
  first num_devices devices, replicated. With any other placement (e.g. a
  fresh or restored state on one device) the step's second call would
  compile again (measured: 1.7 s more for the LightGCN smoke config)."""
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:num_devices]),
                           (AXIS,))
  return jax.device_put(tree, jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec()))


def place_inputs(inputs, num_devices: int):
  """The model inputs on device. With several processes, replicated on the
  local devices, where the pmapped step takes broadcast arguments: from
  elsewhere it would copy them there at every step."""
  inputs = jax.device_put(inputs)
  if distributed.process_count() > 1:
    inputs = replicate(inputs, num_devices)
  return inputs


def shard(batch: dict[str, np.ndarray], num_devices: int):
  """[B] arrays -> [D, B / D] arrays for pmap (with several processes, D
  counts all their devices and this process feeds its local rows)."""
  return distributed.local_rows(
      {k: v.reshape(num_devices, -1, *v.shape[1:]) for k, v in batch.items()})


def num_devices(config: ml_collections.ConfigDict) -> int:
  """Devices to train on (all processes' in a multi-process run); the global
  batch must split evenly across them."""
  n = config.num_devices or jax.local_device_count()
  if distributed.process_count() > 1:
    n = distributed.global_devices(config.num_devices)
  elif n > jax.local_device_count():
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


class StepLayout:
  """Where the step's inputs and state live: replicated (default), the
  graphs' edges split (config.shard_graph), or the tables' rows split
  (config.shard_tables). to_step / from_step move a state between the
  usual layout (checkpoints, evaluation) and the step's."""

  def __init__(self, config, task: tasks.Task, state, devices: int):
    self.state_axes, self._rows = None, None
    if config.shard_tables:  # Each device holds 1/D of the tables' rows.
      if distributed.process_count() > 1:
        raise ConfigError('config.shard_tables=True runs in one process (on '
                          'its devices); with several, use shard_graph.')
      self.inputs, self.inputs_axes = graph_shards.step_inputs(
          task.inputs, devices, split=row_shards.shard_graph)
      self.state_axes = row_shards.state_axes(state, task.spec.row_tables)
      self._rows = row_shards.layout_of(self.inputs)
    elif config.shard_graph:  # Each device holds 1/D of every graph's edges.
      self.inputs, self.inputs_axes = graph_shards.step_inputs(
          task.inputs, devices, distributed.local_rows)
    else:
      self.inputs = place_inputs(task.inputs, devices)
      self.inputs_axes = None
    self._devices = devices

  def to_step(self, state):
    if self._rows is None:
      return replicate(state, self._devices)
    host = row_shards.shard_state(state, self.state_axes, self._rows)
    return graph_shards.place(host, self.state_axes, self._devices)

  def from_step(self, state):
    if self._rows is None:
      return state
    return row_shards.unshard_state(state, self.state_axes, self._rows)


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
  devices = num_devices(config)
  run = runs.open_run(config, workdir, allow_data_change, devices)
  task = run.task
  layout = StepLayout(config, task, run.state, devices)
  p_step = make_step(task, layout.inputs_axes, layout.state_axes)
  t_start = time.time()
  state = layout.to_step(run.state)
  while run.active:
    t0 = time.time()
    state, loss = run_epoch(p_step, state, layout.inputs, run.batches,
                            run.progress['epoch'], devices)
    whole = layout.from_step(state)
    runs.end_epoch(run, whole, loss, time.time() - t0, time.time() - t_start,
                   lambda split: task.kind.evaluate(task, whole.params, split))
  result = runs.final_report(task, run.ckpts, run.state, run.log)
  run.ckpts.close()
  return result
