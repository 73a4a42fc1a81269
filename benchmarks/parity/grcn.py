"""Level-1 parity: jaxrec's GRCN against the authors' PyTorch GRCN.

  python benchmarks/parity/grcn.py --reference=PATH/MMRec --flavour=mmrec
  python benchmarks/parity/grcn.py --reference=PATH/GRCN --flavour=official

--flavour=mmrec imports GRCN from enoche/MMRec (src/models/grcn.py, current
PyG); --flavour=official imports weiyinwei/GRCN (Model_routing.py, PyG 1.x
names, shimmed in shims.py). Both sides get the same small synthetic
multimodal graph, read from the same files (MMRec's layout for mmrec, the
GRCN layout for official, through jaxrec's loaders), the same parameters
(jaxrec's initial ones copied into the torch model), the same batch of
(user, positive, negative) and no dropout. Compared: per-modality
affinities, the refined edge weights, user and item representations, the
batch's scores, the loss, and the gradient of every parameter.

Modes (only the jaxrec config changes; the authors' code runs as it is):
  mmrec     reference: hard pruning, no acoustic branch, model.l2_variant=
            'mmrec' (what MMRec's GRCN computes); paper: jaxrec's defaults
            (soft pruning as in the README commands, the official L2).
  official  reference: the README command (soft pruning, official routing);
            reference_hard_pruning: main.py's default --is_pruning=True;
            paper: model.routing='paper' (preferences refined by routing).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

from absl import app
from absl import flags
import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import shims  # pylint: disable=g-import-not-at-top,wrong-import-position

_REFERENCE = flags.DEFINE_string('reference', None,
                                 'Checkout of MMRec or of GRCN.')
_FLAVOUR = flags.DEFINE_enum('flavour', 'mmrec', ['mmrec', 'official'],
                             'Which authors\' code --reference holds.')
_OUT = flags.DEFINE_string('out', common.RESULTS, 'Parity JSON to merge into.')
_COMMIT = flags.DEFINE_string('reference_commit', None,
                              'Commit of the checkout (default: read from it).')
_SEED = flags.DEFINE_integer('seed', 0, 'Data, parameters and batch.')

U, I, DIM, BATCH, L2 = 20, 30, 8, 16, 1e-2
WIDTHS = {'visual': 12, 'acoustic': 7, 'textual': 9}
MARKERS = {'mmrec': 'src/models/grcn.py', 'official': 'Model_routing.py'}
TORCH_PREFIX = {'visual': 'v_gcn', 'acoustic': 'a_gcn', 'textual': 't_gcn'}


def make_dataset(modalities, seed: int):
  """A small random multimodal dataset: 3-6 train items, 1 val, 1 test each."""
  from jaxrec.data.dataset import Dataset, Interactions  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  parts = {'train': ([], []), 'val': ([], []), 'test': ([], [])}
  for u in range(U):
    items = rng.choice(I, size=rng.integers(5, 9), replace=False)
    for name, chosen in (('train', items[:-2]), ('val', items[-2:-1]),
                         ('test', items[-1:])):
      parts[name][0].extend([u] * len(chosen))
      parts[name][1].extend(chosen.tolist())
  inter = {k: Interactions(np.array(v[0], np.int32), np.array(v[1], np.int32))
           for k, v in parts.items()}
  # Raw, un-normalised features (MMRec feeds CNN / sentence features as
  # they are): non-negative with a spread of scales.
  features = {m: (rng.gamma(1.0, 1.0, size=(I, WIDTHS[m])) *
                  rng.uniform(0.5, 2.0, size=(1, WIDTHS[m]))).astype(np.float32)
              for m in modalities}
  return Dataset('parity', 'synthetic parity graph', U, I, inter['train'],
                 inter['val'], inter['test'], np.arange(U).astype(str),
                 np.arange(I).astype(str), item_features=features)


def jaxrec_config(folder: str, flavour: str, mode: str):
  """The jaxrec config of a mode (see the module docstring)."""
  from configs import common  # pylint: disable=g-import-not-at-top
  from configs import grcn_movielens  # pylint: disable=g-import-not-at-top
  c = grcn_movielens.get_config()
  c.data.format = 'mmrec' if flavour == 'mmrec' else 'grcn'
  c.data.path = folder
  c.model.embed_dim = c.model.content_dim = DIM
  c.model.propagation = 'segment_sum'
  c.l2_weight = L2
  if flavour == 'mmrec':
    c.model.has_a = False  # The data has none (MMRec reads two modalities).
    if mode == 'reference':
      common.grcn_reference(c, 'mmrec')
  else:
    common.grcn_reference(c, 'official')
    c.model.hard_pruning = mode == 'reference_hard_pruning'
    if mode == 'paper':
      c.model.routing = 'paper'
  return c


def sample_batch(ds, seed: int):
  """BATCH train pairs with one negative each (not a train item of the user)."""
  rng = np.random.default_rng(seed + 1)
  rows = rng.choice(len(ds.train), size=BATCH, replace=False)
  users, pos = ds.train.user[rows], ds.train.item[rows]
  known = set(zip(ds.train.user.tolist(), ds.train.item.tolist()))
  neg = []
  for u in users.tolist():
    j = int(rng.integers(I))
    while (u, j) in known:
      j = int(rng.integers(I))
    neg.append(j)
  return users.astype(np.int64), pos.astype(np.int64), np.array(neg, np.int64)


def import_mmrec(path: str):
  """MMRec's GRCN module (src/models/grcn.py) and a loader stand-in."""
  shims.tqdm_if_missing()
  # MMRec has a top-level namespace package `common` (no __init__.py), which
  # our common.py would shadow: ours is held by reference, and this folder
  # leaves sys.path while MMRec's modules import.
  sys.modules.pop('common', None)
  src = os.path.join(path, 'src')
  saved = list(sys.path)
  sys.path[:] = [src] + [p for p in saved if os.path.abspath(p or '.') != _HERE]
  try:
    return importlib.import_module('models.grcn')
  finally:
    sys.path[:] = saved


