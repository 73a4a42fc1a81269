"""Level-1 parity: jaxrec's LightGCN against the authors' PyTorch LightGCN.

  python benchmarks/parity/lightgcn.py --reference=PATH/LightGCN-PyTorch \
      --reference_commit=SHA

PATH is a checkout of gusye1234/LightGCN-PyTorch (the folder holding
code/model.py). A tiny implicit dataset is made in memory and written in the
authors' train.txt / test.txt layout; their Loader builds the normalised
graph from it, their LightGCN runs on it, and their BPRLoss.stageOne makes
the Adam steps. Both sides start from the same embedding tables (jaxrec's
initialisation, copied into torch) and see the same batches (jaxrec's
sampler). Compared: the normalised adjacency, final user and item
embeddings, the batch's scores, BPR loss, L2 term, total loss, the gradient
of each table, and the loss and tables after `--steps` Adam steps through
jaxrec's pmap train step (jaxrec.train.make_step).

Their loss is mean_b softplus(s_neg - s_pos) + decay * (1/2) (|e_u|^2 +
|e_p|^2 + |e_n|^2) summed over the batch / B, on the layer-0 rows
(model.LightGCN.bpr_loss, utils.BPRLoss.stageOne); jaxrec's
models/lightgcn.loss is the same with l2_weight = decay, so jaxrec's
defaults are the reference mode and no switch is needed. The 'segment_sum'
mode repeats everything with the other propagation kernel (the GPU default).

Without torch or the checkout, prints SKIPPED and exits 0.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common  # pylint: disable=g-bad-import-order
import shims

_REFERENCE = flags.DEFINE_string(
    'reference', None, 'Checkout of gusye1234/LightGCN-PyTorch.')
_COMMIT = flags.DEFINE_string(
    'reference_commit', None,
    'Commit of the checkout (default: what common.commit_of finds).')
_OUT = flags.DEFINE_string('out', common.RESULTS, 'Parity JSON to merge into.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of data, init and batches.')
_USERS = flags.DEFINE_integer('num_users', 30, 'Users.')
_ITEMS = flags.DEFINE_integer('num_items', 40, 'Items.')
_DIM = flags.DEFINE_integer('embed_dim', 64, 'Embedding width.')
_LAYERS = flags.DEFINE_integer('num_layers', 3, 'Propagation layers.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Examples per batch.')
_DECAY = flags.DEFINE_float('decay', 1e-4, 'Their --decay = jaxrec l2_weight.')
_LR = flags.DEFINE_float('lr', 1e-3, 'Adam learning rate.')
_STEPS = flags.DEFINE_integer('steps', 3, 'Adam steps to compare.')

MODES = {'reference': 'auto', 'segment_sum': 'segment_sum'}


def make_data(seed: int, num_users: int, num_items: int):
  """Per-user train and test item lists of a small random implicit dataset.

  Every user has train items; the last item is only ever a test item, so
  the graph has an isolated node (degree 0 on both sides).

  Returns:
    (train, test): lists of int arrays, one per user.
  """
  rng = np.random.default_rng(seed)
  train, test = [], []
  for u in range(num_users):
    n = int(rng.integers(4, 11))
    items = rng.choice(num_items - 1, n, replace=False)
    cut = max(1, int(round(0.8 * n)))
    train.append(np.sort(items[:cut]))
    test.append(np.sort(np.append(items[cut:], num_items - 1)
                        if u == 0 else items[cut:]))
  return train, test


def write_lightgcn_text(folder: str, train, test) -> None:
  """Their layout: one line 'user item item ...' per user with items."""
  for name, lists in (('train.txt', train), ('test.txt', test)):
    with open(os.path.join(folder, name), 'w') as f:
      for u, items in enumerate(lists):
        if len(items):
          f.write(' '.join(map(str, [u, *items])) + '\n')


def import_reference(ref: str, argv: list[str]):
  """Imports their world / dataloader / model / utils with `argv` parsed.

  world.py parses sys.argv when imported, and makes code/checkpoints in the
  checkout (skipped here: the checkout stays untouched).
  """
  shims.stub_if_missing('sklearn.metrics', roc_auc_score=None)
  saved = sys.argv
  sys.argv = ['main.py', *argv]
  try:
    with shims.no_makedirs_under(ref):
      return common.import_from(os.path.join(ref, 'code'), 'world',
                                'dataloader', 'model', 'utils')
  finally:
    sys.argv = saved


def jaxrec_task(train, test, propagation: str):
  """jaxrec's LightGCN task on the same data, configured like their run."""
  # jaxrec (and JAX) are imported only once torch and the checkout are
  # there, so that a skipped run returns in half a second.
  from jaxrec import config as config_lib  # pylint: disable=g-import-not-at-top
  from jaxrec.data import dataset  # pylint: disable=g-import-not-at-top
  from jaxrec.models import lightgcn  # pylint: disable=g-import-not-at-top
  from jaxrec.models import spec  # pylint: disable=g-import-not-at-top
  from jaxrec.tasks import user_item  # pylint: disable=g-import-not-at-top

  def rows(lists):
    u = np.concatenate([np.full(len(x), i) for i, x in enumerate(lists)])
    return dataset.Interactions(u.astype(np.int32),
                                np.concatenate(lists).astype(np.int32))

  n_users, n_items = len(train), _ITEMS.value
  ds = dataset.Dataset('parity', 'in-memory parity data', n_users, n_items,
                       rows(train), dataset.Interactions.empty(), rows(test),
                       np.arange(n_users).astype(str),
                       np.arange(n_items).astype(str))
  c = config_lib.base('lightgcn')
  c.model.embed_dim = _DIM.value
  c.model.num_layers = _LAYERS.value
  c.model.propagation = propagation
  c.l2_weight = _DECAY.value
  c.learning_rate = _LR.value
  c.batch_size = _BATCH.value
  c.num_devices = 1
  c.seed = _SEED.value
  return user_item.UserItem().from_dataset(c, lightgcn.SPEC, ds)


