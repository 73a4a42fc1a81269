"""PANE-GNN (Liu et al., CIKM 2023): positive and negative edges in one GNN.

Notation of the paper (equation numbers in brackets); nodes are users
[0, U) then items [U, U + I):
  Z'  = mean_{k=0..K} A_p^k Z^(0)      LightGCN on the positive graph [5]
  Z'' = ReLU(ReLU(Z^(0) W1) W2)         MLP branch on Z^(0) [7]
  Z   = a1 Z' + a2 Z''                  per-node attention fusion [8]
  V   = mean_k A_n^k V^(0)              LightGCN on the negative graph [6]
  V~  = mean_k A_d^k V^(0)              on the distorted graph G_d: G_n with
                                        each edge removed with prob. p, its
                                        own degree normalisation [9-12]
Loss [16] = dual feedback-aware BPR [17] + lambda_1 InfoNCE(V, V~) [18]
            + lambda_2 |layer-0 embeddings of the batch|^2.
  [17], per training rating (u, i) with K sampled unrated items j:
    like:    -sum_j log sigmoid(z_u.z_i - z_u.z_j)
    dislike: -sum_j log sigmoid(v_u.v_j - b v_u.v_i)
  [18]: cosine InfoNCE with temperature tau between V and V~, over the
    batch's distinct users and distinct rated items (see losses.info_nce).
Ranking [13]: by z_u.z_i, with the items whose disinterest score v_u.v_i
exceeds delta removed (ranked last).

Reference mode. Each place where the authors' code (May 2023, the version
that matches the paper) departs from the paper has a switch; all of them
together (configs/common.py pane_gnn_reference, the configs'
`:reference` variant) compute their loss and its gradient to float32 precision
(benchmarks/parity/signed.py):
  model.bpr_ratings='all'        every rating, liked or not, trains both
                                 spaces (see dual_bpr), not eq. 17's split
  model.mlp_input='table'        the MLP branch reads a second embedding
                                 table (as SiReN), not Z^(0) (eq. 7)
  model.l2_on='final'            L2 on the batch's final Z and V rows (u, i
                                 and the K negatives), not layer 0 (eq. 16)
  model.loss_reduction='code'    interest BPR and both L2 terms summed over
                                 the batch, disinterest BPR and InfoNCE
                                 averaged (their return line), not one mean
  model.info_nce='batch_rows'    one denominator: the sum over all pairs of
                                 the batch's user rows and of its item rows,
                                 repeats included, not eq. 18 per distinct id
  model.edge_removal_mode='directed'  G_d drops directed edges (PyG
                                 dropout_adj) and normalises by in-degree
  model.contrastive_weight=1.0   lambda_1 (the paper does not give it)

G_d is drawn once per run (Algorithm 1, line 3, and the authors' code) from
config.seed; by default edges are removed per undirected edge so G_d stays
symmetric, as the neighbour sets of eq. 10 assume.

Ablations (config.model.variant, the paper's Table 4):
  A:    message passing on G_n only: no interest branch; the model ranks by
        the only scores it has, v_u.v_i
  B:    message passing on G_p only (the interest branch; dislikes unused)
  C:    both graphs, loss [17]
  D:    C + contrastive learning [18]
  full: D + the disinterest filter [13]
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import ml_collections

from jaxrec import checks
from jaxrec import graphs
from jaxrec import kernels
from jaxrec import ops
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError
from jaxrec.models import layers
from jaxrec.models import pane_gnn_loss
from jaxrec.models import spec

# The MLP branch's input: Z^(0) (eq. 7), or a table of its own (their code).
MLP_INPUTS = ('z0', 'table')
# G_d: undirected edges removed (symmetric), or directed ones (their code).
EDGE_REMOVAL_MODES = ('undirected', 'directed')


@dataclasses.dataclass(frozen=True)
class Parts:
  """Which parts of PANE-GNN a variant has."""

  interest: bool  # LightGCN on G_p + MLP + attention, trained on likes.
  disinterest: bool  # LightGCN on G_n, trained on dislikes.
  contrastive: bool  # InfoNCE between V and V~.
  filter: bool  # Disinterest filter when ranking.


VARIANTS: dict[str, Parts] = {
    'A': Parts(interest=False, disinterest=True, contrastive=False,
               filter=False),
    'B': Parts(interest=True, disinterest=False, contrastive=False,
               filter=False),
    'C': Parts(interest=True, disinterest=True, contrastive=False,
               filter=False),
    'D': Parts(interest=True, disinterest=True, contrastive=True,
               filter=False),
    'full': Parts(interest=True, disinterest=True, contrastive=True,
                  filter=True),
}


class SignedGraphs(NamedTuple):
  """The model's input: three padded graphs over the same node set.

  Attributes:
    positive: G_p, the likes (LightGCN weights).
    negative: G_n, the dislikes.
    distorted: G_d, G_n with edges removed (its own weights).
  """

  positive: jraph.GraphsTuple
  negative: jraph.GraphsTuple
  distorted: jraph.GraphsTuple


class PANEGNN(nn.Module):
  """Interest and disinterest embeddings of all users and items.

  Attributes:
    num_users, num_items: U, I.
    parts: which branches exist (see VARIANTS).
    embed_dim: H.
    num_layers: K.
    dropout: MLP and attention dropout.
    mlp_input: 'z0' or 'table' (see MLP_INPUTS).
    filter_threshold: delta of the ranking filter (eq. 13).
    directed_view: G_d is directed (graphs.directed_removal).
    propagation: kernel, see ops.propagate.
    param_init: layers.INITS, config.model.init ('torch': the authors'
      draws, the second table as one block).
  """

  num_users: int
  num_items: int
  parts: Parts
  embed_dim: int = 64
  num_layers: int = 4
  dropout: float = 0.5
  mlp_input: str = 'z0'
  filter_threshold: float = 0.5
  directed_view: bool = False
  propagation: str = 'auto'
  param_init: str = 'jax'

  @nn.compact
  def __call__(self, graphs_in: SignedGraphs, train: bool = False,
               users: jax.Array | None = None) -> dict[str, jax.Array]:
    """The embeddings.

    Args:
      graphs_in: G_p, G_n and G_d.
      train: apply dropout, and compute V~ for the contrastive loss.
      users: int [B] a training batch's users, or None. With users, 'z'
        holds the interest embeddings of those users then of all items,
        [B + I, H] (see layers.training_rows), instead of all nodes.

    Returns:
      dict of float [U + I, H]: 'z' (interest Z) and 'z0' (Z^(0)) when the
      variant has the interest branch; 'v' (V) and 'v0' (V^(0)) when it has
      the disinterest branch; 'v_tilde' (V~) when training with the
      contrastive loss.
    """
    u, i, h, k = self.num_users, self.num_items, self.embed_dim, self.num_layers
    out = {}
    if self.parts.interest:
      z0 = layers.embedding_table(self, 'interest', u, i, h)
      z_graph = ops.lightgcn_on_graph(graphs_in.positive, z0, k,
                                      self.propagation)
      mlp_in = (z0 if self.mlp_input == 'z0' else
                layers.embedding_table(self, 'mlp', u, i, h,
                                       one_block=self.param_init == 'torch'))
      rows = None if users is None else layers.training_rows(users, u, i)
      out['z'] = layers.GraphMLPFusion(h, self.dropout, self.param_init,
                                       name='fusion')(
                                           z_graph, mlp_in, train, rows)
      out['z0'] = z0
    if self.parts.disinterest:
      v0 = layers.embedding_table(self, 'disinterest', u, i, h)
      out['v'] = ops.lightgcn_on_graph(graphs_in.negative, v0, k,
                                       self.propagation)
      out['v0'] = v0
      if self.parts.contrastive and train:
        out['v_tilde'] = ops.lightgcn_on_graph(
            graphs_in.distorted, v0, k, self.propagation,
            symmetric=not self.directed_view)
    return out


def default_config() -> ml_collections.ConfigDict:
  """config.model of PANE-GNN (the run-level l2_weight is lambda_2).

  The switches after `variant` are the paper's equations by default; each
  has the authors' code as its other value (see the module docstring;
  configs/common.py pane_gnn_reference sets them all).
  """
  return ml_collections.ConfigDict(dict(
      embed_dim=64,  # H
      num_layers=3,  # K
      # Dropout of the MLP branch and the attention.
      dropout=0.3,
      # Ablation of the paper's Table 4: 'A', 'B', 'C', 'D' or 'full'.
      variant='full',
      bpr_ratings='own_graph',  # or 'all'
      mlp_input='z0',  # or 'table'
      l2_on='layer0',  # or 'final'
      loss_reduction='mean',  # or 'code'
      info_nce='distinct',  # or 'batch_rows'
      edge_removal_mode='undirected',  # or 'directed'
      feedback_coef=2.0,  # b of the dual BPR
      edge_removal=0.8,  # p: share of G_n's edges removed for G_d
      contrastive_weight=0.1,  # lambda_1
      temperature=0.8,  # tau
      # delta of the disinterest filter; acts only when ranking, so
      # launch/evaluate.py may change it without retraining.
      filter_threshold=0.5,
      # Propagation kernel: 'auto', 'csr' or 'segment_sum'.
      propagation='auto',
      # Initial draws of the dense layers and the second table: 'jax' or
      # 'torch' (the authors' code's; jaxrec/models/layers.py).
      init='jax',
  ))


def parts(config: ml_collections.ConfigDict) -> Parts:
  """The Parts of config.model.variant, or a clear error."""
  variant = config.model.variant
  if variant not in VARIANTS:
    raise ConfigError(f'config.model.variant={variant!r} is not one of '
                      f'{list(VARIANTS)}.')
  return VARIANTS[variant]


def create(config: ml_collections.ConfigDict, data: Dataset) -> PANEGNN:
  """The model for a config and dataset; refuses fields it cannot use."""
  m = config.model
  checks.check_fields(m, 'config.model', {
      'embed_dim': checks.POSITIVE_INT,
      'num_layers': checks.NON_NEGATIVE_INT,
      'dropout': checks.FRACTION,
      'feedback_coef': checks.NON_NEGATIVE,
      'edge_removal': checks.FRACTION,
      'contrastive_weight': checks.NON_NEGATIVE,
      'temperature': checks.POSITIVE,
      # inf filters nothing (variant D's ranking), -inf everything.
      'filter_threshold': checks.NOT_NAN,
  }, default_config())
  checks.check_choices(m, 'config.model', {
      'propagation': kernels.PROPAGATIONS, 'mlp_input': MLP_INPUTS,
      'edge_removal_mode': EDGE_REMOVAL_MODES, 'init': layers.INITS,
      **pane_gnn_loss.CHOICES})
  return PANEGNN(num_users=data.num_users, num_items=data.num_items,
                 parts=parts(config), embed_dim=m.embed_dim,
                 num_layers=m.num_layers, dropout=m.dropout,
                 mlp_input=m.mlp_input, filter_threshold=m.filter_threshold,
                 directed_view=m.edge_removal_mode == 'directed',
                 propagation=m.propagation, param_init=m.init)


def inputs(config: ml_collections.ConfigDict, data: Dataset,
           graph: jraph.GraphsTuple) -> SignedGraphs:
  """G_p (the task's training graph), G_n from the train dislikes, and G_d.

  All three are padded to the same node count, so node ids agree.
  """
  train = data.train
  dislikes = train.select(~train.liked)
  pad = graph.nodes['in_edges'].shape[0]
  make = lambda users, items: graphs.bipartite(
      users, items, data.num_users, data.num_items, pad_nodes_to=pad)
  m = config.model
  if m.edge_removal_mode == 'directed':
    distorted = graphs.directed_removal(
        dislikes.user, dislikes.item + data.num_users,
        data.num_users + data.num_items, m.edge_removal, config.seed,
        pad_nodes_to=pad)
  else:
    distorted = make(*graphs.remove_edges(dislikes.user, dislikes.item,
                                          m.edge_removal, config.seed))
  return SignedGraphs(graph, make(dislikes.user, dislikes.item), distorted)


def eval_outputs(model: PANEGNN, params,
                 graphs_in: SignedGraphs) -> dict[str, Any]:
  """What ranking needs, from a clean forward.

  Returns:
    dict: 'user' [U, H], 'item' [I, H] (interest embeddings; the disinterest
    ones for variant A); with the filter also 'user_dis', 'item_dis' [., H]
    (disinterest embeddings) and 'threshold' (delta, a scalar).
  """
  out = model.apply({'params': params}, graphs_in)
  u = model.num_users
  rank = out['z'] if 'z' in out else out['v']
  result = {'user': rank[:u], 'item': rank[u:]}
  if model.parts.filter:
    result.update(user_dis=out['v'][:u], item_dis=out['v'][u:],
                  threshold=jnp.float32(model.filter_threshold))
  return result


def score(outputs: dict[str, Any], users: jax.Array) -> jax.Array:
  """Scores [C, I] of all items for users [C]; filtered items get -inf."""
  scores = outputs['user'][users] @ outputs['item'].T
  if 'user_dis' in outputs:
    disinterest = outputs['user_dis'][users] @ outputs['item_dis'].T
    scores = jnp.where(disinterest > outputs['threshold'], -jnp.inf, scores)
  return scores


def label(config: ml_collections.ConfigDict) -> str:
  """'pane_gnn', or 'pane_gnn-<variant>' for an ablation."""
  variant = config.model.variant
  return 'pane_gnn' if variant == 'full' else f'pane_gnn-{variant}'


def eval_overrides(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """delta, when the variant has the filter (it acts only when ranking)."""
  return ('filter_threshold',) if parts(config).filter else ()


SPEC = spec.ModelSpec(
    name='pane_gnn', task='user_item', feedback='signed',
    default_config=default_config, create=create, inputs=inputs,
    loss_params=pane_gnn_loss.loss_params, loss=pane_gnn_loss.loss,
    eval_outputs=eval_outputs, score=score, label=label,
    eval_overrides=eval_overrides,
    stacked_fields=('feedback_coef', 'contrastive_weight', 'temperature'))