def import_official(path: str):
  """GRCN's Model_routing module, with PyG 1.x names shimmed."""
  shims.tqdm_if_missing()
  shims.pyg_scatter_underscore()
  sys.path.insert(0, path)
  try:
    gat = importlib.import_module('GATConv')
    shims.pyg_softmax_num_nodes_third(gat)
    return importlib.import_module('Model_routing')
  finally:
    sys.path.remove(path)


class _MMRecLoader:
  """What MMRec's GRCN reads from its training data loader."""

  def __init__(self, ds):
    import scipy.sparse  # pylint: disable=g-import-not-at-top
    self._ds = ds
    self.dataset = self
    self._coo = scipy.sparse.coo_matrix(
        (np.ones(len(ds.train)), (ds.train.user, ds.train.item)),
        shape=(ds.num_users, ds.num_items))

  def get_user_num(self):
    return self._ds.num_users

  def get_item_num(self):
    return self._ds.num_items

  def inter_matrix(self, form='coo'):
    assert form == 'coo'
    return self._coo


def torch_model(flavour: str, module, folder: str, ds, hard_pruning: bool):
  """The authors' model on the files in `folder` (features read by them)."""
  torch = common.require_torch()
  with shims.cuda_calls_stay_on_cpu():
    if flavour == 'mmrec':
      config = {
          'embedding_size': DIM, 'latent_embedding': DIM, 'n_layers': 3,
          'train_batch_size': BATCH, 'reg_weight': L2,
          'USER_ID_FIELD': 'userID', 'ITEM_ID_FIELD': 'itemID',
          'NEG_PREFIX': 'neg__', 'device': torch.device('cpu'),
          'end2end': False, 'is_multimodal_model': True,
          'data_path': os.path.dirname(folder) + os.sep,
          'dataset': os.path.basename(folder),
          'vision_feature_file': 'image_feat.npy',
          'text_feature_file': 'text_feat.npy'}
      return module.GRCN(config, _MMRecLoader(ds))
    # The official data_load reads these same files (paths hard-coded).
    train_edge = np.load(os.path.join(folder, 'train.npy'))
    user_item = np.load(os.path.join(folder, 'user_item_dict.npy'),
                        allow_pickle=True).item()  # Written by this script.
    feats = [torch.tensor(np.load(os.path.join(folder, f)), dtype=torch.float)
             for f in ('FeatureVideo_normal.npy', 'FeatureAudio_avg_normal.npy',
                       'FeatureText_stl_normal.npy')]
    return module.Net(U, I, train_edge, user_item, L2, *feats, 'add', 'confid',
                      'concat', 3, 0.0, False, True, False, False, False,
                      DIM, DIM, hard_pruning)


