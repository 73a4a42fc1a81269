"""Several training runs in one compiled program (folds, seeds, sweeps).

A paper table is k folds x seeds x methods, a tuning sweep tens of configs;
run one by one, each compiles, loads its data and leaves a GPU mostly idle
on a graph the size of MovieLens. Runs that differ only in arrays train
together instead: their padded graphs, batches, parameters and optimizer
states are stacked on a run axis and one vmapped step trains them all
(jaxrec.stacked_step). Each run keeps its own workdir, metrics.jsonl,
checkpoints and early stopping (jaxrec.runs, as a run trained alone); a run
that stops early is masked in the program, not recompiled, and each run
resumes from its own latest checkpoint, alone or stacked.

What may differ between the runs of one program (VARYING_FIELDS, plus each
model's ModelSpec.stacked_fields): the seed, the fold, the learning rate,
the L2 weight, patience and num_epochs. Every other field (embed_dim,
num_layers, dropout, batch_size, ...) changes shapes or the compiled
program, so runs that differ in one go to separate programs: program_key()
groups them automatically. Runs whose padded graphs land in different size
buckets also go to separate programs (shape_key()).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from typing import Any, Sequence

import jax
import jraph
import ml_collections
import numpy as np
from absl import logging

from jaxrec import distributed
from jaxrec import graphs
from jaxrec import models
from jaxrec import progress as progress_lib
from jaxrec import runs as runs_lib
from jaxrec import stacked_step
from jaxrec import tasks
from jaxrec import train
from jaxrec import workdir as workdir_lib
from jaxrec.errors import TrainingDiverged

# Run-level fields that may differ inside one program: they enter it as
# arrays (seed, learning_rate, l2_weight through the loss's parameters),
# as data (the fold) or only steer the loop on the host.
VARYING_FIELDS = ('seed', 'data.fold', 'learning_rate', 'l2_weight',
                  'patience', 'num_epochs')


def varying_fields(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Every field that may differ between runs of one program, for a model."""
  spec = models.get(config.model.name)
  return VARYING_FIELDS + tuple(f'model.{f}' for f in spec.stacked_fields)


def _without(tree: dict[str, Any], path: str) -> None:
  """Deletes 'a.b.c' from a nested dict."""
  *parents, leaf = path.split('.')
  for p in parents:
    tree = tree[p]
  tree.pop(leaf, None)


def program_key(config: ml_collections.ConfigDict) -> str:
  """Equal for configs whose runs can share a program: all but the varying
  fields equal."""
  tree = config.to_dict()
  for path in varying_fields(config):
    _without(tree, path)
  return json.dumps(tree, sort_keys=True, default=str)


def programs(configs: Sequence[ml_collections.ConfigDict],
             parallel: int) -> list[list[int]]:
  """Indices of configs, grouped into programs of at most `parallel` runs.

  Runs of one program share program_key(); groups keep the configs' order.
  """
  groups: dict[str, list[int]] = {}
  for i, config in enumerate(configs):
    groups.setdefault(program_key(config), []).append(i)
  return [idx[s:s + parallel] for idx in groups.values()
          for s in range(0, len(idx), parallel)]


def shape_key(run: runs_lib.Run) -> str:
  """The shapes and dtypes of a run's inputs, state and batches."""
  batch = run.batches.batch(0, 0)
  # Not the TrainState itself: its optimizer (a static field) is a new
  # object per run and would make every key differ.
  trees = (run.task.inputs, run.state.params, run.state.opt_state, batch)
  shapes = jax.tree.map(lambda x: (np.shape(x), str(np.asarray(x).dtype)),
                        trees)
  return str((jax.tree.structure(trees), jax.tree.leaves(shapes)))


def _is_graph(x: Any) -> bool:
  return isinstance(x, jraph.GraphsTuple)


