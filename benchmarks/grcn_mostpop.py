"""Why does GRCN lose to MostPop on leave-one-out data? Measurements.

Builds a leave-one-out multimodal dataset from MovieLens-100K in MMRec's
layout (data/NAME/NAME.inter with x_label, image_feat.npy, text_feat.npy):
ratings >= 4 are the interactions, users with at least 5 of them, each
user's latest one is test and the one before it validation (one test item
per user, like MMRec's Amazon sets). Modalities: 'visual' = the genre
multi-hot (19-d), 'textual' = the title's words hashed into 64 counts.
Then trains, on those same files:
  - jaxrec GRCN under named settings (--runs), LightGCN, and MostPop;
  - MMRec's own GRCN (--mmrec_checkout=MMRec checkout) in a minimal copy of
    MMRec's trainer: Adam, batch 2048, uniform negatives among train items,
    evaluation every epoch on model.result (the last training batch's
    forward, as MMRec does), train items masked, early stopping on
    validation recall@20 after 20 epochs without improvement.

  python benchmarks/grcn_mostpop.py --ml100k=/work/data/ml100k \
      --mmrec_checkout=/work/refs/MMRec

Writes benchmarks/results/grcn_mostpop.json (or --results).
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib

from absl import app
from absl import flags
from absl import logging
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from configs import grcn_movielens  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec.data import mmrec  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec.data import recbole  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec.data.dataset import Dataset, Interactions  # pylint: disable=g-import-not-at-top,wrong-import-position

_ML100K = flags.DEFINE_string('ml100k', '/work/data/ml100k',
                              'RecBole ML-100K folder (ml-100k.inter/.item).')
_DATA = flags.DEFINE_string('data', '/tmp/jaxrec-mmrec/ml100k_loo',
                            'Where to write the MMRec-layout folder.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/jaxrec-grcn-mostpop',
                               'Run folders.')
_REFERENCE = flags.DEFINE_string('mmrec_checkout', None, 'MMRec checkout.')
_RUNS = flags.DEFINE_list('runs', ['readme', 'lr1e-3', 'lightgcn'],
                          'jaxrec runs (see RUNS).')
_MMREC_LRS = flags.DEFINE_list('mmrec_lrs', ['1e-4', '1e-3'],
                               'Learning rates of MMRec-code runs.')
_MAX_EPOCHS = flags.DEFINE_integer('max_epochs', 300, 'Epoch cap of a run.')
_MAX_TRAIN = flags.DEFINE_integer(
    'max_train_per_user', 0, 'Keep at most this many (random) train items '
    'per user (0 = all): a sparse set like MMRec\'s Amazon ones, where users '
    'have about 6 train items.')
_OUT = flags.DEFINE_string('results', 'benchmarks/results/grcn_mostpop.json',
                           'Output JSON (merged by run name).')
TITLE_DIM = 64


def build_loo(src: str, folder: str) -> Dataset:
  """Writes (once) and returns the leave-one-out ML-100K in MMRec's layout."""
  raw = recbole.load_recbole(src)
  t = raw.train
  keep = t.rating >= 4
  user, item, ts = t.user[keep], t.item[keep], t.timestamp[keep]
  counts = np.bincount(user, minlength=raw.num_users)
  ok = counts[user] >= 5
  user, item, ts = user[ok], item[ok], ts[ok]
  users, user = np.unique(user, return_inverse=True)
  items, item = np.unique(item, return_inverse=True)
  order = np.lexsort((item, ts, user))  # Per user, oldest first.
  user, item = user[order], item[order]
  last = np.r_[user[1:] != user[:-1], True]
  second = np.r_[last[1:], False] & ~last
  label = np.where(last, 2, np.where(second, 1, 0))
  if _MAX_TRAIN.value:
    # Random train rows beyond the cap per user are dropped.
    rank = np.random.default_rng(0).random(len(user))
    rank[label > 0] = -1.0
    order = np.lexsort((rank, user))
    pos = np.arange(len(user)) - np.searchsorted(user[order], user[order])
    kept = np.ones(len(user), bool)
    kept[order] = (pos < _MAX_TRAIN.value + 2)  # + the val and test rows.
    user, item, label = user[kept], item[kept], label[kept]
  genre = raw.item_features['class'][items].astype(np.float32)
  title = np.zeros((len(items), TITLE_DIM), np.float32)
  for k, name in enumerate(raw.item_names[items]):
    for word in str(name).lower().split():
      title[k, zlib.crc32(word.encode()) % TITLE_DIM] += 1.0
  part = lambda v: Interactions(user[label == v].astype(np.int32),
                                item[label == v].astype(np.int32))
  ds = Dataset('ml100k_loo', src, len(users), len(items), part(0), part(1),
               part(2), users.astype(str), items.astype(str),
               item_features={'visual': genre, 'textual': title})
  if not os.path.exists(os.path.join(folder, 'ml100k_loo.inter')):
    mmrec.write_mmrec(ds, folder, 'ml100k_loo')
  return ds


