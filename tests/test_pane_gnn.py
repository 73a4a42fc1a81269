"""PANE-GNN and SiReN: graphs, losses against numpy, filter, variants, protocol."""

import os
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import test_pane_gnn_reference
import fake_devices
from configs import pane_gnn_synthetic
from configs import siren_synthetic
from jaxrec import checkpoint
from jaxrec import evaluate
from jaxrec import graphs
from jaxrec import losses
from jaxrec import metrics
from jaxrec import ops
from jaxrec import sampling
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state
from jaxrec.data import synthetic
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.errors import ConfigError
from jaxrec.models import pane_gnn
from jaxrec.models import pane_gnn_loss
from jaxrec.tasks import base
from jaxrec.tasks import user_item

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _signed(user, item, liked, rating=None):
  user, item = np.asarray(user, np.int32), np.asarray(item, np.int32)
  liked = np.asarray(liked, bool)
  rating = np.where(liked, 5.0, 1.0) if rating is None else rating
  return Interactions(user, item, np.asarray(rating, np.float32), None, liked)


def _tiny_dataset() -> Dataset:
  """4 users x 6 items; train likes and dislikes, test likes and dislikes."""
  train_rows = _signed([0, 0, 0, 1, 1, 2, 2, 3, 3, 3],
                       [0, 1, 2, 1, 3, 2, 4, 0, 5, 3],
                       [1, 1, 0, 1, 0, 1, 0, 1, 1, 0])
  test_rows = _signed([0, 0, 1, 2, 3], [3, 4, 5, 5, 1], [1, 0, 1, 1, 0])
  empty = Interactions.empty(like=train_rows)
  return Dataset('tiny', 'test fixture', 4, 6, train_rows, empty, test_rows,
                 np.arange(4).astype(str), np.arange(6).astype(str))


def _dense_lightgcn(users, items, num_users, num_items, x, num_layers):
  """mean_k (D^-1/2 A D^-1/2)^k x with a dense adjacency (numpy)."""
  n = num_users + num_items
  a = np.zeros((n, n))
  a[users, np.asarray(items) + num_users] = 1
  a = a + a.T
  deg = a.sum(1)
  inv = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1)), 0)
  norm = inv[:, None] * a * inv[None, :]
  total, h = x.copy(), x.copy()
  for _ in range(num_layers):
    h = norm @ h
    total += h
  return total / (num_layers + 1)


def _signed_config(model='pane_gnn', **changes):
  module = {'pane_gnn': pane_gnn_synthetic, 'siren': siren_synthetic}[model]
  c = module.get_config('smoke')
  c.unlock()
  for key, value in changes.items():
    node = c
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    node[last] = value
  return c


