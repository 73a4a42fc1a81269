"""Level-1 parity: jaxrec's gcn_link encoder against two PyG GCNConv layers.

  python benchmarks/parity/gcn_conv.py

The co-purchase GCN of the article jaxrec follows is two
torch_geometric.nn.GCNConv layers (self loops, symmetric normalisation
with degrees counting the self loop, bias after aggregation) on one-hot
item ids, ReLU between them, dot-product link scores and BCE against
sampled non-edges. This harness builds a small random item graph (one
isolated item), gives both sides the same weights (jaxrec's
initialisation, biases made non-zero, copied into torch: GCNConv.lin.weight
is jaxrec's kernel transposed, and the one-hot layer's weight is jaxrec's
id table) and the same positive and negative pairs, and compares the first
layer's output, the item embeddings, the pair logits, the mean BCE loss and
the gradient of every parameter.

Modes: 'reference' (unweighted graph, jaxrec's default kernel),
'weighted' (co-occurrence counts as edge weights, model.weighted_edges),
'features' (one-hot ids plus item features: PyG gets [one-hot, features]
as x, jaxrec adds the two projections), 'segment_sum' (the other kernel).

Needs torch and torch_geometric; without them prints SKIPPED and exits 0.
"""

from __future__ import annotations

import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common  # pylint: disable=g-bad-import-order

_OUT = flags.DEFINE_string('out', common.RESULTS, 'Parity JSON to merge into.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of graph, weights and pairs.')
_ITEMS = flags.DEFINE_integer('num_items', 25, 'Items (graph nodes).')
_EDGES = flags.DEFINE_integer('num_edges', 60, 'Undirected edges.')
_HIDDEN = flags.DEFINE_integer('hidden_dim', 16, 'Width of layer 1.')
_OUT_DIM = flags.DEFINE_integer('embed_dim', 8, 'Width of layer 2.')
_FEATURES = flags.DEFINE_integer('feature_dim', 5, "Features ('features').")
_PAIRS = flags.DEFINE_integer('pairs', 24, 'Positive (and negative) pairs.')

# mode -> (weighted edges, item features, propagation kernel)
MODES = {'reference': (False, False, 'auto'),
         'weighted': (True, False, 'auto'),
         'features': (False, True, 'auto'),
         'segment_sum': (False, False, 'segment_sum')}


def make_graph(rng: np.random.Generator, num_items: int, num_edges: int):
  """Random distinct undirected edges among items 0..I-2 (I-1 is isolated).

  Returns:
    (i, j, counts): int [E], int [E] with i < j, float32 [E] in 1..5.
  """
  pairs = set()
  while len(pairs) < num_edges:
    a, b = rng.integers(0, num_items - 1, 2)
    if a != b:
      pairs.add((min(a, b), max(a, b)))
  i, j = np.array(sorted(pairs)).T
  return i, j, rng.integers(1, 6, num_edges).astype(np.float32)


def make_pairs(rng: np.random.Generator, i, j, num_items: int, n: int):
  """n edges (label 1) and n non-edges (label 0), as jaxrec batch arrays."""
  edges = set(zip(i.tolist(), j.tolist()))
  pick = rng.choice(len(i), n, replace=False)
  src, dst = list(i[pick]), list(j[pick])
  while len(src) < 2 * n:
    a, b = (int(x) for x in rng.integers(0, num_items, 2))
    if a != b and (min(a, b), max(a, b)) not in edges:
      src.append(a)
      dst.append(b)
  return {'src': np.array(src, np.int32), 'dst': np.array(dst, np.int32),
          'label': np.repeat([1.0, 0.0], n).astype(np.float32)}