def grcn_config(folder: str, **overrides):
  """GRCN (README settings unless overridden) on the MMRec folder."""
  c = grcn_movielens.get_config()
  c.data.format = 'mmrec'
  c.data.path = folder
  c.model.has_a = False
  c.l2_weight = 1e-3  # The README setting (Tiktok's weight_decay).
  c.eval_ks = (10, 20)
  c.num_epochs = _MAX_EPOCHS.value
  for k, v in overrides.items():
    target = c
    *path, last = k.split('.')
    for p in path:
      target = target[p]
    target[last] = v
  return c


def lightgcn_config(folder: str):
  """LightGCN (its paper's settings) on the same files."""
  c = config_lib.base('lightgcn')
  c.data.format = 'mmrec'
  c.data.path = folder
  c.data.split = 'given'
  c.data.val_ratio = 0.0
  c.eval_ks = (10, 20)
  c.num_epochs = 3 * _MAX_EPOCHS.value
  c.eval_every_epochs = 5
  c.patience = 10
  return c


# Named jaxrec runs: config overrides on grcn_config.
RUNS = {
    # The first run: README lr / batch, preset stopping rule.
    'readme': {},
    # The second run.
    'lr1e-3': {'learning_rate': 1e-3, 'selection_metric': 'recall@20',
               'patience': 30},
    # README lr, MMRec's selection metric (recall@20), same patience.
    'readme_r20': {'selection_metric': 'recall@20'},
    # README lr with a longer stopping rule (300 epochs without a gain).
    'readme_patient': {'selection_metric': 'recall@20', 'patience': 60,
                       'eval_every_epochs': 5},
    # MMRec's GRCN switches and trainer defaults.
    'mmrec_code_1e-3': {'learning_rate': 1e-3, 'batch_size': 2048,
                        'model.hard_pruning': True,
                        'model.l2_variant': 'mmrec',
                        'model.mlp_init': 'xavier',
                        'selection_metric': 'recall@20', 'patience': 20},
    'mmrec_code_1e-4': {'learning_rate': 1e-4, 'batch_size': 2048,
                        'model.hard_pruning': True,
                        'model.l2_variant': 'mmrec',
                        'model.mlp_init': 'xavier',
                        'selection_metric': 'recall@20', 'patience': 20},
    'hard_1e-3': {'learning_rate': 1e-3, 'selection_metric': 'recall@20',
                  'patience': 30, 'model.hard_pruning': True},
}