def copy_params(params, net, modalities) -> None:
  """jaxrec's initial parameters into the torch model, in place."""
  torch = common.require_torch()
  tensors = {'id_gcn.id_embedding': params['id_embedding'],
             'model_specific_conf': params['confidence']}
  for m in modalities:
    p = TORCH_PREFIX[m]
    tensors[f'{p}.preference'] = params[f'{m}_preference']
    tensors[f'{p}.MLP.weight'] = np.asarray(params[m]['mlp']['kernel']).T
    tensors[f'{p}.MLP.bias'] = params[m]['mlp']['bias']
  named = dict(net.named_parameters())
  missing = sorted(set(named) - set(tensors))
  if missing:
    raise ValueError(f'torch parameters without a jaxrec counterpart: '
                     f'{missing}')
  with torch.no_grad():
    for name, value in tensors.items():
      named[name].copy_(torch.tensor(np.array(value), dtype=torch.float32))


def jax_grad_of(grads, name: str, modalities):
  """The jaxrec gradient laid out like torch parameter `name`."""
  if name == 'id_gcn.id_embedding':
    return grads['id_embedding']
  if name == 'model_specific_conf':
    return grads['confidence']
  prefix, rest = name.split('.', 1)
  m = {v: k for k, v in TORCH_PREFIX.items()}[prefix]
  assert m in modalities
  if rest == 'preference':
    return grads[f'{m}_preference']
  if rest == 'MLP.weight':
    return np.asarray(grads[m]['mlp']['kernel']).T
  return grads[m]['mlp']['bias']


def run_torch(flavour, net, batch, modalities):
  """Forward + backward of the authors' loss; returns what is compared."""
  torch = common.require_torch()
  users, pos, neg = (torch.tensor(x) for x in batch)
  seen = {}
  hook = net.id_gcn.register_forward_hook(
      lambda mod, args, out: seen.update(weight=args[1].detach().clone()))
  with shims.cuda_calls_stay_on_cpu():
    if flavour == 'mmrec':
      loss = net.calculate_loss(torch.stack([users, pos, neg]))
    else:
      loss = net.loss(torch.stack([users, users], 1),
                      torch.stack([pos + U, neg + U], 1))[0]
  hook.remove()
  loss = loss.reshape(())
  loss.backward()
  rep = net.result.detach()
  out = {
      'loss': loss.detach(),
      'edge_weight': seen['weight'].reshape(-1),
      'user_rep': rep[:U], 'item_rep': rep[U:],
      'score_pos': (rep[users] * rep[pos + U]).sum(-1),
      'score_neg': (rep[users] * rep[neg + U]).sum(-1),
  }
  for m in modalities:
    out[f'alpha/{m}'] = getattr(net, TORCH_PREFIX[m]).conv_embed_1.alpha
  grads = {f'grad/{n}': p.grad.detach().clone()
           for n, p in net.named_parameters()}
  return out, grads


def torch_edge_order(flavour: str, net) -> tuple[np.ndarray, np.ndarray]:
  """(senders, receivers) [2E] of the torch model's directed edges."""
  e = net.edge_index.cpu().numpy()  # [2, E] user -> item + U.
  return np.concatenate([e[0], e[1]]), np.concatenate([e[1], e[0]])