def dense_adjacency(graph, n: int) -> np.ndarray:
  """A[t, s] = w(s->t) over the real nodes of a jaxrec graph."""
  a = np.zeros((n, n))
  e = int(graph.n_edge[0])
  np.add.at(a, (np.asarray(graph.receivers[:e]), np.asarray(graph.senders[:e])),
            np.asarray(graph.edges['weight'][:e]))
  return a


def compare_mode(torch, ref_mods, data_dir: str, train, test,
                 propagation: str) -> dict[str, dict]:
  """Every compared quantity for one jaxrec propagation kernel."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec import losses  # pylint: disable=g-import-not-at-top
  from jaxrec import train as train_lib  # pylint: disable=g-import-not-at-top
  from jaxrec import train_state  # pylint: disable=g-import-not-at-top
  from jaxrec.models import lightgcn  # pylint: disable=g-import-not-at-top
  from jaxrec.models import spec  # pylint: disable=g-import-not-at-top
  from jaxrec.tasks import user_item  # pylint: disable=g-import-not-at-top

  world, dataloader, model, utils = ref_mods
  task = jaxrec_task(train, test, propagation)
  state = train_state.create(task, _SEED.value)
  U = task.data.num_users  # pylint: disable=invalid-name
  I = task.data.num_items  # pylint: disable=invalid-name
  init = np.array(state.params['embedding'])

  dataset = dataloader.Loader(config=world.config, path=data_dir)
  net = model.LightGCN(world.config, dataset)
  if (dataset.n_users, dataset.m_items) != (U, I):
    raise ValueError(f'their Loader sees {dataset.n_users} x '
                     f'{dataset.m_items}, jaxrec {U} x {I}')
  with torch.no_grad():
    net.embedding_user.weight.copy_(torch.from_numpy(init[:U].copy()))
    net.embedding_item.weight.copy_(torch.from_numpy(init[U:].copy()))

  batches = task.kind.batches(task, 1)
  batch = batches.batch(0, 0)
  assert batch['mask'].all(), 'batch_size must leave no padding rows'
  t_u, t_p, t_n = (torch.from_numpy(batch[k].astype(np.int64))
                   for k in ('user', 'pos', 'neg'))
  pairs = [('normalised_adjacency',
            dense_adjacency(task.graph, U + I), net.Graph.to_dense())]

  # Forward pass, scores and loss terms at the shared initial tables.
  params = state.params
  final, ego = task.model.apply({'params': params}, task.inputs)
  their_users, their_items = net.computer()
  pairs += [('final_user_embeddings', final[:U], their_users),
            ('final_item_embeddings', final[U:], their_items)]
  pos, neg = losses.pair_scores(final, batch['user'], batch['pos'] + U,
                                batch['neg'][:, None] + U)
  pairs += [('scores_pos', pos, net(t_u, t_p)),
            ('scores_neg', neg[:, 0], net(t_u, t_n))]

  cfg = copy.deepcopy(task.config)

  def mean_loss(p, l2_weight):
    cfg.l2_weight = l2_weight
    per_example = lightgcn.loss(task.model, p, task.inputs, batch,
                                lightgcn.loss_params(cfg),
                                spec.single_device(jax.random.key(0)))
    return jnp.mean(per_example)

  bpr_loss, reg_loss = net.bpr_loss(t_u, t_p, t_n)
  total = bpr_loss + reg_loss * world.config['decay']
  reg = jnp.mean(losses.l2(ego[batch['user']], ego[batch['pos'] + U],
                           ego[batch['neg'] + U]))
  pairs += [('bpr_loss', mean_loss(params, 0.0), bpr_loss),
            ('reg_loss_unweighted', reg, reg_loss),
            ('reg_loss_weighted', _DECAY.value * reg,
             reg_loss * world.config['decay']),
            ('total_loss', mean_loss(params, _DECAY.value), total)]

  # Gradients of the total loss (what train.train_step differentiates:
  # the masked sum over the batch / the count).
  grads = jax.grad(mean_loss)(params, _DECAY.value)['embedding']
  net.zero_grad()
  total.backward()
  pairs += [('grad_user_table', grads[:U], net.embedding_user.weight.grad),
            ('grad_item_table', grads[U:], net.embedding_item.weight.grad)]

  # Adam steps: jaxrec's pmap train step against their stageOne.
  with torch.no_grad():
    net.embedding_user.weight.copy_(torch.from_numpy(init[:U].copy()))
    net.embedding_item.weight.copy_(torch.from_numpy(init[U:].copy()))
  bpr = utils.BPRLoss(net, world.config)
  p_step = train_lib.make_step(task)
  inputs = jax.device_put(task.inputs)
  for s in range(_STEPS.value):
    b = batches.batch(0, s)
    theirs = bpr.stageOne(*(torch.from_numpy(b[k].astype(np.int64))
                            for k in ('user', 'pos', 'neg')))
    state, ours = p_step(state, inputs, train_lib.shard(b, 1), s)
    pairs.append((f'step{s + 1}_loss', ours, theirs))
  table = np.asarray(state.params['embedding'])
  pairs += [(f'user_table_after_{_STEPS.value}_steps', table[:U],
             net.embedding_user.weight),
            (f'item_table_after_{_STEPS.value}_steps', table[U:],
             net.embedding_item.weight)]
  return common.compare(pairs)


def run() -> None:
  """Builds both sides, compares every mode, writes and prints the results."""
  torch = common.require_torch()
  ref = common.require_reference(_REFERENCE.value, 'code/model.py')
  torch.set_num_threads(1)
  logging.set_verbosity(logging.WARNING)
  train, test = make_data(_SEED.value, _USERS.value, _ITEMS.value)
  if _STEPS.value * _BATCH.value > sum(map(len, train)):
    raise ValueError('--steps x --batch_size exceeds one epoch of train rows')
  argv = ['--dataset=gowalla', '--model=lgn', f'--recdim={_DIM.value}',
          f'--layer={_LAYERS.value}', f'--decay={_DECAY.value}',
          f'--lr={_LR.value}', f'--bpr_batch={_BATCH.value}', '--dropout=0',
          '--tensorboard=0', f'--seed={_SEED.value}']
  mods = import_reference(ref, argv)
  with tempfile.TemporaryDirectory() as data_dir:
    write_lightgcn_text(data_dir, train, test)
    modes = {mode: compare_mode(torch, mods, data_dir, train, test, impl)
             for mode, impl in MODES.items()}
  ok = common.report('lightgcn', modes)
  import jax  # pylint: disable=g-import-not-at-top
  common.write('lightgcn', {
      'reference': {'repository': 'gusye1234/LightGCN-PyTorch',
                    'commit': _COMMIT.value or common.commit_of(ref),
                    'code': 'code/model.py LightGCN, code/utils.py BPRLoss, '
                            'code/dataloader.py Loader.getSparseGraph'},
      'setup': {'num_users': _USERS.value, 'num_items': _ITEMS.value,
                'train_interactions': int(sum(map(len, train))),
                'embed_dim': _DIM.value, 'num_layers': _LAYERS.value,
                'batch_size': _BATCH.value, 'decay': _DECAY.value,
                'lr': _LR.value, 'steps': _STEPS.value, 'seed': _SEED.value,
                'dtype': 'float32', 'torch': torch.__version__,
                'jax': jax.__version__},
      'modes': modes,
      'notes': 'reference = jaxrec defaults (l2_weight = their decay, '
               'propagation auto = csr on CPU); jaxrec needs no switch: its '
               'loss is their bpr_loss + decay * reg_loss. No paper mode: '
               'eq. (15) writes lambda ||E^(0)||^2 over the whole table, '
               'both codes take (1/2) |batch rows|^2 / B; jaxrec follows the '
               'code. segment_sum = the other propagation kernel.',
      'ok': ok,
  }, _OUT.value)
  print(f'wrote {_OUT.value} [lightgcn]')
  if not ok:
    sys.exit(1)


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
