"""The table of a cross-validation still under way (jaxrec.cv_unfinished)."""

import json
import os
import shutil

import numpy as np
import pytest

from jaxrec import cross_validation
from jaxrec import cv_tables
from jaxrec import cv_unfinished
from jaxrec import train
from jaxrec.errors import ConfigError


def _final_test(run_dir, metric):
  """The val-selected test value of a finished run (its final report)."""
  return cross_validation.final_record(run_dir)[f'test/{metric}']


def test_finished_folds_give_the_table_that_the_full_run_extends(
    smoke_config, tmp_path):
  smoke_config.data.split = 'kfold'
  smoke_config.num_epochs = 2
  smoke_config.eval_every_epochs = 1
  workdir = str(tmp_path / 'cv')
  _, configs = cross_validation.run_configs(smoke_config, num_folds=3)
  for k in (0, 2):
    train.train_and_evaluate(configs[k], os.path.join(workdir, f'fold_{k}'))
  # Fold 1 has started: one evaluation logged, no final report yet.
  started = os.path.join(workdir, 'fold_1')
  os.makedirs(started)
  with open(os.path.join(workdir, 'fold_0', 'metrics.jsonl')) as f:
    first = f.readline()
  assert 'best_epoch' not in json.loads(first)
  with open(os.path.join(started, 'metrics.jsonl'), 'w') as f:
    f.write(first)

  part = cv_unfinished.load(workdir)
  assert [r['index'] for r in part['runs']] == [0, 2]
  assert part['unfinished'] == {'finished': [0, 2], 'of': 3}
  assert part['name'] == 'lightgcn' and part['unit'] == 'fold'
  folds = [os.path.join(workdir, f'fold_{k}') for k in (0, 2)]
  for metric in ('recall@20', 'ndcg@20'):
    values = [_final_test(d, metric) for d in folds]
    assert part['mean'][metric] == pytest.approx(np.mean(values), rel=1e-12)
    assert part['std'][metric] == pytest.approx(np.std(values), rel=1e-12)
  assert part['best_test']['mean']  # per-epoch test metrics were logged
  assert cv_tables.run_count(part) == '2 of 3 folds (0, 2; unfinished)'
  table = cv_tables.format_comparison(cv_tables.load_many([workdir]))
  assert 'lightgcn' in table

  # Finishing the cross-validation keeps the two finished folds' numbers.
  shutil.rmtree(started)
  full = cross_validation.run(smoke_config, workdir, num_folds=3)
  assert 'unfinished' not in full
  assert cv_unfinished.load(workdir) == full
  assert cv_tables.run_count(full) == '3 folds'
  for mine, theirs in zip(part['runs'], [full['runs'][0], full['runs'][2]]):
    assert mine['test'] == theirs['test']
    assert mine['best_test'] == theirs['best_test']


def test_a_workdir_with_no_finished_run_is_explained(tmp_path):
  with pytest.raises(ConfigError, match='no fold_<k>/ runs'):
    cv_unfinished.load(str(tmp_path))
  run = tmp_path / 'fold_0'
  run.mkdir()
  (run / 'metrics.jsonl').write_text('{"epoch": 1, "loss": 0.5}\n')
  with pytest.raises(ConfigError, match='runs started: fold_0'):
    cv_tables.load_many([str(tmp_path)])
  with pytest.raises(ConfigError, match='not a folder'):
    cv_unfinished.load(str(tmp_path / 'missing'))
