"""Level 1 parity of PANE-GNN and SiReN with their authors' PyTorch code.

Both sides get the same small signed dataset (jaxrec's built-in synthetic
likes and dislikes), the same graphs (G_p, G_n and the distorted G_d, whose
kept directed edges jaxrec draws and hands to torch), the same initial
parameters (jaxrec's, copied into the torch module), the same batch (users,
rated items, signs, K negatives) and no dropout (the torch module in eval
mode, jaxrec with dropout 0). Compared: the final embeddings (Z, V, V~),
the full score matrices, the loss, and the gradient of every parameter.

PANE-GNN's reference is the May-2023 version of Young0222/PaN-GNN (commit
8b4f7f7, pnegnn.py; later versions are another model, see the README);
SiReN's is cw-seo/SiReN-reco (siren.py).

  python benchmarks/parity/signed.py --model=pane_gnn --reference=PaN-GNN
  python benchmarks/parity/signed.py --model=siren --reference=SiReN-reco

'reference' mode runs jaxrec with configs/*:reference (for PANE-GNN, every
switch of configs/common.py pane_gnn_reference); 'paper' mode with the defaults
(PANE-GNN's paper equations), to show what the switches change. SiReN's
default already is its authors' code, so it has one mode. The authors'
losses are sums over the batch where jaxrec's train step takes means;
jaxrec's loss and gradients are multiplied by the batch size to compare
(PANE-GNN's reference mode returns their sums itself, see
models/pane_gnn.py).
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import shims  # pylint: disable=g-import-not-at-top,wrong-import-position

_MODEL = flags.DEFINE_enum('model', 'pane_gnn', ['pane_gnn', 'siren'],
                           'Which model to compare.')
_REFERENCE = flags.DEFINE_string(
    'reference', None, 'Checkout of the authors\' code: PaN-GNN at 8b4f7f7 '
    '(pnegnn.py) for pane_gnn, SiReN-reco (siren.py) for siren.')
_COMMIT = flags.DEFINE_string('reference_commit', None,
                              'The checkout\'s commit (default: git HEAD).')
_OUT = flags.DEFINE_string('out', common.RESULTS, 'The parity JSON.')
_BATCH = flags.DEFINE_integer('batch_size', 256, 'Ratings in the batch.')

MARKER = {'pane_gnn': 'pnegnn.py', 'siren': 'siren.py'}


def _setup(arg: str, model: str):
  """(config, task, params, batch) of jaxrec on the synthetic signed data."""
  import jax  # pylint: disable=g-import-not-at-top
  from configs import pane_gnn_synthetic  # pylint: disable=g-import-not-at-top
  from configs import siren_synthetic  # pylint: disable=g-import-not-at-top
  from jaxrec import tasks  # pylint: disable=g-import-not-at-top
  from jaxrec import train_state  # pylint: disable=g-import-not-at-top
  files = {'pane_gnn': pane_gnn_synthetic, 'siren': siren_synthetic}
  config = files[model].get_config(arg)
  config.model.dropout = 0.0
  config.batch_size = _BATCH.value
  task = tasks.build(config)
  params = train_state.create(task, 0).params
  batch = task.kind.batches(task, 1).batch(0, 0)
  assert batch['mask'].all(), 'the first batch of an epoch has no padding'
  return config, task, jax.device_get(params), batch


def _jax_loss_and_grads(task, config, params, batch):
  """jaxrec's loss (the train step's) and its gradients, one device."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec.models import spec  # pylint: disable=g-import-not-at-top
  hp = task.spec.loss_params(config)
  ctx = spec.single_device(jax.random.key(0))

  def local(p, b):
    per = task.spec.loss(task.model, p, task.inputs, b, hp, ctx)
    return jnp.sum(per * b['mask']) / jnp.sum(b['mask'])

  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  loss, grads = jax.value_and_grad(local)(params, batch)
  return float(loss), jax.tree.map(np.asarray, grads)


def _edge_index(torch, senders, receivers):
  return torch.stack([torch.as_tensor(np.asarray(senders), dtype=torch.long),
                      torch.as_tensor(np.asarray(receivers),
                                      dtype=torch.long)])


def _undirected(torch, users, items):
  """Their edge_index: user->item edges, then item->user, node ids."""
  return _edge_index(torch, np.concatenate([users, items]),
                     np.concatenate([items, users]))


def _copy(torch, param, value):
  with torch.no_grad():
    param.copy_(torch.as_tensor(np.asarray(value, np.float32)))


def _copy_fusion(torch, module, fusion):
  """jaxrec's MLP and attention (kernels [in, out]) into their Linear layers."""
  for k, layer in enumerate(module.mlps):
    _copy(torch, layer.weight, fusion['mlp'][f'Dense_{k}']['kernel'].T)
    _copy(torch, layer.bias, fusion['mlp'][f'Dense_{k}']['bias'])
  _copy(torch, module.attn.weight, fusion['attention']['hidden']['kernel'].T)
  _copy(torch, module.attn.bias, fusion['attention']['hidden']['bias'])
  _copy(torch, module.q.weight, fusion['attention']['query']['kernel'].T)


