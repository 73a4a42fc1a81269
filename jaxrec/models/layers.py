"""Layers SiReN and PANE-GNN share: embedding tables, MLP branch, attention.

SiReN (Seo et al., IEEE TNNLS 2022) fuses a GNN embedding with an MLP
embedding by a learned per-node attention; PANE-GNN (eqs. 7 and 8) keeps the
same two pieces, with the MLP applied to the interest embeddings Z^(0).
Both follow the authors' code where the papers leave details open: biases
in every dense layer but the attention query, Glorot-normal MLP weights, and
dropout after each MLP activation and after the attention's tanh.

These layers are per node, so a training step computes them only on the
rows it reads (layers.training_rows). Dropout masks are drawn per node, for
all nodes, and read at those rows: a node's mask does not depend on which
rows a device computes, so several devices make the one-device update.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def embedding_table(module: nn.Module, name: str, num_users: int,
                    num_items: int, dim: int) -> jax.Array:
  """Layer-0 embeddings of users then items, a float [U + I, dim] parameter.

  The user and item blocks are each Glorot-normal initialised as their own
  table (std sqrt(2 / (rows + dim))), as the authors' code does with two
  tables; one parameter spares a concatenation in every step.

  Args:
    module: the (compact) module that owns the parameter.
    name: the parameter's name.
    num_users: U.
    num_items: I.
    dim: H.
  """
  glorot = nn.initializers.xavier_normal()

  def init(key, shape, dtype=jnp.float32):
    users, items = jax.random.split(key)
    return jnp.concatenate([glorot(users, (num_users, shape[1]), dtype),
                            glorot(items, (num_items, shape[1]), dtype)])

  return module.param(name, init, (num_users + num_items, dim))


def training_rows(users: jax.Array, num_users: int,
                  num_items: int) -> jax.Array:
  """Node ids of a batch's users, then of every item: int [B + I].

  A training batch reads fused embeddings of its users and of items (the
  rated ones and K negatives each, which with K = 40 touch nearly every
  item), so the per-node MLP and attention run on these rows only: about
  half the nodes on ML-1M.
  """
  items = num_users + jnp.arange(num_items, dtype=users.dtype)
  return jnp.concatenate([users, items])


class NodeDropout(nn.Module):
  """Dropout with one mask row per node, read at the rows computed.

  Attributes:
    rate: dropout rate.
    num_nodes: N, the number of nodes masks are drawn for.
  """

  rate: float
  num_nodes: int

  @nn.compact
  def __call__(self, x: jax.Array, rows: jax.Array | None,
               train: bool) -> jax.Array:
    """x: float [R, H] values of nodes `rows` (int [R]; None: all N)."""
    if not train or self.rate == 0:
      return x
    keep = jax.random.bernoulli(self.make_rng('dropout'), 1.0 - self.rate,
                                (self.num_nodes, x.shape[-1]))
    if rows is not None:
      keep = jnp.take(keep, rows, axis=0, mode='clip')
    return jnp.where(keep, x / (1.0 - self.rate), 0.0)


class MLPBranch(nn.Module):
  """Z'' = ReLU(... ReLU(X W_1 + b_1) ... W_L + b_L), dropout after each ReLU.

  Attributes:
    dim: width H of every layer.
    num_nodes: N (for the dropout masks).
    num_layers: L (2 in both papers).
    dropout: dropout rate.
  """

  dim: int
  num_nodes: int
  num_layers: int = 2
  dropout: float = 0.5

  @nn.compact
  def __call__(self, x: jax.Array, rows: jax.Array | None,
               train: bool) -> jax.Array:
    """x: float [R, H] rows of nodes `rows` -> float [R, H]."""
    for _ in range(self.num_layers):
      x = nn.relu(nn.Dense(self.dim,
                           kernel_init=nn.initializers.xavier_normal())(x))
      x = NodeDropout(self.dropout, self.num_nodes)(x, rows, train)
    return x


class AttentionFusion(nn.Module):
  """Z = a_1 Z' + a_2 Z'' with per-node weights (PANE-GNN eq. 8).

  (a_1, a_2) = softmax(q . tanh(W Z' + c), q . tanh(W Z'' + c)): one dense
  layer W (with bias c) and one query vector q shared by both inputs.

  Attributes:
    dim: width of the attention's hidden layer.
    num_nodes: N (for the dropout masks).
    dropout: dropout rate on the tanh output.
  """

  dim: int
  num_nodes: int
  dropout: float = 0.5

  @nn.compact
  def __call__(self, a: jax.Array, b: jax.Array, rows: jax.Array | None,
               train: bool) -> jax.Array:
    """a, b: float [R, H] rows of nodes `rows` -> float [R, H]."""
    hidden = nn.Dense(self.dim, name='hidden')
    query = nn.Dense(1, use_bias=False, name='query')
    logits = [query(NodeDropout(self.dropout, self.num_nodes)(
        jnp.tanh(hidden(x)), rows, train)) for x in (a, b)]
    weights = jax.nn.softmax(jnp.concatenate(logits, axis=-1), axis=-1)
    return weights[:, :1] * a + weights[:, 1:] * b


class GraphMLPFusion(nn.Module):
  """Z = AttentionFusion(Z_graph, MLPBranch(X)), optionally on some rows.

  Attributes:
    dim: H.
    dropout: MLP and attention dropout.
  """

  dim: int
  dropout: float = 0.5

  @nn.compact
  def __call__(self, z_graph: jax.Array, x: jax.Array, train: bool,
               rows: jax.Array | None = None) -> jax.Array:
    """Fuses the graph embeddings with the MLP of x.

    Args:
      z_graph: float [N, H] graph embeddings.
      x: float [N, H] the MLP's input.
      train: apply dropout.
      rows: int [R] node ids to compute, or None for all N.

    Returns:
      float [R, H] (or [N, H]).
    """
    n = z_graph.shape[0]
    if rows is not None:
      z_graph = jnp.take(z_graph, rows, axis=0, mode='clip')
      x = jnp.take(x, rows, axis=0, mode='clip')
    z_mlp = MLPBranch(self.dim, n, dropout=self.dropout, name='mlp')(
        x, rows, train)
    return AttentionFusion(self.dim, n, self.dropout, name='attention')(
        z_graph, z_mlp, rows, train)
