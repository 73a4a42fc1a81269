r"""Wall time of k folds trained one after the other vs stacked in one program.

  python benchmarks/parallel_runs.py --data=data/ml-100k --folds=5 \
      --epochs=20 --out=benchmarks/results/parallel_runs.json

For each config (default: PANE-GNN and LightGCN under PANE-GNN's 5-fold
MovieLens-100K protocol), runs launch/cross_validate.py twice in fresh
processes on the same machine, one after the other: --parallel=1 (each fold
alone, as before) and --parallel=FOLDS (all folds in one program). Both use
the same fixed epoch budget (--epochs, evaluated every --eval_every, no
early stopping), so they do the same work; wall time includes start-up,
data loading, compilation, evaluation and checkpoints. The JSON holds both
wall times, their ratio, each process's CPU time and peak RSS, and the largest relative
difference between the two cross-validations' mean test metrics (they
should be equal within 1e-6; see tests/test_stacked.py).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_DATA = flags.DEFINE_string('data', None, 'MovieLens-100K folder.')
_CONFIGS = flags.DEFINE_list(
    'configs', ['pane_gnn_ml100k.py', 'lightgcn_ml100k_signed.py'],
    'Config files under configs/.')
_FOLDS = flags.DEFINE_integer('folds', 5, 'Folds.')
_EPOCHS = flags.DEFINE_integer('epochs', 20, 'Epochs per fold (both modes).')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 5, 'Evaluate every N epochs.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/parallel_runs.json',
                           'Where to write the JSON.')
_OVERRIDES = flags.DEFINE_multi_string(
    'override', [], 'Extra --config.FIELD=VALUE flags for both modes, e.g. '
    'data.split=kfold.')
_SMOKE = flags.DEFINE_bool('smoke', False, 'Use the configs\' :smoke variant '
                           '(a quick check of this script).')


def _cross_validate(config: str, parallel: int, workdir: str) -> dict:
  """One launch/cross_validate.py process; its wall time, RSS and cv.json."""
  cmd = [sys.executable, os.path.join(REPO, 'launch', 'cross_validate.py'),
         f'--config={os.path.join(REPO, "configs", config)}'
         + (':smoke' if _SMOKE.value else ''),
         f'--folds={_FOLDS.value}', f'--parallel={parallel}',
         f'--workdir={workdir}', f'--config.num_epochs={_EPOCHS.value}',
         f'--config.eval_every_epochs={_EVAL_EVERY.value}',
         '--config.patience=0']
  if _DATA.value:
    cmd.append(f'--config.data.path={_DATA.value}')
  cmd += [f'--config.{o}' for o in _OVERRIDES.value]
  os.makedirs(workdir)
  log_path = os.path.join(workdir, 'stdout.log')
  start = time.perf_counter()
  with open(log_path, 'w') as log:
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    # wait4: this child's own CPU time and peak RSS (KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
  seconds = time.perf_counter() - start
  if os.waitstatus_to_exitcode(status):
    with open(log_path) as f:
      raise RuntimeError(f'{" ".join(cmd)} failed:\n{f.read()[-3000:]}')
  with open(os.path.join(workdir, 'cv.json')) as f:
    cv = json.load(f)
  return {'seconds': round(seconds, 1),
          'cpu_seconds': round(usage.ru_utime + usage.ru_stime, 1),
          'peak_rss_gb': round(usage.ru_maxrss / 2**20, 2),
          'mean': cv['mean']}


def _max_rel_diff(a: dict, b: dict) -> float:
  return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in a)


def main(argv):
  del argv
  results = []
  for config in _CONFIGS.value:
    with tempfile.TemporaryDirectory(prefix='parallel_runs_') as tmp:
      alone = _cross_validate(config, 1, os.path.join(tmp, 'alone'))
      stacked = _cross_validate(config, _FOLDS.value,
                                os.path.join(tmp, 'stacked'))
    row = {'config': config + (':smoke' if _SMOKE.value else ''),
           'folds': _FOLDS.value, 'epochs': _EPOCHS.value,
           'one_after_another': {k: v for k, v in alone.items()
                                 if k != 'mean'},
           'stacked': {k: v for k, v in stacked.items() if k != 'mean'},
           'speedup': round(alone['seconds'] / stacked['seconds'], 2),
           'max_rel_diff_mean_test_metrics': _max_rel_diff(alone['mean'],
                                                           stacked['mean'])}
    print(json.dumps(row), flush=True)
    results.append(row)
  out = {'machine': f'{os.cpu_count()} CPU cores', 'command': ' '.join(
      sys.argv), 'results': results}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(out, f, indent=1)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