def run_jaxrec(task, params, batch, order):
  """jaxrec's loss and gradients, and its outputs in the torch edge order."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec.models import grcn  # pylint: disable=g-import-not-at-top
  from jaxrec.models import spec  # pylint: disable=g-import-not-at-top
  model, inputs, config = task.model, task.inputs, task.config
  users, pos, neg = (jnp.asarray(x, jnp.int32) for x in batch)
  jbatch = {'user': users, 'pos': pos, 'neg': neg}
  ctx = spec.single_device(jax.random.key(0))

  def mean_loss(p):
    return jnp.mean(grcn.loss(model, p, inputs, jbatch,
                              grcn.loss_params(config), ctx))

  loss, grads = jax.value_and_grad(mean_loss)(params)
  out = model.apply({'params': params}, inputs, train=True,
                    rngs={'dropout': rng})
  graph = task.graph
  real = int(np.asarray(graph.n_edge)[0])
  index = {(int(s), int(r)): k for k, (s, r) in enumerate(
      zip(np.asarray(graph.senders[:real]), np.asarray(graph.receivers[:real])))}
  perm = np.array([index[(int(s), int(r))] for s, r in zip(*order)])
  rep = np.asarray(out['rep'])
  u, p, n = (np.asarray(x) for x in batch)
  result = {
      'loss': loss, 'edge_weight': np.asarray(out['weight'])[perm],
      'user_rep': rep[:U], 'item_rep': rep[U:],
      'score_pos': (rep[u] * rep[p + U]).sum(-1),
      'score_neg': (rep[u] * rep[n + U]).sum(-1),
  }
  for k, m in enumerate(model.modalities):
    result[f'alpha/{m}'] = np.asarray(out['alpha'])[perm, k]
  return result, jax.tree.map(np.asarray, grads)


def write_files(ds, flavour: str, folder: str) -> None:
  """The dataset in the flavour's layout (both sides read these files)."""
  if flavour == 'mmrec':
    from jaxrec.data import mmrec  # pylint: disable=g-import-not-at-top
    mmrec.write_mmrec(ds, folder)
  else:
    from jaxrec.data import grcn_write  # pylint: disable=g-import-not-at-top
    grcn_write.write_grcn(ds, folder, layout='movielens')


def run_mode(flavour, module, folder, batch, mode, seed):
  """One mode's comparison: {quantity: {'max_rel_err', 'ok'}}."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxrec import tasks  # pylint: disable=g-import-not-at-top
  config = jaxrec_config(folder, flavour, mode)
  task = tasks.build(config)
  modalities = task.model.modalities
  params = task.model.init(jax.random.key(seed), task.inputs)['params']
  net = torch_model(flavour, module, folder, task.data,
                    hard_pruning=mode == 'reference_hard_pruning')
  copy_params(params, net, modalities)
  theirs, their_grads = run_torch(flavour, net, batch, modalities)
  ours, our_grads = run_jaxrec(task, params, batch,
                               torch_edge_order(flavour, net))
  pairs = [(k, ours[k], theirs[k]) for k in theirs]
  pairs += [(k, jax_grad_of(our_grads, k[len('grad/'):], modalities), v)
            for k, v in their_grads.items()]
  # Share of edges the authors' code weights <= 0: pruning is exercised
  # only when some are (hard pruning zeroes them).
  share = float(np.mean(common.to_numpy(theirs['edge_weight']) <= 0))
  return common.compare(pairs), share


def run(argv) -> None:
  """Builds the data, runs every mode, reports and writes the JSON."""
  del argv
  common.require_torch()
  flavour = _FLAVOUR.value
  path = common.require_reference(_REFERENCE.value, MARKERS[flavour])
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_enable_x64', False)
  module = import_mmrec(path) if flavour == 'mmrec' else import_official(path)
  modalities = (('visual', 'textual') if flavour == 'mmrec'
                else ('visual', 'acoustic', 'textual'))
  ds = make_dataset(modalities, _SEED.value)
  batch = sample_batch(ds, _SEED.value)
  modes = (('reference', 'paper') if flavour == 'mmrec' else
           ('reference', 'reference_hard_pruning', 'paper'))
  with tempfile.TemporaryDirectory() as tmp:
    folder = os.path.join(tmp, 'parity')
    write_files(ds, flavour, folder)
    runs = {mode: run_mode(flavour, module, folder, batch, mode,
                           _SEED.value) for mode in modes}
  results = {mode: r[0] for mode, r in runs.items()}
  key = f'grcn_{flavour}'
  ok = common.report(key, results)
  common.write(key, {
      'reference': {'path': path,
                    'commit': _COMMIT.value or common.commit_of(path),
                    'flavour': flavour},
      'setup': {'users': U, 'items': I, 'dim': DIM, 'batch': BATCH,
                'l2_weight': L2, 'feature_widths': {m: WIDTHS[m]
                                                    for m in modalities},
                'dtype': 'float32', 'seed': _SEED.value,
                'edges_weighted_le_0': {m: r[1] for m, r in runs.items()}},
      'modes': results,
      'ok': ok}, _OUT.value)
  print(f'{key}: reference mode {"within" if ok else "OVER"} '
        f'{common.TARGET:g}; wrote {_OUT.value}')


if __name__ == '__main__':
  common.main_guard(lambda: app.run(run))
