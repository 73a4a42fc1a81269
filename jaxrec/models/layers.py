"""Layers SiReN and PANE-GNN share: embedding tables, MLP branch, attention.

SiReN (Seo et al., IEEE TNNLS 2022) fuses a GNN embedding with an MLP
embedding by a learned per-node attention; PANE-GNN (eqs. 7 and 8) keeps the
same two pieces, with the MLP applied to the interest embeddings Z^(0).
Both follow the authors' code where the papers leave details open: biases
in every dense layer but the attention query, Glorot-normal MLP weights, and
dropout after each MLP activation and after the attention's tanh.

Initialisation (config.model.init, INITS): 'jax' (the default) draws the
MLP biases as zeros and the attention layer as Flax's Dense does (LeCun
normal, zero bias); 'torch' draws them as the authors' PyTorch code gets
them from nn.Linear's defaults: weights and biases uniform in
+-1/sqrt(fan_in), the MLP weights still Glorot normal.

These layers are per node, so a training step computes them only on the
rows it reads (layers.training_rows). Dropout masks are drawn per node, for
all nodes, and read at those rows: a node's mask does not depend on which
rows a device computes, so several devices make the one-device update.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# Values of config.model.init (see the module docstring).
INITS = ('jax', 'torch')


def embedding_table(module: nn.Module, name: str, num_users: int,
                    num_items: int, dim: int,
                    one_block: bool = False) -> jax.Array:
  """Layer-0 embeddings of users then items, a float [U + I, dim] parameter.

  Glorot normal. By default the user and item blocks are each initialised
  as their own table (std sqrt(2 / (rows + dim))), as the authors' code
  does with two tables (one parameter spares a concatenation in every
  step); one_block draws the whole [U + I, dim] table at once (std
  sqrt(2 / (U + I + dim))), as their code does for one table of all nodes.

  Args:
    module: the (compact) module that owns the parameter.
    name: the parameter's name.
    num_users: U.
    num_items: I.
    dim: H.
    one_block: one Glorot draw for all rows.
  """
  glorot = nn.initializers.xavier_normal()
  if one_block:
    return module.param(name, glorot, (num_users + num_items, dim))

  def init(key, shape, dtype=jnp.float32):
    users, items = jax.random.split(key)
    return jnp.concatenate([glorot(users, (num_users, shape[1]), dtype),
                            glorot(items, (num_items, shape[1]), dtype)])

  return module.param(name, init, (num_users + num_items, dim))


def torch_linear_init(fan_in: int) -> Callable[..., jax.Array]:
  """PyTorch nn.Linear's default draw of its weight and bias: U(+-1/sqrt(
  fan_in)) (kaiming_uniform with a = sqrt(5) gives the same bound)."""
  bound = fan_in ** -0.5

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def dense(features: int, fan_in: int, init: str, use_bias: bool = True,
          kernel_init=None, name: str | None = None) -> nn.Dense:
  """nn.Dense initialised per `init` (INITS); kernel_init overrides the
  weight's draw in both."""
  if init == 'torch':
    return nn.Dense(features, use_bias=use_bias, name=name,
                    kernel_init=kernel_init or torch_linear_init(fan_in),
                    bias_init=torch_linear_init(fan_in))
  return nn.Dense(features, use_bias=use_bias, name=name,
                  kernel_init=kernel_init or nn.linear.default_kernel_init)


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
    param_init: one of INITS (config.model.init).
  """

  dim: int
  num_nodes: int
  num_layers: int = 2
  dropout: float = 0.5
  param_init: str = 'jax'

  @nn.compact
  def __call__(self, x: jax.Array, rows: jax.Array | None,
               train: bool) -> jax.Array:
    """x: float [R, H] rows of nodes `rows` -> float [R, H]."""
    for n in range(self.num_layers):
      x = nn.relu(dense(self.dim, x.shape[-1], self.param_init,
                        kernel_init=nn.initializers.xavier_normal(),
                        name=f'Dense_{n}')(x))
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
    param_init: one of INITS (config.model.init).
  """

  dim: int
  num_nodes: int
  dropout: float = 0.5
  param_init: str = 'jax'

  @nn.compact
  def __call__(self, a: jax.Array, b: jax.Array, rows: jax.Array | None,
               train: bool) -> jax.Array:
    """a, b: float [R, H] rows of nodes `rows` -> float [R, H]."""
    hidden = dense(self.dim, a.shape[-1], self.param_init, name='hidden')
    query = dense(1, self.dim, self.param_init, use_bias=False, name='query')
    logits = [query(NodeDropout(self.dropout, self.num_nodes)(
        jnp.tanh(hidden(x)), rows, train)) for x in (a, b)]
    weights = jax.nn.softmax(jnp.concatenate(logits, axis=-1), axis=-1)
    return weights[:, :1] * a + weights[:, 1:] * b


class GraphMLPFusion(nn.Module):
  """Z = AttentionFusion(Z_graph, MLPBranch(X)), optionally on some rows.

  Attributes:
    dim: H.
    dropout: MLP and attention dropout.
    param_init: one of INITS (config.model.init).
  """

  dim: int
  dropout: float = 0.5
  param_init: str = 'jax'

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
    z_mlp = MLPBranch(self.dim, n, dropout=self.dropout,
                      param_init=self.param_init, name='mlp')(x, rows, train)
    return AttentionFusion(self.dim, n, self.dropout, self.param_init,
                           name='attention')(z_graph, z_mlp, rows, train)
