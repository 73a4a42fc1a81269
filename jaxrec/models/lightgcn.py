"""LightGCN (He et al., SIGIR 2020): linear propagation of id embeddings.

E^(k+1) = D^-1/2 A D^-1/2 E^(k) on the user-item graph; the final embedding
is the mean of E^(0..K); score = <e_u, e_i>; BPR loss with L2 on the batch's
layer-0 embeddings.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import ml_collections

from jaxrec import losses
from jaxrec import ops
from jaxrec.data.dataset import Dataset

TASK = 'user_item'
FEEDBACK = 'implicit'


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
      graph: the padded user-item graph (users [0, U), items [U, U + I)).

    Returns:
      (final, ego): float [U + I, d] each, the layer mean and the layer-0
      embeddings.
    """
    n = self.num_users + self.num_items
    ego = self.param('embedding', nn.initializers.normal(stddev=0.1),
                     (n, self.embed_dim))
    final = ops.lightgcn_on_graph(graph, ego, self.num_layers,
                                  self.propagation)
    return final, ego


def create(config: ml_collections.ConfigDict, data: Dataset) -> LightGCN:
  """The model for a config and dataset."""
  return LightGCN(num_users=data.num_users, num_items=data.num_items,
                  embed_dim=config.model.embed_dim,
                  num_layers=config.model.num_layers,
                  propagation=config.model.propagation)


def inputs(config: ml_collections.ConfigDict, data: Any,
           graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  """The model's input: the training graph itself."""
  del config, data
  return graph


def loss_fn(model: LightGCN, params, graph: jraph.GraphsTuple,
            batch: dict[str, jax.Array], rng: jax.Array,
            config: ml_collections.ConfigDict) -> jax.Array:
  """Per-example BPR + L2 loss, summed over the example's negatives.

  Args:
    model: the module.
    params: its parameters.
    graph: the training graph.
    batch: 'user', 'pos' [B] and 'neg' [B] or [B, K] (item ids in [0, I)).
    rng: unused (LightGCN has no randomness).
    config: reads l2_weight.

  Returns:
    float [B].
  """
  del rng
  final, ego = model.apply({'params': params}, graph)
  u = batch['user']
  p = batch['pos'] + model.num_users
  n = batch['neg'].reshape(u.shape[0], -1) + model.num_users  # [B, K]
  pos, neg = losses.pair_scores(final, u, p, n)
  return (jnp.sum(losses.bpr(pos[:, None], neg), axis=-1) +
          config.l2_weight * losses.l2(ego[u], ego[p], ego[n]))


def eval_outputs(model: LightGCN, params, graph: jraph.GraphsTuple) -> Any:
  """What ranking needs: (user embeddings [U, d], item embeddings [I, d])."""
  final, _ = model.apply({'params': params}, graph)
  return final[:model.num_users], final[model.num_users:]


def score(outputs, users: jax.Array) -> jax.Array:
  """Scores [C, I] of all items for users [C]."""
  user_emb, item_emb = outputs
  return user_emb[users] @ item_emb.T


def after_training(model, params, inputs, workdir: str) -> None:
  """Nothing to export beyond the checkpoint."""
  del model, params, inputs, workdir
