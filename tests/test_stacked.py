"""Stacked runs (jaxrec.stacked): several runs in one program equal each alone.

Tolerance: the stacked step is the same arithmetic vmapped; XLA may order
a few float32 sums differently in the batched program (batched matrix
products), so parameters and logged numbers are compared within 1e-6
relative, integers and epochs exactly; the propagation kernels alone are
bit-identical under vmap.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import checkpoint
from jaxrec import cross_validation
from jaxrec import graphs
from jaxrec import kernels
from jaxrec import ops
from jaxrec import stacked
from jaxrec import stacked_step
from jaxrec import sweep
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state
from jaxrec.errors import ConfigError


def _records(workdir):
  """metrics.jsonl without the timing fields."""
  return [{k: v for k, v in r.items()
           if 'seconds' not in k and 'per_sec' not in k}
          for r in train.MetricsLog(workdir).read()]


def _assert_close_records(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_allclose(y[k], x[k], rtol=1e-6, err_msg=k)


def _params(config, workdir, epoch):
  task = tasks.build(config)
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  state, _ = ckpts.restore(epoch, train_state.abstract(task))
  return state.params


def _assert_close_params(a, b):
  """Each parameter array within 1e-6 of its largest magnitude: Adam divides
  by sqrt(v), so an element whose gradient is near zero turns a last-bit
  gradient difference into one of up to ~lr (measured: 2.8e-7 in one
  element of 4000 after two steps at lr 5e-3)."""
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x), np.asarray(y)
    assert np.max(np.abs(x - y)) <= 1e-6 * np.max(np.abs(x))


def test_stacked_step_equals_each_run_alone_signed():
  """Two SiReN runs differing in seed (init and batches), learning rate
  and a loss weight (traced in the program): two steps of the
  stacked program equal two steps of each run's own program; a dead run
  (live False) keeps its state."""
  from configs import siren_synthetic  # pylint: disable=g-import-not-at-top
  runs = []
  for r in range(2):
    c = siren_synthetic.get_config('smoke')
    c.unlock()
    c.seed, c.learning_rate = r, (1e-3, 5e-3)[r]
    c.model.feedback_coef = (2.0, 3.0)[r]
    task = tasks.build(c)
    runs.append((task, train_state.create(task, c.seed),
                 task.kind.batches(task, 1)))
  alone = []
  for task, state, batches in runs:
    p_step = train.make_step(task)
    for s in range(2):
      state, _ = p_step(state, task.inputs, train.shard(batches.batch(0, s), 1),
                        s)
    alone.append(state)
  stacked_inputs = not stacked._same_leaves([t.inputs for t, _, _ in runs])
  p_step = stacked_step.make_step(runs[0][0], stacked_inputs)
  values = stacked.run_values([t for t, _, _ in runs])
  assert set(values.loss) == {'feedback_coef'}
  inputs = (stacked_step.stack([t.inputs for t, _, _ in runs])
            if stacked_inputs else runs[0][0].inputs)
  state = [stacked_step.stack([getattr(s, f) for _, s, _ in runs])
           for f in ('params', 'opt_state', 'step')]
  for s in range(3):
    batch = stacked_step.shard([b.batch(0, s) for _, _, b in runs], 1)
    *state, _ = p_step(*state, inputs, batch, np.array([s, s], np.int32),
                       np.array([s < 2, s < 2]), values)
  for r, a in enumerate(alone):
    _assert_close_params(a.params, stacked_step.unstack(state[0], r))
    assert int(state[2][r]) == int(a.step) == 2


def test_cross_validation_in_parallel_equals_one_by_one(tmp_path, monkeypatch,
                                                        smoke_config):
  """Two folds (two graphs: stacked inputs) in one program, fold 1 resumed
  from an epoch-1 checkpoint while fold 0 starts: equal to one by one."""
  programs = []
  make_step = stacked_step.make_step
  monkeypatch.setattr(stacked_step, 'make_step', lambda task, stacked_inputs: (
      programs.append(stacked_inputs) or make_step(task, stacked_inputs)))
  smoke_config.data.split = 'kfold'
  smoke_config.num_epochs = 2
  smoke_config.eval_every_epochs = 1
  one = cross_validation.run(smoke_config, str(tmp_path / 'one'), num_folds=2)
  _, configs = cross_validation.run_configs(smoke_config, num_folds=2)
  configs[1].num_epochs = 1
  train.train_and_evaluate(configs[1], str(tmp_path / 'two' / 'fold_1'))
  two = cross_validation.run(smoke_config, str(tmp_path / 'two'), num_folds=2,
                             parallel=2)
  assert programs == [True]  # One program, on the two folds' graphs.
  for key in ('mean', 'std', 'val_mean'):
    for metric, value in one[key].items():
      np.testing.assert_allclose(two[key][metric], value, rtol=1e-6)
  for fold in range(2):
    _assert_close_records(_records(tmp_path / 'one' / f'fold_{fold}'),
                          _records(tmp_path / 'two' / f'fold_{fold}'))


def test_programs_group_runs_that_share_shapes(smoke_config):
  def variant(**fields):
    c = smoke_config.copy_and_resolve_references()
    for k, v in fields.items():
      node, *path = k.split('__')
      (c[node] if path else c)[path[0] if path else node] = v
    return c

  configs = [variant(learning_rate=1e-3), variant(learning_rate=5e-3),
             variant(model__num_layers=1), variant(seed=3),
             variant(data__fold=1), variant(model__embed_dim=8)]
  assert stacked.programs(configs, parallel=8) == [[0, 1, 3, 4], [2], [5]]
  assert stacked.programs(configs, parallel=2) == [[0, 1], [3, 4], [2], [5]]


def test_model_fields_stack_only_where_the_spec_says(smoke_config):
  from configs import pane_gnn_synthetic  # pylint: disable=g-import-not-at-top
  pane = pane_gnn_synthetic.get_config('smoke')
  assert 'model.temperature' in stacked.varying_fields(pane)
  assert 'model.num_layers' not in stacked.varying_fields(pane)
  assert stacked.varying_fields(smoke_config) == stacked.VARYING_FIELDS


def _two_graphs():
  """Two different random graphs padded to the same shapes."""
  out = []
  for seed in range(2):
    keys = np.unique(np.random.default_rng(seed).integers(0, 30 * 40, 200))
    out.append(graphs.bipartite(keys // 40, keys % 40, 30, 40,
                                pad_edges_to=512))
  return out


@pytest.mark.parametrize('impl', sorted(kernels.KERNELS))
def test_vmapped_propagation_equals_each_run_bit_for_bit(impl):
  """The csr kernel's vmap rule (block-diagonal / shared matrix) and the
  segment_sum kernel under vmap: forward and backward equal the
  unbatched ones exactly, for shared and for stacked graphs."""
  graphs_ = _two_graphs()
  n = graphs_[0].nodes['in_edges'].shape[0]
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, n, 4)),
                  jnp.float32)

  def f(graph, x):
    adj = ops.adjacency(graph)
    w = jnp.asarray(graph.edges['weight'])
    y = ops.propagate(adj, w, x, impl=impl)
    e = ops.edge_dot(adj, y, x, impl=impl)
    return jnp.sum(y ** 2) + jnp.sum(jnp.sin(e)) + jnp.sum(
        ops.gather(adj, y, 'senders', impl=impl)[:, :2] ** 3)

  grad = jax.value_and_grad(f, argnums=1)
  both = jax.tree.map(lambda *a: np.stack(a), *graphs_)
  for in_graph, pick in ((None, lambda r: graphs_[0]),
                         (0, lambda r: graphs_[r])):
    graph = graphs_[0] if in_graph is None else both
    value, g = jax.vmap(grad, in_axes=(in_graph, 0))(graph, x)
    for r in range(2):
      v1, g1 = grad(pick(r), x[r])
      assert float(value[r]) == float(v1)
      np.testing.assert_array_equal(np.asarray(g[r]), np.asarray(g1))


def test_repad_keeps_every_result_on_real_nodes():
  """Folds in different size buckets are padded alike for one program: the
  padded graph propagates exactly as the original on the real nodes."""
  graph = _two_graphs()[0]
  n, e = graph.nodes['in_edges'].shape[0], graph.senders.shape[0]
  big = graphs.repad(graph, n + 64, e + 256)
  assert big.senders.shape == (e + 256,) and int(big.n_edge.sum()) == e + 256
  assert np.all(np.diff(big.receivers) >= 0)
  np.testing.assert_array_equal(np.bincount(big.receivers, minlength=n + 64),
                                big.nodes['in_edges'])
  np.testing.assert_array_equal(big.senders[big.edges['reverse']],
                                big.receivers)
  x = np.random.default_rng(0).normal(size=(70, 4)).astype(np.float32)
  for impl in kernels.KERNELS:
    np.testing.assert_array_equal(
        ops.lightgcn_on_graph(graph, x, 2, impl=impl),
        ops.lightgcn_on_graph(big, x, 2, impl=impl))


def test_sweep_points_and_errors(smoke_config):
  axes = [sweep.parse('learning_rate=1e-3,5e-3', smoke_config),
          sweep.parse('model.num_layers=1,2,3', smoke_config)]
  points = sweep.grid(axes)
  assert len(points) == 6 and points[0] == {'learning_rate': 1e-3,
                                           'model.num_layers': 1}
  assert isinstance(points[0]['model.num_layers'], int)
  assert sweep.point_name(points[0]) == 'learning_rate=0.001,model.num_layers=1'
  assert sweep.point_config(smoke_config, points[-1]).model.num_layers == 3
  log = sweep.parse('learning_rate=log:1e-4:1e-2', smoke_config)
  drawn = sweep.random_points([log, axes[1]], 20, 0, smoke_config)
  assert all(1e-4 <= p['learning_rate'] <= 1e-2 for p in drawn)
  assert drawn == sweep.random_points([log, axes[1]], 20, 0, smoke_config)
  assert {p['model.num_layers'] for p in drawn} == {1, 2, 3}
  with pytest.raises(ConfigError, match='no field'):
    sweep.parse('model.num_layer=1,2', smoke_config)
  with pytest.raises(ConfigError, match='is not a int'):
    sweep.parse('model.num_layers=two', smoke_config)
  with pytest.raises(ConfigError, match='random search'):
    sweep.grid([log])


def test_sweep_ranks_points_by_validation_never_test(tmp_path, monkeypatch,
                                                     smoke_config):
  """The ranking reads cv.json's val_mean (here made to disagree with test)."""
  def fake_train_runs(configs, dirs, allow, parallel, labels):
    del allow, parallel, labels
    out = []
    for c, d in zip(configs, dirs):
      os.makedirs(d, exist_ok=True)
      val = c.learning_rate  # Higher lr -> better val, worse test.
      result = {'val/recall@20': val, 'test/recall@20': 1 - val}
      train.MetricsLog(d).write({'best_epoch': 1, **result})
      out.append((result, 0.0))
    return out

  monkeypatch.setattr(cross_validation, 'train_runs', fake_train_runs)
  points = sweep.grid([sweep.parse('learning_rate=0.1,0.3,0.2',
                                   smoke_config)])
  result = sweep.run(smoke_config, str(tmp_path), points, num_seeds=2)
  assert [p['point']['learning_rate'] for p in result['points']] == [
      0.3, 0.2, 0.1]
  with open(tmp_path / sweep.SWEEP_FILE) as f:
    assert json.load(f) == result
  assert '| 1 | 0.3 | 30.00 |' in sweep.format_table(result)
