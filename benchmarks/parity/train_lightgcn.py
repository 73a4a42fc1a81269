"""Level 3 parity: LightGCN trained by its authors' loop and by jaxrec.

  python benchmarks/parity/train_lightgcn.py \
      --reference=PATH/LightGCN-PyTorch --reference_commit=SHA \
      --config=configs/lightgcn_ml100k.py --config.data.path=data/ml-100k \
      --epochs=400 --eval_every=10

PATH is a checkout of gusye1234/LightGCN-PyTorch (the folder holding
code/model.py). Both sides train on jaxrec's split of the config (the train
part, without the validation rows carved from it) with the same embedding
width, layers, learning rate, batch size, L2 weight (their --decay) and
epoch budget, and both sets of embeddings are scored every --eval_every
epochs by the same evaluation: jaxrec's full ranking on val and test
(jaxrec.metrics.evaluate with models/lightgcn.score; train items masked,
and val items too for test).

Their side runs their code as their main.py does: utils.set_seed, their
Loader reading jaxrec's split written in their train.txt / test.txt layout
(a temporary folder), their LightGCN, their BPRLoss (Adam) and, every epoch,
Procedure.BPR_train_original with their sampler (utils.UniformSample_original:
the C++ extension when cppimport is installed, else their Python fallback;
the JSON says which). Differences from main.py: no torch.save of the weights
each epoch (it would write into the checkout), and instead of Procedure.Test
every 10 epochs, jaxrec's evaluation of model.computer() every --eval_every
epochs; their Test on the test split is recorded next to it (--their_test).

Their Loader infers the user and item counts from the largest ids in
train.txt and test.txt. jaxrec keeps every ML-100K item (1682), also those
with no rating >= 4; when the largest ids are in no written split, one
extra test.txt line (the last user, the last item) makes their Loader size
the tables like jaxrec's, and their testDict is then set back to the real
test split, so their Test never sees it.

Each side runs in its own process, one after the other, with the same
environment (torch's and XLA's default threads; glibc huge pages on both
when --huge_pages, what jaxrec's launch/ tools use), so seconds per epoch
(without evaluation; the first epoch, with JAX compilation, is left out of
the median), seconds per full evaluation (val + test, embeddings included),
CPU seconds and peak RSS compare on the same machine.

Threads: neither side sets a thread count (torch and XLA use every core).
OMP_WAIT_POLICY=PASSIVE is set for both (--omp_wait_policy; XLA does not
use OpenMP): with libgomp's default spin-waiting, on a 2-core machine
already busy with another job, torch's two OpenMP workers took 610 ms for
a stand-alone Adam step of this size (2,625 nodes, 80k directed edges,
3 layers, batch 2048) instead of 42 ms (34 ms on one thread), and their
loop 18 s per epoch instead of 1.5 s: the workers spin for a core the
other job holds.

Their sampler draws trainDataSize (user, item, negative) triples per epoch
from a uniform user, then one of that user's items; jaxrec visits every
train pair once per epoch. --their_sampler=per_interaction swaps their
sampler for jaxrec's scheme (a harness function in their utils' place),
to tell a difference in results caused by the sampler from one caused by
the model, loss or optimiser.

Writes --out (default benchmarks/results/level3_lightgcn_ml100k.json): per
side the curve (epoch, training loss, val and test metrics, evaluation
seconds), per-epoch seconds and peak RSS; a summary (val-selected and
best-test epochs, medians, ratios theirs / jaxrec) and the machine load.
Without torch or the checkout, prints SKIPPED and exits 0.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position
import shims  # pylint: disable=g-import-not-at-top,wrong-import-position

_REFERENCE = flags.DEFINE_string(
    'reference', None, 'Checkout of gusye1234/LightGCN-PyTorch.')
_COMMIT = flags.DEFINE_string(
    'reference_commit', None,
    'Commit of the checkout (default: what common.commit_of finds).')
_EPOCHS = flags.DEFINE_integer('epochs', 300, 'Epochs on each side.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 20, 'Evaluate every N '
                                   'epochs (and after the last).')
_SIDES = flags.DEFINE_list('sides', ['theirs', 'jaxrec'], 'Sides to run, '
                           'in this order.')
_THEIR_TEST = flags.DEFINE_bool(
    'their_test', True, 'Also record their Procedure.Test on the test split '
    'at each evaluation (excludes train only; val items stay rankable).')
_THEIR_SAMPLER = flags.DEFINE_enum(
    'their_sampler', 'theirs', ['theirs', 'per_interaction'],
    'Diagnostic: per_interaction swaps their utils.UniformSample_original '
    '(a uniform user, then one of its items) for jaxrec\'s scheme (every '
    'train pair once per epoch, shuffled, one uniform negative the user has '
    'not rated), to attribute a difference in results to the sampler.')
_HUGE_PAGES = flags.DEFINE_bool(
    'huge_pages', True, 'Run both sides with glibc malloc on huge pages '
    '(GLIBC_TUNABLES, as jaxrec\'s launch/ tools do), where glibc has it.')
_OMP_WAIT = flags.DEFINE_string(
    'omp_wait_policy', 'PASSIVE', 'OMP_WAIT_POLICY for both sides (empty: '
    'leave the environment\'s). torch\'s OpenMP workers spin-wait by '
    'default; on a machine whose cores are busy with other work that made '
    'a LightGCN step 15x slower (see the module docstring).')
_OUT = flags.DEFINE_string(
    'out', os.path.join(os.path.dirname(common.RESULTS),
                        'level3_lightgcn_ml100k.json'), 'JSON to write.')
_NAME = flags.DEFINE_string('name', 'ml100k', 'Dataset label in the JSON.')
_ONE = flags.DEFINE_string('one', None, 'Internal: run this side only and '
                           'print its JSON.')
_CONFIG = config_flags.DEFINE_config_file('config', None, 'jaxrec config.')

MARKER = 'code/model.py'


def _peak_rss_gb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _cpu_seconds() -> float:
  """User + system CPU seconds of this process so far (all its threads)."""
  r = resource.getrusage(resource.RUSAGE_SELF)
  return r.ru_utime + r.ru_stime


def _check_config(config) -> None:
  """Only what both sides can do alike: implicit BPR, one uniform negative."""
  if config.model.name != 'lightgcn':
    raise ValueError(f'config.model.name={config.model.name!r}; this '
                     'harness compares LightGCN.')
  if config.num_negatives != 1 or config.negative_sampling != 'uniform':
    raise ValueError('their sampler draws one uniform negative per row: '
                     'use num_negatives=1, negative_sampling=uniform.')
  if not config.batch_size:
    raise ValueError('their loop needs a batch size (config.batch_size > 0).')


def _per_user(rows, num_users: int) -> list[np.ndarray]:
  order = np.lexsort((rows.item, rows.user))
  users, items = rows.user[order], rows.item[order]
  cuts = np.searchsorted(users, np.arange(num_users + 1))
  return [items[cuts[u]:cuts[u + 1]] for u in range(num_users)]


def write_split(folder: str, ds) -> bool:
  """jaxrec's train (no val rows) and test likes in their text layout.

  Returns:
    Whether a padding line was added to test.txt so that their Loader's
    largest user and item ids are jaxrec's (see the module docstring).
  """
  train = _per_user(ds.train.likes(), ds.num_users)
  test = _per_user(ds.test.likes(), ds.num_users)
  rows = [(u, x) for u, x in enumerate(train + test) if len(x)]
  largest_user = max(u % ds.num_users for u, _ in rows)
  largest_item = max(int(x.max()) for _, x in rows)
  pad = (largest_user, largest_item) != (ds.num_users - 1, ds.num_items - 1)
  for name, lists in (('train.txt', train), ('test.txt', test)):
    with open(os.path.join(folder, name), 'w') as f:
      for u, items in enumerate(lists):
        if len(items):
          f.write(' '.join(map(str, [u, *items.tolist()])) + '\n')
      if pad and name == 'test.txt':
        f.write(f'{ds.num_users - 1} {ds.num_items - 1}\n')
  return pad


def per_interaction_sample(dataset, neg_ratio: int = 1) -> np.ndarray:
  """[n, 3] (user, item, negative): every train pair once, shuffled.

  Stands in for their UniformSample_original with --their_sampler=
  per_interaction; draws from np.random, which their utils.set_seed seeds.
  """
  del neg_ratio
  users = np.asarray(dataset.trainUser, np.int64)
  items = np.asarray(dataset.trainItem, np.int64)
  order = np.random.permutation(len(users))
  users, items = users[order], items[order]
  m = dataset.m_items
  known = np.unique(users * m + items)
  negs = np.random.randint(0, m, len(users))
  bad = np.isin(users * m + negs, known)
  while bad.any():
    negs[bad] = np.random.randint(0, m, int(bad.sum()))
    bad = np.isin(users * m + negs, known)
  return np.stack([users, items, negs], axis=1)


def import_reference(ref: str, argv: list[str]):
  """Their world / dataloader / model / utils / Procedure, argv parsed.

  world.py parses sys.argv when imported and makes code/checkpoints in the
  checkout (skipped: the checkout stays untouched). Procedure.py and
  utils.py import sklearn's roc_auc_score, which nothing here calls.
  """
  shims.stub_if_missing('sklearn.metrics', roc_auc_score=None)
  shims.tqdm_if_missing()
  saved = sys.argv
  sys.argv = ['main.py', *argv]
  try:
    with shims.no_makedirs_under(ref):
      return common.import_from(os.path.join(ref, 'code'), 'world',
                                'dataloader', 'model', 'utils', 'Procedure')
  finally:
    sys.argv = saved


def run_theirs(config) -> dict:
  """Their training loop on jaxrec's split; jaxrec's evaluation."""
  torch = common.require_torch()
  ref = common.require_reference(_REFERENCE.value, MARKER)
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec import tasks  # pylint: disable=g-import-not-at-top
  m = config.model
  argv = ['--dataset=gowalla', '--model=lgn', f'--recdim={m.embed_dim}',
          f'--layer={m.num_layers}', f'--decay={config.l2_weight}',
          f'--lr={config.learning_rate}', f'--bpr_batch={config.batch_size}',
          '--dropout=0', '--tensorboard=0', f'--seed={config.seed}',
          f'--epochs={_EPOCHS.value}',
          '--topks=[' + ','.join(map(str, config.eval_ks)) + ']']
  world, dataloader, model, utils, procedure = import_reference(ref, argv)
  if _THEIR_SAMPLER.value == 'per_interaction':
    utils.UniformSample_original = per_interaction_sample  # Procedure's call.
  rss_imports = _peak_rss_gb()
  task = tasks.build(config)
  ds = task.data
  folder = tempfile.mkdtemp(prefix='level3_lightgcn_data_')
  try:
    padded = write_split(folder, ds)
    utils.set_seed(world.seed)  # main.py, before the Loader and the model.
    dataset = dataloader.Loader(config=world.config, path=folder)
    if (dataset.n_users, dataset.m_items) != (ds.num_users, ds.num_items):
      raise ValueError(f'their Loader sees {dataset.n_users} x '
                       f'{dataset.m_items}, jaxrec {ds.num_users} x '
                       f'{ds.num_items}')
    if dataset.trainDataSize != len(ds.train.likes().user):
      raise ValueError('their Loader read a different train set')
    if padded:  # Their Test on the real test split only.
      real = {u: list(x) for u, x in
              enumerate(_per_user(ds.test.likes(), ds.num_users)) if len(x)}
      dataset._Loader__testDict = real  # pylint: disable=protected-access
    net = model.LightGCN(world.config, dataset).to(world.device)
    bpr = utils.BPRLoss(net, world.config)
  finally:
    shutil.rmtree(folder, ignore_errors=True)

  curve, seconds, sample_seconds = [], [], []
  n = _EPOCHS.value
  for epoch in range(1, n + 1):
    start = time.perf_counter()
    info = procedure.BPR_train_original(dataset, net, bpr, epoch - 1,
                                        neg_k=1, w=None)
    seconds.append(time.perf_counter() - start)
    loss = float(re.match(r'loss([-+0-9.einf]+)-', info).group(1))
    sample = re.search(r'Sample:([0-9.]+)', info)
    if sample:
      sample_seconds.append(float(sample.group(1)))
    if epoch % _EVAL_EVERY.value and epoch != n:
      continue
    start = time.perf_counter()
    net.eval()
    with torch.no_grad():
      users, items = net.computer()
    outputs = (jnp.asarray(users.numpy()), jnp.asarray(items.numpy()))
    result = common.evaluate_outputs(task, outputs)
    eval_seconds = time.perf_counter() - start
    record = {'epoch': epoch, 'loss': loss, 'eval_seconds': eval_seconds,
              **result}
    if _THEIR_TEST.value:
      start = time.perf_counter()
      theirs = procedure.Test(dataset, net, epoch, None, 0)
      record['their_test'] = {
          f'{k}@{kk}': float(theirs[k][i])
          for k in ('precision', 'recall', 'ndcg')
          for i, kk in enumerate(world.topks)}
      record['their_test_seconds'] = time.perf_counter() - start
    net.train()
    curve.append(record)
    print(json.dumps({'side': 'theirs', 'epoch': epoch, 'loss': loss,
                      'epoch_seconds': seconds[-1],
                      'val/recall@20': result['val'].get('recall@20')}),
          file=sys.stderr, flush=True)
  return {'curve': curve, 'epoch_seconds': seconds,
          'sample_seconds': sample_seconds,
          'sampler': ('per_interaction (harness diagnostic)'
                      if _THEIR_SAMPLER.value == 'per_interaction' else
                      'C++ (sources/sampling.cpp)' if utils.sample_ext else
                      'Python (UniformSample_original_python)'),
          'padded_test_line': padded,
          'torch_threads': torch.get_num_threads(),
          'torch': torch.__version__,
          'rss_after_imports_gb': rss_imports,
          'cpu_seconds': _cpu_seconds(),
          'peak_rss_gb': _peak_rss_gb()}


def run_jaxrec(config) -> dict:
  """jaxrec's train_and_evaluate, no early stopping, the same budget."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxrec import runs, train  # pylint: disable=g-import-not-at-top
  rss_imports = _peak_rss_gb()
  config.num_epochs = _EPOCHS.value
  config.eval_every_epochs = _EVAL_EVERY.value
  config.log_every_epochs = 1
  config.log_test_every_eval = True
  config.patience = 0
  eval_seconds = {}
  select = runs._select  # pylint: disable=protected-access

  def timed_select(run, evaluate_fn, loss, epoch):
    start = time.perf_counter()
    out = select(run, evaluate_fn, loss, epoch)
    eval_seconds[epoch] = time.perf_counter() - start
    return out

  runs._select = timed_select  # pylint: disable=protected-access
  workdir = tempfile.mkdtemp(prefix='level3_lightgcn_jaxrec_')
  try:
    train.train_and_evaluate(config, workdir)
    records = train.MetricsLog(workdir).read()
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  curve, seconds, losses = [], [], {}
  for r in records:
    if 'train/epoch_seconds' in r:
      seconds.append(r['train/epoch_seconds'])
      losses[r['epoch']] = r['train/loss']
    if 'epoch' in r and any(k.startswith('val/') for k in r):
      curve.append({'epoch': r['epoch'], 'loss': losses.get(r['epoch']),
                    'eval_seconds': eval_seconds.get(r['epoch']), **{
                        split: {k.split('/', 1)[1]: v for k, v in r.items()
                                if k.startswith(split + '/')}
                        for split in ('val', 'test')}})
  return {'curve': curve, 'epoch_seconds': seconds,
          'backend': jax.default_backend(), 'jax': jax.__version__,
          'rss_after_imports_gb': rss_imports,
          'cpu_seconds': _cpu_seconds(),
          'peak_rss_gb': _peak_rss_gb()}


