"""Does GRCN find the false-positive edges? Planted noise, AUC and accuracy.

Synthetic data: users and items in clusters, item features (three
modalities) correlated with the item clusters, and a share of the training
edges replaced by false positives drawn uniformly over all (user, item)
pairs, unrelated to clusters and features. Validation and test hold only true
interactions. Trains GRCN and LightGCN on the same data and budget (epochs,
batch, early stopping on validation), then reports:
  - the AUC with which GRCN's refined edge weights separate true from false
    training edges (per direction, and their mean per edge);
  - test recall@10 / nDCG@10 of GRCN, LightGCN and MostPop.

  python benchmarks/grcn_denoising.py [--noise=0.2] [--epochs=100]

Writes benchmarks/results/grcn_denoising.json (or --out).
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import json
import os
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from configs import grcn_movielens  # pylint: disable=g-import-not-at-top,wrong-import-position
from configs import lightgcn_synthetic  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec import metrics  # pylint: disable=wrong-import-position
from jaxrec import train  # pylint: disable=wrong-import-position
from jaxrec.data import grcn_write  # pylint: disable=wrong-import-position
from jaxrec.data import splits  # pylint: disable=wrong-import-position
from jaxrec.data import synthetic  # pylint: disable=wrong-import-position
from jaxrec.data.dataset import Interactions  # pylint: disable=wrong-import-position

_NOISE = flags.DEFINE_float('noise', 0.2, 'False positives per true like.')
_EPOCHS = flags.DEFINE_integer('epochs', 100, 'Epoch budget of each model.')
_USERS = flags.DEFINE_integer('users', 1500, 'Users.')
_ITEMS = flags.DEFINE_integer('items', 600, 'Items.')
_SEED = flags.DEFINE_integer('seed', 0, 'Data and model seed.')
_GRCN_LR = flags.DEFINE_list('grcn_lr', ['1e-4', '1e-3'], 'GRCN learning rates.')
_PRUNING = flags.DEFINE_list('pruning', ['soft', 'hard'], 'GRCN pruning modes.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/grcn_denoising.json',
                           'Output JSON.')


def planted_dataset(folder: str):
  """Writes the noisy dataset in the GRCN layout; returns noisy pair keys."""
  ds, planted = synthetic.generate_planted(
      num_users=_USERS.value, num_items=_ITEMS.value, num_clusters=6,
      interactions_per_user=20.0, in_cluster=0.9, noise=_NOISE.value,
      feature_dims={'visual': 64, 'acoustic': 32, 'textual': 16},
      feature_noise=1.0, seed=_SEED.value)
  true = ds.train.select(~planted.is_noise)
  noisy = ds.train.select(planted.is_noise)
  # Held-out interactions are true ones only; every false positive trains.
  rest, test = splits.ratio_split(Interactions(true.user, true.item), 0.1,
                                  _SEED.value)
  rest, val = splits.ratio_split(rest, 1 / 9, _SEED.value + 1)
  train_part = Interactions.concat([rest, Interactions(noisy.user,
                                                       noisy.item)])
  ds = ds.replace(train=train_part, val=val, test=test)
  grcn_write.write_grcn(ds, folder, layout='movielens')
  keys = noisy.user.astype(np.int64) * ds.num_items + noisy.item
  return ds, set(keys.tolist())


def run(config, workdir):
  """Trains a config on the dataset folder and returns the final record."""
  train.train_and_evaluate(config, workdir)
  return train.MetricsLog(workdir).read()[-1]


def base_changes(config, folder):
  config.unlock()
  config.data.format = 'grcn'
  config.data.path = folder
  config.data.split = 'given'
  config.data.val_ratio = 0.0
  config.data.positive = 'all'
  config.num_epochs = _EPOCHS.value
  config.eval_every_epochs = 5
  config.patience = 4
  config.eval_ks = (10, 20)
  config.selection_metric = 'recall@10'
  config.seed = _SEED.value
  return config


def per_receiver_auc(receiver, score, is_false):
  """Mean over nodes of the AUC among the edges into that node.

  GRCN's affinities are a softmax over each node's incoming edges, so the
  comparison that matters is within a neighbourhood; a global AUC also
  compares across nodes of different degrees (a softmax over 10 edges gives
  larger weights than one over 100).
  """
  order = np.argsort(receiver, kind='stable')
  r, s, f = receiver[order], score[order], is_false[order]
  bounds = np.flatnonzero(np.r_[True, r[1:] != r[:-1], True])
  aucs = [metrics.auc(s[a:b][~f[a:b]], s[a:b][f[a:b]])
          for a, b in zip(bounds[:-1], bounds[1:])
          if f[a:b].any() and not f[a:b].all()]
  return float(np.mean(aucs))


def edge_auc(workdir, num_users, num_items, noisy):
  """How well refined weights (and affinities) rank true above false edges."""
  e = np.load(os.path.join(workdir, 'edge_weights.npz'))
  user_to_item = e['receiver'] >= num_users
  user = np.where(user_to_item, e['sender'], e['receiver'])
  item = np.where(user_to_item, e['receiver'], e['sender']) - num_users
  key = user.astype(np.int64) * num_items + item
  is_false = np.isin(key, np.fromiter(noisy, np.int64))
  out = {}
  for name, sel in (('into_items', user_to_item),
                    ('into_users', ~user_to_item)):
    w, f, r = e['weight'][sel], is_false[sel], e['receiver'][sel]
    out[f'auc_{name}'] = metrics.auc(w[~f], w[f])
    out[f'auc_{name}_per_receiver'] = per_receiver_auc(r, w, f)
    for m, modality in enumerate(e['modalities']):
      out[f'auc_{name}_per_receiver_alpha_{modality}'] = per_receiver_auc(
          r, e['alpha'][sel, m], f)
  # Mean of both directions per undirected edge.
  order = np.argsort(key, kind='stable')
  k, w, f = key[order], e['weight'][order], is_false[order]
  assert np.array_equal(k[0::2], k[1::2])
  mean_w, f = (w[0::2] + w[1::2]) / 2, f[0::2]
  out['auc_mean_of_directions'] = metrics.auc(mean_w[~f], mean_w[f])
  out['false_edge_share'] = float(f.mean())
  out['pruned_share_true'] = float((mean_w[~f] <= 0).mean())
  out['pruned_share_false'] = float((mean_w[f] <= 0).mean())
  degree = np.bincount(e['receiver'])
  out['mean_item_degree_false_edges'] = float(
      degree[e['receiver'][user_to_item & is_false]].mean())
  out['mean_item_degree_true_edges'] = float(
      degree[e['receiver'][user_to_item & ~is_false]].mean())
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  root = tempfile.mkdtemp(prefix='grcn-denoising-')
  folder = os.path.join(root, 'synthetic-noisy')
  ds, noisy = planted_dataset(folder)
  print(f'data: {ds.num_users} users, {ds.num_items} items, '
        f'{len(ds.train)} train edges ({len(noisy)} false, '
        f'{len(noisy) / len(ds.train):.1%}), {len(ds.test)} test', flush=True)
  results = {'data': {'users': ds.num_users, 'items': ds.num_items,
                      'train_edges': len(ds.train), 'false_edges': len(noisy),
                      'noise_arg': _NOISE.value, 'epochs': _EPOCHS.value},
             'runs': []}
  for lr in map(float, _GRCN_LR.value):
    for pruning in _PRUNING.value:
      config = base_changes(grcn_movielens.get_config(), folder)
      config.learning_rate = lr
      config.model.hard_pruning = pruning == 'hard'
      workdir = os.path.join(root, f'grcn-{lr}-{pruning}')
      record = run(config, workdir)
      auc = edge_auc(workdir, ds.num_users, ds.num_items, noisy)
      results['runs'].append({'model': 'grcn', 'lr': lr, 'pruning': pruning,
                              **auc, **record})
      print(f"GRCN lr {lr} {pruning}: edge AUC (mean of directions) "
            f"{auc['auc_mean_of_directions']:.3f}, per receiver "
            f"{auc['auc_into_users_per_receiver']:.3f} (into users) / "
            f"{auc['auc_into_items_per_receiver']:.3f} (into items), "
            f"test recall@10 "
            f"{record['test/recall@10']:.4f} nDCG@10 "
            f"{record['test/ndcg@10']:.4f} (best epoch "
            f"{record['best_epoch']})", flush=True)
  config = base_changes(lightgcn_synthetic.get_config(), folder)
  config.learning_rate = 1e-3
  record = run(config, os.path.join(root, 'lightgcn'))
  results['runs'].append({'model': 'lightgcn', 'lr': 1e-3, **record})
  print(f"LightGCN lr 1e-3: test recall@10 {record['test/recall@10']:.4f} "
        f"nDCG@10 {record['test/ndcg@10']:.4f} (best epoch "
        f"{record['best_epoch']}); MostPop recall@10 "
        f"{record['baseline/MostPop/recall@10']:.4f} nDCG@10 "
        f"{record['baseline/MostPop/ndcg@10']:.4f}", flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(results, f, indent=2)
  print(f'Wrote {_OUT.value} (runs in {root})')


if __name__ == '__main__':
  app.run(main)
