"""Edge-sharded graphs (config.shard_graph): partition, kernels, train step.

The partition tests are numpy on tiny graphs. The kernel tests emulate D
devices in this process with jax.vmap(axis_name=AXIS): its psum is the
pmap's, so every sharded operation and its custom VJP run as on D devices,
on one. The train-step test runs the real pmap on 2 fake CPU devices in a
subprocess, as tests/test_train.py does.
"""

import os
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fake_devices
from jaxrec import graph_shards
from jaxrec import graphs
from jaxrec import kernels
from jaxrec import ops
from jaxrec import stacked_step
from jaxrec import tasks
from jaxrec.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _random_bipartite(seed=0, users=30, items=20, ratings=150):
  rng = np.random.default_rng(seed)
  pairs = np.unique(np.stack([rng.integers(0, users, ratings),
                              rng.integers(0, items, ratings)], 1), axis=0)
  return pairs[:, 0], pairs[:, 1], users, items


def _real_edges(graph, shard=None):
  """{(sender, receiver): weight} of a graph's (or one shard's) real edges."""
  take = (lambda x: np.asarray(x)) if shard is None else (
      lambda x: np.asarray(x)[shard])
  real = int(take(graph.n_edge)[0])
  s, r = take(graph.senders)[:real], take(graph.receivers)[:real]
  w = take(graph.edges['weight'])[:real]
  return {(int(a), int(b)): float(c) for a, b, c in zip(s, r, w)}


@pytest.mark.parametrize('num_shards', [1, 2, 3, 5])
def test_every_edge_lands_on_exactly_one_shard(num_shards):
  g = graphs.bipartite(*_random_bipartite())
  sg = graph_shards.shard_graph(g, num_shards)
  pad_node = int(g.n_node[0])
  e_s = sg.senders.shape[1]
  seen = {}
  for d in range(num_shards):
    edges = _real_edges(sg, d)
    assert not set(edges) & set(seen)  # No edge on two shards.
    seen.update(edges)
    real = int(sg.n_edge[d, 0])
    assert real + int(sg.n_edge[d, 1]) == e_s
    r = sg.receivers[d]
    assert np.all(np.diff(r) >= 0)  # CSR order, padding last.
    # Padding as graphs.py pads: self loops on the first padding node,
    # weight 0.
    assert np.all(sg.senders[d, real:] == pad_node)
    assert np.all(r[real:] == pad_node)
    assert np.all(sg.edges['weight'][d, real:] == 0)
    # Degrees are the shard's; the transpose lists the shard's edges by
    # (sender, receiver).
    n_pad = len(g.nodes['in_edges'])
    np.testing.assert_array_equal(sg.nodes['in_edges'][d],
                                  np.bincount(r, minlength=n_pad))
    np.testing.assert_array_equal(sg.nodes['out_edges'][d],
                                  np.bincount(sg.senders[d], minlength=n_pad))
    order = sg.edges['t_order'][d]
    np.testing.assert_array_equal(sg.edges['t_rows'][d], sg.senders[d][order])
    np.testing.assert_array_equal(sg.edges['t_cols'][d], r[order])
    keys = sg.edges['t_rows'][d].astype(np.int64) * n_pad + r[order]
    assert np.all(np.diff(keys) >= 0)
    # 'pair' names the undirected edge in the unsharded graph.
    pair = sg.edges['pair'][d, :real]
    ends = lambda i: {(int(g.senders[i]), int(g.receivers[i]))}
    for k in range(real):
      edge = (int(sg.senders[d, k]), int(sg.receivers[d, k]))
      assert edge in ends(pair[k]) | {edge[::-1] for edge in ends(pair[k])}
      assert pair[k] <= g.edges['reverse'][pair[k]]
  assert seen == _real_edges(g)
  # Receiver blocks: a node's incoming edges are all on one shard.
  owner = {}
  for d in range(num_shards):
    for (_, t) in _real_edges(sg, d):
      assert owner.setdefault(t, d) == d


