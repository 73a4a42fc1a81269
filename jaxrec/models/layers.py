"""Layers SiReN and PANE-GNN share: embedding tables, MLP branch, attention.

SiReN (Seo et al., IEEE TNNLS 2022) fuses a GNN embedding with an MLP
embedding by a learned per-node attention; PANE-GNN (eqs. 7 and 8) keeps the
same two pieces, with the MLP applied to the interest embeddings Z^(0).
Both follow the authors' code where the papers leave details open: biases
in every dense layer but the attention query, Glorot-normal MLP weights, and
dropout after each MLP activation and after the attention's tanh.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def embedding_table(module: nn.Module, name: str, num_users: int,
                    num_items: int, dim: int) -> jax.Array:
  """Layer-0 embeddings of users then items, float [U + I, dim].

  Users and items are two parameters, each Glorot-normal initialised as its
  own table (std sqrt(2 / (rows + dim))), as the authors' code does.

  Args:
    module: the (compact) module that owns the parameters.
    name: prefix of the parameter names ('<name>_users', '<name>_items').
    num_users: U.
    num_items: I.
    dim: H.
  """
  init = nn.initializers.xavier_normal()
  users = module.param(f'{name}_users', init, (num_users, dim))
  items = module.param(f'{name}_items', init, (num_items, dim))
  return jnp.concatenate([users, items])


class MLPBranch(nn.Module):
  """Z'' = ReLU(... ReLU(X W_1 + b_1) ... W_L + b_L), dropout after each ReLU.

  Attributes:
    dim: width H of every layer.
    num_layers: L (2 in both papers).
    dropout: dropout rate.
  """

  dim: int
  num_layers: int = 2
  dropout: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: float [N, H] -> float [N, H]."""
    for _ in range(self.num_layers):
      x = nn.relu(nn.Dense(self.dim,
                           kernel_init=nn.initializers.xavier_normal())(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x


class AttentionFusion(nn.Module):
  """Z = a_1 Z' + a_2 Z'' with per-node weights (PANE-GNN eq. 8).

  (a_1, a_2) = softmax(q . tanh(W Z' + c), q . tanh(W Z'' + c)): one dense
  layer W (with bias c) and one query vector q shared by both inputs.

  Attributes:
    dim: width of the attention's hidden layer.
    dropout: dropout rate on the tanh output.
  """

  dim: int
  dropout: float = 0.5

  @nn.compact
  def __call__(self, a: jax.Array, b: jax.Array, train: bool) -> jax.Array:
    """a, b: float [N, H] -> float [N, H]."""
    hidden = nn.Dense(self.dim, name='hidden')
    query = nn.Dense(1, use_bias=False, name='query')
    drop = nn.Dropout(self.dropout, deterministic=not train)
    logits = jnp.concatenate([query(drop(jnp.tanh(hidden(a)))),
                              query(drop(jnp.tanh(hidden(b))))], axis=-1)
    weights = jax.nn.softmax(logits, axis=-1)
    return weights[:, :1] * a + weights[:, 1:] * b
