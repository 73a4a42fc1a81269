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
together (config.pane_gnn_reference, `configs/pane_gnn_*.py:reference`)
compute their loss and its gradient to float32 precision
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

from jaxrec import graphs
from jaxrec import losses
from jaxrec import ops
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError
from jaxrec.models import layers

TASK = 'user_item'
FEEDBACK = 'signed'
# Which ratings train each space (see dual_bpr): eq. 17's, or the authors'.
BPR_RATINGS = ('own_graph', 'all')
# The MLP branch's input: Z^(0) (eq. 7), or a table of its own (their code).
MLP_INPUTS = ('z0', 'table')
# Which rows the L2 term reads: layer 0 (eq. 16) or the final ones (code).
L2_ON = ('layer0', 'final')
# How the loss terms are reduced over a batch: one mean (the paper's sum of
# terms, each per rating), or the authors' mix (see loss_fn).
LOSS_REDUCTIONS = ('mean', 'code')
# InfoNCE: eq. 18 over the batch's distinct ids, or the authors' one
# denominator over all batch rows (losses.info_nce_batch_rows).
INFO_NCES = ('distinct', 'batch_rows')
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
                layers.embedding_table(self, 'mlp', u, i, h))
      rows = None if users is None else layers.training_rows(users, u, i)
      out['z'] = layers.GraphMLPFusion(h, self.dropout, name='fusion')(
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


def parts(config: ml_collections.ConfigDict) -> Parts:
  """The Parts of config.model.variant, or a clear error."""
  variant = config.model.variant
  if variant not in VARIANTS:
    raise ConfigError(f'config.model.variant={variant!r} is not one of '
                      f'{list(VARIANTS)}.')
  return VARIANTS[variant]


def with_filter_threshold(config: ml_collections.ConfigDict,
                          delta: float) -> ml_collections.ConfigDict:
  """A copy of a saved run's config that ranks with threshold delta.

  delta acts only when ranking (eq. 13), so a trained model can be scored
  at any delta without retraining.
  """
  if config.model.name != 'pane_gnn' or not parts(config).filter:
    raise ConfigError(
        f'A filter threshold applies to PANE-GNN with the filter '
        f"(config.model.variant='full'); this run is {config.model.name}"
        + (f' variant {config.model.variant}'
           if config.model.name == 'pane_gnn' else '') + '.')
  config = config.copy_and_resolve_references()
  config.model.filter_threshold = float(delta)
  return config


def create(config: ml_collections.ConfigDict, data: Dataset) -> PANEGNN:
  """The model for a config and dataset."""
  m = config.model
  if not 0 <= m.edge_removal < 1:
    raise ConfigError(f'config.model.edge_removal={m.edge_removal} must be '
                      f'in [0, 1).')
  for key, choices in (('bpr_ratings', BPR_RATINGS),
                       ('mlp_input', MLP_INPUTS), ('l2_on', L2_ON),
                       ('loss_reduction', LOSS_REDUCTIONS),
                       ('info_nce', INFO_NCES),
                       ('edge_removal_mode', EDGE_REMOVAL_MODES)):
    value = m[key]
    if value not in choices:
      raise ConfigError(f'config.model.{key}={value!r} is not one of '
                        f'{choices}.')
  if not m.temperature > 0:
    raise ConfigError(f'config.model.temperature={m.temperature} must be '
                      f'positive.')
  return PANEGNN(num_users=data.num_users, num_items=data.num_items,
                 parts=parts(config), embed_dim=m.embed_dim,
                 num_layers=m.num_layers, dropout=m.dropout,
                 mlp_input=m.mlp_input, filter_threshold=m.filter_threshold,
                 directed_view=m.edge_removal_mode == 'directed',
                 propagation=m.propagation)


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


# A table of embeddings and, per batch row, the rows of the user [B], the
# rated item [B] and the negatives [B, K] in it.
Rows = tuple[jax.Array, jax.Array, jax.Array, jax.Array]


def _rows_bpr(rows: Rows, item_coef: jax.Array,
              direction: jax.Array) -> jax.Array:
  """losses.sign_aware_bpr on the scores of one table's rows, float [B]."""
  return losses.sign_aware_bpr(*losses.pair_scores(*rows), item_coef,
                               direction)


def dual_bpr(interest: Rows | None, disinterest: Rows | None,
             liked: jax.Array, coef: float,
             ratings: str = 'own_graph') -> jax.Array:
  """Dual feedback-aware BPR per training rating, float [B].

  ratings='own_graph' is eq. 17 as printed: a like trains the interest
  space, -ln sigmoid(z_u.z_i - z_u.z_j); a dislike the disinterest space,
  -ln sigmoid(v_u.v_j - b v_u.v_i). ratings='all' is what the authors'
  code computes: every rating trains both spaces, the interest one with
  coefficient 1 (like) or 1 + b (dislike) on z_u.z_i, the disinterest one
  with 1 + b (like) or 1 (dislike) on v_u.v_i (their 2 -/+ sign(w) for
  b = 2). A variant without one of the branches (None) contributes 0.

  Args:
    interest: (Z table, user rows, item rows, negative rows), or None.
    disinterest: the same for V, or None.
    liked: bool [B] like (True) or dislike.
    coef: b.
    ratings: 'own_graph' or 'all' (see above).

  Returns:
    float [B].
  """
  sign = jnp.where(liked, 1.0, -1.0)
  if ratings == 'all':
    loss = 0.0
    if interest is not None:
      loss += _rows_bpr(interest, jnp.where(liked, 1.0, 1.0 + coef),
                        jnp.ones_like(sign))
    if disinterest is not None:
      loss += _rows_bpr(disinterest, jnp.where(liked, 1.0 + coef, 1.0),
                        -jnp.ones_like(sign))
    return loss
  if interest is not None and disinterest is not None:
    # One gather from the stacked tables instead of one per table: each
    # row reads the table of its own sign.
    z, zu, zi, zj = interest
    v, vu, vi, vj = disinterest
    pick = lambda a, b: jnp.where(liked.reshape(liked.shape + (1,) * (
        a.ndim - 1)), a, b + z.shape[0])
    rows = (jnp.concatenate([z, v]), pick(zu, vu), pick(zi, vi), pick(zj, vj))
    weight = 1.0
  else:
    rows = interest or disinterest
    weight = liked if interest is not None else ~liked
  return _rows_bpr(rows, jnp.where(liked, 1.0, coef), sign) * weight


def loss_fn(model: PANEGNN, params, graphs_in: SignedGraphs,
            batch: dict[str, jax.Array], rng: jax.Array,
            config: ml_collections.ConfigDict) -> jax.Array:
  """Per-rating loss: eq. 17 + lambda_1 eq. 18 + lambda_2 L2 (eq. 16).

  With model.loss_reduction='mean' the train step's mean over the global
  batch of these values is eq. 16 per rating. With 'code' it is the
  authors' loss: sum_batch (interest BPR + lambda_2 L2) + mean_batch
  (disinterest BPR) + lambda_1 mean_batch (InfoNCE); the summed terms are
  scaled here by the global batch's size, since the step divides by it.

  Runs inside the train step: the contrastive term gathers the global
  batch's ids over losses.BATCH_AXIS.

  Args:
    model: the module.
    params: its parameters.
    graphs_in: G_p, G_n, G_d.
    batch: 'user', 'pos' (the rated item) [B], 'sign' [B] (+1 like, -1
      dislike), 'neg' [B, K], 'mask' [B].
    rng: dropout key.
    config: reads model.feedback_coef (b), model.bpr_ratings, model.l2_on,
      model.loss_reduction, model.info_nce, model.contrastive_weight
      (lambda_1), model.temperature (tau), l2_weight (lambda_2).

  Returns:
    float [B].
  """
  m = config.model
  user, pos, neg = batch['user'], batch['pos'], batch['neg']
  out = model.apply({'params': params}, graphs_in, train=True, users=user,
                    rngs={'dropout': rng})
  b, n_users = user.shape[0], model.num_users
  # Node ids, and rows of 'z' (the batch's users, then all items).
  node = (user, pos + n_users, neg + n_users)
  z_rows = (jnp.arange(b), pos + b, neg + b)
  interest = (out['z'], *z_rows) if 'z' in out else None
  disinterest = (out['v'], *node) if 'v' in out else None
  liked = batch['sign'] > 0
  # L2 on the batch's rows (u, i and the negatives) of both spaces: layer 0
  # (Theta_Emb, eq. 16) or the final embeddings (the authors' code).
  l2_rows = ({'z0': node, 'v0': node} if m.l2_on == 'layer0'
             else {'z': z_rows, 'v': node})
  l2 = [config.l2_weight * losses.row_squared_norms(out[t], *rows)
        for t, rows in l2_rows.items() if t in out]
  contrastive = []
  if 'v_tilde' in out and m.contrastive_weight:
    contrastive = [m.contrastive_weight * c for c in _info_nce(
        m, out['v'], out['v_tilde'], node[:2], batch['mask'] > 0)]
  if m.loss_reduction == 'mean':
    loss = dual_bpr(interest, disinterest, liked, m.feedback_coef,
                    m.bpr_ratings)
    for term in l2 + contrastive:
      loss += term
    return loss
  # The authors' reductions. The step divides the sum over the global batch
  # by its size, so the terms they sum are multiplied by it here.
  summed = sum(l2)
  if interest is not None:
    summed += dual_bpr(interest, None, liked, m.feedback_coef, m.bpr_ratings)
  averaged = sum(contrastive)
  if disinterest is not None:
    averaged += dual_bpr(None, disinterest, liked, m.feedback_coef,
                         m.bpr_ratings)
  return losses.batch_sum(jnp.sum(batch['mask'])) * summed + averaged


def _info_nce(m: ml_collections.ConfigDict, v: jax.Array, v_tilde: jax.Array,
              ids: tuple[jax.Array, jax.Array],
              valid: jax.Array) -> list[jax.Array]:
  """Eq. 18 between V and V~ for the batch's users and rated items.

  Args:
    m: config.model (info_nce, temperature).
    v: float [N, H] V.
    v_tilde: float [N, H] V~.
    ids: (int [B] user node ids, int [B] item node ids).
    valid: bool [B] real rows.

  Returns:
    float [B] terms to add: one per node kind (users, items) for eq. 18, a
    single one for the authors' one-denominator form.
  """
  all_valid = losses.gather_batch(valid)
  all_ids = [losses.gather_batch(i) for i in ids]
  if m.info_nce == 'batch_rows':
    return [losses.info_nce_batch_rows(
        [ops.take_rows(v, i) for i in ids], v_tilde, ids, valid, all_ids,
        all_valid, m.temperature)]
  return [losses.info_nce(ops.take_rows(v, i), v_tilde, i, valid, c,
                          all_valid, m.temperature)
          for i, c in zip(ids, all_ids)]


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


def after_training(model, params, inputs, workdir: str) -> None:
  """Nothing to export beyond the checkpoint."""
  del model, params, inputs, workdir