def test_receiver_blocks_balance():
  # Equal in-degrees: cuts at exact quarters.
  np.testing.assert_array_equal(
      graph_shards.receiver_blocks(np.ones(8, int), 4), [0, 2, 4, 6, 8])
  # Heavy nodes: of the boundaries around E/2 = 6 (5 edges before node 2,
  # 8 before node 3), the nearer one.
  np.testing.assert_array_equal(
      graph_shards.receiver_blocks(np.array([1, 4, 3, 1, 1, 1, 1]), 2),
      [0, 2, 7])
  # Balance within one node's in-degree of E / D on a random graph.
  g = graphs.bipartite(*_random_bipartite(seed=1, ratings=400))
  for d in (2, 3, 4):
    b = graph_shards.balance(graph_shards.shard_graph(g, d))
    mean = np.mean(b['edges_per_shard'])
    assert max(abs(e - mean) for e in b['edges_per_shard']) <= (
        g.nodes['in_edges'][:int(g.n_node[0])].max())


def test_inputs_shard_every_graph_and_nothing_else():
  g = graphs.bipartite(*_random_bipartite())
  features = np.ones((3, 2), np.float32)
  inputs = {'graphs': (g, g), 'features': features}
  sharded, axes = graph_shards.shard_inputs(inputs, 2)
  assert axes['features'] is None
  assert sharded['features'] is features
  for graph, ax in zip(sharded['graphs'], axes['graphs']):
    assert graph_shards.is_sharded(graph)
    assert ax.senders == 0 and ax.n_node is None
    assert ax.nodes == {'in_edges': 0, 'out_edges': 0}
  # A multi-process run feeds only its own devices' shards.
  local, _ = graph_shards.step_inputs(inputs, 2, rows=lambda x: x[1:])
  assert local['graphs'][0].senders.shape[0] == 1
  np.testing.assert_array_equal(local['graphs'][0].senders[0],
                                sharded['graphs'][0].senders[1])


def _every_op(impl, graph, x, scale, share):
  """A loss that runs every sharded operation; `share` is this device's
  part of the node-level terms (the parts sum to 1), as each device's
  batch shard is its part of the global loss."""
  adj = ops.adjacency(graph)
  mask = ops.edge_mask(graph)
  keep = ops.undirected_uniform(graph, jax.random.key(0)) > 0.2
  # Directed weights (w(s->t) != w(t->s)) test the transposed backward.
  w = graph.edges['weight'] * scale * (adj.senders % 3 + 1)
  y = ops.lightgcn(adj, graph.edges['weight'], x, 2, impl)
  z = ops.propagate(adj, jnp.where(keep, w, 0.0), y, impl)
  logits = ops.edge_dot(adj, z, x, impl)
  alpha = ops.segment_softmax(logits, adj.receivers, adj.num_nodes, mask)
  out = ops.propagate(adj, alpha, z, impl)
  at_senders = ops.gather(adj, out, 'senders', impl)[:, 0]
  at_receivers = ops.gather(adj, x, 'receivers', impl)[:, 1]
  edge_terms = jnp.sum(jnp.where(mask, at_senders * at_receivers, 0.0))
  return share * jnp.sum(jnp.sin(out)) + edge_terms


@pytest.mark.parametrize('impl', sorted(kernels.KERNELS))
def test_sharded_ops_and_gradients_equal_the_whole_graph(impl):
  g = graphs.bipartite(*_random_bipartite())
  x = jnp.asarray(np.random.default_rng(2).normal(
      size=(len(g.nodes['in_edges']), 4)), jnp.float32)
  grad = jax.value_and_grad(_every_op, argnums=(2, 3))
  want, (want_x, want_scale) = jax.jit(grad, static_argnums=0)(
      impl, g, x, 1.0, 1.0)
  shares = jnp.array([0.5, 0.3, 0.2])
  sg, axes = graph_shards.shard_inputs(g, len(shares))

  def device(graph, share):  # What one device of the train step does.
    value, grads = grad(impl, graph, x, 1.0, share)
    return jax.lax.psum((value, grads), kernels.AXIS)

  got, (got_x, got_scale) = jax.jit(jax.vmap(
      device, in_axes=(axes, 0), axis_name=kernels.AXIS))(sg, shares)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  np.testing.assert_allclose(got_x[0], want_x, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got_scale[0], want_scale, rtol=1e-5)


