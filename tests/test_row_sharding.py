"""Row-sharded tables (config.shard_tables): partition, kernels, train step.

The partition tests are numpy on tiny graphs. The kernel tests emulate D
devices in this process with jax.vmap(axis_name=AXIS), whose all_to_all,
all_gather and psum_scatter are the pmap's; the train-step test runs the
real pmap on 2 fake CPU devices in a subprocess (tests/test_edge_sharding.py
does the same for edge shards).
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
from jaxrec import row_shards
from jaxrec import stacked_step
from jaxrec import tasks
from jaxrec import train_state
from jaxrec.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _graph(seed=0, users=30, items=20, ratings=150):
  rng = np.random.default_rng(seed)
  pairs = np.unique(np.stack([rng.integers(0, users, ratings),
                              rng.integers(0, items, ratings)], 1), axis=0)
  return graphs.bipartite(pairs[:, 0], pairs[:, 1], users, items)


@pytest.mark.parametrize('num_shards', [1, 2, 3, 4])
def test_each_device_holds_the_edges_into_its_rows(num_shards):
  g = _graph()
  sg = row_shards.shard_graph(g, num_shards)
  lay = sg.globals
  real = int(g.n_edge[0])
  want = {(int(s), int(t)): float(w) for s, t, w in zip(
      g.senders[:real], g.receivers[:real], g.edges['weight'][:real])}
  assert lay.rows == -(-int(g.n_node[0]) // num_shards)
  seen = {}
  for k in range(num_shards):
    n = int(sg.n_edge[k, 0])
    pos, local = sg.senders[k], sg.receivers[k]
    # The halo position j H + h is row send[j][k][h] of device j's block.
    owner, h = pos[:n] // lay.halo, pos[:n] % lay.halo
    senders = sg.nodes['send'][owner, k, h] * num_shards + owner
    edges = {(int(s), int(t * num_shards + k)): float(w) for s, t, w in zip(
        senders, local[:n], sg.edges['weight'][k, :n])}
    assert not set(edges) & set(seen)
    seen.update(edges)
    # CSR order: rows ascending, and columns ascending within each row;
    # padding last, weight 0, on the last row.
    keys = local.astype(np.int64) * lay.num_shards * lay.halo + pos
    assert np.all(np.diff(keys) >= 0)
    assert np.all(sg.edges['weight'][k, n:] == 0)
    np.testing.assert_array_equal(sg.nodes['in_edges'][k],
                                  np.bincount(local, minlength=lay.rows))
    order = sg.edges['t_order'][k]
    np.testing.assert_array_equal(sg.edges['t_rows'][k], pos[order])
    np.testing.assert_array_equal(sg.edges['t_cols'][k], local[order])
  assert seen == want


def _loss(graph, x, c, ids, impl):
  """A loss through every row-sharded operation: layers, rows by id."""
  y = ops.lightgcn_on_graph(graph, x, 2, impl)
  # A whole graph propagates its padded nodes; a device, its rows.
  pad = ops.table_rows(graph, graph.nodes['in_edges'].shape[-1]) - len(y)
  z = ops.propagate(ops.adjacency(graph), graph.edges['weight'],
                    jnp.pad(y, ((0, pad), (0, 0))), impl)[:len(y)]
  return jnp.sum(jnp.sin(z) * c) + jnp.sum(ops.node_rows(graph, y, ids) ** 2)


@pytest.mark.parametrize('impl', sorted(kernels.KERNELS))
@pytest.mark.parametrize('num_shards', [2, 3])
def test_row_sharded_ops_and_gradients_equal_the_whole_table(impl,
                                                             num_shards):
  g = _graph()
  n = int(g.n_node[0])
  rng = np.random.default_rng(1)
  x, c = (jnp.asarray(rng.normal(size=(n, 4)), jnp.float32) for _ in '12')
  ids = jnp.asarray(rng.integers(0, n, num_shards * 5), jnp.int32)
  grad = jax.value_and_grad(_loss, argnums=1)
  want, want_x = jax.jit(grad, static_argnums=4)(g, x, c, ids, impl)
  want_y = ops.lightgcn_on_graph(g, x, 2, impl)

  sg, axes = graph_shards.shard_inputs(g, num_shards, row_shards.shard_graph)
  split = lambda a: row_shards.split_rows(np.asarray(a), sg.globals)

  def device(graph, x, c, ids):  # What one device of the train step does.
    value, dx = grad(graph, x, c, ids, impl)
    y = ops.lightgcn_on_graph(graph, x, 2, impl)
    return jax.lax.psum(value, kernels.AXIS), dx, y

  got, got_x, got_y = jax.jit(jax.vmap(
      device, in_axes=(axes, 0, 0, 0), axis_name=kernels.AXIS))(
          sg, split(x), split(c), ids.reshape(num_shards, -1))
  unsplit = lambda a: row_shards.join_rows(np.asarray(a), sg.globals)
  np.testing.assert_allclose(unsplit(got_y), want_y, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(got[0], want, rtol=1e-6)
  np.testing.assert_allclose(unsplit(got_x), want_x, rtol=1e-5, atol=1e-6)
  # Padding rows stay out of every result.
  assert not np.any(np.swapaxes(np.asarray(got_x), 0, 1).reshape(-1, 4)[n:])


def test_gather_rows_is_exact():
  x = jnp.arange(7 * 3, dtype=jnp.float32).reshape(7, 3)
  lay = row_shards.RowLayout(num_shards=2, rows=4, num_rows=7, halo=1)
  blocks = row_shards.split_rows(np.asarray(x), lay)
  np.testing.assert_array_equal(blocks[1, :3], x[1::2])
  ids = jnp.array([[6, 0, 3], [4, 4, 1]], jnp.int32)
  got = jax.vmap(lambda b, i: ops.node_rows(_fake_row_graph(lay), b, i),
                 axis_name=kernels.AXIS)(blocks, ids)
  np.testing.assert_array_equal(got, x[ids])


def _fake_row_graph(layout):
  """A GraphsTuple that ops.node_rows reads as row-sharded (globals only)."""
  import jraph  # pylint: disable=g-import-not-at-top
  return jraph.GraphsTuple(nodes=None, edges=None, senders=None,
                           receivers=None, n_node=None, n_edge=None,
                           globals=layout)


def test_state_shards_and_unshards_to_the_same_tables(smoke_config):
  task = tasks.build(smoke_config)
  state = train_state.create(task, 0)
  sg, _ = graph_shards.shard_inputs(task.inputs, 3, row_shards.shard_graph)
  axes = row_shards.state_axes(state, task.spec.row_tables)
  # The table and both Adam moments are sharded; the step count is not.
  assert axes.params == {'embedding': 0}
  assert axes.opt_state[0].mu == {'embedding': 0}
  assert axes.step is None
  sharded = row_shards.shard_state(state, axes, sg.globals)
  assert sharded.params['embedding'].shape == (3, sg.globals.rows,
                                               smoke_config.model.embed_dim)
  back = row_shards.unshard_state(sharded, axes, sg.globals)
  jax.tree.map(np.testing.assert_array_equal, back.params, state.params)


def test_config_refuses_what_cannot_shard_tables(smoke_config):
  from configs import grcn_movielens  # pylint: disable=g-import-not-at-top
  c = grcn_movielens.get_config('smoke')
  c.shard_tables = True
  with pytest.raises(ConfigError, match='cannot split its tables.*lightgcn'):
    tasks.build(c)
  smoke_config.shard_tables = True
  smoke_config.shard_graph = True
  with pytest.raises(ConfigError, match='shard_graph=False'):
    tasks.build(smoke_config)
  smoke_config.shard_graph = False
  with pytest.raises(ConfigError, match='shard_tables'):
    stacked_step.make_step(tasks.build(smoke_config), False)


_TRAIN = textwrap.dedent('''
    import sys
    import jax
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', 2)
    import numpy as np
    sys.path.insert(0, {repo!r})
    from configs import lightgcn_synthetic
    from jaxrec import tasks, train

    results = {{}}
    for shard_tables, devices in ((False, 1), (True, 2)):
      c = lightgcn_synthetic.get_config('smoke')
      c.shard_tables = shard_tables
      c.num_devices = devices
      results[shard_tables] = train.train_and_evaluate(
          c, {tmp!r} + f'/run{{devices}}')
    for key in results[False]:
      a, b = results[False][key], results[True][key]
      print('RESULT', key, abs(a - b) / max(abs(a), 1e-9), flush=True)
''')


def test_two_row_sharded_devices_match_one_device(tmp_path):
  """The same run, tables row-sharded over 2 fake CPU devices and whole on
  1: every reported metric within 1e-6 relative, and the parameters of the
  best checkpoints within 1e-6 (the run's usual files: a row-sharded run
  checkpoints whole tables)."""
  proc = fake_devices.run_python(_TRAIN.format(repo=REPO, tmp=str(tmp_path)))
  assert proc.returncode == 0, proc.stderr[-3000:]
  errors = {line.split()[1]: float(line.split()[2])
            for line in proc.stdout.splitlines() if line.startswith('RESULT')}
  assert 'test/recall@20' in errors and 'val/ndcg@10' in errors
  assert max(errors.values()) < 1e-6, errors
  p1, p2 = (_best_params(tmp_path / f'run{d}') for d in (1, 2))
  rel = np.linalg.norm(p1 - p2) / np.linalg.norm(p1)
  assert p1.shape == p2.shape and rel < 1e-6, rel


def _best_params(workdir):
  from jaxrec import evaluate  # pylint: disable=g-import-not-at-top
  _, params = evaluate.restore_run(str(workdir))[:2]
  return np.asarray(params['embedding'])
