"""Level 3 parity: PANE-GNN / SiReN trained by their code and by jaxrec.

Both sides train on the same split (jaxrec's loader and split of the given
config: the fold's train part, without the validation ratings carved from
it), with the same hyper-parameters and epoch budget, and both sets of
embeddings are scored every --eval_every epochs by the same evaluation
(jaxrec's full ranking, every rated train item masked, PANE-GNN's filter).
Each side runs in its own process, one after the other, so seconds per
epoch, evaluation time and peak memory compare on the same machine.

Their side mirrors the authors' main.py (May-2023 PaN-GNN, commit 8b4f7f7;
SiReN-reco): their bipartite_dataset draws K negatives per rating for 20
epochs at a time (negs_gen_EP), a shuffled DataLoader makes the batches,
their module computes the loss, Adam takes the step. Only the data source
(jaxrec's split instead of their hard-coded file paths) and the evaluation
(jaxrec's, instead of theirs on the test fold every 20 epochs, which
Level 2 compares separately) differ.

  python benchmarks/parity/train_signed.py --model=pane_gnn \
      --reference=PaN-GNN --config=configs/pane_gnn_ml100k.py:reference \
      --config.data.path=data/ml-100k --epochs=60

Writes benchmarks/results/level3_<model>_<dataset>.json: per side, the
curve (epoch, val and test metrics), best epoch on validation and on test,
seconds per epoch, evaluation seconds, peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import shims  # pylint: disable=g-import-not-at-top,wrong-import-position

_MODEL = flags.DEFINE_enum('model', 'pane_gnn', ['pane_gnn', 'siren'],
                           'Which model.')
_REFERENCE = flags.DEFINE_string('reference', None, 'Checkout of their code.')
_COMMIT = flags.DEFINE_string('reference_commit', None, 'Its commit.')
_EPOCHS = flags.DEFINE_integer('epochs', 60, 'Epochs on each side.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 5, 'Evaluate every N.')
_SIDES = flags.DEFINE_list('sides', ['theirs', 'jaxrec'], 'Sides to run.')
_OUT = flags.DEFINE_string('out', None, 'JSON path (default: '
                           'benchmarks/results/level3_<model>_<name>.json).')
_NAME = flags.DEFINE_string('name', 'ml100k_fold0', 'Dataset label.')
_ONE = flags.DEFINE_string('one', None, 'Internal: run this side only and '
                           'print its JSON.')
_CONFIG = config_flags.DEFINE_config_file('config', None, 'jaxrec config.')

MARKER = {'pane_gnn': 'pnegnn.py', 'siren': 'siren.py'}


def _peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _their_outputs(torch, ref, model: str, u: int, threshold: float):
  """Their embeddings as the outputs jaxrec's score functions read."""
  ref.eval()
  with torch.no_grad():
    if model == 'pane_gnn':
      z, v, _ = ref.aggregate_u_two_embeddings(*ref.graphs)
      out = {'user': z[:u], 'item': z[u:], 'user_dis': v[:u],
             'item_dis': v[u:], 'threshold': np.float32(threshold)}
    else:
      z = ref.aggregate()
      out = (z[:u], z[u:])
  ref.train()
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  as_jax = lambda x: jnp.asarray(x.numpy()) if hasattr(x, 'numpy') else x
  return {k: as_jax(x) for k, x in out.items()} if isinstance(
      out, dict) else tuple(as_jax(x) for x in out)