def pad_graphs_alike(group: Sequence[runs_lib.Run]) -> None:
  """Pads the runs' graphs to common sizes (graphs.repad), in place.

  Folds of one dataset often land in different size buckets; padded alike,
  they share a program. Results on real nodes do not change. Runs whose
  inputs differ in structure are left as they are (shape_key then keeps
  them apart).
  """
  trees = [r.task.inputs for r in group]
  if len({jax.tree.structure(t, is_leaf=_is_graph) for t in trees}) != 1:
    return
  treedef = jax.tree.structure(trees[0], is_leaf=_is_graph)
  leaves = [jax.tree.leaves(t, is_leaf=_is_graph) for t in trees]
  for k in range(len(leaves[0])):
    if not _is_graph(leaves[0][k]):
      continue
    n_node = max(ls[k].nodes['in_edges'].shape[0] for ls in leaves)
    n_edge = max(ls[k].senders.shape[0] for ls in leaves)
    for ls in leaves:
      ls[k] = graphs.repad(ls[k], n_node, n_edge)
  for run, ls in zip(group, leaves):
    run.task = dataclasses.replace(run.task,
                                   inputs=jax.tree.unflatten(treedef, ls))


def _same_leaves(trees: Sequence[Any]) -> bool:
  """Whether every tree's arrays equal the first's (shared inputs)."""
  first = jax.tree.leaves(trees[0])
  return all(all(np.array_equal(a, b) for a, b in zip(first,
                                                       jax.tree.leaves(t)))
             for t in trees[1:])


def run_values(group: Sequence[tasks.Task]) -> stacked_step.RunValues:
  """The seeds, learning rates and differing loss parameters of the runs."""
  params = [t.spec.loss_params(t.config) for t in group]
  loss = {}
  if params[0] is not None:
    for name in params[0].__dataclass_fields__:
      values = [getattr(p, name) for p in params]
      if any(v != values[0] for v in values):
        loss[name] = np.array(values, np.float32)
  return stacked_step.RunValues(
      np.array([t.config.seed for t in group], np.int32),
      np.array([t.config.learning_rate for t in group], np.float32), loss)


def train_many(configs: Sequence[ml_collections.ConfigDict],
               workdirs: Sequence[str], allow_data_change: bool = False,
               labels: Sequence[str] | None = None) -> list[dict[str, float]]:
  """Trains (or resumes) runs together, in as few programs as shapes allow.

  Args:
    configs: the runs' configs (e.g. one per fold; see programs() for which
      may share a program: pass one program's worth, or any mix).
    workdirs: one folder per run, as train.train_and_evaluate takes.
    allow_data_change: see train.train_and_evaluate.
    labels: the runs' names in log lines (default: their index).

  Returns:
    Each run's best-checkpoint metrics, as train.train_and_evaluate returns
    them (the final report evaluates each run alone).

  Raises:
    TrainingDiverged: after the other runs finished, if any run's loss went
      non-finite (its last good checkpoint stays in its folder).
  """
  labels = labels or [str(i) for i in range(len(configs))]
  with contextlib.ExitStack() as locks:
    for w in workdirs:
      os.makedirs(w, exist_ok=True)
      locks.enter_context(workdir_lib.lock(w, 'train'))
    devices = train.num_devices(configs[0])
    group = [runs_lib.open_run(c, w, allow_data_change, devices, f'[{l}] ')
             for c, w, l in zip(configs, workdirs, labels)]
    by_config: dict[str, list[runs_lib.Run]] = {}
    for run in group:
      by_config.setdefault(program_key(run.config), []).append(run)
    failed = {}
    for same_config in by_config.values():
      pad_graphs_alike(same_config)
      by_shape: dict[str, list[runs_lib.Run]] = {}
      for run in same_config:
        by_shape.setdefault(shape_key(run), []).append(run)
      for program in by_shape.values():
        failed.update(_train_program(program, devices))
    results = []
    for run in group:
      if run.workdir not in failed:
        results.append(runs_lib.final_report(run.task, run.ckpts, run.state,
                                             run.log))
      run.ckpts.close()
  if failed:
    raise TrainingDiverged(' '.join(failed.values()))
  return results


