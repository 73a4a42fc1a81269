"""PANE-GNN's loss (eqs. 16-18), and the authors' code's form of it.

See jaxrec/models/pane_gnn.py for the notation and for what each switch of
LossParams reproduces.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxrec import losses
from jaxrec import ops
from jaxrec.models import spec

# Which ratings train each space (see dual_bpr): eq. 17's, or the authors'.
BPR_RATINGS = ('own_graph', 'all')
# Which rows the L2 term reads: layer 0 (eq. 16) or the final ones (code).
L2_ON = ('layer0', 'final')
# How the loss terms are reduced over a batch: one mean (the paper's sum of
# terms, each per rating), or the authors' mix (see loss).
LOSS_REDUCTIONS = ('mean', 'code')
# InfoNCE: eq. 18 over the batch's distinct ids, or the authors' one
# denominator over all batch rows (losses.info_nce_batch_rows).
INFO_NCES = ('distinct', 'batch_rows')
# config.model fields of the loss and their allowed values.
CHOICES = {'bpr_ratings': BPR_RATINGS, 'l2_on': L2_ON,
           'loss_reduction': LOSS_REDUCTIONS, 'info_nce': INFO_NCES}


@dataclasses.dataclass(frozen=True)
class LossParams:
  """The loss's hyper-parameters (config.model's, and lambda_2)."""

  feedback_coef: float  # b
  bpr_ratings: str
  l2_on: str
  loss_reduction: str
  info_nce: str
  contrastive_weight: float  # lambda_1
  temperature: float  # tau
  l2_weight: float  # lambda_2


def loss_params(config: ml_collections.ConfigDict) -> LossParams:
  m = config.model
  return LossParams(
      feedback_coef=m.feedback_coef, bpr_ratings=m.bpr_ratings,
      l2_on=m.l2_on, loss_reduction=m.loss_reduction, info_nce=m.info_nce,
      contrastive_weight=m.contrastive_weight, temperature=m.temperature,
      l2_weight=config.l2_weight)


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


def loss(model: nn.Module, params, graphs_in,
         batch: dict[str, jax.Array], hp: LossParams,
         ctx: spec.StepContext) -> jax.Array:
  """Per-rating loss: eq. 17 + lambda_1 eq. 18 + lambda_2 L2 (eq. 16).

  With hp.loss_reduction='mean' the train step's mean over the global
  batch of these values is eq. 16 per rating; with 'code' it is the
  authors' loss (see _code_reduction).

  Args:
    model: the PANEGNN module.
    params: its parameters.
    graphs_in: SignedGraphs G_p, G_n, G_d.
    batch: 'user', 'pos' (the rated item) [B], 'sign' [B] (+1 like, -1
      dislike), 'neg' [B, K], 'mask' [B].
    hp: b, the switches, lambda_1, tau, lambda_2.
    ctx: the dropout key; the global batch for the contrastive term.

  Returns:
    float [B].
  """
  user, pos, neg = batch['user'], batch['pos'], batch['neg']
  out = model.apply({'params': params}, graphs_in, train=True, users=user,
                    rngs={'dropout': ctx.rng})
  b, n_users = user.shape[0], model.num_users
  # Node ids, and rows of 'z' (the batch's users, then all items).
  node = (user, pos + n_users, neg + n_users)
  z_rows = (jnp.arange(b), pos + b, neg + b)
  interest = (out['z'], *z_rows) if 'z' in out else None
  disinterest = (out['v'], *node) if 'v' in out else None
  liked = batch['sign'] > 0
  # L2 on the batch's rows (u, i and the negatives) of both spaces: layer 0
  # (Theta_Emb, eq. 16) or the final embeddings (the authors' code).
  l2_rows = ({'z0': node, 'v0': node} if hp.l2_on == 'layer0'
             else {'z': z_rows, 'v': node})
  l2 = [hp.l2_weight * losses.row_squared_norms(out[t], *rows)
        for t, rows in l2_rows.items() if t in out]
  contrastive = []
  if 'v_tilde' in out and not losses.is_off(hp.contrastive_weight):
    contrastive = [hp.contrastive_weight * c for c in _info_nce(
        hp, out['v'], out['v_tilde'], node[:2], batch['mask'] > 0, ctx)]
  if hp.loss_reduction == 'code':
    return _code_reduction(interest, disinterest, liked, l2, contrastive, hp,
                           ctx.batch_sum(jnp.sum(batch['mask'])))
  loss_value = dual_bpr(interest, disinterest, liked, hp.feedback_coef,
                        hp.bpr_ratings)
  for term in l2 + contrastive:
    loss_value += term
  return loss_value


def _code_reduction(interest: Rows | None, disinterest: Rows | None,
                    liked: jax.Array, l2: list[jax.Array],
                    contrastive: list[jax.Array], hp: LossParams,
                    global_count: jax.Array) -> jax.Array:
  """The authors' reductions, per rating, float [B].

  Their loss is sum_batch (interest BPR + lambda_2 L2) + mean_batch
  (disinterest BPR) + lambda_1 mean_batch (InfoNCE). The train step divides
  the sum over the global batch by its size (global_count), so the terms
  they sum are multiplied by it here.
  """
  summed = sum(l2)
  if interest is not None:
    summed += dual_bpr(interest, None, liked, hp.feedback_coef,
                       hp.bpr_ratings)
  averaged = sum(contrastive)
  if disinterest is not None:
    averaged += dual_bpr(None, disinterest, liked, hp.feedback_coef,
                         hp.bpr_ratings)
  return global_count * summed + averaged


def _info_nce(hp: LossParams, v: jax.Array, v_tilde: jax.Array,
              ids: tuple[jax.Array, jax.Array], valid: jax.Array,
              ctx: spec.StepContext) -> list[jax.Array]:
  """Eq. 18 between V and V~ for the batch's users and rated items.

  Args:
    hp: info_nce and temperature.
    v: float [N, H] V.
    v_tilde: float [N, H] V~.
    ids: (int [B] user node ids, int [B] item node ids).
    valid: bool [B] real rows.
    ctx: gathers the global batch's ids, sums over its devices.

  Returns:
    float [B] terms to add: one per node kind (users, items) for eq. 18, a
    single one for the authors' one-denominator form.
  """
  all_valid = ctx.gather_batch(valid)
  all_ids = [ctx.gather_batch(i) for i in ids]
  if hp.info_nce == 'batch_rows':
    return [losses.info_nce_batch_rows(
        [ops.take_rows(v, i) for i in ids], v_tilde, ids, valid, all_ids,
        all_valid, hp.temperature, ctx.batch_sum)]
  return [losses.info_nce(ops.take_rows(v, i), v_tilde, i, valid, c,
                          all_valid, hp.temperature)
          for i, c in zip(ids, all_ids)]
