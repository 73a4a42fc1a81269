"""GRCN against a plain numpy reference on a tiny graph, and its switches."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import config as config_lib
from jaxrec import graphs
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.errors import ConfigError
from jaxrec.models import grcn
from jaxrec.models import spec

# 3 users, 4 items; user 2 has a single item, item 3 only user 2.
USERS = np.array([0, 0, 1, 1, 1, 2])
ITEMS = np.array([0, 1, 0, 1, 2, 3])
U, I = 3, 4


def _dataset(bag=False):
  rng = np.random.default_rng(0)
  train_part = Interactions(USERS.astype(np.int32), ITEMS.astype(np.int32))
  empty = Interactions.empty()
  features = {'visual': rng.normal(size=(I, 5)).astype(np.float32),
              'acoustic': rng.normal(size=(I, 3)).astype(np.float32)}
  bags = {}
  if bag:
    bags['textual'] = np.array([[0, 0, 1, 2, 3, 3], [0, 1, 1, 2, 3, 0]])
  return Dataset('tiny', 'test', U, I, train_part, empty, empty,
                 np.arange(U).astype(str), np.arange(I).astype(str),
                 item_features=features, item_bags=bags)


def _config(**model):
  c = config_lib.base('grcn')
  c.model.embed_dim = c.model.content_dim = 4
  c.model.has_t = False
  for k, v in model.items():
    c.model[k] = v
  return c


def _build(config, ds=None):
  ds = ds or _dataset()
  graph = graphs.bipartite(ds.train.user, ds.train.item, U, I)
  model = grcn.create(config, ds)
  inputs = grcn.inputs(config, ds, graph)
  params = model.init(jax.random.key(0), inputs)['params']
  return model, inputs, params, graph


def _norm(x):
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _leaky(x):
  return np.where(x > 0, x, 0.01 * x)


def _reference(model, params, inputs, graph):
  """The GRCN forward written edge by edge in numpy (official routing)."""
  p = jax.tree.map(np.asarray, params)
  real = int(graph.n_edge[0])
  send, recv = graph.senders[:real], graph.receivers[:real]
  n = U + I
  alphas, reps = [], []
  for m in model.modalities:
    mlp = p[m]['mlp']
    f = _norm(_leaky(inputs['features'][m] @ mlp['kernel'] + mlp['bias']))
    h = np.concatenate([_norm(p[f'{m}_preference']), f])
    logits = np.array([h[t] @ h[s] for s, t in zip(send, recv)])
    alpha = np.zeros(real)
    for t in range(n):  # softmax over the edges into t
      rows = np.flatnonzero(recv == t)
      if len(rows):
        e = np.exp(logits[rows] - logits[rows].max())
        alpha[rows] = e / e.sum()
    agg = np.zeros_like(h)
    for k, (s, t) in enumerate(zip(send, recv)):
      agg[t] += alpha[k] * h[s]
    alphas.append(alpha)
    reps.append(h + agg)
  a = np.stack(alphas, -1)
  if model.weight_mode == 'mean':
    w = a.mean(-1)
  elif model.weight_mode == 'max':
    w = a.max(-1)
  else:
    w = (a * p['confidence'][send]).max(-1)
  if model.hard_pruning:
    w = np.maximum(w, 0)
  x = _norm(p['id_embedding'])
  def conv(v):
    out = np.zeros_like(v)
    for k, (s, t) in enumerate(zip(send, recv)):
      out[t] += w[k] * v[s]
    return out
  h1 = conv(x)
  id_rep = x + h1 + conv(h1)
  if model.fusion_mode == 'concat':
    rep = np.concatenate([id_rep, *reps], -1)
  elif model.fusion_mode == 'mean':
    rep = np.mean([id_rep, *reps], 0)
  else:
    rep = id_rep
  return rep, w, a


@pytest.mark.parametrize('weight_mode,fusion_mode,hard',
                         [('confid', 'concat', False), ('confid', 'id', True),
                          ('max', 'mean', False), ('mean', 'concat', True)])
def test_forward_equals_numpy_reference(weight_mode, fusion_mode, hard):
  config = _config(weight_mode=weight_mode, fusion_mode=fusion_mode,
                   hard_pruning=hard)
  model, inputs, params, graph = _build(config)
  out = model.apply({'params': params}, inputs)
  rep, w, a = _reference(model, params, inputs, graph)
  real = int(graph.n_edge[0])
  np.testing.assert_allclose(out['alpha'][:real], a, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out['weight'][:real], w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out['rep'], rep, rtol=1e-4, atol=1e-5)
  # Padding edges get zero weight and zero affinity.
  assert np.all(np.asarray(out['weight'][real:]) == 0)
  assert np.all(np.asarray(out['alpha'][real:]) == 0)


def test_affinities_by_hand_for_a_user_with_one_item():
  """User 2's only edge is from item 3: its affinity into user 2 is 1."""
  model, inputs, params, graph = _build(_config())
  out = model.apply({'params': params}, inputs)
  k = np.flatnonzero((graph.receivers == 2) & (graph.senders == U + 3))
  np.testing.assert_allclose(out['alpha'][k], 1.0, rtol=1e-6)


