"""SiReN (Seo et al., IEEE TNNLS 2022): sign-aware recommendation with GNNs.

PANE-GNN's direct ancestor and the baseline it is compared with. Nodes are
users [0, U) then items [U, U + I):
  Z_p = mean_{k=0..K} A_p^k E1        LightGCN on the positive graph
  Z_n = ReLU(ReLU(E2 W1) W2)          an MLP on a second embedding table
                                      (the negative ratings shape it only
                                      through the loss)
  Z   = a1 Z_p + a2 Z_n               per-node attention (models/layers.py)
Sign-aware BPR over every training rating (u, i), liked or disliked, with K
sampled unrated items j:
  -sum_j log sigmoid(c_ui z_u.z_i - z_u.z_j),  c_ui = 1 for a like and
  config.model.feedback_coef (2 in the authors' code) for a dislike,
plus l2_weight times the squared norms of the batch's final embeddings
(u, i and the j's), as the authors' code regularises. Score: z_u.z_i.
"""

from __future__ import annotations

import dataclasses

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
from jaxrec.models import layers
from jaxrec.models import spec


class SiReN(nn.Module):
  """Final embeddings Z of all users and items.

  Attributes:
    num_users, num_items: U, I.
    embed_dim: H.
    num_layers: K.
    dropout: MLP and attention dropout.
    propagation: kernel, see ops.propagate.
    param_init: layers.INITS, config.model.init ('torch': the authors'
      draws, each table as one block).
  """

  num_users: int
  num_items: int
  embed_dim: int = 64
  num_layers: int = 4
  dropout: float = 0.5
  propagation: str = 'auto'
  param_init: str = 'jax'

  @nn.compact
  def __call__(self, graph: jraph.GraphsTuple, train: bool = False,
               users: jax.Array | None = None) -> jax.Array:
    """The final embeddings.

    Args:
      graph: the positive graph G_p.
      train: apply dropout.
      users: int [B] a training batch's users, or None for all nodes.

    Returns:
      float [U + I, H], or with users [B + I, H]: those users' rows, then
      every item's (layers.training_rows).
    """
    u, i, h = self.num_users, self.num_items, self.embed_dim
    one_block = self.param_init == 'torch'
    e1 = layers.embedding_table(self, 'graph', u, i, h, one_block)
    e2 = layers.embedding_table(self, 'mlp', u, i, h, one_block)
    z_graph = ops.lightgcn_on_graph(graph, e1, self.num_layers,
                                    self.propagation)
    rows = None if users is None else layers.training_rows(users, u, i)
    return layers.GraphMLPFusion(h, self.dropout, self.param_init,
                                 name='fusion')(z_graph, e2, train, rows)


def default_config() -> ml_collections.ConfigDict:
  """config.model of SiReN (the run-level l2_weight is its L2 weight)."""
  return ml_collections.ConfigDict(dict(
      embed_dim=64,
      num_layers=3,
      # Dropout of the MLP branch and the attention.
      dropout=0.3,
      # b: the coefficient of a disliked item's score in the sign-aware BPR.
      feedback_coef=2.0,
      # Propagation kernel: 'auto', 'csr' or 'segment_sum'.
      propagation='auto',
      # Initial draws: 'jax' or 'torch' (the authors' code's; see
      # jaxrec/models/layers.py).
      init='jax',
  ))


def create(config: ml_collections.ConfigDict, data: Dataset) -> SiReN:
  """The model for a config and dataset; refuses fields it cannot use."""
  m = config.model
  checks.check_fields(m, 'config.model', {
      'embed_dim': checks.POSITIVE_INT,
      'num_layers': checks.NON_NEGATIVE_INT,
      'dropout': checks.FRACTION,
      'feedback_coef': checks.NON_NEGATIVE,
  }, default_config())
  checks.check_choices(m, 'config.model', {
      'propagation': kernels.PROPAGATIONS, 'init': layers.INITS})
  return SiReN(num_users=data.num_users, num_items=data.num_items,
               embed_dim=m.embed_dim, num_layers=m.num_layers,
               dropout=m.dropout, propagation=m.propagation,
               param_init=m.init)


@dataclasses.dataclass(frozen=True)
class LossParams:
  """The loss's hyper-parameters."""

  feedback_coef: float  # b.
  l2_weight: float  # On the batch's final embeddings.


def loss_params(config: ml_collections.ConfigDict) -> LossParams:
  return LossParams(feedback_coef=config.model.feedback_coef,
                    l2_weight=config.l2_weight)


def loss(model: SiReN, params, graph: jraph.GraphsTuple,
         batch: dict[str, jax.Array], hp: LossParams,
         ctx: spec.StepContext) -> jax.Array:
  """Per-rating sign-aware BPR plus L2 on the batch's final embeddings.

  Args:
    model: the module.
    params: its parameters.
    graph: G_p.
    batch: 'user', 'pos' (the rated item) [B], 'sign' [B] (+1 / -1),
      'neg' [B, K].
    hp: b and the L2 weight.
    ctx: its rng is the dropout key.

  Returns:
    float [B].
  """
  user = batch['user']
  z = model.apply({'params': params}, graph, train=True, users=user,
                  rngs={'dropout': ctx.rng})
  # Rows of z: the batch's users [0, B), then item i at B + i.
  b = user.shape[0]
  rows = (jnp.arange(b), batch['pos'] + b, batch['neg'] + b)
  loss_value = losses.sign_aware_bpr(
      *losses.pair_scores(z, *rows),
      jnp.where(batch['sign'] > 0, 1.0, hp.feedback_coef),
      jnp.ones_like(batch['sign']))
  return loss_value + hp.l2_weight * losses.row_squared_norms(z, *rows)


def eval_outputs(model: SiReN, params, graph: jraph.GraphsTuple):
  """(user embeddings [U, H], item embeddings [I, H]), no dropout."""
  z = model.apply({'params': params}, graph)
  return z[:model.num_users], z[model.num_users:]


SPEC = spec.ModelSpec(
    name='siren', task='user_item', feedback='signed',
    default_config=default_config, create=create, inputs=spec.graph_inputs,
    loss_params=loss_params, loss=loss, eval_outputs=eval_outputs,
    score=spec.embedding_dot_scores, stacked_fields=('feedback_coef',))
