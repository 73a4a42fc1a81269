"""Propagation on graphs from graphs.py: the operations models call.

Each differentiable operation runs one of the kernels of kernels.py (chosen
by `impl`: 'auto' picks the fastest on the backend, see
kernels.default_impl) with its custom VJP, so the backward pass is as fast
as the forward one. Shapes: N is the padded node count, E the padded edge
count, d the feature width.

A graph sharded over the train step's devices (config.shard_graph,
graph_shards.py) gives a ShardedAdjacency: the same operations then run
on the device's edges only, with their node-level sums across devices
(kernels_sharded.py), so models call the same functions either way.
Row-sharded tables (config.shard_tables, row_shards.py) give a
RowAdjacency: node matrices then hold this device's rows only
(table_rows), layers exchange the rows their edges read
(kernels_rows.py), and a loss reads rows by global id with node_rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph

from jaxrec import graph_shards
from jaxrec import kernels
from jaxrec import kernels_rows
from jaxrec import kernels_sharded
from jaxrec import row_shards
# Part of this module's API: models take ops.Adjacency and call
# ops.take_rows; kernels.py defines them because its kernels use them.
from jaxrec.kernels import Adjacency
from jaxrec.kernels import take_rows
from jaxrec.kernels_rows import RowAdjacency
from jaxrec.kernels_sharded import ShardedAdjacency

AnyAdjacency = Adjacency | ShardedAdjacency | RowAdjacency


def _row_pointers(counts) -> jax.Array:
  """int32 [N + 1] CSR row pointers from int [N] entries per row."""
  counts = jnp.asarray(counts, jnp.int32)
  indptr = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(counts)])
  return indptr.astype(jnp.int32)


def adjacency(graph: jraph.GraphsTuple) -> AnyAdjacency:
  """Adjacency of a graph from graphs.py; cheap, call it once per forward.

  Args:
    graph: padded GraphsTuple with sorted receivers, edges['reverse'] and
      nodes['in_edges'] (graphs.py builds these), or one device's shard of
      it inside the train step (graph_shards.py).

  Returns:
    The Adjacency, or for a shard the ShardedAdjacency, for a device's rows
    the RowAdjacency (traceable: works on tracers inside jit).
  """
  indptr = _row_pointers(graph.nodes['in_edges'])
  if row_shards.is_row_sharded(graph):
    e = graph.edges
    return RowAdjacency(
        jnp.asarray(graph.senders), jnp.asarray(graph.receivers), indptr,
        jnp.asarray(e['t_order']), jnp.asarray(e['t_rows']),
        jnp.asarray(e['t_cols']), _row_pointers(graph.nodes['halo_edges']),
        jnp.asarray(graph.nodes['send']))
  if graph_shards.is_sharded(graph):
    e = graph.edges
    return ShardedAdjacency(
        jnp.asarray(graph.senders), jnp.asarray(graph.receivers), indptr,
        jnp.asarray(e['t_order']), jnp.asarray(e['t_rows']),
        jnp.asarray(e['t_cols']), _row_pointers(graph.nodes['out_edges']))
  return Adjacency(jnp.asarray(graph.senders), jnp.asarray(graph.receivers),
                   jnp.asarray(graph.edges['reverse']), indptr)


def _kernels(adj: AnyAdjacency, op: str):
  """The custom-VJP function `op` of the module that handles this adjacency.

  Row-sharded graphs have the fixed-weight propagations only (propagate,
  layer_mean); ModelSpec.row_tables marks the models that use no other.
  """
  if isinstance(adj, RowAdjacency):
    module = kernels_rows
  else:
    module = kernels_sharded if isinstance(adj, ShardedAdjacency) else kernels
  if not hasattr(module, op):
    raise NotImplementedError(f'ops.{op} has no row-sharded form.')
  return getattr(module, op)


def table_rows(graph: jraph.GraphsTuple, num_rows: int) -> int:
  """Rows of a node table on this device: num_rows, or for a row-sharded
  graph the device's block R (what a model's table parameter holds)."""
  return graph.globals.rows if row_shards.is_row_sharded(graph) else num_rows


def node_rows(graph: jraph.GraphsTuple, x: jax.Array,
              ids: jax.Array) -> jax.Array:
  """x[ids] for global node ids: x [N, ...] (or this device's [R, ...]
  rows of a row-sharded graph, fetched from their owners) -> [*ids.shape,
  ...]."""
  if row_shards.is_row_sharded(graph):
    return kernels_rows.gather_rows(graph.globals, x, ids)
  return take_rows(x, ids)


def gather(adj: AnyAdjacency, x: jax.Array, at: str,
           impl: str = 'auto') -> jax.Array:
  """Node rows onto edges: x[receivers] or x[senders], with a fast backward.

  Args:
    adj: Adjacency of the graph (or of this device's shard).
    x: float [N, ...] node values.
    at: 'receivers' or 'senders'.
    impl: kernel of the backward sum, see `propagate`.

  Returns:
    float [E, ...].
  """
  if at not in ('receivers', 'senders'):
    raise ValueError(f"at must be 'receivers' or 'senders', got {at!r}.")
  return _kernels(adj, 'gather')(at, adj, x, kernels.resolve(impl))


def edge_dot(adj: AnyAdjacency, x: jax.Array, y: jax.Array,
             impl: str = 'auto') -> jax.Array:
  """Per-edge dot products <x[t], y[s]> for edges s->t (an SDDMM).

  Args:
    adj: Adjacency of the graph (or of this device's shard).
    x: float [N, d] values at the receivers.
    y: float [N, d] values at the senders.
    impl: kernel of the backward propagations, see `propagate`.

  Returns:
    float [E].
  """
  return _kernels(adj, 'edge_dot')(kernels.resolve(impl), adj, x, y)


def propagate(adj: AnyAdjacency, weights: jax.Array, x: jax.Array,
              impl: str = 'auto', symmetric: bool = False) -> jax.Array:
  """Weighted neighbour sum out[t] = sum_{s->t} w(s->t) x[s].

  Args:
    adj: Adjacency of the graph (or of this device's shard).
    weights: float [E] per-edge weights (0 on padding edges).
    x: float [N, d] node features (N = padded node count).
    impl: 'auto', 'csr' or 'segment_sum' (see kernels.py).
    symmetric: promise that w(s->t) == w(t->s) for every edge (true of the
      symmetric normalisation); the backward pass then skips a gather. The
      weights' own gradient is exact either way.

  Returns:
    float [N, d].
  """
  return _kernels(adj, 'propagate')(kernels.resolve(impl), symmetric, adj,
                                    weights, x)


def lightgcn(adj: AnyAdjacency, weights: jax.Array, x: jax.Array,
             num_layers: int, impl: str = 'auto',
             symmetric: bool = True) -> jax.Array:
  """LightGCN's layer stack: mean of x, Ax, A^2 x, ..., A^K x.

  The weights are the graph's fixed normalisation, constant as for
  jax.lax.stop_gradient(weights); usually symmetric (w(s->t) == w(t->s), as
  graphs.bipartite makes them). Models that learn edge weights call
  `propagate` instead.

  Args:
    adj: Adjacency of the graph (or of this device's shard).
    weights: float [E] normalised edge weights (D^-1/2 A D^-1/2).
    x: float [N, d] layer-0 embeddings.
    num_layers: K >= 0.
    impl: propagation kernel, see `propagate`.
    symmetric: whether w(s->t) == w(t->s) for every edge; False for a
      directed graph stored with zero weights on its missing directions
      (graphs.directed_removal), whose backward needs the reverse weights.

  Returns:
    float [N, d] the mean over layers 0..K.
  """
  return _kernels(adj, 'layer_mean')(kernels.resolve(impl), adj, weights,
                                     x, num_layers, symmetric)


def lightgcn_on_graph(graph: jraph.GraphsTuple, x: jax.Array,
                      num_layers: int, impl: str = 'auto',
                      symmetric: bool = True) -> jax.Array:
  """LightGCN's layer mean over a graph from graphs.py.

  Args:
    graph: padded graph with normalised weights (graphs.bipartite, or
      graphs.directed_removal with symmetric=False).
    x: float [n, d] layer-0 embeddings of its first n (real) nodes.
    num_layers: K >= 0.
    impl: propagation kernel, see `propagate`.
    symmetric: see `lightgcn`.

  Returns:
    float [n, d]: the mean of x, Ax, ..., A^K x on the real nodes.
  """
  if row_shards.is_row_sharded(graph):  # x: this device's rows, as is.
    return lightgcn(adjacency(graph), graph.edges['weight'], x, num_layers,
                    impl, symmetric)
  n = x.shape[0]
  padded = jnp.pad(x, ((0, graph.nodes['in_edges'].shape[0] - n), (0, 0)))
  out = lightgcn(adjacency(graph), graph.edges['weight'], padded, num_layers,
                 impl, symmetric)
  return out[:n]


def gcn_aggregate(adj: AnyAdjacency, weights: jax.Array,
                  self_weights: jax.Array, h: jax.Array,
                  impl: str = 'auto') -> jax.Array:
  """GCN aggregation D~^-1/2 (A + I) D~^-1/2 h (PyG GCNConv without W, b).

  The self loops are applied as a diagonal term, not as edges, so the graph
  keeps one edge list for every model.

  Args:
    adj: Adjacency of the graph (or of this device's shard).
    weights: float [E] from graphs.gcn_norm (symmetric).
    self_weights: float [N] self-loop weights 1/d~ (0 on padding nodes).
    h: float [N, d] transformed node features (X W).
    impl: propagation kernel, see `propagate`.

  Returns:
    float [N, d].
  """
  return (propagate(adj, weights, h, impl, symmetric=True) +
          self_weights[:, None].astype(h.dtype) * h)


def edge_mask(graph: jraph.GraphsTuple) -> jax.Array:
  """bool [E]: True on real edges (padding edges come last, see graphs.py;
  in each shard too)."""
  return jnp.arange(graph.senders.shape[0]) < jnp.asarray(graph.n_edge)[0]


def undirected_uniform(graph: jraph.GraphsTuple, key: jax.Array) -> jax.Array:
  """float [E]: a U[0, 1) draw per undirected edge, the same for both of its
  directions (e.g. edge dropout that keeps the graph symmetric).

  The draw is over the whole graph's E padded edges; a shard (graph_shards)
  reads its edges' values from it, so any device count draws what one
  device draws.
  """
  if graph_shards.is_sharded(graph):
    draw = jax.random.uniform(key, (graph.globals.num_edges,))
    return take_rows(draw, jnp.asarray(graph.edges['pair']))
  e = graph.senders.shape[0]
  draw = jax.random.uniform(key, (e,))
  pair = jnp.minimum(jnp.arange(e), jnp.asarray(graph.edges['reverse']))
  return take_rows(draw, pair)


def segment_softmax(logits: jax.Array, segment_ids: jax.Array,
                    num_segments: int, mask: jax.Array | None = None,
                    indices_are_sorted: bool = True) -> jax.Array:
  """Softmax of edge logits over the edges of each segment (e.g. receiver).

  Masked-out edges get weight 0 and do not take part; a segment whose edges
  are all masked gets all zeros (not NaN).

  Args:
    logits: float [E, ...] scores per edge.
    segment_ids: int [E] segment of each edge (sorted receivers by default).
    num_segments: number of segments N.
    mask: bool [E] edges that take part, or None for all.
    indices_are_sorted: whether segment_ids are sorted (faster when so).

  Returns:
    float [E, ...] weights summing to 1 over each segment's unmasked edges.
  """
  if mask is not None:
    mask = mask.reshape(mask.shape + (1,) * (logits.ndim - 1))
    logits = jnp.where(mask, logits, -jnp.inf)
  top = jax.ops.segment_max(logits, segment_ids, num_segments,
                            indices_are_sorted=indices_are_sorted)
  top = jnp.where(jnp.isfinite(top), top, 0.0)
  # The max is a constant shift (softmax is invariant to it): no gradient.
  e = jnp.exp(logits - jax.lax.stop_gradient(top)[segment_ids])
  if mask is not None:
    e = jnp.where(mask, e, 0.0)
  total = jax.ops.segment_sum(e, segment_ids, num_segments,
                              indices_are_sorted=indices_are_sorted)
  return e / jnp.where(total > 0, total, 1.0)[segment_ids]
