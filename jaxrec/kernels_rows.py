"""Propagation on row-sharded tables: each device computes its own rows.

With config.shard_tables device k holds R rows of every node matrix (the
nodes i with i % D == k, row_shards.py) and the edges into them. One layer is

    halo = all_to_all(x_local[send])       [D H, d]: the rows its edges read
    y_local = A_k halo                     [R, d]: its rows of A x

where A_k is the block of A's rows that the device owns, its columns
renumbered into the halo. The backward is the same in reverse:
g_halo = A_k^T g (A_k^T's own CSR, built on the host), sent back by the
transposed all_to_all and added onto the rows they came from. Unlike the
edge-sharded kernels (kernels_sharded.py), every node value and every
cotangent here is complete on the device that owns its row: a table's
gradient needs no sum across devices.

propagate and layer_mean take kernels.propagate's and layer_mean's
arguments (ops.py dispatches on the adjacency); the per-edge operations
(gather, edge_dot) have no row-sharded form. Rows the loss reads by global id (a batch's users and items, on any
device) come from their owners by gather_rows: each device contributes the
batch rows it owns and a psum_scatter hands every device its own.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec import kernels
from jaxrec.kernels import AXIS, KERNELS, take_rows
from jaxrec.row_shards import RowLayout


class RowAdjacency(NamedTuple):
  """One device's rows of a graph (row_shards.py), as device arrays.

  Attributes:
    senders: int32 [E_s] halo position of each edge's sender.
    receivers: int32 [E_s] local row of each edge's receiver, sorted.
    indptr: int32 [R + 1] CSR row pointers of A_k.
    t_order: int32 [E_s] the edges sorted by (halo position, local row).
    t_rows: int32 [E_s] senders[t_order].
    t_cols: int32 [E_s] receivers[t_order].
    t_indptr: int32 [D H + 1] row pointers of A_k^T.
    send: int32 [D, H] local rows each device needs from this one.
  """

  senders: jax.Array
  receivers: jax.Array
  indptr: jax.Array
  t_order: jax.Array
  t_rows: jax.Array
  t_cols: jax.Array
  t_indptr: jax.Array
  send: jax.Array

  def local(self) -> kernels.Adjacency:
    """A_k as an Adjacency the kernels read (rows: local, columns: halo)."""
    return kernels.Adjacency(self.senders, self.receivers, None, self.indptr)

  def transposed(self) -> kernels.Adjacency:
    """A_k^T (rows: halo positions, columns: local rows)."""
    return kernels.Adjacency(self.t_cols, self.t_rows, None, self.t_indptr)


def exchange(adj: RowAdjacency, x: jax.Array) -> jax.Array:
  """The rows this device's edges read: x [R, d] -> halo [D H, d].

  Row j H + h of the halo is row send_j[k][h] of device j.
  Differentiable: the transpose of all_to_all is all_to_all, and the
  gather's is a scatter-add onto the rows sent.
  """
  d, h = adj.send.shape
  out = take_rows(x, adj.send.reshape(-1)).reshape(d, h, *x.shape[1:])
  out = jax.lax.all_to_all(out, AXIS, split_axis=0, concat_axis=0)
  return out.reshape(d * h, *x.shape[1:])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _product(impl: str, adj: RowAdjacency, w: jax.Array, halo: jax.Array):
  """A_k(w) halo: [D H, d] -> [R, d]; w gets no gradient."""
  return KERNELS[impl](adj.local(), w, halo)


def _product_fwd(impl, adj, w, halo):
  return KERNELS[impl](adj.local(), w, halo), (adj, w)


def _product_bwd(impl, residuals, g):
  adj, w = residuals
  return None, None, KERNELS[impl](adj.transposed(), take_rows(w, adj.t_order),
                                   g)


_product.defvjp(_product_fwd, _product_bwd)


def propagate(impl: str, symmetric: bool, adj: RowAdjacency, w: jax.Array,
              x: jax.Array) -> jax.Array:
  """This device's rows of A(w) x: x [R, d] -> [R, d]; w fixed. `symmetric`
  is kernels.propagate's, unused: the backward reads A_k^T's own CSR."""
  del symmetric
  return _product(impl, adj, w, exchange(adj, x))


def layer_mean(impl: str, adj: RowAdjacency, w: jax.Array, x: jax.Array,
               num_layers: int, symmetric: bool) -> jax.Array:
  """This device's rows of mean_{k=0..K} A^k x: [R, d] -> [R, d].

  The same terms as kernels.layer_mean, each row's added in the order of
  their halo positions (owner by owner): equal to the unsharded sums up to
  float rounding.
  """
  return kernels.layer_mean_value(
      lambda h: propagate(impl, symmetric, adj, w, h), x, num_layers)


def gather_rows(layout: RowLayout, x: jax.Array, ids: jax.Array) -> jax.Array:
  """Rows of a row-sharded matrix by global id, on any device.

  Args:
    layout: the row split.
    x: float [R, ...] this device's rows.
    ids: int [...] global row ids wanted on this device (the same shape on
      every device, e.g. its batch shard).

  Returns:
    float [*ids.shape, ...]: exact (each row is its owner's value plus zeros);
    its gradient lands on the owners' rows.
  """
  every = jax.lax.all_gather(ids.reshape(-1), AXIS, tiled=True)
  mine = layout.owner(every) == jax.lax.axis_index(AXIS)
  rows = take_rows(x, layout.local(every))
  rows = jnp.where(mine.reshape(-1, *(1,) * (x.ndim - 1)), rows, 0)
  out = jax.lax.psum_scatter(rows, AXIS, scatter_dimension=0, tiled=True)
  return out.reshape(*ids.shape, *x.shape[1:])