def _best(curve: list[dict], split: str, metric: str) -> dict:
  """The evaluation with the highest metric on split (earliest on ties)."""
  best = max(curve, key=lambda r: (r[split][metric], -r['epoch']))
  return {'epoch': best['epoch'], 'val': best['val'], 'test': best['test']}


def summarise(side: dict, metric: str) -> dict:
  s = np.asarray(side['epoch_seconds'][1:] or side['epoch_seconds'])
  out = {'val_selected': _best(side['curve'], 'val', metric),
         'best_test_epoch': _best(side['curve'], 'test', metric),
         'last': {'epoch': side['curve'][-1]['epoch'],
                  'test': side['curve'][-1]['test']},
         'median_epoch_seconds': float(np.median(s)),
         'total_train_seconds': float(np.sum(side['epoch_seconds'])),
         'median_eval_seconds': float(np.median(
             [r['eval_seconds'] for r in side['curve']])),
         'cpu_seconds': side['cpu_seconds'],
         'peak_rss_gb': side['peak_rss_gb'],
         'rss_after_imports_gb': side['rss_after_imports_gb']}
  if side.get('sample_seconds'):
    out['median_sample_seconds'] = float(np.median(side['sample_seconds']))
  if side['curve'] and 'their_test_seconds' in side['curve'][0]:
    out['median_their_test_seconds'] = float(np.median(
        [r['their_test_seconds'] for r in side['curve']]))
  return out


