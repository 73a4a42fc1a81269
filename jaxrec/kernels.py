"""Propagation kernels and their custom VJPs: the hot path of every model.

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

The differentiable functions here take a resolved kernel name (`resolve`)
and their static arguments first, as jax.custom_vjp needs; ops.py wraps them
with keyword defaults and 'auto' kernel choice for models.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import sparse

from jaxrec.errors import ConfigError

# The device axis of the train step's pmap (train.py maps over it; the
# edge-sharded kernels of kernels_sharded.py sum over it). Defined here so
# that the kernels need not import the training loop.
AXIS = 'batch'


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


def take_rows(x: jax.Array, index: jax.Array) -> jax.Array:
  """x[index] along axis 0 for in-range indices.

  mode='clip' lowers to a plain gather; the default indexing mode guards
  every row and runs about 4x slower on XLA:CPU (measured: 119k rows x 64,
  3.6 ms vs 14 ms). Graph indices are always in range (padding edges point
  at a padding node), so clipping never changes a result.
  """
  return jnp.take(x, index, axis=0, mode='clip')


def _segment_sum_kernel(adj: Adjacency, w: jax.Array, x: jax.Array):
  """Kernel (1) by gather and sorted segment_sum."""
  msg = w.astype(x.dtype)[:, None] * take_rows(x, adj.senders)
  return jax.ops.segment_sum(msg, adj.receivers, num_segments=adj.num_nodes,
                             indices_are_sorted=True)


def _bcsr_product(data: jax.Array, indices: jax.Array, indptr: jax.Array,
                  x: jax.Array, indices_sorted: bool) -> jax.Array:
  """A @ x for the CSR matrix A = (data, indices, indptr) of shape [n, m].

  Args:
    data: [nnz] values (x's dtype).
    indices: int32 [nnz] column of each value, in [0, m).
    indptr: int32 [n + 1] row pointers.
    x: [m, ...] dense rows.
    indices_sorted: whether the columns ascend within each row.

  Returns:
    [n, ...].
  """
  a = sparse.BCSR((data, indices, indptr), shape=(indptr.shape[0] - 1,
                                                  x.shape[0]),
                  indices_sorted=indices_sorted, unique_indices=True)
  return a @ x


def _batched_bcsr_product(product, axis_size: int, in_batched, data,
                          indices, indptr, x):
  """The vmap rule of _bcsr_product: one product for the whole batch.

  BCSR's own batching rule runs a batched sparse product several times
  slower than the R products one after the other (measured: 4 runs of a
  49k-edge propagation, 0.10 s against 0.05 s). Instead, a matrix shared by
  the batch multiplies the batch's x side by side ([m, R * d]: one product,
  ~6x faster than R), and batched matrices become one block-diagonal
  matrix (run r's rows and columns offset by r * n and r * m), as jraph
  batches graphs. Each output element sums the same terms in the same
  order as the unbatched product, so the results are bit-identical.
  `product` is the custom_vmap function itself, so nested vmaps (GRCN's
  modalities inside stacked runs) flatten the same way.
  """
  r = axis_size
  data_b, indices_b, indptr_b, x_b = in_batched
  if not x_b:
    x = jnp.broadcast_to(x, (r, *x.shape))
  data, indices, indptr = (
      v if b else jnp.broadcast_to(v, (r, *v.shape))
      for v, b in ((data, data_b), (indices, indices_b), (indptr, indptr_b)))
  n, m, nnz = indptr.shape[1] - 1, x.shape[1], indices.shape[1]
  runs = jnp.arange(r, dtype=indices.dtype)[:, None]
  block_indices = (indices + runs * m).reshape(-1)
  block_indptr = jnp.concatenate([indptr[0, :1],
                                  (indptr[:, 1:] + runs * nnz).reshape(-1)])
  out = product(data.reshape(-1), block_indices, block_indptr,
                x.reshape(r * m, *x.shape[2:]))
  return out.reshape(r, n, *x.shape[2:]), True


def _make_csr_product(indices_sorted: bool):
  """_bcsr_product with its fast vmap rule (stacked runs vmap every layer)."""
  product = jax.custom_batching.custom_vmap(
      lambda data, indices, indptr, x: _bcsr_product(
          data, indices, indptr, x, indices_sorted))
  product.def_vmap(lambda *args: _batched_bcsr_product(product, *args))
  return product


# A @ x for CSR matrices with sorted / unsorted columns in each row.
_csr_product_sorted = _make_csr_product(True)
csr_product_unsorted = _make_csr_product(False)


def _csr_kernel(adj: Adjacency, w: jax.Array, x: jax.Array):
  """Kernel (1) as a BCSR sparse-dense product (native CSR kernel on CPU)."""
  return _csr_product_sorted(w.astype(x.dtype), adj.senders, adj.indptr, x)


# Kernel (1) by name: (adj, weights [E], x [N, d]) -> [N, d], no custom VJP.
KERNELS: dict[str, Callable[[Adjacency, jax.Array, jax.Array], jax.Array]] = {
    'segment_sum': _segment_sum_kernel,
    'csr': _csr_kernel,
}
# The values of config.model.propagation: 'auto' (default_impl) or a kernel.
PROPAGATIONS = ('auto', *KERNELS)


def default_impl(backend: str | None = None) -> str:
  """The kernel measured fastest on a backend (benchmarks/propagation.py)."""
  backend = backend or jax.default_backend()
  # CPU: the native CSR kernel wins by ~10x. GPU/TPU: BCSR lowers to the
  # generic gather/scatter there unless cuSPARSE lowering is switched on, so
  # the plain segment_sum (which XLA fuses) is the safe default.
  return 'csr' if backend == 'cpu' else 'segment_sum'


def resolve(impl: str) -> str:
  """A key of KERNELS for config.model.propagation ('auto' or a key)."""
  impl = default_impl() if impl == 'auto' else impl
  if impl not in KERNELS:
    raise ConfigError(f'Unknown propagation impl {impl!r} (config.model.'
                      f"propagation); choose 'auto' or one of "
                      f'{sorted(KERNELS)}.')
  return impl


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
    return csr_product_unsorted(jnp.ones(g.shape[0], g.dtype), cols,
                                 adj.indptr, g)
  ids = adj.receivers if at == 'receivers' else adj.senders
  return jax.ops.segment_sum(g, ids, adj.num_nodes,
                             indices_are_sorted=at == 'receivers')


def make_gather(edges_to_nodes: Callable[..., jax.Array]):
  """gather(at, adj, x, impl) = x[adj.<at>] with a custom VJP whose backward
  is edges_to_nodes(adj, g, at, impl) (kernels_sharded passes its own, for
  a device's edges)."""

  @functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
  def gather(at: str, adj, x: jax.Array, impl: str) -> jax.Array:
    del impl  # The backward's kernel.
    return take_rows(x, getattr(adj, at))

  def fwd(at, adj, x, impl):
    del impl
    return take_rows(x, getattr(adj, at)), adj

  def bwd(at, impl, adj, g):
    return None, edges_to_nodes(adj, g, at, impl)

  gather.defvjp(fwd, bwd)
  return gather


# x[adj.<at>]: float [N, ...] -> [E, ...]; backward by kernel `impl`.
gather = make_gather(_edges_to_nodes)


# Edges per chunk of a CPU edge_dot: the [chunk, d] intermediates stay in
# cache (4096 x 64 floats = 1 MiB) instead of streaming [E, d] through memory
# (4096 measured best of 2048-16384 on a GRCN step).
EDGE_CHUNK = 4096


def edge_dot_value(adj: Adjacency, x: jax.Array, y: jax.Array,
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
def edge_dot(impl: str, adj: Adjacency, x: jax.Array, y: jax.Array):
  """<x[t], y[s]> per edge s->t: x, y float [N, d] -> [E]."""
  return edge_dot_value(adj, x, y, impl)


def _edge_dot_fwd(impl, adj, x, y):
  return edge_dot_value(adj, x, y, impl), (adj, x, y)


def _edge_dot_bwd(impl, residuals, g):
  adj, x, y = residuals
  # Both gradients are propagations with the edge cotangents as weights:
  # dx[t] = sum_{s->t} g y[s] and dy[s] = sum_{s->t} g x[t], the latter
  # through the reverse edges. Autodiff would instead build two [E, d]
  # products and scatter them (several times slower on CPU).
  dx = KERNELS[impl](adj, g.astype(y.dtype), y)
  dy = KERNELS[impl](adj, take_rows(g, adj.reverse).astype(x.dtype), x)
  return None, dx, dy


edge_dot.defvjp(_edge_dot_fwd, _edge_dot_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def propagate(impl: str, symmetric: bool, adj: Adjacency, w: jax.Array,
              x: jax.Array):
  """Kernel (1): w float [E], x float [N, d] -> [N, d], reverse-edge VJP."""
  return KERNELS[impl](adj, w, x)


def _propagate_fwd(impl, symmetric, adj, w, x):
  return KERNELS[impl](adj, w, x), (adj, w, x)


def _propagate_bwd(impl, symmetric, residuals, g):
  adj, w, x = residuals
  # d/dx: A^T g, the same structure with the reverse edges' weights (which
  # are the weights themselves when A is symmetric: no gather needed).
  dx = KERNELS[impl](adj, w if symmetric else take_rows(w, adj.reverse), g)
  # d/dw(s->t) = <g[t], x[s]>; dead code unless the weights are trained.
  dw = edge_dot_value(adj, g, x, impl).astype(w.dtype)
  return None, dw, dx


propagate.defvjp(_propagate_fwd, _propagate_bwd)


def layer_mean_value(product: Callable[[jax.Array], jax.Array], x: jax.Array,
                     num_layers: int) -> jax.Array:
  """mean_{k=0..K} A^k x by K calls of product (h -> A h); kernels_sharded
  passes a product that sums the devices' parts."""
  total, h = x, x
  for _ in range(num_layers):
    h = product(h)
    total = total + h
  return total / (num_layers + 1)


def _layer_mean_value(impl: str, adj: Adjacency, weights: jax.Array,
                      x: jax.Array, num_layers: int) -> jax.Array:
  """mean_{k=0..K} A^k x by K propagations."""
  return layer_mean_value(lambda h: KERNELS[impl](adj, weights, h), x,
                          num_layers)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def layer_mean(impl, adj, weights, x, num_layers, symmetric):
  """mean_{k=0..K} A^k x: x float [N, d] -> [N, d]; weights get no gradient."""
  del symmetric
  return _layer_mean_value(impl, adj, weights, x, num_layers)


def _layer_mean_fwd(impl, adj, weights, x, num_layers, symmetric):
  del symmetric
  # A linear map keeps no activations: the backward needs the graph only.
  return _layer_mean_value(impl, adj, weights, x, num_layers), (adj, weights)


def _layer_mean_bwd(impl, num_layers, symmetric, residuals, g):
  adj, weights = residuals
  # The stack is sum_k A^k / (K + 1); its transpose is sum_k (A^T)^k / (K + 1),
  # the same K propagations with the reverse edges' weights. With A
  # symmetric those are the weights themselves (and autodiff of the layer
  # loop would make twice the additions).
  if not symmetric:
    weights = take_rows(weights, adj.reverse)
  return None, None, _layer_mean_value(impl, adj, weights, g, num_layers)


layer_mean.defvjp(_layer_mean_fwd, _layer_mean_bwd)
