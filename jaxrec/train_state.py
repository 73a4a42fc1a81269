"""The train state of a task: parameters and optimizer, created or abstract."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state

from jaxrec.tasks.base import Task

TrainState = train_state.TrainState


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The run's optimizer (see adam)."""
  return adam(config.learning_rate)


def adam(learning_rate) -> optax.GradientTransformation:
  """Adam; regularisation is an explicit loss term, not optimizer decay.

  learning_rate may be traced (stacked runs vary it): it is not part of
  the optimizer state, so runs with different rates share its structure.
  """
  return optax.adam(learning_rate)


def create(task: Task, seed: int) -> TrainState:
  """Freshly initialised parameters and optimizer state."""
  params = jax.jit(task.model.init)(jax.random.key(seed), task.inputs)['params']
  state = TrainState.create(apply_fn=task.model.apply, params=params,
                            tx=optimizer(task.config))
  # An int32 array, as the train step returns it: a Python int here would
  # give the step's first call another signature, and a second compile.
  return state.replace(step=jnp.zeros((), jnp.int32))


def abstract(task: Task) -> TrainState:
  """Shapes and dtypes of the state, for restoring a checkpoint into."""
  return jax.eval_shape(lambda: create(task, 0))