def _environment() -> dict[str, str]:
  """The children's environment: the same for both sides."""
  env = dict(os.environ, JAXREC_NO_REEXEC='1')
  if _OMP_WAIT.value:
    env['OMP_WAIT_POLICY'] = _OMP_WAIT.value
  if _HUGE_PAGES.value:
    from jaxrec import runtime  # pylint: disable=g-import-not-at-top
    tunables = env.get('GLIBC_TUNABLES', '')
    if (sys.platform == 'linux' and runtime.HUGE_PAGES not in tunables and
        runtime._glibc_supports_hugetlb()):  # pylint: disable=protected-access
      env['GLIBC_TUNABLES'] = ':'.join(
          t for t in (tunables, runtime.HUGE_PAGES) if t)
  return env


def _cpu_model() -> str | None:
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or None


def run() -> None:
  config = _CONFIG.value
  if _ONE.value:
    _check_config(config)
    result = (run_theirs(config) if _ONE.value == 'theirs' else
              run_jaxrec(config))
    print('RESULT ' + json.dumps(result))
    return
  common.require_torch()
  ref = common.require_reference(_REFERENCE.value, MARKER)
  if config is None:
    raise app.UsageError('--config is required (e.g. '
                         'configs/lightgcn_ml100k.py)')
  _check_config(config)
  env = _environment()
  sides, load = {}, {}
  for side in _SIDES.value:
    argv = [a for a in sys.argv[1:] if not a.startswith('--sides')]
    load[side] = {'loadavg_before': os.getloadavg()}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, *argv, f'--one={side}'],
                          capture_output=True, text=True, check=False,
                          env=env)
    load[side].update(loadavg_after=os.getloadavg(),
                      wall_seconds=time.perf_counter() - start)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode or not line:
      raise RuntimeError(f'{side} failed:\n{proc.stdout[-2000:]}\n'
                         f'{proc.stderr[-4000:]}')
    sides[side] = json.loads(line[0][len('RESULT '):])
    print(f'{side} done in {load[side]["wall_seconds"]:.0f} s', flush=True)
  metric = config.selection_metric
  summary = {k: summarise(v, metric) for k, v in sides.items()}
  if {'theirs', 'jaxrec'} <= set(summary):
    t, j = summary['theirs'], summary['jaxrec']
    summary['ratio_theirs_over_jaxrec'] = {
        k: t[k] / j[k] for k in ('median_epoch_seconds', 'median_eval_seconds',
                                 'peak_rss_gb', 'total_train_seconds',
                                 'cpu_seconds')}
  out = {
      'model': 'lightgcn', 'data': _NAME.value,
      'reference': {'repository': 'gusye1234/LightGCN-PyTorch',
                    'commit': _COMMIT.value or common.commit_of(ref),
                    'code': 'code/dataloader.py Loader, code/model.py '
                            'LightGCN, code/utils.py BPRLoss and '
                            'UniformSample_original, code/Procedure.py '
                            'BPR_train_original (and Test)'},
      'config': json.loads(config.to_json()),
      'epochs': _EPOCHS.value, 'eval_every': _EVAL_EVERY.value,
      'selection_metric': metric,
      'machine': {'cpu': _cpu_model(), 'cpus': os.cpu_count(),
                  'platform': platform.platform(),
                  'glibc_tunables': env.get('GLIBC_TUNABLES'),
                  'omp_wait_policy': env.get('OMP_WAIT_POLICY'),
                  'load': load},
      'summary': summary, 'sides': sides}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')
  for k, v in summary.items():
    print(k, json.dumps(v))
  print(f'wrote {_OUT.value}')


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