def _fusion_grads(module):
  """Their MLP / attention gradients in jaxrec's layout."""
  g = lambda p: p.grad.numpy()
  mlp = {f'Dense_{k}': {'kernel': g(layer.weight).T, 'bias': g(layer.bias)}
         for k, layer in enumerate(module.mlps)}
  hidden = {'kernel': g(module.attn.weight).T, 'bias': g(module.attn.bias)}
  return {'mlp': mlp, 'attention': {
      'hidden': hidden, 'query': {'kernel': g(module.q.weight).T}}}


def _flat(tree, prefix=''):
  """{'a/b/c': array} of a nested dict."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}/'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def _batch_tensors(torch, task, batch):
  u = task.data.num_users
  return (torch.as_tensor(batch['user'], dtype=torch.long),
          torch.as_tensor(batch['pos'] + u, dtype=torch.long),
          torch.as_tensor(batch['sign'], dtype=torch.float32),
          torch.as_tensor(batch['neg'] + u, dtype=torch.long))


def _with_floor(ours: dict, theirs32: dict, theirs64: dict) -> dict:
  """compare(ours, theirs32), each with the fp32 floor of the quantity.

  The floor is how far their own float32 result is from their float64 one
  (jaxrec's distance to that float64 result is kept too):
  a quantity that cancels (a bias gradient summing terms of both signs) has
  a relative error of that size whatever the order of the float32 sums, so
  jaxrec cannot be expected to be closer to their float32 than that.
  """
  out = common.compare((k, ours[k], theirs32[k]) for k in ours)
  for k, r in out.items():
    r['fp32_floor'] = common.max_rel_err(theirs32[k], theirs64[k])
    r['vs_their_fp64'] = common.max_rel_err(ours[k], theirs64[k])
    r['ok'] = r['max_rel_err'] <= max(common.TARGET, 2 * r['fp32_floor'])
  return out


def _their_pane(torch, ref_lib, config, task, params, batch, graphs_t,
                dtype) -> dict:
  """Their PNeGNN's embeddings, scores, loss and gradients, in dtype."""
  m, u, i = config.model, task.data.num_users, task.data.num_items
  ref = ref_lib.PNeGNN(None, u, i, offset=3.5, num_layers=m.num_layers,
                       MLP_layers=2, dim=m.embed_dim, reg=config.l2_weight,
                       device=torch.device('cpu'))
  _copy(torch, ref.E_pos, params['interest'][:u])
  _copy(torch, ref.E_item, params['interest'][u:])
  _copy(torch, ref.E_neg, params['disinterest'][:u])
  _copy(torch, ref.E_item_n, params['disinterest'][u:])
  # Paper mode has no second table (the MLP reads Z^(0)); theirs always does.
  _copy(torch, ref.E2, params.get('mlp', params['interest']))
  _copy_fusion(torch, ref, params['fusion'])
  ref.to(dtype)
  ref.eval()  # Dropout off (jaxrec: dropout 0).
  z, v, vt = ref.aggregate_u_two_embeddings(*graphs_t)
  user, item, sign, neg = _batch_tensors(torch, task, batch)
  loss = ref(user, item, sign.to(dtype), neg, *graphs_t, torch.device('cpu'))
  loss.backward()
  g = lambda p: p.grad.numpy()
  out = {'embeddings/Z': z, 'embeddings/V': v, 'embeddings/V_tilde': vt,
         'scores/interest': z[:u] @ z[u:].T,
         'scores/disinterest': v[:u] @ v[u:].T, 'loss': loss,
         'grad/interest': np.concatenate([g(ref.E_pos), g(ref.E_item)]),
         'grad/disinterest': np.concatenate([g(ref.E_neg), g(ref.E_item_n)]),
         'grad/mlp': g(ref.E2)}
  out.update({f'grad/fusion/{k}': x
              for k, x in _flat(_fusion_grads(ref)).items()})
  return {k: common.to_numpy(x) for k, x in out.items()}


def pane_gnn_mode(torch, ref_lib, arg: str) -> dict[str, dict]:
  """One comparison of jaxrec (config arg) with their PNeGNN."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxrec import graphs  # pylint: disable=g-import-not-at-top
  config, task, params, batch = _setup(arg, 'pane_gnn')
  data, m = task.data, config.model
  u = data.num_users
  train = data.train
  likes, dislikes = train.select(train.liked), train.select(~train.liked)
  # Their G_d: the directed edges jaxrec kept (graphs.directed_keep).
  heads, tails = dislikes.user, dislikes.item + u
  keep = graphs.directed_keep(len(heads), m.edge_removal, config.seed)
  senders = np.concatenate([heads, tails])[keep]
  receivers = np.concatenate([tails, heads])[keep]
  data_cls = __import__('torch_geometric.data', fromlist=['Data']).Data
  graphs_t = (
      data_cls(edge_index=_undirected(torch, likes.user, likes.item + u)),
      data_cls(edge_index=_undirected(torch, heads, tails)),
      data_cls(edge_index=_edge_index(torch, senders, receivers)))
  theirs = {dtype: _their_pane(torch, ref_lib, config, task, params, batch,
                               graphs_t, dtype)
            for dtype in (torch.float32, torch.float64)}

  out = task.model.apply({'params': params}, task.inputs, train=True,
                         rngs={'dropout': jax.random.key(0)})
  loss, grads = _jax_loss_and_grads(task, config, params, batch)
  if m.loss_reduction == 'mean':  # Per rating: their sums are B times more.
    scale = float(batch['mask'].sum())
    loss *= scale
    grads = jax.tree.map(lambda g: g * scale, grads)
  z, v, vt = (np.asarray(out[k]) for k in ('z', 'v', 'v_tilde'))
  ours = {'embeddings/Z': z, 'embeddings/V': v, 'embeddings/V_tilde': vt,
          'scores/interest': z[:u] @ z[u:].T,
          'scores/disinterest': v[:u] @ v[u:].T, 'loss': np.float64(loss)}
  ours.update({f'grad/{k}': x for k, x in _flat(grads).items()})
  return _with_floor(ours, theirs[torch.float32], theirs[torch.float64])


def _their_siren(torch, ref_lib, config, task, params, batch, dtype) -> dict:
  """Their SiReN's embeddings, scores, loss and gradients, in dtype."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  m, train = config.model, task.data.train
  u, i = task.data.num_users, task.data.num_items
  # Their constructor builds G_p from a ratings table (1-based ids).
  frame = pd.DataFrame({'userId': train.user.astype(np.int64) + 1,
                        'movieId': train.item.astype(np.int64) + 1,
                        'rating': np.where(train.liked, 5.0, 1.0)})
  ref = ref_lib.SiReN(frame, u, i, offset=3.5, num_layers=m.num_layers,
                      MLP_layers=2, dim=m.embed_dim, reg=config.l2_weight,
                      device=torch.device('cpu'))
  _copy(torch, ref.E, params['graph'])
  _copy(torch, ref.E2, params['mlp'])
  _copy_fusion(torch, ref, params['fusion'])
  ref.to(dtype)
  ref.eval()
  z = ref.aggregate()
  user, item, sign, neg = _batch_tensors(torch, task, batch)
  loss = ref(user, item, sign.to(dtype), neg, torch.device('cpu'))
  loss.backward()
  out = {'embeddings/Z': z, 'scores': z[:u] @ z[u:].T, 'loss': loss,
         'grad/graph': ref.E.grad.numpy(), 'grad/mlp': ref.E2.grad.numpy()}
  out.update({f'grad/fusion/{k}': x
              for k, x in _flat(_fusion_grads(ref)).items()})
  return {k: common.to_numpy(x) for k, x in out.items()}


def siren_mode(torch, ref_lib) -> dict[str, dict]:
  """jaxrec's SiReN against theirs."""
  import jax  # pylint: disable=g-import-not-at-top
  config, task, params, batch = _setup(None, 'siren')
  u = task.data.num_users
  theirs = {dtype: _their_siren(torch, ref_lib, config, task, params, batch,
                                dtype)
            for dtype in (torch.float32, torch.float64)}
  z = np.asarray(task.model.apply({'params': params}, task.inputs))
  loss, grads = _jax_loss_and_grads(task, config, params, batch)
  scale = float(batch['mask'].sum())
  ours = {'embeddings/Z': z, 'scores': z[:u] @ z[u:].T,
          'loss': np.float64(loss * scale)}
  ours.update({f'grad/{k}': x * scale for k, x in _flat(grads).items()})
  return _with_floor(ours, theirs[torch.float32], theirs[torch.float64])


def run() -> None:
  model = _MODEL.value
  torch = common.require_torch()
  path = common.require_reference(_REFERENCE.value, MARKER[model])
  shims.stub_if_missing('torch_scatter')  # Imported by convols.py, unused.
  torch.manual_seed(0)
  [ref_lib] = common.import_from(path, MARKER[model][:-3])
  if model == 'pane_gnn':
    modes = {'reference': pane_gnn_mode(torch, ref_lib, 'reference,smoke'),
             'paper': pane_gnn_mode(torch, ref_lib, 'smoke')}
  else:
    modes = {'reference': siren_mode(torch, ref_lib)}
  ok = common.report(model, modes)
  common.write(model, {
      'reference_repo': {'pane_gnn': 'Young0222/PaN-GNN (pnegnn.py)',
                         'siren': 'cw-seo/SiReN-reco (siren.py)'}[model],
      'reference_commit': _COMMIT.value or common.commit_of(path),
      'setup': (f'synthetic signed data (jaxrec smoke config), batch '
                f'{_BATCH.value}, dropout off, float32'),
      'all_reference_ok': ok, 'modes': modes}, _OUT.value)


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