def test_each_graph_propagates_like_a_dense_reference():
  ds = _tiny_dataset()
  config = _signed_config(**{'model.edge_removal': 0.5})
  likes = ds.train.likes()
  positive = graphs.bipartite(likes.user, likes.item, 4, 6)
  g = pane_gnn.inputs(config, ds, positive)
  x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
  dislikes = ds.train.select(~ds.train.liked)
  kept = graphs.remove_edges(dislikes.user, dislikes.item, 0.5, config.seed)
  for graph, (users, items) in [(g.positive, (likes.user, likes.item)),
                                (g.negative, (dislikes.user, dislikes.item)),
                                (g.distorted, kept)]:
    got = ops.lightgcn_on_graph(graph, jnp.asarray(x), 3, 'segment_sum')
    want = _dense_lightgcn(users, items, 4, 6, x, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got_csr = ops.lightgcn_on_graph(graph, jnp.asarray(x), 3, 'csr')
    np.testing.assert_allclose(got_csr, want, rtol=1e-5, atol=1e-6)
  # Same node set: all three graphs pad to the same node count.
  assert (g.positive.nodes['in_edges'].shape == g.negative.nodes[
      'in_edges'].shape == g.distorted.nodes['in_edges'].shape)


def test_edge_removal_keeps_about_one_minus_p_and_invents_nothing():
  rng = np.random.default_rng(1)
  pairs = np.unique(rng.integers(0, 300, 20000) * 500 + rng.integers(0, 500,
                                                                     20000))
  heads, tails = pairs // 500, pairs % 500
  for p in (0.2, 0.8):
    kh, kt = graphs.remove_edges(heads, tails, p, seed=3)
    assert abs(len(kh) / len(heads) - (1 - p)) < 0.02
    assert set(zip(kh, kt)) <= set(zip(heads, tails))
  assert len(graphs.remove_edges(heads, tails, 0.0, seed=3)[0]) == len(heads)
  with pytest.raises(ValueError):
    graphs.remove_edges(heads, tails, 1.0, seed=3)


def test_dual_bpr_is_equation_17():
  rng = np.random.default_rng(2)
  n, h, b, k, coef = 7, 4, 5, 3, 2.5
  z = rng.normal(size=(n, h)).astype(np.float32)
  v = rng.normal(size=(n, h)).astype(np.float32)
  user = rng.integers(0, 3, b)
  item = rng.integers(3, n, b)
  neg = rng.integers(3, n, (b, k))
  liked = np.array([True, False, True, False, False])
  log_sig = lambda x: -np.log1p(np.exp(-x))
  want = np.zeros(b)
  for r in range(b):
    for j in neg[r]:
      if liked[r]:  # -ln sigma(y_ui - y_uj) with y = z.z
        want[r] -= log_sig(z[user[r]] @ z[item[r]] - z[user[r]] @ z[j])
      else:  # -ln sigma(y_uj - y_ui) with y_ui = b v.v, y_uj = v.v
        want[r] -= log_sig(v[user[r]] @ v[j] - coef * v[user[r]] @ v[item[r]])
  rows = (jnp.asarray(user), jnp.asarray(item), jnp.asarray(neg))
  # The interest table may list rows in another order (the model's
  # training rows): here reversed.
  z_rows = tuple(n - 1 - r for r in rows)
  interest, disinterest = (z[::-1], *z_rows), (v, *rows)
  liked = jnp.asarray(liked)
  got = pane_gnn_loss.dual_bpr(interest, disinterest, liked, coef)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Without a branch its rows contribute nothing (variants A and B).
  np.testing.assert_allclose(pane_gnn_loss.dual_bpr(interest, None, liked, coef),
                             np.where(liked, want, 0), rtol=1e-5)
  np.testing.assert_allclose(
      pane_gnn_loss.dual_bpr(None, disinterest, liked, coef),
      np.where(liked, 0, want), rtol=1e-5)
  # The authors' code: every rating trains both spaces, with 2 -/+ sign(w)
  # (b = 2) on the rated item's score.
  want_all = np.zeros(b)
  for r in range(b):
    s = 1.0 if liked[r] else -1.0
    for j in neg[r]:
      want_all[r] -= log_sig((2 - s) * z[user[r]] @ z[item[r]] -
                             z[user[r]] @ z[j])
      want_all[r] -= log_sig(v[user[r]] @ v[j] -
                             (2 + s) * v[user[r]] @ v[item[r]])
  np.testing.assert_allclose(
      pane_gnn_loss.dual_bpr(interest, disinterest, liked, 2.0, 'all'), want_all,
      rtol=1e-5)


def test_row_squared_norms_equal_the_gathered_norms():
  rng = np.random.default_rng(6)
  table = jnp.asarray(rng.normal(size=(9, 4)), jnp.float32)
  user, neg = jnp.array([0, 3, 3]), jnp.asarray(rng.integers(0, 9, (3, 5)))
  np.testing.assert_allclose(
      losses.row_squared_norms(table, user, neg),
      losses.squared_norm(table[user], table[neg]), rtol=1e-5)


def test_info_nce_is_equation_18_over_the_distinct_ids():
  rng = np.random.default_rng(3)
  n, h, tau = 6, 5, 0.8
  va = rng.normal(size=(n, h))
  vb = rng.normal(size=(n, h))
  ids = np.array([2, 0, 2, 5, 0, 3, 4])  # repeats, as in a real batch
  valid = np.array([1, 1, 1, 1, 1, 1, 0], bool)  # the last is padding
  cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
  distinct = sorted(set(ids[valid]))
  want = sum(-np.log(np.exp(cos(va[a], vb[a]) / tau) /
                     sum(np.exp(cos(va[a], vb[c]) / tau) for c in distinct))
             for a in distinct)
  got = losses.info_nce(jnp.asarray(va[ids], jnp.float32),
                        jnp.asarray(vb, jnp.float32), jnp.asarray(ids),
                        jnp.asarray(valid), jnp.asarray(ids),
                        jnp.asarray(valid), tau)
  assert float(got[-1]) == 0.0
  assert float(jnp.sum(got)) == pytest.approx(want, rel=1e-5)


def test_sign_aware_bpr_is_sirens_loss():
  rng = np.random.default_rng(4)
  s_i = rng.normal(size=4)
  s_j = rng.normal(size=(4, 3))
  liked = np.array([True, False, True, False])
  c = np.where(liked, 1.0, 2.0)
  want = -np.log(1 / (1 + np.exp(-(c[:, None] * s_i[:, None] - s_j)))).sum(1)
  got = losses.sign_aware_bpr(jnp.asarray(s_i), jnp.asarray(s_j),
                              jnp.asarray(c), jnp.ones(4))
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_filter_removes_exactly_the_items_above_delta():
  rng = np.random.default_rng(5)
  outputs = {'user': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
             'item': jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
             'user_dis': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
             'item_dis': jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
             'threshold': jnp.float32(0.5)}
  users = jnp.array([2, 0])
  got = np.asarray(pane_gnn.score(outputs, users))
  interest = np.asarray(outputs['user'][users] @ outputs['item'].T)
  disinterest = np.asarray(outputs['user_dis'][users] @ outputs['item_dis'].T)
  removed = disinterest > 0.5
  assert removed.any() and (~removed).any()
  assert np.all(np.isneginf(got[removed]))
  np.testing.assert_allclose(got[~removed], interest[~removed], rtol=1e-6)
  unfiltered = {k: outputs[k] for k in ('user', 'item')}
  np.testing.assert_allclose(pane_gnn.score(unfiltered, users), interest,
                             rtol=1e-6)


def test_evaluation_masks_train_dislikes_and_counts_test_dislikes_as_misses():
  ds = _tiny_dataset()
  truth = user_item.truth(ds, 'test')
  exclude = user_item.exclude(ds, 'test')
  # User 0: train likes 0, 1, dislike 2; test like 3, dislike 4.
  assert set(exclude.dense(np.array([0]), 6)[0].nonzero()[0]) == {0, 1, 2}
  assert set(truth.dense(np.array([0]), 6)[0].nonzero()[0]) == {3}
  # Scores: the disliked train item 2 first (masked), then the test dislike
  # 4, then the test like 3.
  scores = np.array([0.0, 0.0, 9.0, 1.0, 5.0, -1.0], np.float32)
  score_fn = lambda out, users: jnp.broadcast_to(out, (users.shape[0], 6))
  only_user0 = metrics.UserItems([ds.test.likes().select(
      ds.test.likes().user == 0)], 4)
  m = metrics.evaluate(score_fn, jnp.asarray(scores), only_user0, exclude,
                       6, ks=(1, 2))
  assert m['precision@1'] == 0.0  # the test dislike is a miss
  assert m['recall@2'] == 1.0  # the like is second
  # Users whose test items are all dislikes are not evaluated.
  assert truth.counts().tolist() == [1, 1, 1, 0]


def test_signed_batches_visit_every_rating_with_unrated_negatives():
  ds = synthetic.generate(num_users=60, num_items=50, num_clusters=3,
                          interactions_per_user=10, dislikes_per_user=5,
                          seed=4)
  tr = ds.train
  rows = Interactions(tr.user, tr.item, tr.rating, None, tr.rating > 3.5)
  known = sampling.Known(rows.user, rows.item, 50)
  probs = sampling.popularity(rows.item, 50, 0.75)
  batches = sampling.BPRBatches(rows, 60, 50, 128, seed=0, known=known,
                                num_negatives=6, item_probs=probs)
  got = [batches.batch(2, s) for s in range(batches.steps_per_epoch)]
  mask = np.concatenate([b['mask'] for b in got]).astype(bool)
  users = np.concatenate([b['user'] for b in got])[mask]
  items = np.concatenate([b['pos'] for b in got])[mask]
  signs = np.concatenate([b['sign'] for b in got])[mask]
  neg = np.concatenate([b['neg'] for b in got])[mask]
  assert neg.shape == (len(rows), 6)
  want = sorted(zip(rows.user.tolist(), rows.item.tolist(),
                    np.where(rows.liked, 1.0, -1.0).tolist()))
  assert sorted(zip(users.tolist(), items.tolist(), signs.tolist())) == want
  rated = set(zip(rows.user.tolist(), rows.item.tolist()))
  assert not any((u, j) in rated for u, js in zip(users, neg) for j in js)
  # Popularity sampling: frequent items are drawn more, unseen ones never.
  many = sampling.negatives(np.zeros(200000, np.int64), known,
                            np.random.default_rng(0),
                            sampling.AliasTable(probs))
  counts = np.bincount(rows.item, minlength=50) ** 0.75
  counts[[i for u, i in rated if u == 0]] = 0
  freq = np.bincount(many, minlength=50) / len(many)
  np.testing.assert_allclose(freq, counts / counts.sum(), atol=0.005)


@pytest.mark.parametrize('model,variant', [
    ('pane_gnn', 'A'), ('pane_gnn', 'B'), ('pane_gnn', 'C'),
    ('pane_gnn', 'D'), ('pane_gnn', 'full'), ('siren', 'full')])
def test_each_variant_trains_a_step_without_nan(model, variant):
  config = _signed_config(model, **{'model.variant': variant})
  task = tasks.build(config)
  state = train_state.create(task, 0)
  batches = task.kind.batches(task, 1)
  batch = train.shard(batches.batch(0, 0), 1)
  assert batch['neg'].shape == (1, config.batch_size, config.num_negatives)
  step = train.make_step(task)
  new_state, loss = step(state, jax.device_put(task.inputs), batch, 0)
  assert np.isfinite(float(loss))
  for before, after in zip(jax.tree.leaves(state.params),
                           jax.tree.leaves(new_state.params)):
    assert np.all(np.isfinite(after))
    assert not np.array_equal(before, after)
  outputs = base.model_outputs(task, new_state.params)
  scores = task.spec.score(outputs, jnp.arange(3))
  assert scores.shape == (3, task.data.num_items)
  assert ('user_dis' in outputs) == (variant == 'full' and model == 'pane_gnn')


def test_contrastive_term_enters_the_loss_only_with_gcl():
  def loss(variant, weight):
    return test_pane_gnn_reference.forward_loss(_signed_config(
        **{'model.variant': variant, 'model.contrastive_weight': weight}))
  assert loss('D', 0.5) > loss('D', 0.0) + 1e-3
  assert loss('C', 0.5) == pytest.approx(loss('C', 0.0), rel=1e-6)


def test_signed_models_need_signed_data_and_known_variants():
  config = _signed_config(**{'data.feedback': 'implicit',
                             'data.positive': 'rating'})
  with pytest.raises(ConfigError, match="feedback='signed'"):
    tasks.build(config)
  with pytest.raises(ConfigError, match='variant'):
    tasks.build(_signed_config(**{'model.variant': 'E'}))
  with pytest.raises(ConfigError, match='negative_sampling'):
    tasks.build(_signed_config(negative_sampling='pop'))


def test_pane_gnn_beats_popularity_on_planted_data(tmp_path):
  config = _signed_config(**{
      'num_epochs': 6, 'eval_every_epochs': 3, 'batch_size': 256,
      'model.embed_dim': 32, 'num_negatives': 8,
      'data.synthetic.num_users': 300, 'data.synthetic.num_items': 200,
      'data.synthetic.num_clusters': 8})
  result = train.train_and_evaluate(config, str(tmp_path))
  final = train.MetricsLog(str(tmp_path)).read()[-1]
  assert result['test/recall@10'] > final[
      'baseline/MostPop/recall@10'] + 0.15


def test_a_resumed_run_continues_exactly(tmp_path):
  """Dropout keys, negatives and G_d depend only on seed, epoch and step."""
  config = _signed_config(**{'num_epochs': 2, 'eval_every_epochs': 1,
                             'patience': 0})
  train.train_and_evaluate(config, str(tmp_path / 'straight'))
  config.num_epochs = 1
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  config.num_epochs = 2
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  leaves = []
  for name in ('straight', 'resumed'):
    ckpts = checkpoint.Checkpoints(str(tmp_path / name), read_only=True)
    state, _ = ckpts.restore(2, train_state.abstract(tasks.build(config)))
    leaves.append(jax.tree.leaves(state.params))
  for a, b in zip(*leaves):
    np.testing.assert_array_equal(a, b)


def test_filter_threshold_is_chosen_at_evaluation_without_retraining(
    tmp_path):
  config = _signed_config(num_epochs=1, eval_every_epochs=1)
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  task, params, _ = evaluate.restore_run(
      workdir, overrides={'filter_threshold': 0.25})
  outputs = pane_gnn.eval_outputs(task.model, params, task.inputs)
  assert float(outputs['threshold']) == 0.25
  # delta = +inf removes nothing: the ranking of variant D (no filter).
  got = evaluate.evaluate_workdir(
      workdir, 'test', overrides={'filter_threshold': float('inf')})
  config.model.variant = 'D'
  unfiltered = tasks.build(config)
  want = unfiltered.kind.evaluate(unfiltered, params, 'test')
  assert {k: got[k] for k in want} == want
  assert os.path.exists(
      os.path.join(workdir, 'eval_test_filter_thresholdinf.json'))
  # Only fields that act when ranking may change, and only where they act.
  with pytest.raises(ConfigError, match='pane_gnn-D'):
    evaluate.with_overrides(config, {'filter_threshold': 0.1})
  with pytest.raises(ConfigError, match='siren'):
    evaluate.with_overrides(_signed_config('siren'),
                            {'filter_threshold': 0.1})
  with pytest.raises(ConfigError, match='temperature'):
    evaluate.restore_run(workdir, overrides={'temperature': 0.1})


# Two CPU devices, also on a host with an accelerator: JAX would pick that
# platform there and see one device.
_TWO_DEVICES = textwrap.dedent('''
    import sys
    import jax
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', 2)
    import numpy as np
    sys.path.insert(0, {repo!r})
    from configs import pane_gnn_synthetic
    from jaxrec import tasks, train, train_state

    assert jax.default_backend() == 'cpu' and jax.local_device_count() == 2
    config = pane_gnn_synthetic.get_config({arg!r})
    task = tasks.build(config)
    state = train_state.create(task, 0)
    batch = task.kind.batches(task, 1).batch(0, 0)
    inputs = jax.device_put(task.inputs)
    out = []
    for n in (1, 2):
      devices = jax.local_devices()[:n]
      step = jax.pmap(
          lambda s, i, b, t: train.train_step(
              task.spec, task.model, task.spec.loss_params(config),
              config.seed, s, i, b, t),
          axis_name=train.AXIS, in_axes=(None, None, 0, None),
          out_axes=(None, None), devices=devices)
      new, loss = step(state, inputs, train.shard(batch, n), 0)
      out.append((float(loss), np.concatenate(
          [np.ravel(x) for x in jax.tree.leaves(new.params)])))
    print('LOSS', out[0][0])
    print('LOSSDIFF', abs(out[0][0] - out[1][0]))
    print('MAXDIFF', float(np.abs(out[0][1] - out[1][1]).max()))
''')


@pytest.mark.parametrize('arg', ['smoke', 'reference,smoke'])
def test_two_devices_match_one_device_with_dropout_and_infonce(arg):
  """The contrastive term gathers the global batch; dropout keys agree.

  In reference mode the InfoNCE denominator and the batch size are sums over
  both devices' shards.
  """
  proc = fake_devices.run_python(_TWO_DEVICES.format(repo=REPO, arg=arg))
  assert proc.returncode == 0, proc.stderr[-3000:]
  loss = float(proc.stdout.split('LOSS ')[1].split()[0])
  loss_diff = float(proc.stdout.split('LOSSDIFF')[1].split()[0])
  # Reference mode sums the loss over the batch (thousands), where one
  # float32 ulp is 2.4e-4: the bound is relative there.
  assert loss_diff < max(1e-4, 1e-6 * abs(loss))
  assert float(proc.stdout.split('MAXDIFF')[-1]) < 1e-5
