"""The train step and the evaluation forward of several runs in one program.

The runs of one program share the model (its module and every shape) and
differ only in arrays: parameters and optimizer state, graphs (folds),
batches, and the numbers of the fields listed in jaxrec.stacked (seed,
learning rate, numeric loss hyper-parameters). They are stacked on a leading
run axis [R, ...] and the one-run step (train.loss_and_grads, then Adam) is
vmapped over it inside the pmap over devices: vmap inside pmap, so each of D
devices runs the R runs on its shard of their batches.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec import train
from jaxrec import train_state
from jaxrec.errors import ConfigError
from jaxrec.tasks.base import Task


class RunValues(NamedTuple):
  """What differs between the runs of a program, as arrays [R].

  Attributes:
    seed: int32 [R] config.seed (dropout keys).
    learning_rate: float32 [R].
    loss: the loss's hyper-parameters that differ between the runs: field
      of spec.loss_params(config) -> float32 [R].
  """

  seed: np.ndarray
  learning_rate: np.ndarray
  loss: dict[str, np.ndarray]


def stack(trees: Sequence[Any]) -> Any:
  """[tree of [...]] * R -> tree of [R, ...]."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree: Any, index: int) -> Any:
  """Run `index`'s slice of a stacked tree."""
  return jax.tree.map(lambda x: x[index], tree)


def _run_step(spec, model, loss_params, params, opt_state, step_count, inputs,
              batch, step, live, seed, learning_rate, loss_values):
  """One run's optimizer step (vmapped over runs); a dead run keeps its state.

  Args:
    spec, model, loss_params: the program's (loss_params of its first run;
      the fields in loss_values are replaced by this run's).
    params, opt_state, step_count: this run's train state.
    inputs: this run's model inputs.
    batch: this run's [B / D] arrays on this device.
    step: this run's global step number.
    live: whether the run trains this step (False: stopped early, finished,
      or its epoch has fewer steps than the program's longest).
    seed, learning_rate, loss_values: this run's RunValues.

  Returns:
    (params, opt_state, step_count, loss), unchanged where not live.
  """
  hp = dataclasses.replace(loss_params, **loss_values) if loss_values else (
      loss_params)
  loss, grads = train.loss_and_grads(spec, model, hp, seed, params, inputs,
                                     batch, step)
  # What TrainState.apply_gradients does, with this run's learning rate.
  updates, new_opt = train_state.adam(learning_rate).update(grads, opt_state,
                                                            params)
  new_params = optax.apply_updates(params, updates)
  keep = functools.partial(jnp.where, live)
  return (jax.tree.map(keep, new_params, params),
          jax.tree.map(keep, new_opt, opt_state),
          step_count + live.astype(step_count.dtype), loss)


def make_step(task: Task, stacked_inputs: bool):
  """The program's step: vmap over runs inside the pmap over devices.

  Args:
    task: the first run's task (spec, module, loss parameters).
    stacked_inputs: whether the inputs are stacked [R, ...] (runs on
      different graphs: folds, or seeds that change the graph), or one set
      shared by every run.

  Returns:
    (params, opt_state, step_count, inputs, batch, step, live, RunValues)
    -> (params, opt_state, step_count, loss [R]); the state [R, ...] is the
    same on every device, batch arrays are [R, D, B / D, ...].
  """
  for field in ('shard_graph', 'shard_tables'):
    if task.config[field]:
      raise ConfigError(
          f'config.{field}=True cannot train stacked runs (cross_validate '
          f'--parallel, sweeps): their step vmaps whole graphs and tables '
          f'over runs. Set --config.{field}=False, or train the runs one by '
          f'one (--parallel=1).')
  step = functools.partial(_run_step, task.spec, task.model,
                           task.spec.loss_params(task.config))
  runs = jax.vmap(step, in_axes=(0, 0, 0, 0 if stacked_inputs else None, 0,
                                 0, 0, 0, 0, 0))

  def program(params, opt_state, step_count, inputs, batch, steps, live,
              values: RunValues):
    return runs(params, opt_state, step_count, inputs, batch, steps, live,
                values.seed, values.learning_rate, values.loss)

  return jax.pmap(program, axis_name=train.AXIS,
                  in_axes=(None, None, None, None, 1, None, None, None),
                  out_axes=None)


def make_outputs(task: Task, stacked_inputs: bool):
  """stacked params -> every run's ranking outputs (spec.eval_outputs), on
  one device; jitted once per program."""
  outputs = functools.partial(task.spec.eval_outputs, task.model)
  return jax.jit(jax.vmap(outputs, in_axes=(0, 0 if stacked_inputs else None)))


def shard(batches: Sequence[dict[str, np.ndarray]], num_devices: int):
  """R runs' [B] batches -> [R, D, B / D] arrays (pmap's in_axes 1)."""
  return {k: np.stack([b[k] for b in batches]).reshape(
      len(batches), num_devices, -1, *batches[0][k].shape[1:])
          for k in batches[0]}