def compare_mode(torch, pyg_conv, weighted: bool, use_features: bool,
                 propagation: str) -> dict[str, dict]:
  """Every compared quantity for one setting."""
  # jaxrec (and JAX) are imported only once torch is there, so that a
  # skipped run returns in half a second.
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec import graphs  # pylint: disable=g-import-not-at-top
  from jaxrec.models import gcn_link  # pylint: disable=g-import-not-at-top
  from jaxrec.models import spec  # pylint: disable=g-import-not-at-top


  rng = np.random.default_rng(_SEED.value)
  n_items = _ITEMS.value
  i, j, counts = make_graph(rng, n_items, _EDGES.value)
  feats = rng.normal(size=(n_items, _FEATURES.value)).astype(np.float32)
  batch = make_pairs(rng, i, j, n_items, _PAIRS.value)
  names = ('x',) if use_features else ()
  graph = graphs.item_item(i, j, n_items, counts, weighted=weighted,
                           node_fields={'x': feats} if use_features else None)
  model = gcn_link.GCNEncoder(num_items=n_items, hidden=_HIDDEN.value,
                              out=_OUT_DIM.value, dropout=0.0,
                              feature_names=names, propagation=propagation)
  params = model.init(jax.random.key(_SEED.value), graph)['params']
  # Non-zero biases, so that "bias after aggregation" is tested.
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: (jnp.asarray(rng.normal(size=x.shape), x.dtype)
                       if path[-1].key == 'bias' else x), params)

  # PyG: x = [one-hot ids, features], conv1.lin.weight = [ids; W_f]^T.
  n_in = n_items + (_FEATURES.value if use_features else 0)
  conv1 = pyg_conv(n_in, _HIDDEN.value)
  conv2 = pyg_conv(_HIDDEN.value, _OUT_DIM.value)
  w1 = np.asarray(params['id_weight'])
  if use_features:
    w1 = np.concatenate([w1, np.asarray(params['feature_x']['kernel'])])
  with torch.no_grad():
    conv1.lin.weight.copy_(torch.from_numpy(w1.T.copy()))
    conv1.bias.copy_(torch.from_numpy(np.array(params['conv1']['bias'])))
    conv2.lin.weight.copy_(torch.from_numpy(
        np.asarray(params['conv2']['Dense_0']['kernel']).T.copy()))
    conv2.bias.copy_(torch.from_numpy(np.array(params['conv2']['bias'])))
  x = np.eye(n_items, dtype=np.float32)
  if use_features:
    x = np.concatenate([x, feats], axis=1)
  edge_index = torch.from_numpy(np.stack([np.concatenate([i, j]),
                                          np.concatenate([j, i])]))
  edge_weight = (torch.from_numpy(np.concatenate([counts, counts]))
                 if weighted else None)
  h1 = conv1(torch.from_numpy(x), edge_index, edge_weight)
  z_t = conv2(torch.relu(h1), edge_index, edge_weight)
  src, dst = (torch.from_numpy(batch[k].astype(np.int64))
              for k in ('src', 'dst'))
  logits_t = (z_t[src] * z_t[dst]).sum(-1)
  loss_t = torch.nn.functional.binary_cross_entropy_with_logits(
      logits_t, torch.from_numpy(batch['label']))
  loss_t.backward()

  z, state = model.apply({'params': params}, graph, capture_intermediates=True)
  h1_j = state['intermediates']['conv1']['__call__'][0][:n_items]
  logits = jnp.sum(z[batch['src']] * z[batch['dst']], axis=-1)
  def mean_loss(p):
    return jnp.mean(gcn_link.loss(model, p, graph, batch, None,
                                  spec.single_device(jax.random.key(0))))

  loss, grads = jax.value_and_grad(mean_loss)(params)
  g_w1 = np.asarray(conv1.lin.weight.grad).T
  pairs = [('layer1_output', h1_j, h1),
           ('item_embeddings', z, z_t),
           ('pair_logits', logits, logits_t),
           ('bce_loss', loss, loss_t),
           ('grad_id_weight', grads['id_weight'], g_w1[:n_items]),
           ('grad_conv1_bias', grads['conv1']['bias'], conv1.bias.grad),
           ('grad_conv2_kernel', grads['conv2']['Dense_0']['kernel'],
            conv2.lin.weight.grad.T),
           ('grad_conv2_bias', grads['conv2']['bias'], conv2.bias.grad)]
  if use_features:
    pairs.append(('grad_feature_kernel', grads['feature_x']['kernel'],
                  g_w1[n_items:]))
  return common.compare(pairs)


def run() -> None:
  """Compares every mode, writes and prints the results."""
  torch = common.require_torch()
  try:
    import torch_geometric.nn  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise common.Unavailable('torch_geometric is not installed: '
                             'pip install torch_geometric') from e
  torch.set_num_threads(1)
  logging.set_verbosity(logging.WARNING)
  modes = {mode: compare_mode(torch, torch_geometric.nn.GCNConv, *setting)
           for mode, setting in MODES.items()}
  common.report('gcn_conv', modes)
  ok = all(r['ok'] for results in modes.values() for r in results.values())
  import jax  # pylint: disable=g-import-not-at-top
  common.write('gcn_conv', {
      'reference': {'repository': 'pyg-team/pytorch_geometric',
                    'version': torch_geometric.__version__,
                    'code': 'torch_geometric.nn.GCNConv (defaults: '
                            'add_self_loops, normalize, bias)'},
      'setup': {'num_items': _ITEMS.value, 'undirected_edges': _EDGES.value,
                'isolated_items': 1, 'hidden_dim': _HIDDEN.value,
                'embed_dim': _OUT_DIM.value, 'pairs': 2 * _PAIRS.value,
                'feature_dim': _FEATURES.value, 'dropout': 0.0,
                'seed': _SEED.value, 'dtype': 'float32',
                'torch': torch.__version__, 'jax': jax.__version__},
      'modes': modes,
      'notes': 'loss = mean BCE with logits over the pairs on both sides '
               '(jaxrec gcn_link.loss per pair, averaged as '
               'train.train_step does).',
      'ok': ok,
  }, _OUT.value)
  print(f'wrote {_OUT.value} [gcn_conv]')
  if not ok:
    sys.exit(1)


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