def _epoch_batches(program, epochs, trains, step, template, devices):
  """The program's batches at one step, as this process feeds them to its
  devices ([R, D, B / D] arrays, D its local devices), and which runs
  train at it (of those that train this epoch)."""
  live = [t and step < r.batches.steps_per_epoch
          for r, t in zip(program, trains)]
  batches = [r.batches.batch(e, step) if ok else template
             for r, e, ok in zip(program, epochs, live)]
  steps = [e * r.batches.steps_per_epoch + step
           for r, e in zip(program, epochs)]
  return (distributed.local_rows(stacked_step.shard(batches, devices), 1),
          np.array(steps, np.int32), np.array(live))


def _end_epoch(program: list[runs_lib.Run], trains: list[bool], stacked_state,
               losses: np.ndarray, all_outputs, t0: float, t_start: float,
               failed: dict[str, str]) -> None:
  """Each training run's end of epoch (runs.end_epoch), from the program's.

  Args:
    program: the runs.
    trains: which of them trained this epoch.
    stacked_state: (params, opt_state, step_count), each [R, ...].
    losses: float [steps, R] the epoch's batch losses.
    all_outputs: () -> every run's ranking outputs [R, ...] (computed once,
      when the first run evaluates).
    t0, t_start: when the epoch and the training started.
    failed: workdir -> error of runs that diverged; updated.
  """
  params, opt_state, step_count = stacked_state
  outputs = {}

  def evaluate_fn(split, i):
    if 'all' not in outputs:
      outputs['all'] = all_outputs()
    task = program[i].task
    return task.kind.evaluate_outputs(
        task, stacked_step.unstack(outputs['all'], i), split)

  for i, run in enumerate(program):
    if not trains[i]:
      continue
    state = run.state.replace(params=stacked_step.unstack(params, i),
                              opt_state=stacked_step.unstack(opt_state, i),
                              step=step_count[i])
    # The alone run's mean: float32 on device, over its own steps.
    loss = float(jax.numpy.mean(losses[:run.batches.steps_per_epoch, i]))
    try:
      runs_lib.end_epoch(run, state, loss, time.time() - t0,
                         time.time() - t_start,
                         lambda split, i=i: evaluate_fn(split, i))
    except TrainingDiverged as e:
      logging.error('%s', e)
      failed[run.workdir] = f'{run.workdir}: {e}'


def _train_program(program: list[runs_lib.Run],
                   devices: int) -> dict[str, str]:
  """Trains one program's runs until each stops; returns failed runs' errors."""
  first = program[0]
  if len(program) > 1:
    logging.info('Training %d runs in one program: %s.', len(program),
                 ', '.join(r.workdir for r in program))
  inputs = [r.task.inputs for r in program]
  stacked_inputs = not _same_leaves(inputs)
  inputs = train.place_inputs(
      stacked_step.stack(inputs) if stacked_inputs else inputs[0], devices)
  p_step = stacked_step.make_step(first.task, stacked_inputs)
  outputs_fn = stacked_step.make_outputs(first.task, stacked_inputs)
  values = run_values([r.task for r in program])
  params, opt_state, step_count = train.replicate(
      [stacked_step.stack([getattr(r.state, f) for r in program])
       for f in ('params', 'opt_state', 'step')], devices)
  template = {k: np.zeros_like(v) for k, v in first.batches.batch(0, 0).items()}
  failed, t_start = {}, time.time()
  while any(r.active and r.workdir not in failed for r in program):
    t0 = time.time()
    epochs = [r.progress['epoch'] for r in program]
    trains = [r.active and r.workdir not in failed for r in program]
    num_steps = max(r.batches.steps_per_epoch
                    for r, t in zip(program, trains) if t)
    meter = progress_lib.StepMeter(max(epochs) + 1, num_steps)
    losses = []
    for s in range(num_steps):
      batches, steps, live = _epoch_batches(program, epochs, trains, s,
                                            template, devices)
      params, opt_state, step_count, loss = p_step(
          params, opt_state, step_count, inputs, batches, steps, live, values)
      losses.append(loss)
      meter.tick(s + 1, loss, live)
    losses = np.asarray(jax.numpy.stack(losses))  # [steps, R]
    _end_epoch(program, trains, (params, opt_state, step_count), losses,
               lambda: outputs_fn(params, inputs), t0, t_start, failed)
  return failed
