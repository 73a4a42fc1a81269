"""Loss terms as pure functions of arrays; each returns one value per example.

Per-example values let the train step form an exact global mean over a
sharded, padded batch (sum of masked values / global count), so one device
and several devices compute the same loss.
"""

import jax
import jax.numpy as jnp


def bpr(pos_scores: jax.Array, neg_scores: jax.Array) -> jax.Array:
  """Bayesian personalised ranking, -log sigmoid(pos - neg), computed stably.

  Args:
    pos_scores: float [B] scores of the positive items.
    neg_scores: float [B] scores of the sampled negatives.

  Returns:
    float [B].
  """
  return jax.nn.softplus(neg_scores - pos_scores)


def l2(*rows: jax.Array) -> jax.Array:
  """Half the squared L2 norm of each example's rows, summed over arrays.

  Args:
    *rows: float [B, d_k] arrays (e.g. user, positive and negative embeddings).

  Returns:
    float [B].
  """
  return 0.5 * sum(jnp.sum(jnp.square(r), axis=-1) for r in rows)