def run_theirs(config) -> dict:
  """Trains their module with their data pipeline; jaxrec evaluates."""
  torch = common.require_torch()
  path = common.require_reference(_REFERENCE.value, MARKER[_MODEL.value])
  shims.stub_if_missing('torch_scatter')
  shims.tqdm_if_missing()
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from torch.utils.data import DataLoader  # pylint: disable=g-import-not-at-top
  from torch_geometric.data import Data  # pylint: disable=g-import-not-at-top
  from jaxrec import graphs  # pylint: disable=g-import-not-at-top
  from jaxrec import tasks  # pylint: disable=g-import-not-at-top
  model = _MODEL.value
  ref_model, util = common.import_from(path, MARKER[model][:-3], 'util')
  torch.manual_seed(config.seed)
  np.random.seed(config.seed)
  task = tasks.build(config)
  ds, m = task.data, config.model
  u, i = ds.num_users, ds.num_items
  tr = ds.train
  frame = pd.DataFrame({'userId': tr.user.astype(np.int64) + 1,
                        'movieId': tr.item.astype(np.int64) + 1,
                        'rating': tr.rating.astype(np.float64)})
  offset = config.data.threshold
  cpu = torch.device('cpu')
  if model == 'pane_gnn':
    ref = ref_model.PNeGNN(frame, u, i, offset=offset,
                           num_layers=m.num_layers, MLP_layers=2,
                           dim=m.embed_dim, reg=config.l2_weight, device=cpu)
    # Their main.py: G_p (> offset), G_n (< 3.5), G_d by dropout_adj(0.8).
    likes, dislikes = tr.select(tr.liked), tr.select(~tr.liked)
    both = lambda a, b: torch.stack([
        torch.as_tensor(np.concatenate([a, b]), dtype=torch.long),
        torch.as_tensor(np.concatenate([b, a]), dtype=torch.long)])
    edge_n = both(dislikes.user, dislikes.item + u)
    keep = torch.as_tensor(graphs.directed_keep(
        len(dislikes.user), m.edge_removal, config.seed))
    ref.graphs = (Data(edge_index=both(likes.user, likes.item + u)),
                  Data(edge_index=edge_n), Data(edge_index=edge_n[:, keep]))
    step_args = ref.graphs + (cpu,)
  else:
    ref = ref_model.SiReN(frame, u, i, offset=offset,
                          num_layers=m.num_layers, MLP_layers=2,
                          dim=m.embed_dim, reg=config.l2_weight, device=cpu)
    step_args = (cpu,)
  optimizer = torch.optim.Adam(ref.parameters(), lr=config.learning_rate)
  neg_dist = util.deg_dist(frame, i)
  dataset = util.bipartite_dataset(frame, neg_dist, offset, u, i,
                                   config.num_negatives)
  curve, seconds = [], []
  for epoch in range(1, _EPOCHS.value + 1):
    start = time.perf_counter()
    if epoch % 20 - 1 == 0:  # Their main.py: 20 epochs of negatives at once.
      dataset.negs_gen_EP(20)
    dataset.edge_4 = dataset.edge_4_tot[:, :, epoch % 20 - 1]
    for user, item, w, negs in DataLoader(dataset, batch_size=config.batch_size,
                                          shuffle=True):
      optimizer.zero_grad()
      loss = ref(user, item, w, negs, *step_args)
      loss.backward()
      optimizer.step()
    seconds.append(time.perf_counter() - start)
    if epoch % _EVAL_EVERY.value == 0:
      start = time.perf_counter()
      outputs = _their_outputs(torch, ref, model, u, m.filter_threshold)
      result = common.evaluate_outputs(task, outputs)
      curve.append({'epoch': epoch, 'loss': float(loss),
                    'eval_seconds': time.perf_counter() - start, **result})
      print(json.dumps({'epoch': epoch, 'loss': float(loss),
                        'test/recall@10': result['test']['recall@10']}),
            file=sys.stderr, flush=True)
  return {'curve': curve, 'epoch_seconds': seconds,
          'peak_rss_gb': _peak_rss_gb()}


def run_jaxrec(config, workdir: str) -> dict:
  """jaxrec's training loop, no early stopping, the same budget."""
  from jaxrec import train  # pylint: disable=g-import-not-at-top
  config.num_epochs = _EPOCHS.value
  config.eval_every_epochs = _EVAL_EVERY.value
  config.patience = 0
  train.train_and_evaluate(config, workdir)
  records = train.MetricsLog(workdir).read()
  curve, seconds = [], []
  for r in records:
    if 'train/epoch_seconds' in r:
      seconds.append(r['train/epoch_seconds'])
    if 'epoch' in r and any(k.startswith('val/') for k in r):
      curve.append({'epoch': r['epoch'], **{
          split: {k.split('/', 1)[1]: v for k, v in r.items()
                  if k.startswith(split + '/')} for split in ('val', 'test')}})
  return {'curve': curve, 'epoch_seconds': seconds,
          'peak_rss_gb': _peak_rss_gb()}


def _best(curve: list[dict], split: str, metric: str) -> dict:
  """The evaluation with the highest metric on split (earliest on ties)."""
  best = max(curve, key=lambda r: (r[split][metric], -r['epoch']))
  return {'epoch': best['epoch'], 'test': best['test']}


def summarise(side: dict, metric: str) -> dict:
  s = np.asarray(side['epoch_seconds'][1:] or side['epoch_seconds'])
  return {'val_selected': _best(side['curve'], 'val', metric),
          'best_test_epoch': _best(side['curve'], 'test', metric),
          'median_epoch_seconds': float(np.median(s)),
          'median_eval_seconds': float(np.median(
              [r.get('eval_seconds', np.nan) for r in side['curve']])),
          'peak_rss_gb': side['peak_rss_gb']}


def run() -> None:
  config = _CONFIG.value
  if _ONE.value:
    import tempfile  # pylint: disable=g-import-not-at-top
    result = (run_theirs(config) if _ONE.value == 'theirs' else
              run_jaxrec(config, tempfile.mkdtemp(prefix='level3_')))
    print('RESULT ' + json.dumps(result))
    return
  common.require_torch()
  common.require_reference(_REFERENCE.value, MARKER[_MODEL.value])
  sides = {}
  for side in _SIDES.value:
    argv = [a for a in sys.argv[1:] if not a.startswith('--sides')]
    proc = subprocess.run([sys.executable, __file__, *argv, f'--one={side}'],
                          capture_output=True, text=True, check=False)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode or not line:
      raise RuntimeError(f'{side} failed:\n{proc.stderr[-4000:]}')
    sides[side] = json.loads(line[0][len('RESULT '):])
  metric = config.selection_metric
  out = _OUT.value or os.path.join(
      os.path.dirname(common.RESULTS),
      f'level3_{_MODEL.value}_{_NAME.value}.json')
  summary = {k: summarise(v, metric) for k, v in sides.items()}
  with open(out, 'w') as f:
    json.dump({'model': _MODEL.value, 'data': _NAME.value,
               'reference_commit': _COMMIT.value or common.commit_of(
                   _REFERENCE.value),
               'epochs': _EPOCHS.value, 'eval_every': _EVAL_EVERY.value,
               'selection_metric': metric, 'summary': summary,
               'sides': sides}, f, indent=1)
  for k, v in summary.items():
    print(k, json.dumps(v))


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
