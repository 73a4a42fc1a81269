"""PANE-GNN's reference mode: each switch against numpy forms of the code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import pane_gnn_ml1m
from configs import pane_gnn_synthetic
from configs import siren_ml1m
from jaxrec import graphs
from jaxrec import losses
from jaxrec import ops
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state
from jaxrec.models import pane_gnn
from jaxrec.models import spec


def _directed_pairs(g):
  """{(sender, receiver): weight} of the real edges with nonzero weight."""
  mask = graphs.edge_mask(g)
  w = np.asarray(g.edges['weight'])[mask]
  s, r = np.asarray(g.senders)[mask], np.asarray(g.receivers)[mask]
  return {(int(a), int(b)): float(x) for a, b, x in zip(s, r, w) if x != 0}


def test_directed_removal_drops_directions_and_normalises_by_in_degree():
  rng = np.random.default_rng(0)
  pairs = sorted({(int(u), int(i)) for u, i in zip(rng.integers(0, 40, 600),
                                                   rng.integers(40, 90, 600))})
  heads, tails = np.array(pairs).T
  g = graphs.directed_removal(heads, tails, 90, 0.6, seed=3)
  keep = graphs.directed_keep(len(pairs), 0.6, seed=3)
  kept = [(h, t) for (h, t), k in zip(pairs, keep) if k] + [
      (t, h) for (h, t), k in zip(pairs, keep[len(pairs):]) if k]
  assert abs(len(kept) / (2 * len(pairs)) - 0.4) < 0.05
  assert sum((t, h) not in set(kept) for h, t in kept) > 0.3 * len(kept)
  deg = np.bincount([t for _, t in kept], minlength=90)
  want = {(s, t): 1 / np.sqrt(deg[s] * deg[t]) for s, t in kept if deg[s]}
  got = _directed_pairs(g)
  assert set(got) == set(want)  # Nothing invented, dropped ones weigh 0.
  for edge, w in got.items():
    assert w == pytest.approx(want[edge], rel=1e-6)


def test_directed_view_propagates_and_differentiates_like_a_dense_matrix():
  rng = np.random.default_rng(1)
  pairs = sorted({(int(u), int(i)) for u, i in zip(rng.integers(0, 12, 60),
                                                   rng.integers(12, 30, 60))})
  heads, tails = np.array(pairs).T
  g = graphs.directed_removal(heads, tails, 30, 0.5, seed=0)
  a = np.zeros((30, 30))  # a[t, s] = w(s -> t).
  for (s, t), w in _directed_pairs(g).items():
    a[t, s] = w
  assert not np.allclose(a, a.T)
  x = rng.normal(size=(30, 4)).astype(np.float32)
  probe = rng.normal(size=(30, 4))
  layers = [np.linalg.matrix_power(a, k) for k in range(4)]
  stack = sum(layers) / 4
  for impl in ('csr', 'segment_sum'):
    f = lambda v: ops.lightgcn_on_graph(g, v, 3, impl, symmetric=False)
    np.testing.assert_allclose(f(jnp.asarray(x)), stack @ x, rtol=1e-5,
                               atol=1e-6)
    grad = jax.grad(lambda v: jnp.sum(f(v) * probe))(jnp.asarray(x))
    np.testing.assert_allclose(grad, stack.T @ probe, rtol=1e-5, atol=1e-6)


def _np_authors_info_nce(a_u, a_i, b_u, b_i, tau):
  """Their contrastive term per batch row: -log(pos / all pairs' sum)."""
  norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
  f_u = np.exp(norm(a_u) @ norm(b_u).T / tau)
  f_i = np.exp(norm(a_i) @ norm(b_i).T / tau)
  pos = np.diag(f_u) + np.diag(f_i)
  neg = f_u.sum() + f_i.sum() - pos
  return -np.log(pos / (pos + neg))


def test_info_nce_batch_rows_is_the_authors_one_denominator_form():
  rng = np.random.default_rng(2)
  v = rng.normal(size=(20, 5)).astype(np.float32)
  v_tilde = rng.normal(size=(20, 5)).astype(np.float32)
  users = np.array([0, 3, 3, 5, 7, 0])  # Repeats count as separate rows.
  items = np.array([10, 12, 12, 15, 10, 19])
  valid = np.array([1, 1, 1, 1, 1, 0], bool)  # The last row is padding.
  want = _np_authors_info_nce(v[users[:5]], v[items[:5]], v_tilde[users[:5]],
                              v_tilde[items[:5]], 0.8)
  got = losses.info_nce_batch_rows(
      [jnp.asarray(v[users]), jnp.asarray(v[items])], jnp.asarray(v_tilde),
      [users, items], valid, [users, items], valid, 0.8, lambda x: x)
  np.testing.assert_allclose(got[:5], want, rtol=1e-5)
  assert float(got[5]) == 0.0


def _reference_config(**changes):
  c = pane_gnn_synthetic.get_config('reference,smoke')
  c.model.dropout = 0.0
  for key, value in changes.items():
    c.model[key] = value
  return c


def _np_bpr(item, neg, coef, direction):
  margin = coef[:, None] * item[:, None] - neg
  return np.sum(np.logaddexp(0, -direction[:, None] * margin), axis=1)


def test_reference_loss_is_the_authors_sum_of_sums_and_means():
  """The step's loss is their return value (sums and means as theirs)."""
  config = _reference_config()
  task = tasks.build(config)
  state = train_state.create(task, 0)
  batch = task.kind.batches(task, 1).batch(0, 0)
  step = train.make_step(task)
  _, loss = step(state, jax.device_put(task.inputs), train.shard(batch, 1), 0)
  n = int(batch['mask'].sum())
  user, pos, neg = (np.asarray(batch[k])[:n] for k in ('user', 'pos', 'neg'))
  liked = np.asarray(batch['sign'])[:n] > 0
  out = task.model.apply({'params': state.params}, task.inputs, train=True,
                         rngs={'dropout': jax.random.key(0)})
  u = task.data.num_users
  b = config.model.feedback_coef
  lam = config.l2_weight
  terms = {}
  for name, table, coef, direction in (
      ('z', out['z'], np.where(liked, 1.0, 1.0 + b), 1.0),
      ('v', out['v'], np.where(liked, 1.0 + b, 1.0), -1.0)):
    t = np.asarray(table, np.float64)
    e_u, e_i, e_j = t[user], t[pos + u], t[neg + u]
    bpr = _np_bpr(np.sum(e_u * e_i, 1), np.einsum('bd,bkd->bk', e_u, e_j),
                  coef, np.full(n, direction))
    reg = (np.sum(e_u ** 2) + np.sum(e_i ** 2) + np.sum(e_j ** 2))
    terms[name] = (bpr, reg)
  v, vt = (np.asarray(out[k], np.float64) for k in ('v', 'v_tilde'))
  cl = _np_authors_info_nce(v[user], v[pos + u], vt[user], vt[pos + u],
                            config.model.temperature)
  want = (terms['z'][0].sum() + lam * terms['z'][1] + terms['v'][0].mean()
          + lam * terms['v'][1] + config.model.contrastive_weight * cl.mean())
  assert float(loss) == pytest.approx(want, rel=2e-5)


def forward_loss(config) -> float:
  """The first step's loss (the masked batch mean), without the gradient.

  Op by op: no compilation, which would cost more than the ops here.
  """
  task = tasks.build(config)
  params = train_state.create(task, 0).params
  batch = task.kind.batches(task, 1).batch(0, 0)
  ctx = spec.single_device(jax.random.fold_in(jax.random.key(config.seed), 0))
  with jax.disable_jit():
    per = task.spec.loss(task.model, params, task.inputs, batch,
                         task.spec.loss_params(config), ctx)
  return float(np.sum(per * batch['mask']) / np.sum(batch['mask']))


def test_reference_mode_switches_each_change_the_loss():
  loss = forward_loss
  ref = loss(_reference_config())
  paper = {'bpr_ratings': 'own_graph', 'l2_on': 'layer0',
           'loss_reduction': 'mean', 'info_nce': 'distinct',
           'edge_removal_mode': 'undirected'}
  for key, value in paper.items():
    assert loss(_reference_config(**{key: value})) != pytest.approx(
        ref, rel=1e-6), key


def test_reference_preset_and_bad_values():
  c = pane_gnn_ml1m.get_config('reference')
  assert (c.model.bpr_ratings, c.model.mlp_input, c.model.l2_on,
          c.model.loss_reduction, c.model.info_nce,
          c.model.edge_removal_mode, c.model.contrastive_weight) == (
              'all', 'table', 'final', 'code', 'batch_rows', 'directed', 1.0)
  paper = pane_gnn_ml1m.get_config()
  assert paper.model.l2_on == 'layer0' and paper.model.info_nce == 'distinct'
  assert (siren_ml1m.get_config('reference').to_dict() ==
          siren_ml1m.get_config().to_dict())
  with pytest.raises(ValueError, match='refrence.*reference, smoke'):
    pane_gnn_ml1m.get_config('refrence')
  ablation = pane_gnn_ml1m.get_config('reference,variant=B,fold=2')
  assert (ablation.model.variant, ablation.data.fold,
          ablation.model.l2_on) == ('B', 2, 'final')
  bad = _reference_config(info_nce='rows')
  with pytest.raises(Exception, match='info_nce'):
    pane_gnn.create(bad, tasks.build(_reference_config()).data)


@pytest.mark.parametrize('model', ['pane_gnn', 'siren'])
def test_torch_init_draws_as_the_authors_code(model):
  """model.init='torch': nn.Linear's U(+-1/sqrt(fan_in)) for the attention
  weights and every bias, and the second table as one Glorot block; the
  default keeps Flax's draws (zero biases) and per-block tables."""
  from configs import siren_synthetic  # pylint: disable=g-import-not-at-top
  module = pane_gnn_synthetic if model == 'pane_gnn' else siren_synthetic
  params = {}
  for init in ('jax', 'torch'):
    c = module.get_config('smoke')
    c.model.init = init
    c.model.embed_dim = 64
    if model == 'pane_gnn':
      c.model.mlp_input = 'table'
    task = tasks.build(c)
    params[init] = train_state.create(task, 0).params
  h = 64
  bound = h ** -0.5
  fusion = params['torch']['fusion']
  for w in (fusion['attention']['hidden']['kernel'],
            fusion['attention']['hidden']['bias'],
            fusion['attention']['query']['kernel'],
            fusion['mlp']['Dense_0']['bias'], fusion['mlp']['Dense_1']['bias']):
    w = np.asarray(w)
    assert np.abs(w).max() <= bound
    # A uniform draw's std is bound / sqrt(3).
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.3)
  jax_bias = params['jax']['fusion']['mlp']['Dense_0']['bias']
  assert not np.any(np.asarray(jax_bias))
  # The MLP weights are Glorot normal either way.
  np.testing.assert_allclose(
      np.asarray(fusion['mlp']['Dense_0']['kernel']).std(),
      np.sqrt(2 / (2 * h)), rtol=0.1)
  num_users = task.data.num_users
  table = np.asarray(params['torch']['mlp'])
  n = len(table)
  one_block = np.sqrt(2 / (n + h))
  for block in (table[:num_users], table[num_users:]):
    np.testing.assert_allclose(block.std(), one_block, rtol=0.15)
  per_block = np.asarray(params['jax']['mlp'])[num_users:]
  np.testing.assert_allclose(per_block.std(),
                             np.sqrt(2 / (n - num_users + h)), rtol=0.15)
