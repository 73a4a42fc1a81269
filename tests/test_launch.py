"""The command-line entry points, run as a user would run them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxrec.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout)


def _fake_ml100k(folder):
  """A u.data / u.item pair in GroupLens's format, from synthetic data."""
  ds = synthetic.generate(num_users=80, num_items=60, num_clusters=3,
                          interactions_per_user=15, dislikes_per_user=3,
                          seed=5)
  t = ds.train
  rows = np.stack([t.user + 1, t.item + 1, t.rating.astype(int), t.timestamp],
                  axis=1)
  np.savetxt(os.path.join(folder, 'u.data'), rows, fmt='%d', delimiter='\t')
  with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
    for i in range(ds.num_items):
      flags = '|'.join('1' if g == i % 19 else '0' for g in range(19))
      f.write(f'{i + 1}|Movie {i + 1} (1995)|01-Jan-1995||http://x|{flags}\n')


SMOKE_CONFIGS = {  # config -> recommend.py query
    'lightgcn_synthetic': '--user=3',
    'lightgcn_ml100k': '--user=3',
    'gcn_copurchase_toy': '--item=0',
    'gcn_copurchase_ml100k': '--item=1',
    'grcn_movielens': '--user=3',
    'grcn_tiktok': '--user=3',
    'grcn_kwai': '--user=3',
    'grcn_ml100k': '--user=3',
}
# Configs also evaluated and queried through evaluate.py and recommend.py:
# one per task kind and data reader (each tool start costs seconds).
EVALUATED = ('lightgcn_ml100k', 'gcn_copurchase_toy', 'grcn_movielens')
# Configs whose default data is built in (and must be flagged as synthetic).
SYNTHETIC = ('lightgcn_synthetic', 'gcn_copurchase_toy', 'grcn_movielens',
             'grcn_tiktok', 'grcn_kwai')


@pytest.mark.parametrize('config', sorted(SMOKE_CONFIGS))
def test_smoke_config_trains_evaluates_and_recommends(config, tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  _fake_ml100k(str(data))
  workdir = str(tmp_path / 'run')
  synthetic = config in SYNTHETIC
  data_flag = [] if synthetic else [f'--config.data.path={data}']
  proc = _run('launch/train.py', f'--config=configs/{config}.py:smoke',
              f'--workdir={workdir}', *data_flag)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'Workdir: {workdir}' in proc.stdout
  assert ('SYNTHETIC' in proc.stderr) == synthetic
  if config.startswith('grcn'):
    assert os.path.exists(os.path.join(workdir, 'edge_weights.npz'))
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  assert any('train/loss' in r for r in records)
  final = records[-1]
  assert 'best_epoch' in final
  if config in ('grcn_movielens', 'grcn_tiktok'):
    # The planted clusters are learnt within the smoke run (measured: test
    # recall@10 0.71 / 0.55 against MostPop's 0.18).
    assert final['test/recall@10'] > final['baseline/MostPop/recall@10'] + 0.2
  assert os.path.exists(os.path.join(workdir, 'train.log'))

  if config not in EVALUATED:
    return
  if 'test/recall@10' in final:
    proc = _run('launch/evaluate.py', f'--workdir={workdir}', '--split=test')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'recall@10' in proc.stdout
    with open(os.path.join(workdir, 'eval_test.json')) as f:
      evaluated = json.load(f)
    assert evaluated['recall@10'] == pytest.approx(final['test/recall@10'],
                                                   abs=1e-6)

  proc = _run('launch/recommend.py', f'--workdir={workdir}',
              SMOKE_CONFIGS[config], '--k=3')
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.strip().split('\n')
  assert lines[0].startswith('Top 3 for ')
  assert [line.split('.')[0].strip() for line in lines[1:]] == ['1', '2', '3']
  if config.endswith('ml100k'):
    assert 'Movie ' in lines[1]  # names from u.item


def test_missing_data_and_config_typo_are_clear_errors(tmp_path):
  workdir = str(tmp_path / 'run')
  proc = _run('launch/train.py', '--config=configs/lightgcn_ml100k.py:smoke',
              f'--workdir={workdir}', '--config.data.path=/no/such/dir')
  assert proc.returncode == 2
  error = proc.stderr.strip().splitlines()[-1]
  assert error.startswith('error: ') and '/no/such/dir' in error
  assert 'grouplens' in error
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(workdir)  # Found before the folder is made.

  proc = _run('launch/train.py', '--config=configs/lightgcn_synthetic.py:smoke',
              f'--workdir={workdir}', '--config.learnin_rate=0.1')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "error: --config.learnin_rate: config has no field 'learnin_rate'; "
      'did you mean --config.learning_rate?']
  assert not os.path.exists(workdir)