def run_jaxrec(name: str, config) -> dict:
  """Trains one jaxrec run; returns test metrics, epochs and MostPop."""
  config.lock()
  workdir = os.path.join(_WORKDIR.value, name)
  t0 = time.time()
  result = train.train_and_evaluate(config, workdir)
  log = train.MetricsLog(workdir).read()
  final = log[-1]
  val = [(r['epoch'], r[f'val/{config.selection_metric}']) for r in log
         if f'val/{config.selection_metric}' in r and 'epoch' in r]
  return {
      'test/recall@20': result['test/recall@20'],
      'test/ndcg@20': result['test/ndcg@20'],
      'val/recall@20': result['val/recall@20'],
      'best_epoch': final['best_epoch'],
      'last_epoch': max(r.get('epoch', 0) for r in log),
      'MostPop/test/recall@20': final['baseline/MostPop/recall@20'],
      'val_curve': val[::max(1, len(val) // 40)],
      'seconds': time.time() - t0,
      'settings': {k: config[k] for k in ('learning_rate', 'batch_size',
                                          'l2_weight', 'selection_metric',
                                          'patience', 'eval_every_epochs')},
  }


def run_mmrec_code(ds: Dataset, folder: str, lr: float, reg: float,
                   seed: int = 999) -> dict:
  """MMRec's GRCN in a minimal copy of MMRec's trainer (see module doc)."""
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'parity'))
  import grcn as harness  # pylint: disable=g-import-not-at-top
  import shims  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  module = harness.import_mmrec(_REFERENCE.value)
  torch.manual_seed(seed)
  rng = np.random.default_rng(seed)
  config = {
      'embedding_size': 64, 'latent_embedding': 64, 'n_layers': 3,
      'train_batch_size': 2048, 'reg_weight': reg,
      'USER_ID_FIELD': 'userID', 'ITEM_ID_FIELD': 'itemID',
      'NEG_PREFIX': 'neg__', 'device': torch.device('cpu'), 'end2end': False,
      'is_multimodal_model': True,
      'data_path': os.path.dirname(folder) + os.sep,
      'dataset': os.path.basename(folder),
      'vision_feature_file': 'image_feat.npy',
      'text_feature_file': 'text_feat.npy'}
  with shims.cuda_calls_stay_on_cpu():
    net = module.GRCN(config, harness._MMRecLoader(ds))  # pylint: disable=protected-access
  opt = torch.optim.Adam(net.parameters(), lr=lr)
  tr = ds.train
  train_items = np.unique(tr.item)
  known = set(zip(tr.user.tolist(), tr.item.tolist()))
  seen = metrics.UserItems([tr], ds.num_users)
  truth = {s: metrics.UserItems([getattr(ds, s)], ds.num_users)
           for s in ('val', 'test')}

  def recall20(split: str, scores: np.ndarray) -> float:
    scores = scores.copy()
    for u in range(ds.num_users):
      scores[u, seen.indices[seen.indptr[u]:seen.indptr[u + 1]]] = -1e10  # MMRec masks train items only.
    top = np.argpartition(-scores, 20, axis=1)[:, :20]
    hits, users = 0.0, 0
    for u in range(ds.num_users):
      t = truth[split].indices[truth[split].indptr[u]:truth[split].indptr[u + 1]]
      if len(t):
        users += 1
        hits += len(np.intersect1d(top[u], t)) / len(t)
    return hits / users

  pop = np.bincount(tr.item, minlength=ds.num_items).astype(np.float64)
  pop_scores = np.tile(pop, (ds.num_users, 1))
  best, best_epoch, test_at_best, since, curve, conf = -1, 0, None, 0, [], []
  t0 = time.time()
  for epoch in range(1, _MAX_EPOCHS.value + 1):
    order = rng.permutation(len(tr))
    net.train()
    for start in range(0, len(order), 2048):
      rows = order[start:start + 2048]
      neg = rng.choice(train_items, size=len(rows))
      for k in range(len(rows)):
        while (int(tr.user[rows[k]]), int(neg[k])) in known:
          neg[k] = rng.choice(train_items)
      batch = torch.tensor(np.stack([tr.user[rows], tr.item[rows], neg]),
                           dtype=torch.long)
      opt.zero_grad()
      with shims.cuda_calls_stay_on_cpu():
        loss = net.calculate_loss(batch)
      loss.sum().backward()
      opt.step()
    with torch.no_grad():
      rep = net.result.detach().numpy()  # The last batch's forward.
    scores = rep[:ds.num_users] @ rep[ds.num_users:].T
    val = recall20('val', scores)
    logging.info('mmrec code lr %g epoch %d val recall@20 %.4f', lr, epoch,
                 val)
    curve.append((epoch, round(val, 4)))
    conf.append(float(net.model_specific_conf.detach().abs().mean()))
    if val > best:
      best, best_epoch, since = val, epoch, 0
      test_at_best = recall20('test', scores)
    else:
      since += 1
      if since >= 20:  # MMRec's stopping_step.
        break
  return {'val/recall@20': best, 'test/recall@20': test_at_best,
          'best_epoch': best_epoch, 'last_epoch': epoch,
          'MostPop/test/recall@20': recall20('test', pop_scores),
          'val_curve': curve[::max(1, len(curve) // 40)],
          'mean_abs_confidence': conf[::max(1, len(conf) // 20)],
          'seconds': time.time() - t0,
          'settings': {'learning_rate': lr, 'reg_weight': reg,
                       'batch_size': 2048, 'stopping_step': 20}}


def main(argv) -> None:
  """Builds the data and runs what the flags ask for."""
  del argv
  ds = build_loo(_ML100K.value, _DATA.value)
  logging.info('%s', ds.summary())
  results = {}
  if os.path.exists(_OUT.value):
    with open(_OUT.value) as f:
      results = json.load(f)
  results['data'] = {'summary': ds.summary(), 'folder': _DATA.value}

  def save():
    os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
    with open(_OUT.value, 'w') as f:
      json.dump(results, f, indent=1)

  for name in _RUNS.value:
    if name == 'lightgcn':
      results['jaxrec/lightgcn'] = run_jaxrec(name,
                                              lightgcn_config(_DATA.value))
    else:
      results[f'jaxrec/grcn/{name}'] = run_jaxrec(
          name, grcn_config(_DATA.value, **RUNS[name]))
    save()
  if _REFERENCE.value:
    for lr in _MMREC_LRS.value:
      results[f'mmrec_code/grcn/lr{lr}'] = run_mmrec_code(
          ds, _DATA.value, float(lr), 1e-3)
      save()
  for key, r in results.items():
    if isinstance(r, dict) and 'test/recall@20' in r:
      print(f'{key:<34} test R@20 {r["test/recall@20"]:.4f}  best epoch '
            f'{r["best_epoch"]:>4} / {r["last_epoch"]:>4}  MostPop '
            f'{r["MostPop/test/recall@20"]:.4f}')


if __name__ == '__main__':
  app.run(main)
