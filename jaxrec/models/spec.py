"""The contract between a model and the rest of jaxrec.

Each model file exports one ModelSpec (registered by name in
jaxrec/models/__init__.py); the task kinds, the train step, evaluation and
the launchers reach the model only through it, so none of them names a
concrete model. docs/adding_a_model.md walks through writing one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jraph
import ml_collections

# Per-example loss: (module, params, inputs, batch, loss params, context)
# -> float [B]; see ModelSpec.loss.
LossFn = Callable[..., jax.Array]


@dataclasses.dataclass(frozen=True)
class StepContext:
  """What the train step hands a loss besides the batch.

  The step runs under pmap with the global batch split across devices;
  these close over its device axis, so a loss never names it.

  Attributes:
    rng: this step's key (dropout, edge dropout); the same on every device.
    batch_sum: x -> the sum of x over the devices of the global batch (for a
      per-device partial sum, e.g. the number of real rows).
    gather_batch: x [B / D, ...] -> [B, ...], the global batch's rows in
      device order (e.g. every id of the batch, for an InfoNCE denominator).
  """

  rng: jax.Array
  batch_sum: Callable[[jax.Array], jax.Array]
  gather_batch: Callable[[jax.Array], jax.Array]


def single_device(rng: jax.Array) -> StepContext:
  """The context of a loss evaluated outside pmap (one device, tests)."""
  return StepContext(rng, lambda x: x, lambda x: x)


def _no_export(model, params, inputs, workdir: str) -> None:
  del model, params, inputs, workdir


def _name(config: ml_collections.ConfigDict) -> str:
  return config.model.name


def _no_overrides(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  del config
  return ()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything jaxrec needs to train, evaluate and serve one model.

  Attributes:
    name: the registry name (config.model.name).
    task: the task kind's name: 'user_item' (ranks items for users) or
      'item_item' (ranks items for items); see jaxrec/tasks.
    feedback: user-item models: 'implicit' (trains on likes) or 'signed'
      (likes and dislikes; needs config.data.feedback='signed'); item-item
      models: 'edges'.
    default_config: () -> ConfigDict of the model's own fields (config.model
      without 'name'), each with the comment a user reads.
    create: (config, data) -> flax Module; checks config.model and raises
      ConfigError for values it cannot use.
    inputs: (config, data, graph) -> what the module is applied to (the
      training graph, or the graph with features, or several graphs).
    loss_params: config -> the loss's hyper-parameters (a frozen, hashable
      record); only these, never the whole config, reach the traced loss.
    loss: (module, params, inputs, batch, loss_params, StepContext) -> float
      [B] per-example loss; the train step takes the masked mean over the
      global batch.
    eval_outputs: (module, params, inputs) -> pytree used for ranking.
    score: (outputs, query rows int [C]) -> float [C, I] scores.
    after_training: (module, params, inputs, workdir) -> None; writes extra
      files for the best checkpoint (e.g. GRCN's refined edge weights).
    label: config -> the run's name in tables (e.g. with an ablation).
    eval_overrides: config -> the config.model fields that evaluation may
      change without retraining (they act only when ranking).
    stacked_fields: the config.model fields that may differ between runs
      trained in one program (jaxrec.stacked): they reach the step only as
      numbers of loss_params, used in arithmetic (never in Python
      control flow), so the program takes them as traced arrays.
    row_tables: names of the parameters that config.shard_tables splits by
      rows over the devices (row_shards.py): [N, ...] tables indexed by
      the graph's node ids. The model sizes them with ops.table_rows, runs
      only the propagations that have a row-sharded form (ops.lightgcn,
      ops.propagate with fixed weights) and reads rows by global id with
      ops.node_rows. Empty: the model cannot shard its tables.
  """

  name: str
  task: str
  feedback: str
  default_config: Callable[[], ml_collections.ConfigDict]
  create: Callable[[ml_collections.ConfigDict, Any], nn.Module]
  inputs: Callable[[ml_collections.ConfigDict, Any, jraph.GraphsTuple], Any]
  loss_params: Callable[[ml_collections.ConfigDict], Any]
  loss: LossFn
  eval_outputs: Callable[[nn.Module, Any, Any], Any]
  score: Callable[[Any, jax.Array], jax.Array]
  after_training: Callable[..., None] = _no_export
  label: Callable[[ml_collections.ConfigDict], str] = _name
  eval_overrides: Callable[[ml_collections.ConfigDict],
                           tuple[str, ...]] = _no_overrides
  stacked_fields: tuple[str, ...] = ()
  row_tables: tuple[str, ...] = ()


def graph_inputs(config: ml_collections.ConfigDict, data: Any,
                 graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  """ModelSpec.inputs of models applied to the training graph itself."""
  del config, data
  return graph


def embedding_dot_scores(outputs: tuple[jax.Array, jax.Array],
                         users: jax.Array) -> jax.Array:
  """ModelSpec.score for (user embeddings [U, d], item embeddings [I, d]).

  Returns:
    float [C, I]: <e_u, e_i> for the users [C].
  """
  user_emb, item_emb = outputs
  return user_emb[users] @ item_emb.T

