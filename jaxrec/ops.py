"""Propagation primitives: the hot path of every model.

The one primitive is the weighted neighbour sum

    out[t] = sum over edges s->t of w(s->t) * x[s]            (1)

i.e. the sparse product A @ x with A[t, s] = w(s->t). Two kernels compute it:

  'segment_sum': gather x[senders], scale, `segment_sum` over the sorted
      receivers. Portable; XLA fuses it well on GPU/TPU.
  'csr': the edge list read as a CSR matrix (rows = receivers; graphs.py
      sorts edges by receiver) multiplied by `jax.experimental.sparse.BCSR`.
      On CPU this lowers to a native CSR kernel, many times faster than the
      gather + scatter (benchmarks/propagation.py measures it).

Both share one custom VJP. Autodiff of either kernel would scatter into
senders in arbitrary order (slow); instead the gradient with respect to x is
A^T @ g, which is the same CSR structure with the weights of the reverse
edges (graphs.py stores `reverse`), so the backward pass is one more call of
the same fast kernel. The gradient with respect to the weights,
<g[t], x[s]> per edge, is computed only when something uses it (XLA drops it
otherwise).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jraph
from jax.experimental import sparse

from jaxrec.errors import ConfigError


class Adjacency(NamedTuple):
  """The structure of a sorted, symmetric, padded graph, as device arrays.

  Attributes:
    senders: int32 [E] source node of each edge.
    receivers: int32 [E] target node, sorted ascending.
    reverse: int32 [E] index of the reverse edge.
    indptr: int32 [N + 1] CSR row pointers: edges into node t are
      indptr[t]:indptr[t + 1].
  """

  senders: jax.Array
  receivers: jax.Array
  reverse: jax.Array
  indptr: jax.Array

  @property
  def num_nodes(self) -> int:
    return self.indptr.shape[0] - 1


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


def take_rows(x: jax.Array, index: jax.Array) -> jax.Array:
  """x[index] along axis 0 for in-range indices.

  mode='clip' lowers to a plain gather; the default indexing mode guards
  every row and runs about 4x slower on XLA:CPU (measured: 119k rows x 64,
  3.6 ms vs 14 ms). Graph indices are always in range (padding edges point
  at a padding node), so clipping never changes a result.
  """
  return jnp.take(x, index, axis=0, mode='clip')


def _edges_to_nodes(adj: Adjacency, g: jax.Array, at: str,
                    impl: str) -> jax.Array:
  """Sums edge rows onto their receiver (at='receivers') or sender node.

  The transpose of gathering node rows onto edges. XLA:CPU's scatter-add
  for it is slow (84 ms for 98k edges x 64); the same sum is a CSR product:
  row n holds the edges into n (columns: the edges themselves), or, for
  senders, their reverse edges (the edges out of n).
  """
  if impl == 'csr':
    cols = (jnp.arange(g.shape[0], dtype=jnp.int32) if at == 'receivers'
            else adj.reverse)
    a = sparse.BCSR((jnp.ones(g.shape[0], g.dtype), cols, adj.indptr),
                    shape=(adj.num_nodes, g.shape[0]), indices_sorted=False,
                    unique_indices=True)
    return a @ g
  ids = adj.receivers if at == 'receivers' else adj.senders
  return jax.ops.segment_sum(g, ids, adj.num_nodes,
                             indices_are_sorted=at == 'receivers')


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def _gather(at: str, adj: Adjacency, x: jax.Array, impl: str) -> jax.Array:
  return take_rows(x, getattr(adj, at))


def _gather_fwd(at, adj, x, impl):
  return take_rows(x, getattr(adj, at)), adj


def _gather_bwd(at, impl, adj, g):
  return None, _edges_to_nodes(adj, g, at, impl)


_gather.defvjp(_gather_fwd, _gather_bwd)


def gather(adj: Adjacency, x: jax.Array, at: str,
           impl: str = 'auto') -> jax.Array:
  """Node rows onto edges: x[receivers] or x[senders], with a fast backward.

  Args:
    adj: Adjacency of the graph.
    x: float [N, ...] node values.
    at: 'receivers' or 'senders'.
    impl: kernel of the backward sum ('csr' or 'segment_sum', see below).

  Returns:
    float [E, ...].
  """
  if at not in ('receivers', 'senders'):
    raise ValueError(f"at must be 'receivers' or 'senders', got {at!r}.")
  return _gather(at, adj, x, _resolve(impl))


# Edges per chunk of a CPU edge_dot: the [chunk, d] intermediates stay in
# cache (4096 x 64 floats = 1 MiB) instead of streaming [E, d] through memory
# (4096 measured best of 2048-16384 on a GRCN step).
EDGE_CHUNK = 4096


def _edge_dot_value(adj: Adjacency, x: jax.Array, y: jax.Array,
                    impl: str) -> jax.Array:
  """<x[t], y[s]> per edge, as gathers and a matrix-vector product.

  The row sum is a product with a ones vector: XLA:CPU runs a fused
  gather-multiply-row-sum loop ~5x slower. On CPU ('csr') the edges go in
  chunks (lax.map), 2-3x faster than one pass over all edges at 123k edges
  x 64 (measured in a GRCN step); accelerators take one pass.
  """
  ones = jnp.ones(x.shape[-1], x.dtype)

  def dots(receivers, senders):
    return (take_rows(x, receivers) * take_rows(y, senders)) @ ones

  e = adj.receivers.shape[0]
  chunk = math.gcd(e, EDGE_CHUNK)  # E is a bucket size: a power-of-2 multiple
  if impl != 'csr' or chunk == e:
    return dots(adj.receivers, adj.senders)
  out = jax.lax.map(lambda rs: dots(*rs), (adj.receivers.reshape(-1, chunk),
                                           adj.senders.reshape(-1, chunk)))
  return out.reshape(e)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _edge_dot(impl: str, adj: Adjacency, x: jax.Array, y: jax.Array):
  return _edge_dot_value(adj, x, y, impl)


def _edge_dot_fwd(impl, adj, x, y):
  return _edge_dot_value(adj, x, y, impl), (adj, x, y)


def _edge_dot_bwd(impl, residuals, g):
  adj, x, y = residuals
  # Both gradients are propagations with the edge cotangents as weights:
  # dx[t] = sum_{s->t} g y[s] and dy[s] = sum_{s->t} g x[t], the latter
  # through the reverse edges. Autodiff would instead build two [E, d]
  # products and scatter them (several times slower on CPU).
  dx = KERNELS[impl](adj, g.astype(y.dtype), y)
  dy = KERNELS[impl](adj, take_rows(g, adj.reverse).astype(x.dtype), x)
  return None, dx, dy


_edge_dot.defvjp(_edge_dot_fwd, _edge_dot_bwd)


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
  return _edge_dot(_resolve(impl), adj, x, y)


def _segment_sum_kernel(adj: Adjacency, w: jax.Array, x: jax.Array):
  """Kernel (1) by gather and sorted segment_sum."""
  msg = w.astype(x.dtype)[:, None] * take_rows(x, adj.senders)
  return jax.ops.segment_sum(msg, adj.receivers, num_segments=adj.num_nodes,
                             indices_are_sorted=True)


def _csr_kernel(adj: Adjacency, w: jax.Array, x: jax.Array):
  """Kernel (1) as a BCSR sparse-dense product (native CSR kernel on CPU)."""
  n = adj.num_nodes
  a = sparse.BCSR((w.astype(x.dtype), adj.senders, adj.indptr), shape=(n, n),
                  indices_sorted=True, unique_indices=True)
  return a @ x


KERNELS: dict[str, Callable[[Adjacency, jax.Array, jax.Array], jax.Array]] = {
    'segment_sum': _segment_sum_kernel,
    'csr': _csr_kernel,
}


def default_impl(backend: str | None = None) -> str:
  """The kernel measured fastest on a backend (benchmarks/propagation.py)."""
  backend = backend or jax.default_backend()
  # CPU: the native CSR kernel wins by ~10x. GPU/TPU: BCSR lowers to the
  # generic gather/scatter there unless cuSPARSE lowering is switched on, so
  # the plain segment_sum (which XLA fuses) is the safe default.
  return 'csr' if backend == 'cpu' else 'segment_sum'


def _resolve(impl: str) -> str:
  impl = default_impl() if impl == 'auto' else impl
  if impl not in KERNELS:
    raise ConfigError(f'Unknown propagation impl {impl!r} (config.model.'
                      f"propagation); choose 'auto' or one of "
                      f'{sorted(KERNELS)}.')
  return impl


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _propagate(impl: str, symmetric: bool, adj: Adjacency, w: jax.Array,
               x: jax.Array):
  return KERNELS[impl](adj, w, x)


def _propagate_fwd(impl, symmetric, adj, w, x):
  return KERNELS[impl](adj, w, x), (adj, w, x)


def _propagate_bwd(impl, symmetric, residuals, g):
  adj, w, x = residuals
  # d/dx: A^T g, the same structure with the reverse edges' weights (which
  # are the weights themselves when A is symmetric: no gather needed).
  dx = KERNELS[impl](adj, w if symmetric else take_rows(w, adj.reverse), g)
  # d/dw(s->t) = <g[t], x[s]>; dead code unless the weights are trained.
  dw = _edge_dot_value(adj, g, x, impl).astype(w.dtype)
  return None, dw, dx


_propagate.defvjp(_propagate_fwd, _propagate_bwd)


def propagate(adj: Adjacency, weights: jax.Array, x: jax.Array,
              impl: str = 'auto', symmetric: bool = False) -> jax.Array:
  """Weighted neighbour sum out[t] = sum_{s->t} w(s->t) x[s].

  Args:
    adj: Adjacency of the graph.
    weights: float [E] per-edge weights (0 on padding edges).
    x: float [N, d] node features (N = padded node count).
    impl: 'auto', 'csr' or 'segment_sum'.
    symmetric: promise that w(s->t) == w(t->s) for every edge (true of the
      symmetric normalisation); the backward pass then skips a gather. The
      weights' own gradient is exact either way.

  Returns:
    float [N, d].
  """
  return _propagate(_resolve(impl), symmetric, adj, weights, x)


def _layer_mean(impl: str, adj: Adjacency, weights: jax.Array, x: jax.Array,
                num_layers: int) -> jax.Array:
  """mean_{k=0..K} A^k x by K propagations."""
  total, h = x, x
  for _ in range(num_layers):
    h = KERNELS[impl](adj, weights, h)
    total = total + h
  return total / (num_layers + 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def _lightgcn(impl, adj, weights, x, num_layers, symmetric):
  del symmetric
  return _layer_mean(impl, adj, weights, x, num_layers)


def _lightgcn_fwd(impl, adj, weights, x, num_layers, symmetric):
  del symmetric
  # A linear map keeps no activations: the backward needs the graph only.
  return _layer_mean(impl, adj, weights, x, num_layers), (adj, weights)


def _lightgcn_bwd(impl, num_layers, symmetric, residuals, g):
  adj, weights = residuals
  # The stack is sum_k A^k / (K + 1); its transpose is sum_k (A^T)^k / (K + 1),
  # the same K propagations with the reverse edges' weights. With A
  # symmetric those are the weights themselves (and autodiff of the layer
  # loop would make twice the additions).
  if not symmetric:
    weights = take_rows(weights, adj.reverse)
  return None, None, _layer_mean(impl, adj, weights, g, num_layers)


_lightgcn.defvjp(_lightgcn_fwd, _lightgcn_bwd)


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
  return _lightgcn(_resolve(impl), adj, weights, x, num_layers, symmetric)


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
