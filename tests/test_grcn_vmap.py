"""GRCN's vmapped modalities give the numbers of the per-modality loop.

The reference here is GRCN's forward as it was written before the vmap: a
Python loop over the modalities, each running its routing, affinities,
softmax and aggregation alone (the same ops calls, unbatched). The model's
forward, loss and every parameter's gradient must match it on the built-in
synthetic GRCN data, with 2 and 3 modalities (dense and bag of words) and
the switches that change the per-modality work.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import grcn_movielens
from configs import grcn_tiktok
from jaxrec import graphs
from jaxrec import ops
from jaxrec.data import synthetic_grcn
from jaxrec.models import grcn
from jaxrec.models import grcn_modality
from jaxrec.models import spec

RTOL = 1e-6


def _norm(model, x):
  return grcn_modality.normalise(x) if model.has_norm else x


def _act(model, x):
  return jax.nn.leaky_relu(x) if model.has_act else x


def _affinity(model, adj, h, mask):
  logits = ops.edge_dot(adj, h, h, model.propagation)
  return ops.segment_softmax(logits, adj.receivers, adj.num_nodes, mask)


def _loop_modality(model, params, inputs, adj, mask, m):
  """One modality alone: (rep [N_pad, C], alpha [E_pad])."""
  u, n_pad, impl = model.num_users, adj.num_nodes, model.propagation
  vocab = dict(model.bag_vocab).get(m, 0)
  x = inputs['bags'][m] if vocab else inputs['features'][m]
  content = grcn.Content(model.num_items, model.content_dim, vocab,
                         model.mlp_init)
  f = _norm(model, content.apply({'params': params[m]}, x))
  p = _norm(model, params[f'{m}_preference'])
  if model.routing == 'paper':
    into_users = mask & (adj.receivers < u)
    for _ in range(model.num_routing):
      h = grcn_modality.pad_rows(jnp.concatenate([p, f]), n_pad)
      a = _affinity(model, adj, h, into_users)
      p = _norm(model, p + ops.propagate(adj, a, h, impl)[:u])
  h = grcn_modality.pad_rows(jnp.concatenate([p, f]), n_pad)
  alpha = _affinity(model, adj, h, mask)
  return h + _act(model, ops.propagate(adj, alpha, h, impl)), alpha


def _loop_forward(model, params, inputs, mask):
  """GRCN.__call__'s outputs with the modalities in a Python loop."""
  adj, impl = ops.adjacency(inputs['graph']), model.propagation
  n, n_pad = model.num_users + model.num_items, adj.num_nodes
  reps, alphas = [], []
  for m in model.modalities:
    rep_m, alpha_m = _loop_modality(model, params, inputs, adj, mask, m)
    reps.append(rep_m)
    alphas.append(alpha_m)
  alpha = jnp.stack(alphas, axis=-1)
  confidence = jnp.zeros((n, len(model.modalities)))
  if model.weight_mode == 'mean':
    weight = alpha.mean(-1)
  elif model.weight_mode == 'max':
    weight = alpha.max(-1)
  else:
    confidence = params['confidence']
    weight = (alpha * ops.gather(adj, grcn_modality.pad_rows(confidence, n_pad),
                                 'senders', impl)).max(-1)
  if model.hard_pruning:
    weight = jax.nn.relu(weight)
  weight = jnp.where(mask, weight, 0.0)
  x = grcn_modality.pad_rows(_norm(model, params['id_embedding']), n_pad)
  h1 = _act(model, ops.propagate(adj, weight, x, impl))
  id_rep = x + h1 + _act(model, ops.propagate(adj, weight, h1, impl))
  rep = {'concat': lambda: jnp.concatenate([id_rep, *reps], axis=-1),
         'mean': lambda: jnp.mean(jnp.stack([id_rep, *reps]), axis=0),
         'id': lambda: id_rep}[model.fusion_mode]()
  prefs = {m: params[f'{m}_preference'] for m in model.modalities}
  return {'rep': rep[:n], 'id': params['id_embedding'], 'preference': prefs,
          'weight': weight, 'alpha': alpha, 'confidence': confidence}


class _Loop:
  """The model as grcn.loss sees it, its forward replaced by the loop.

  mask is the edge mask of the forward being matched (the edge-dropout draw
  included): the loop has no rng of its own.
  """

  def __init__(self, model, mask):
    self.model, self.mask = model, mask

  def __getattr__(self, name):
    return getattr(self.model, name)

  def apply(self, variables, inputs, train=False, rngs=None):
    del train, rngs
    return _loop_forward(self.model, variables['params'], inputs, self.mask)


class _Recorded:
  """A model (or _Loop) whose last forward's outputs are kept in .out.

  grcn.loss returns the loss only; the outputs of the same forward come
  back as the aux value of value_and_grad (one forward, not two).
  """

  def __init__(self, model):
    self.model, self.out = model, None

  def __getattr__(self, name):
    return getattr(self.model, name)

  def apply(self, *args, **kwargs):
    self.out = self.model.apply(*args, **kwargs)
    return self.out


