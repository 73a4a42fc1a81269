"""Edge-sharded propagation: each device holds 1/D of a graph's edges.

With config.shard_graph the train step's pmap gives device d the edges of
one block of receivers (graph_shards.py), so the graph is the sum of D
partial matrices, A = sum_d A_d, and every device multiplies only its own:

    forward:  y = psum_d(A_d x)                  (x and y on every device)
    backward: G = psum_d(g);  dx_d = A_d^T G;  dw(s->t) = <G[t], x[s]>

Inside the step every node-level value (embeddings, x, y) is the same on
every device, but each device's cotangent g of it is only its own batch
shard's: the train step sums parameter gradients over devices at the end.
So the backward keeps that convention: dx_d is a per-device part whose sum
over devices is the true A^T G, and the train step's psum completes it. A
per-edge value lives on one device only, and its cotangent there is
complete (dw above reads the summed G). Per-edge work that stays on the
device needs no communication: gathers onto edges, edge dot products, and
softmaxes over a receiver's incoming edges (receiver blocks keep all of a
receiver's edges on one device).

A_d^T is a CSR of its own (the device's edges sorted by sender, built on
the host): the reverse of a local edge usually lives on another device, so
the unsharded trick of reading the reverse edges' weights does not apply.
The functions mirror kernels.gather / edge_dot / propagate / layer_mean and
take the same arguments; ops.py dispatches on the adjacency's type.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec import kernels
from jaxrec.kernels import AXIS, KERNELS, take_rows


class ShardedAdjacency(NamedTuple):
  """One device's edges of a graph (graph_shards.py), as device arrays.

  Node ids are global; E_s is the padded edge count of every shard.

  Attributes:
    senders: int32 [E_s] source node of each of this device's edges.
    receivers: int32 [E_s] target node, sorted ascending.
    indptr: int32 [N + 1] CSR row pointers over ALL N nodes (rows outside
      this device's receiver block are empty).
    t_order: int32 [E_s] this device's edges sorted by (sender, receiver):
      the entries of A_d^T in CSR order.
    t_rows: int32 [E_s] senders[t_order] (rows of A_d^T, ascending).
    t_cols: int32 [E_s] receivers[t_order] (columns of A_d^T).
    t_indptr: int32 [N + 1] row pointers of A_d^T.
  """

  senders: jax.Array
  receivers: jax.Array
  indptr: jax.Array
  t_order: jax.Array
  t_rows: jax.Array
  t_cols: jax.Array
  t_indptr: jax.Array

  @property
  def num_nodes(self) -> int:
    return self.indptr.shape[0] - 1

  def transposed(self) -> kernels.Adjacency:
    """A_d^T as an Adjacency the kernels read (they never read `reverse`)."""
    return kernels.Adjacency(self.t_cols, self.t_rows, None, self.t_indptr)


def _psum(x: jax.Array) -> jax.Array:
  return jax.lax.psum(x, AXIS)


def transpose_product(impl: str, adj: ShardedAdjacency, w: jax.Array,
                      x: jax.Array) -> jax.Array:
  """A_d(w)^T x: out[s] = sum over local edges s->t of w(s->t) x[t]."""
  return KERNELS[impl](adj.transposed(), take_rows(w, adj.t_order), x)


def _edges_to_nodes(adj: ShardedAdjacency, g: jax.Array, at: str,
                    impl: str) -> jax.Array:
  """Sums local edge rows onto their receiver or sender (kernels.gather's
  backward); the CSR of A_d^T groups the edges out of each sender."""
  if impl == 'csr':
    if at == 'receivers':
      cols, indptr = jnp.arange(g.shape[0], dtype=jnp.int32), adj.indptr
    else:
      cols, indptr = adj.t_order, adj.t_indptr
    return kernels.csr_product_unsorted(
        jnp.ones(g.shape[0], g.dtype), cols, indptr, g)
  ids = adj.receivers if at == 'receivers' else adj.senders
  return jax.ops.segment_sum(g, ids, adj.num_nodes,
                             indices_are_sorted=at == 'receivers')


# x[adj.<at>] on this device's edges: [N, ...] -> [E_s, ...]. Its backward
# gives this device's part of dx; the train step's psum adds the others'.
gather = kernels.make_gather(_edges_to_nodes)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def edge_dot(impl: str, adj: ShardedAdjacency, x: jax.Array, y: jax.Array):
  """<x[t], y[s]> per local edge s->t: [N, d] x2 -> [E_s]."""
  return kernels.edge_dot_value(adj, x, y, impl)


def _edge_dot_fwd(impl, adj, x, y):
  return kernels.edge_dot_value(adj, x, y, impl), (adj, x, y)


def _edge_dot_bwd(impl, residuals, g):
  adj, x, y = residuals
  # Local parts: dx = A_d(g) y, dy = A_d(g)^T x (see kernels.edge_dot).
  dx = KERNELS[impl](adj, g.astype(y.dtype), y)
  dy = transpose_product(impl, adj, g.astype(x.dtype), x)
  return None, dx, dy


edge_dot.defvjp(_edge_dot_fwd, _edge_dot_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def propagate(impl: str, symmetric: bool, adj: ShardedAdjacency, w: jax.Array,
              x: jax.Array):
  """y = psum_d(A_d(w) x): w float [E_s], x float [N, d] -> [N, d].

  `symmetric` is accepted for kernels.propagate's signature and unused: the
  backward multiplies by A_d^T's own CSR, right for any weights.
  """
  del symmetric
  return _psum(KERNELS[impl](adj, w, x))


def _propagate_fwd(impl, symmetric, adj, w, x):
  del symmetric
  return _psum(KERNELS[impl](adj, w, x)), (adj, w, x)


def _propagate_bwd(impl, symmetric, residuals, g):
  del symmetric
  adj, w, x = residuals
  total = _psum(g)  # G: every device's cotangent of y.
  dx = transpose_product(impl, adj, w, total)
  dw = kernels.edge_dot_value(adj, total, x, impl).astype(w.dtype)
  return None, dw, dx


propagate.defvjp(_propagate_fwd, _propagate_bwd)


def _layer_mean_value(impl, adj, weights, x, num_layers):
  """mean_{k=0..K} A^k x with one psum per layer."""
  return kernels.layer_mean_value(
      lambda h: _psum(KERNELS[impl](adj, weights, h)), x, num_layers)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def layer_mean(impl, adj, weights, x, num_layers, symmetric):
  """mean_{k=0..K} A^k x, A = sum_d A_d; weights get no gradient."""
  del symmetric
  return _layer_mean_value(impl, adj, weights, x, num_layers)


def _layer_mean_fwd(impl, adj, weights, x, num_layers, symmetric):
  del symmetric
  return _layer_mean_value(impl, adj, weights, x, num_layers), (adj, weights)


def _layer_mean_bwd(impl, num_layers, symmetric, residuals, g):
  """dx_d = (g_d + A_d^T U) / (K + 1), U = sum_{k<K} (A^T)^k G.

  The sum over devices is (G + A^T U) / (K + 1) = sum_{k<=K} (A^T)^k G /
  (K + 1), the true gradient; U needs K - 1 psums of A_d^T products, and
  the k = 0 term stays per device (g_d), so nothing is counted D times.
  """
  del symmetric
  adj, weights = residuals
  if num_layers == 0:
    return None, None, g
  full = _psum(g)
  total, h = full, full
  for _ in range(num_layers - 1):
    h = _psum(transpose_product(impl, adj, weights, h))
    total = total + h
  dx = g + transpose_product(impl, adj, weights, total)
  return None, None, dx / (num_layers + 1)


layer_mean.defvjp(_layer_mean_fwd, _layer_mean_bwd)
