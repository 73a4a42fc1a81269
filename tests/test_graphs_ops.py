"""Graph construction and propagation against dense references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import graphs
from jaxrec import kernels
from jaxrec import ops

IMPLS = sorted(kernels.KERNELS)


def _tiny_bipartite():
  # 3 users, 4 items; user 2 has a single item, item 3 is isolated.
  users = np.array([0, 0, 1, 1, 1, 2])
  items = np.array([0, 1, 0, 1, 2, 2])
  return users, items, 3, 4


def _dense(graph, weights=None):
  """Dense A with A[t, s] = w(s->t) over the padded node set."""
  n = graph.nodes['in_edges'].shape[0]
  w = graph.edges['weight'] if weights is None else weights
  a = np.zeros((n, n), np.float64)
  np.add.at(a, (graph.receivers, graph.senders), np.asarray(w, np.float64))
  return a


def test_bipartite_structure_and_normalisation():
  users, items, nu, ni = _tiny_bipartite()
  g = graphs.bipartite(users, items, nu, ni)
  n_real = nu + ni
  mask = graphs.edge_mask(g)
  assert mask.sum() == 2 * len(users)
  # Sorted by receiver; every edge's reverse is its mirror image.
  assert np.all(np.diff(g.receivers) >= 0)
  r = g.edges['reverse']
  assert np.array_equal(g.senders[r], g.receivers)
  assert np.array_equal(g.receivers[r], g.senders)
  assert np.array_equal(r[r], np.arange(len(r)))
  # Closed form: w(u -> i) = 1 / sqrt(deg u * deg i).
  deg_u = np.bincount(users, minlength=nu)
  deg_i = np.bincount(items, minlength=ni)
  a = _dense(g)[:n_real, :n_real]
  want = np.zeros((n_real, n_real))
  for u, i in zip(users, items):
    want[nu + i, u] = want[u, nu + i] = 1 / np.sqrt(deg_u[u] * deg_i[i])
  np.testing.assert_allclose(a, want, rtol=1e-6)
  # Padding edges are inert: weight 0, self loops on the first padding node.
  assert np.all(g.edges['weight'][~mask] == 0)
  assert np.all(g.senders[~mask] == n_real)
  assert np.all(g.receivers[~mask] == n_real)
  assert graphs.node_mask(g).sum() == n_real
  # in_edges is the CSR row length.
  np.testing.assert_array_equal(
      g.nodes['in_edges'], np.bincount(g.receivers, minlength=len(g.nodes['in_edges'])))


def test_bucket_bounds_waste():
  for n in [1, 100, 129, 1000, 12345, 1_600_000, 10_000_001]:
    b = graphs.bucket(n)
    assert b >= n
    assert b <= max(128, n * 1.125 + 1)
  # Nearby sizes share a bucket (one compile serves several folds).
  assert graphs.bucket(1_600_000) == graphs.bucket(1_610_000)


def _random_graph(rng, nu=30, ni=40, e=200):
  pairs = np.unique(rng.integers(0, [nu, ni], size=(e, 2)), axis=0)
  return graphs.bipartite(pairs[:, 0], pairs[:, 1], nu, ni)


@pytest.mark.parametrize('impl', IMPLS)
def test_propagate_equals_dense(impl):
  rng = np.random.default_rng(0)
  g = _random_graph(rng)
  n = g.nodes['in_edges'].shape[0]
  x = rng.normal(size=(n, 5)).astype(np.float32)
  adj = ops.adjacency(g)
  y = jax.jit(ops.propagate, static_argnums=3)(adj, g.edges['weight'], x, impl)
  np.testing.assert_allclose(y, _dense(g) @ x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('impl', IMPLS)
def test_propagate_gradients_equal_dense(impl):
  """Custom VJP (reverse-edge trick) equals autodiff of the dense product."""
  rng = np.random.default_rng(1)
  g = _random_graph(rng)
  n = g.nodes['in_edges'].shape[0]
  adj = ops.adjacency(g)
  senders, receivers = jnp.asarray(g.senders), jnp.asarray(g.receivers)
  # Asymmetric weights so that using A instead of A^T would be caught.
  w = jnp.asarray(rng.uniform(0.1, 1.0, size=g.senders.shape), jnp.float32)
  x = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
  probe = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)

  def sparse_loss(w, x):
    return jnp.sum(jnp.tanh(ops.propagate(adj, w, x, impl)) * probe)

  def dense_loss(w, x):
    a = jnp.zeros((n, n)).at[receivers, senders].add(w)
    return jnp.sum(jnp.tanh(a @ x) * probe)

  got = jax.grad(sparse_loss, argnums=(0, 1))(w, x)
  want = jax.grad(dense_loss, argnums=(0, 1))(w, x)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('impl', IMPLS)
def test_symmetric_shortcut_gives_the_same_gradient(impl):
  rng = np.random.default_rng(4)
  g = _random_graph(rng)
  n = g.nodes['in_edges'].shape[0]
  adj = ops.adjacency(g)
  x = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
  w = jnp.asarray(g.edges['weight'])
  grads = [jax.grad(lambda x, s=s: jnp.sum(jnp.sin(
      ops.propagate(adj, w, x, impl, symmetric=s))))(x) for s in (False, True)]
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('impl', IMPLS)
def test_lightgcn_stack_equals_dense_mean_of_powers(impl):
  rng = np.random.default_rng(2)
  g = _random_graph(rng)
  n = g.nodes['in_edges'].shape[0]
  x = rng.normal(size=(n, 4)).astype(np.float32)
  a = _dense(g)
  want = (x + a @ x + a @ a @ x + a @ a @ a @ x) / 4
  got = ops.lightgcn(ops.adjacency(g), g.edges['weight'], x, 3, impl)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      ops.lightgcn(ops.adjacency(g), g.edges['weight'], x, 0, impl), x)
  # Its gradient (a custom VJP: the same stack on the cotangent) equals
  # autodiff of the dense reference.
  y = rng.normal(size=x.shape).astype(np.float32)
  grad = jax.grad(lambda v: jnp.sum(jnp.tanh(ops.lightgcn(
      ops.adjacency(g), g.edges['weight'], v, 3, impl)) * y))(x)
  a32 = jnp.asarray(a, jnp.float32)
  want_grad = jax.grad(lambda v: jnp.sum(jnp.tanh(
      (v + a32 @ v + a32 @ a32 @ v + a32 @ a32 @ a32 @ v) / 4) * y))(x)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)


def test_unknown_impl_is_a_clear_error():
  g = _random_graph(np.random.default_rng(3))
  with pytest.raises(ValueError, match='segment_sum'):
    ops.propagate(ops.adjacency(g), g.edges['weight'],
                  np.zeros((g.nodes['in_edges'].shape[0], 2), np.float32), 'cusparse')


def test_segment_softmax_against_numpy_with_mask():
  rng = np.random.default_rng(5)
  seg = np.array([0, 0, 0, 1, 1, 3, 3])
  logits = rng.normal(size=(7, 2)).astype(np.float32)
  mask = np.array([True, True, False, True, True, False, False])
  got = np.asarray(ops.segment_softmax(jnp.asarray(logits), jnp.asarray(seg),
                                       4, jnp.asarray(mask)))
  want = np.zeros_like(logits)
  for s in range(4):
    rows = np.flatnonzero((seg == s) & mask)
    if len(rows):
      e = np.exp(logits[rows] - logits[rows].max(0))
      want[rows] = e / e.sum(0)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert np.all(got[~mask] == 0) and np.all(np.isfinite(got))
  # Gradients stay finite with fully masked segments.
  grad = jax.grad(lambda l: jnp.sum(ops.segment_softmax(
      l, jnp.asarray(seg), 4, jnp.asarray(mask)) ** 2))(jnp.asarray(logits))
  assert np.all(np.isfinite(grad))


def test_edge_mask_marks_real_edges():
  g = _random_graph(np.random.default_rng(6))
  np.testing.assert_array_equal(jax.jit(ops.edge_mask)(g), graphs.edge_mask(g))


@pytest.mark.parametrize('impl', IMPLS)
def test_edge_dot_and_gather_gradients_equal_autodiff(impl):
  rng = np.random.default_rng(7)
  g = _random_graph(rng)
  adj = ops.adjacency(g)
  n = g.nodes['in_edges'].shape[0]
  x = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
  y = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
  probe = jnp.asarray(rng.normal(size=g.senders.shape), jnp.float32)
  r, s = jnp.asarray(g.receivers), jnp.asarray(g.senders)

  got = jax.grad(lambda x, y: jnp.sum(jnp.tanh(ops.edge_dot(adj, x, y, impl))
                                      * probe), argnums=(0, 1))(x, y)
  want = jax.grad(lambda x, y: jnp.sum(jnp.tanh(jnp.sum(x[r] * y[s], -1))
                                       * probe), argnums=(0, 1))(x, y)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  for at, idx in (('receivers', r), ('senders', s)):
    got = jax.grad(lambda x: jnp.sum(jnp.tanh(ops.gather(adj, x, at, impl))
                                     * probe[:, None]))(x)
    want = jax.grad(lambda x: jnp.sum(jnp.tanh(x[idx]) * probe[:, None]))(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_chunked_edge_dot_equals_one_pass(monkeypatch):
  """The CPU path splits edges into chunks; results and gradients agree."""
  rng = np.random.default_rng(8)
  g = _random_graph(rng, e=300)
  adj = ops.adjacency(g)
  n = g.nodes['in_edges'].shape[0]
  x = jnp.asarray(rng.normal(size=(n, 4)), jnp.float32)
  y = jnp.asarray(rng.normal(size=(n, 4)), jnp.float32)
  loss = lambda x, y: jnp.sum(jnp.sin(ops.edge_dot(adj, x, y, 'csr')))
  want = ops.edge_dot(adj, x, y, 'segment_sum')
  want_grad = jax.grad(loss, argnums=(0, 1))(x, y)
  monkeypatch.setattr(kernels, 'EDGE_CHUNK', 64)
  assert g.senders.shape[0] % 64 == 0 and g.senders.shape[0] > 64
  np.testing.assert_allclose(jax.jit(lambda x, y: ops.edge_dot(
      adj, x, y, 'csr'))(x, y), want, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.grad(loss, argnums=(0, 1))(x, y), want_grad):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_chunked_weight_gradient_equals_dense(monkeypatch):
  monkeypatch.setattr(kernels, 'EDGE_CHUNK', 64)
  test_propagate_gradients_equal_dense('csr')
