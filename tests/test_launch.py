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


@pytest.mark.parametrize('config', ['lightgcn_synthetic', 'lightgcn_ml100k'])
def test_smoke_config_trains_and_evaluates(config, tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  _fake_ml100k(str(data))
  workdir = str(tmp_path / 'run')
  proc = _run('launch/train.py', f'--config=configs/{config}.py:smoke',
              f'--workdir={workdir}', f'--config.data.path={data}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'Workdir: {workdir}' in proc.stdout
  assert ('SYNTHETIC' in proc.stderr) == (config == 'lightgcn_synthetic')
  records = [json.loads(l) for l in open(os.path.join(workdir,
                                                      'metrics.jsonl'))]
  assert any('val/recall@20' in r for r in records)
  assert 'test/recall@20' in records[-1]
  assert os.path.exists(os.path.join(workdir, 'train.log'))

  proc = _run('launch/evaluate.py', f'--workdir={workdir}', '--split=test')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'recall@20' in proc.stdout
  with open(os.path.join(workdir, 'eval_test.json')) as f:
    evaluated = json.load(f)
  assert evaluated['recall@20'] == pytest.approx(
      records[-1]['test/recall@20'], abs=1e-6)


def test_missing_data_and_config_typo_are_clear_errors(tmp_path):
  workdir = str(tmp_path / 'run')
  proc = _run('launch/train.py', '--config=configs/lightgcn_ml100k.py:smoke',
              f'--workdir={workdir}', '--config.data.path=/no/such/dir')
  assert proc.returncode != 0
  assert '/no/such/dir' in proc.stderr and 'grouplens' in proc.stderr
  assert 'Traceback' not in proc.stderr

  proc = _run('launch/train.py', '--config=configs/lightgcn_synthetic.py:smoke',
              f'--workdir={workdir}', '--config.learnin_rate=0.1')
  assert proc.returncode != 0
  assert 'learnin_rate' in proc.stderr