def test_stacked_runs_refuse_shard_graph(smoke_config):
  smoke_config.shard_graph = True
  with pytest.raises(ConfigError, match='shard_graph'):
    stacked_step.make_step(tasks.build(smoke_config), False)


_TRAIN = textwrap.dedent('''
    import sys
    import jax
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', 2)
    import numpy as np
    sys.path.insert(0, {repo!r})
    from configs import (gcn_copurchase_toy, grcn_movielens,
                         lightgcn_synthetic, pane_gnn_synthetic,
                         siren_synthetic)
    from jaxrec import graph_shards, tasks, train, train_state

    def config(module, arg, **model):
      c = module.get_config(arg)
      c.unlock()
      c.model.update(model)
      return c

    CONFIGS = {{
        'lightgcn': config(lightgcn_synthetic, 'smoke'),
        'siren': config(siren_synthetic, 'smoke'),
        # The authors' G_d: directed removal, asymmetric weights.
        'pane_gnn': config(pane_gnn_synthetic, 'reference,smoke'),
        # Edge dropout and the paper's routing use the sharded draws and
        # propagations too.
        'grcn': config(grcn_movielens, 'smoke', edge_dropout=0.2,
                       routing='paper'),
        'gcn_link': config(gcn_copurchase_toy, 'smoke'),
    }}

    def rel(a, b):
      a, b = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])
              for t in (a, b))
      return float(np.linalg.norm(a - b) / np.linalg.norm(a))

    for name, c in CONFIGS.items():
      task = tasks.build(c)
      batches = task.kind.batches(task, 2)
      runs = []
      for devices in (1, 2):  # 1: the whole graph; 2: edge-sharded.
        if devices == 1:
          inputs, axes = jax.device_put(task.inputs), None
        else:
          inputs, axes = graph_shards.step_inputs(task.inputs, devices)
        step = train.make_step(task, axes)
        state = train.replicate(train_state.create(task, c.seed), devices)
        losses = []
        for s in range({steps}):
          batch = batches.batch(*divmod(s, batches.steps_per_epoch))
          state, loss = step(state, inputs, train.shard(batch, devices), s)
          losses.append(float(loss))
          if s == 0:  # Adam's first moment: 0.1 x the first gradient.
            grad = jax.device_get(state.opt_state[0].mu)
        runs.append((losses, grad, jax.device_get(state.params)))
      (l1, g1, p1), (l2, g2, p2) = runs
      loss_rel = max(abs(a - b) / abs(a) for a, b in zip(l1, l2))
      print('RESULT', name, loss_rel, rel(g1, g2), rel(p1, p2), flush=True)
''')

# XLA:CPU code generation without optimisation: several times faster to
# compile (as tests/test_kernel_parity.py), the same arithmetic either way.
_FAST_COMPILE = ('--xla_backend_optimization_level=0 '
                 '--xla_llvm_disable_expensive_passes=true '
                 '--xla_cpu_use_fusion_emitters=false')


def test_two_sharded_devices_match_one_device():
  """Edge-sharded on 2 fake CPU devices = the whole graph on 1 device.

  Per model: the loss of every step, the first gradient and the parameters
  after 2 Adam steps, each within 1e-6 relative (norms over all leaves).
  What differs is float32 summation order (psums, batch halves); the
  unsharded 2-device step differs from 1 device by the same ~1e-7 to 5e-7
  (measured), Adam's eps amplifying it in near-zero gradients.
  Runs in a subprocess that retries an abort (exit 134) of XLA:CPU
  collectives on 2-core machines, as test_two_devices_match_one_device.
  """
  proc = fake_devices.run_python(_TRAIN.format(repo=REPO, steps=2),
                                 _FAST_COMPILE)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = [line.split()[1:] for line in proc.stdout.splitlines()
             if line.startswith('RESULT')]
  assert [r[0] for r in results] == ['lightgcn', 'siren', 'pane_gnn', 'grcn',
                                     'gcn_link']
  for name, *errors in results:
    assert all(float(e) < 1e-6 for e in errors), (name, errors)