def test_hard_pruning_removes_negative_weights_soft_keeps_them():
  soft_model, inputs, params, graph = _build(_config(hard_pruning=False))
  # Negative confidences make confid weights negative on some edges.
  params = dict(params)
  params['confidence'] = -jnp.abs(params['confidence'])
  soft = soft_model.apply({'params': params}, inputs)['weight']
  hard_model = soft_model.clone(hard_pruning=True)
  hard = hard_model.apply({'params': params}, inputs)['weight']
  real = int(graph.n_edge[0])
  assert np.all(np.asarray(soft[:real]) < 0)
  np.testing.assert_array_equal(hard, np.maximum(soft, 0))


def test_official_routing_keeps_preferences_paper_routing_moves_them():
  model, inputs, params, graph = _build(_config(num_routing=3))
  official = model.apply({'params': params}, inputs)['rep']
  pref = _norm(np.asarray(params['visual_preference']))
  # The reference has no routing at all: official routing changes nothing.
  rep, _, _ = _reference(model, params, inputs, graph)
  np.testing.assert_allclose(official, rep, rtol=1e-4, atol=1e-5)

  paper_model = model.clone(routing='paper')
  mlp = params['visual']['mlp']
  f = _norm(_leaky(inputs['features']['visual'] @ np.asarray(mlp['kernel'])
                   + np.asarray(mlp['bias'])))
  # Paper routing: p_u <- norm(p_u + sum_i a_ui f_i), three times.
  want = pref.copy()
  for _ in range(3):
    new = want.copy()
    for u in range(U):
      items = ITEMS[USERS == u]
      logits = f[items] @ want[u]
      a = np.exp(logits - logits.max())
      a /= a.sum()
      new[u] = _norm(want[u] + a @ f[items])
    want = new
  out = paper_model.apply({'params': params}, inputs)['rep']
  # Users' visual block starts at column 4; it is p + sum_i alpha f_i, so
  # compare the preference part by subtracting the aggregation recomputed.
  h = np.concatenate([want, f])
  real = int(graph.n_edge[0])
  send, recv = graph.senders[:real], graph.receivers[:real]
  logits = np.array([h[t] @ h[s] for s, t in zip(send, recv)])
  agg = np.zeros_like(h)
  for t in range(U):
    rows = np.flatnonzero(recv == t)
    e = np.exp(logits[rows] - logits[rows].max())
    agg[t] = (e / e.sum()) @ h[send[rows]]
  np.testing.assert_allclose(out[:U, 4:8], want + agg[:U], rtol=1e-4,
                             atol=1e-5)
  # Routing moved each user's preference towards the mean of its items.
  for u in range(U):
    items = ITEMS[USERS == u]
    centre = _norm(f[items].mean(0))
    assert want[u] @ centre > pref[u] @ centre


def test_bag_of_words_modality_is_the_mean_of_word_embeddings():
  ds = _dataset(bag=True)
  config = _config(has_t=True, has_v=False, has_a=False, fusion_mode='id')
  model, inputs, params, _ = _build(config, ds)
  assert model.modalities == ('textual',)
  words = np.asarray(params['textual']['words'])
  content = grcn.Content(I, 4, int(words.shape[0])).apply(
      {'params': params['textual']}, inputs['bags']['textual'])
  np.testing.assert_allclose(content[0], words[[0, 1]].mean(0), rtol=1e-6)
  np.testing.assert_allclose(content[3], words[[3, 0]].mean(0), rtol=1e-6)