def _build(preset, **model):
  """GRCN on the built-in synthetic data of a preset's smoke config.

  The parameters are random draws of init's shapes: evaluating init would
  compile the forward once more, and any values serve the comparison.
  """
  config = {'movielens': grcn_movielens, 'tiktok': grcn_tiktok}[
      preset].get_config('smoke')
  config.unlock()
  config.model.embed_dim = config.model.content_dim = 8
  config.l2_weight = 0.1
  for k, v in model.items():
    config.model[k] = v
  ds = synthetic_grcn.synthetic_grcn(preset, num_users=40, num_items=30)
  graph = graphs.bipartite(ds.train.user, ds.train.item, ds.num_users,
                           ds.num_items)
  net = grcn.create(config, ds)
  inputs = grcn.inputs(config, ds, graph)
  shapes = jax.eval_shape(net.init, jax.random.key(0), inputs)['params']
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: jnp.asarray(
      rng.normal(0, 0.3, s.shape).astype(np.float32)), shapes)
  return config, net, inputs, params


def _both(config, net, inputs, params, dropout):
  """{name: (model's, loop's)}: training forward, scores, loss, gradient.

  All in one jit: op by op compiles far more. Edge dropout is on when
  configured; the scores are those of the training forward's
  representations.
  """
  ctx = spec.single_device(jax.random.key(7))
  hp = grcn.loss_params(config)
  batch = {'user': jnp.array([0, 5, 9, 39]), 'pos': jnp.array([1, 2, 3, 29]),
           'neg': jnp.array([4, 0, 7, 11])}
  real = ops.edge_mask(inputs['graph'])

  def loss_grad_out(model, params):
    model = _Recorded(model)
    mean_loss = lambda p: (jnp.mean(grcn.loss(model, p, inputs, batch, hp,
                                              ctx)), model.out)
    (value, out), grad = jax.value_and_grad(mean_loss, has_aux=True)(params)
    return value, grad, out

  def run(params):
    value, grad, out = loss_grad_out(net, params)
    # The edges the dropout kept: their affinities are > 0 (softmax of
    # logits in [-1, 1] when normalised), the dropped ones' exactly 0.
    kept = jnp.any(out['alpha'] > 0, axis=-1) if dropout else real
    value_loop, grad_loop, out_loop = loss_grad_out(_Loop(net, kept), params)
    scores = lambda rep: rep[:net.num_users] @ rep[net.num_users:].T
    dropped = jnp.sum(real & ~kept)
    return {'forward': (out, out_loop), 'dropped': (dropped, dropped),
            'scores': (scores(out['rep']), scores(out_loop['rep'])),
            'loss': (value, value_loop), 'grad': (grad, grad_loop)}

  # LLVM at -O0 halves this compile (the whole test's time); the two paths
  # agree at the default level as well (checked when this was written).
  return jax.jit(run).lower(params).compile(
      {'xla_backend_optimization_level': 0})(params)


@pytest.mark.parametrize('preset,model', [
    # 3 modalities: visual and acoustic dense, textual a bag of words; no
    # normalisation, mean weights and fusion, MMRec's L2 term.
    ('tiktok', dict(has_norm=False, fusion_mode='mean', weight_mode='mean',
                    l2_variant='mmrec')),
    # 2 modalities; paper routing, hard pruning, activations, edge dropout.
    ('movielens', dict(has_t=False, routing='paper', num_routing=2,
                       hard_pruning=True, has_act=True, edge_dropout=0.3,
                       mlp_init='torch')),
])
def test_vmapped_modalities_equal_the_loop(preset, model):
  config, net, inputs, params = _build(preset, **model)
  assert len(net.modalities) == 2 + ('has_t' not in model)
  dropout = bool(model.get('edge_dropout'))
  pairs = _both(config, net, inputs, params, dropout)
  assert (int(pairs['dropped'][0]) > 0) == dropout
  assert jax.tree.structure(pairs['grad'][0]) == jax.tree.structure(
      pairs['grad'][1])
  for name, (got, want) in pairs.items():
    for path, leaf in jax.tree_util.tree_leaves_with_path(want):
      what = name + jax.tree_util.keystr(path)
      want_leaf = np.asarray(leaf)
      np.testing.assert_allclose(
          np.asarray(_leaf(got, path)), want_leaf, rtol=RTOL,
          atol=RTOL * float(np.max(np.abs(want_leaf))), err_msg=what)


def _leaf(tree, path):
  for key in path:
    tree = tree[key.key if hasattr(key, 'key') else key.idx]
  return tree


def test_parameter_tree_is_unchanged():
  """The names and shapes checkpoints hold: one preference table and one
  content module per modality, the confidences and the id embeddings."""
  config, net, inputs, _ = _build('tiktok')
  del config
  shapes = jax.eval_shape(net.init, jax.random.key(0), inputs)['params']
  u, n, c = net.num_users, net.num_users + net.num_items, 8
  vocab = dict(net.bag_vocab)['textual']
  want = {'visual_preference': (u, c), 'acoustic_preference': (u, c),
          'textual_preference': (u, c),
          'visual': {'mlp': {'kernel': (128, c), 'bias': (c,)}},
          'acoustic': {'mlp': {'kernel': (128, c), 'bias': (c,)}},
          'textual': {'words': (vocab, c)},
          'confidence': (n, 3), 'id_embedding': (n, c)}
  assert jax.tree.map(lambda s: s.shape, shapes) == want
