"""Propagation on graphs from graphs.py: the operations models call.

Each differentiable operation runs one of the kernels of kernels.py (chosen
by `impl`: 'auto' picks the fastest on the backend, see
kernels.default_impl) with its custom VJP, so the backward pass is as fast
as the forward one. Shapes: N is the padded node count, E the padded edge
count, d the feature width.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph

from jaxrec import kernels
# Part of this module's API: models take ops.Adjacency and call
# ops.take_rows; kernels.py defines them because its kernels use them.
from jaxrec.kernels import Adjacency
from jaxrec.kernels import take_rows


def adjacency(graph: jraph.GraphsTuple) -> Adjacency:
  """Adjacency of a graph from graphs.py; cheap, call it once per forward.

  Args:
    graph: padded GraphsTuple with sorted receivers, edges['reverse'] and
      nodes['in_edges'] (graphs.py builds these).

  Returns:
    The Adjacency (traceable: works on tracers inside jit).
  """
  in_edges = jnp.asarray(graph.nodes['in_edges'], jnp.int32)
  indptr = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(in_edges)])
  return Adjacency(jnp.asarray(graph.senders), jnp.asarray(graph.receivers),
                   jnp.asarray(graph.edges['reverse']), indptr.astype(jnp.int32))


def gather(adj: Adjacency, x: jax.Array, at: str,
           impl: str = 'auto') -> jax.Array:
  """Node rows onto edges: x[receivers] or x[senders], with a fast backward.

  Args:
    adj: Adjacency of the graph.
    x: float [N, ...] node values.
    at: 'receivers' or 'senders'.
    impl: kernel of the backward sum, see `propagate`.

  Returns:
    float [E, ...].
  """
  if at not in ('receivers', 'senders'):
    raise ValueError(f"at must be 'receivers' or 'senders', got {at!r}.")
  return kernels.gather(at, adj, x, kernels.resolve(impl))


def edge_dot(adj: Adjacency, x: jax.Array, y: jax.Array,
             impl: str = 'auto') -> jax.Array:
  """Per-edge dot products <x[t], y[s]> for edges s->t (an SDDMM).

  Args:
    adj: Adjacency of the graph.
    x: float [N, d] values at the receivers.
    y: float [N, d] values at the senders.
    impl: kernel of the backward propagations, see `propagate`.

  Returns:
    float [E].
  """
  return kernels.edge_dot(kernels.resolve(impl), adj, x, y)


def propagate(adj: Adjacency, weights: jax.Array, x: jax.Array,
              impl: str = 'auto', symmetric: bool = False) -> jax.Array:
  """Weighted neighbour sum out[t] = sum_{s->t} w(s->t) x[s].

  Args:
    adj: Adjacency of the graph.
    weights: float [E] per-edge weights (0 on padding edges).
    x: float [N, d] node features (N = padded node count).
    impl: 'auto', 'csr' or 'segment_sum' (see kernels.py).
    symmetric: promise that w(s->t) == w(t->s) for every edge (true of the
      symmetric normalisation); the backward pass then skips a gather. The
      weights' own gradient is exact either way.

  Returns:
    float [N, d].
  """
  return kernels.propagate(kernels.resolve(impl), symmetric, adj, weights, x)


def lightgcn(adj: Adjacency, weights: jax.Array, x: jax.Array,
             num_layers: int, impl: str = 'auto',
             symmetric: bool = True) -> jax.Array:
  """LightGCN's layer stack: mean of x, Ax, A^2 x, ..., A^K x.

  The weights are the graph's fixed normalisation, constant as for
  jax.lax.stop_gradient(weights); usually symmetric (w(s->t) == w(t->s), as
  graphs.bipartite makes them). Models that learn edge weights call
  `propagate` instead.

  Args:
    adj: Adjacency of the graph.
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
  return kernels.layer_mean(kernels.resolve(impl), adj, weights, x,
                            num_layers, symmetric)


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
  n = x.shape[0]
  padded = jnp.pad(x, ((0, graph.nodes['in_edges'].shape[0] - n), (0, 0)))
  out = lightgcn(adjacency(graph), graph.edges['weight'], padded, num_layers,
                 impl, symmetric)
  return out[:n]


def gcn_aggregate(adj: Adjacency, weights: jax.Array, self_weights: jax.Array,
                  h: jax.Array, impl: str = 'auto') -> jax.Array:
  """GCN aggregation D~^-1/2 (A + I) D~^-1/2 h (PyG GCNConv without W, b).

  The self loops are applied as a diagonal term, not as edges, so the graph
  keeps one edge list for every model.

  Args:
    adj: Adjacency of the graph.
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
  """bool [E]: True on real edges (padding edges come last, see graphs.py)."""
  return jnp.arange(graph.senders.shape[0]) < jnp.asarray(graph.n_edge)[0]


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