def test_modality_switches():
  model, _, params, _ = _build(_config(has_a=False))
  assert model.modalities == ('visual',)
  assert not any(k.startswith('acoustic') for k in params)
  with pytest.raises(ConfigError, match='textual'):
    _build(_config(has_t=True))
  with pytest.raises(ConfigError, match='at least one'):
    _build(_config(has_v=False, has_a=False))


def test_edge_dropout_is_symmetric_and_only_in_training():
  model, inputs, params, graph = _build(_config(edge_dropout=0.5))
  out = model.apply({'params': params}, inputs, train=True,
                    rngs={'dropout': jax.random.key(3)})
  w = np.asarray(out['weight'])
  real = int(graph.n_edge[0])
  dropped = w[:real] == 0
  assert dropped.any() and not dropped.all()
  np.testing.assert_array_equal(dropped, dropped[graph.edges['reverse'][:real]])
  clean = model.apply({'params': params}, inputs)['weight']
  assert np.all(np.asarray(clean[:real]) != 0)


def _numpy_l2(x):
  return 0.5 * np.sum(np.square(x), axis=-1)


@pytest.mark.parametrize('weight_mode,fusion_mode,hard',
                         [('confid', 'concat', False), ('confid', 'id', True),
                          ('max', 'mean', False), ('mean', 'concat', True)])
def test_loss_equals_numpy_bpr_and_l2_on_the_reference(weight_mode,
                                                       fusion_mode, hard):
  """Per example: -log sigmoid(r_u.r_pos - r_u.r_neg) on the numpy forward,
  items offset by U, plus l2_weight ((2 |e_u|^2/2 + |e_pos|^2/2 +
  |e_neg|^2/2) / E + sum_m 2 |P_m[u]|^2/2 / C) of the raw parameters."""
  config = _config(weight_mode=weight_mode, fusion_mode=fusion_mode,
                   hard_pruning=hard)
  config.l2_weight = 0.3
  model, inputs, params, graph = _build(config)
  user, pos, neg = np.array([0, 1, 2, 0]), np.array([1, 2, 3, 0]), np.array(
      [3, 3, 0, 2])
  batch = {'user': jnp.asarray(user), 'pos': jnp.asarray(pos),
           'neg': jnp.asarray(neg)}
  got = grcn.loss(model, params, inputs, batch, grcn.loss_params(config),
                  spec.single_device(jax.random.key(0)))
  rep, _, _ = _reference(model, params, inputs, graph)
  margin = np.sum(rep[user] * (rep[pos + U] - rep[neg + U]), axis=-1)
  e = np.asarray(params['id_embedding'])
  reg = (2 * _numpy_l2(e[user]) + _numpy_l2(e[pos + U]) +
         _numpy_l2(e[neg + U])) / 4
  for m in model.modalities:
    reg += 2 * _numpy_l2(np.asarray(params[f'{m}_preference'])[user]) / 4
  want = np.log1p(np.exp(-margin)) + 0.3 * reg
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('weight_mode,fusion_mode,hard', list(
    itertools.product(grcn.WEIGHT_MODES, grcn.FUSION_MODES, (False, True))))
def test_every_combination_trains_a_step(weight_mode, fusion_mode, hard):
  config = _config(weight_mode=weight_mode, fusion_mode=fusion_mode,
                   hard_pruning=hard, edge_dropout=0.2)
  model, inputs, params, _ = _build(config)
  batch = {'user': jnp.array([0, 1, 2]), 'pos': jnp.array([0, 2, 3]),
           'neg': jnp.array([3, 3, 0])}
  loss = lambda p: jnp.mean(grcn.loss(
      model, p, inputs, batch, grcn.loss_params(config),
      spec.single_device(jax.random.key(0))))
  value, grads = jax.value_and_grad(loss)(params)
  assert np.isfinite(value)
  # grads is the loss's gradient (edge-dropout key fixed): along it, the
  # loss changes at rate |grads|^2 (central difference over +-t grads). A
  # path cut from the gradient (a wrong custom VJP, a stop_gradient) fails.
  norm2 = sum(float(jnp.vdot(g, g)) for g in jax.tree.leaves(grads))
  t = 1e-2 / np.sqrt(norm2)
  step = lambda sign: jax.tree.map(lambda p, g: p + sign * t * g, params,
                                   grads)
  rate = (float(loss(step(1))) - float(loss(step(-1)))) / (2 * t)
  assert rate == pytest.approx(norm2, rel=2e-2)
