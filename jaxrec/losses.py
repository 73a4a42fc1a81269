"""Loss terms as pure functions of arrays; each returns one value per example.

Per-example values let the train step form an exact global mean over a
sharded, padded batch (sum of masked values / global count), so one device
and several devices compute the same loss. A term that couples examples
(InfoNCE over the batch) is handed the global batch's ids and a sum over
devices by the train step (models.spec.StepContext), and still returns one
value per local example; nothing here knows the device axis.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from jaxrec import ops


def pair_scores(table: jax.Array, users: jax.Array, items: jax.Array,
                negatives: jax.Array,
                take: Callable[[jax.Array, jax.Array], jax.Array] = (
                    ops.take_rows)) -> tuple[jax.Array, jax.Array]:
  """Dot-product scores of each example's rated item and its negatives.

  Args:
    table: float [N, d] embeddings.
    users: int [B] rows of the examples' users.
    items: int [B] rows of the rated items.
    negatives: int [B, K] rows of the sampled negatives.
    take: (table, ids) -> rows; e.g. ops.node_rows for a row-sharded table.

  Returns:
    (float [B] s_ui, float [B, K] s_uj).
  """
  e_u = take(table, users)
  item_scores = jnp.sum(e_u * take(table, items), axis=-1)
  neg_scores = jnp.einsum('bd,bkd->bk', e_u, take(table, negatives))
  return item_scores, neg_scores


def bpr(pos_scores: jax.Array, neg_scores: jax.Array) -> jax.Array:
  """Bayesian personalised ranking, -log sigmoid(pos - neg), computed stably.

  Args:
    pos_scores: float [B] scores of the positive items.
    neg_scores: float [B] scores of the sampled negatives.

  Returns:
    float [B].
  """
  return jax.nn.softplus(neg_scores - pos_scores)


def sign_aware_bpr(item_scores: jax.Array, neg_scores: jax.Array,
                   item_coef: jax.Array, direction: jax.Array) -> jax.Array:
  """-sum_k log sigmoid(direction * (item_coef * s_ui - s_uj_k)), stably.

  One form for the signed BPR losses:
    BPR:                 coef 1, direction +1
    SiReN (sign-aware):  coef 1 for a like, 2 for a dislike; direction +1
    PANE-GNN (eq. 17):   likes coef 1, direction +1 (interest scores);
                         dislikes coef b, direction -1 (disinterest scores),
                         i.e. -log sigmoid(s_uj - b s_ui).

  Args:
    item_scores: float [B] scores s_ui of the rated items.
    neg_scores: float [B, K] scores s_uj of K sampled negatives.
    item_coef: float [B] coefficient of s_ui.
    direction: float [B] +1 or -1.

  Returns:
    float [B]: the loss summed over the K negatives.
  """
  margin = item_coef[:, None] * item_scores[:, None] - neg_scores
  return jnp.sum(jax.nn.softplus(-direction[:, None] * margin), axis=-1)


def squared_norm(*rows: jax.Array) -> jax.Array:
  """Squared L2 norm of each example's rows, summed over rows and arrays.

  Args:
    *rows: float [B, ..., d] arrays (e.g. user [B, d], negatives [B, K, d]).

  Returns:
    float [B].
  """
  return sum(jnp.sum(jnp.square(r).reshape(r.shape[0], -1), axis=-1)
             for r in rows)


def row_squared_norms(table: jax.Array, *rows: jax.Array) -> jax.Array:
  """Squared L2 norms of table rows, summed per example.

  Equal to squared_norm(table[r] for r in rows), but the norms are taken
  once per table row and gathered as scalars: with K = 40 negatives the
  [B, K, d] gather and its scatter-add gradient are the costly part
  otherwise.

  Args:
    table: float [N, d].
    *rows: int [B] or [B, K] row indices (e.g. users, items, negatives).

  Returns:
    float [B].
  """
  sq = jnp.sum(jnp.square(table), axis=-1)
  return sum(jnp.sum(sq[r].reshape(r.shape[0], -1), axis=-1) for r in rows)


def l2(*rows: jax.Array) -> jax.Array:
  """Half the squared L2 norm of each example's rows, summed over arrays.

  Args:
    *rows: float [B, d_k] arrays (e.g. user, positive and negative embeddings).

  Returns:
    float [B].
  """
  return 0.5 * squared_norm(*rows)


def _normalise(x: jax.Array) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def info_nce(view_a: jax.Array, view_b: jax.Array, ids: jax.Array,
             valid: jax.Array, col_ids: jax.Array, col_valid: jax.Array,
             temperature: float) -> jax.Array:
  """InfoNCE between two views of a set of nodes (PANE-GNN eq. 18), per row.

  The set is the distinct ids among the valid columns (the whole batch).
  For each distinct id n the loss is
      -log exp(cos(a_n, b_n) / tau) / sum_{n' in set} exp(cos(a_n, b_n') / tau).
  Rows and columns may repeat an id (a user with several ratings in the
  batch); each distinct id counts once on both sides: columns are weighted
  by 1 / multiplicity inside the log-sum-exp (repeats have equal logits), and
  a row's loss by 1 / multiplicity, so the rows' values sum to the loss over
  the set.

  Args:
    view_a: float [B, d] first view of each row's node (e.g. v_u).
    view_b: float [N, d] second view of every node (e.g. v~), indexed by id.
    ids: int [B] node id of each row.
    valid: bool [B] rows that take part (False on padding).
    col_ids: int [C] node ids of the columns (the global batch's ids; the
      rows' own ids among them).
    col_valid: bool [C] columns that take part.
    temperature: tau.

  Returns:
    float [B]: each row's share of the loss (0 on invalid rows).
  """
  a = _normalise(view_a)
  b_cols = _normalise(jnp.take(view_b, col_ids, axis=0, mode='clip'))
  b_own = _normalise(jnp.take(view_b, ids, axis=0, mode='clip'))
  same = (col_ids[:, None] == col_ids[None, :]) & col_valid[None, :]
  col_mult = jnp.sum(same, axis=1)  # >= 1 for valid columns.
  log_w = jnp.where(col_valid, -jnp.log(jnp.maximum(col_mult, 1)), -jnp.inf)
  logits = (a @ b_cols.T) / temperature
  positive = jnp.sum(a * b_own, axis=-1) / temperature
  loss = jax.nn.logsumexp(logits + log_w[None, :], axis=-1) - positive
  row_mult = jnp.sum((ids[:, None] == col_ids[None, :]) & col_valid[None, :],
                     axis=1)
  return jnp.where(valid, loss / jnp.maximum(row_mult, 1), 0.0)


def info_nce_batch_rows(views_a: list[jax.Array], view_b: jax.Array,
                        ids: list[jax.Array], valid: jax.Array,
                        col_ids: list[jax.Array], col_valid: jax.Array,
                        temperature: float,
                        batch_sum: Callable[[jax.Array], jax.Array]
                        ) -> jax.Array:
  """PANE-GNN's InfoNCE as the authors' code computes it, per row.

  For each batch row b (repeats included) and node kinds k (users, rated
  items), with f(x, y) = exp(cos(x, y) / tau):
      loss_b = -log( sum_k f(a_k[b], b[ids_k[b]]) / S ),
      S = sum_k sum_{rows r, columns c} f(a_k[r], b[col_ids_k[c]]),
  one denominator shared by every row and both kinds. S runs over the
  global batch (this device's partial sum goes through batch_sum).

  Args:
    views_a: per kind, float [B, d] first view of each row's node (v_u, v_i).
    view_b: float [N, d] second view of every node (V~), indexed by id.
    ids: per kind, int [B] node id of each row.
    valid: bool [B] rows that take part (False on padding).
    col_ids: per kind, int [C] node ids of the global batch's rows.
    col_valid: bool [C] columns that take part.
    temperature: tau.
    batch_sum: adds a per-device partial sum over the global batch
      (StepContext.batch_sum).

  Returns:
    float [B] (0 on invalid rows).
  """
  positive, total = 0.0, 0.0
  for a, own, cols in zip(views_a, ids, col_ids):
    a = _normalise(a)
    b_cols = _normalise(jnp.take(view_b, cols, axis=0, mode='clip'))
    b_own = _normalise(jnp.take(view_b, own, axis=0, mode='clip'))
    positive += jnp.exp(jnp.sum(a * b_own, axis=-1) / temperature)
    pair = jnp.exp((a @ b_cols.T) / temperature)
    total += jnp.sum(jnp.where(valid[:, None] & col_valid[None, :], pair, 0.0))
  total = batch_sum(total)
  return jnp.where(valid, jnp.log(total) - jnp.log(positive), 0.0)


def is_off(weight) -> bool:
  """Whether a loss term's weight is a Python zero, so the term can be
  skipped; a traced weight (stacked runs vary it) never is."""
  return isinstance(weight, (int, float)) and weight == 0
