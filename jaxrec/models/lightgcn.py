"""LightGCN (He et al., SIGIR 2020): linear propagation of id embeddings.

E^(k+1) = D^-1/2 A D^-1/2 E^(k) on the user-item graph; the final embedding
is the mean of E^(0..K); score = <e_u, e_i>; BPR loss with L2 on the batch's
layer-0 embeddings.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import ml_collections

from jaxrec import checks
from jaxrec import kernels
from jaxrec import losses
from jaxrec import ops
from jaxrec.data.dataset import Dataset
from jaxrec.models import spec


class LightGCN(nn.Module):
  """Embeddings of all users and items after K propagation layers."""

  num_users: int
  num_items: int
  embed_dim: int = 64
  num_layers: int = 3
  propagation: str = 'auto'

  @nn.compact
  def __call__(self, graph: jraph.GraphsTuple) -> tuple[jax.Array, jax.Array]:
    """Propagates the id embeddings over the graph.

    Args:
      graph: the padded user-item graph (users [0, U), items [U, U + I)),
        or this device's rows of it (config.shard_tables, row_shards.py).

    Returns:
      (final, ego): float [U + I, d] each (or this device's [R, d] rows),
      the layer mean and the layer-0 embeddings.
    """
    n = ops.table_rows(graph, self.num_users + self.num_items)
    ego = self.param('embedding', nn.initializers.normal(stddev=0.1),
                     (n, self.embed_dim))
    final = ops.lightgcn_on_graph(graph, ego, self.num_layers,
                                  self.propagation)
    return final, ego


def default_config() -> ml_collections.ConfigDict:
  """config.model of LightGCN (the run-level l2_weight is its L2 weight)."""
  return ml_collections.ConfigDict(dict(
      embed_dim=64,
      num_layers=3,
      # Propagation kernel: 'auto' (fastest measured for the backend), 'csr'
      # or 'segment_sum'.
      propagation='auto',
  ))


def create(config: ml_collections.ConfigDict, data: Dataset) -> LightGCN:
  """The model for a config and dataset; refuses fields it cannot use."""
  checks.check_fields(config.model, 'config.model', {
      'embed_dim': checks.POSITIVE_INT,
      'num_layers': checks.NON_NEGATIVE_INT,  # 0 = matrix factorisation.
  }, default_config())
  checks.check_choice(config.model.propagation, 'config.model.propagation',
                      kernels.PROPAGATIONS)
  return LightGCN(num_users=data.num_users, num_items=data.num_items,
                  embed_dim=config.model.embed_dim,
                  num_layers=config.model.num_layers,
                  propagation=config.model.propagation)


@dataclasses.dataclass(frozen=True)
class LossParams:
  """The loss's hyper-parameters."""

  l2_weight: float  # On the batch's layer-0 embeddings (LightGCN's decay).


def loss_params(config: ml_collections.ConfigDict) -> LossParams:
  return LossParams(l2_weight=config.l2_weight)


def loss(model: LightGCN, params, graph: jraph.GraphsTuple,
         batch: dict[str, jax.Array], hp: LossParams,
         ctx: spec.StepContext) -> jax.Array:
  """Per-example BPR + L2 loss, summed over the example's negatives.

  Args:
    model: the module.
    params: its parameters.
    graph: the training graph.
    batch: 'user', 'pos' [B] and 'neg' [B] or [B, K] (item ids in [0, I)).
    hp: the L2 weight.
    ctx: unused (LightGCN has no randomness and no batch coupling).

  Returns:
    float [B].
  """
  del ctx
  final, ego = model.apply({'params': params}, graph)
  u = batch['user']
  p = batch['pos'] + model.num_users
  n = batch['neg'].reshape(u.shape[0], -1) + model.num_users  # [B, K]
  take = functools.partial(ops.node_rows, graph)  # Rows by global node id.
  pos, neg = losses.pair_scores(final, u, p, n, take)
  return (jnp.sum(losses.bpr(pos[:, None], neg), axis=-1) +
          hp.l2_weight * losses.l2(take(ego, u), take(ego, p), take(ego, n)))


def eval_outputs(model: LightGCN, params, graph: jraph.GraphsTuple) -> Any:
  """What ranking needs: (user embeddings [U, d], item embeddings [I, d])."""
  final, _ = model.apply({'params': params}, graph)
  return final[:model.num_users], final[model.num_users:]


SPEC = spec.ModelSpec(
    name='lightgcn', task='user_item', feedback='implicit',
    default_config=default_config, create=create, inputs=spec.graph_inputs,
    loss_params=loss_params, loss=loss, eval_outputs=eval_outputs,
    score=spec.embedding_dot_scores, row_tables=('embedding',))
