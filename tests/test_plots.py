"""launch/plot.py: curves of runs, per-fold curves and bars of cross-validations."""

import os
import subprocess
import sys

import pytest

from jaxrec import cross_validation
from jaxrec import plots
from jaxrec.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  """(a run, a cross-validation): two folds of the smoke config, 2 epochs.

  The run is the cross-validation's first fold, a run like any other.
  """
  from configs import lightgcn_synthetic  # pylint: disable=g-import-not-at-top
  cv = str(tmp_path_factory.mktemp('tiny') / 'cv')
  config = lightgcn_synthetic.get_config('smoke')
  config.unlock()
  config.num_epochs = 2
  config.eval_every_epochs = 1
  config.data.split = 'kfold'
  cross_validation.run(config, cv, num_folds=2)
  return os.path.join(cv, 'fold_0'), cv


def test_curves_come_from_the_per_epoch_records():
  records = [
      {'epoch': 1, 'step': 4, 'train/loss': 0.7},
      {'epoch': 1, 'val/recall@20': 0.5, 'val/num_evaluated': 9,
       'test/recall@20': 0.4},
      {'epoch': 2, 'step': 8, 'train/loss': 0.6},
      {'epoch': 2, 'val/recall@20': 0.6, 'test/recall@20': 0.45},
      {'best_epoch': 2, 'val/recall@20': 0.6, 'test/recall@20': 0.45},
  ]
  c = plots.curves(records)
  assert c == {'train/loss': ([1, 2], [0.7, 0.6]),
               'val/recall@20': ([1, 2], [0.5, 0.6]),
               'test/recall@20': ([1, 2], [0.4, 0.45])}
  assert plots.best_epoch(records) == 2


def test_bar_data_has_each_method_and_its_baselines(tiny):
  _, cv = tiny
  methods, metrics, means, stds = plots.bar_data([cv])
  result = cross_validation.load(cv)
  assert methods == [result['name'], 'MostPop']
  assert 'recall@20' in metrics and not any('num_' in m for m in metrics)
  j = metrics.index('recall@20')
  assert means[0][j] == result['mean']['recall@20']
  assert stds[0][j] == result['std']['recall@20']
  assert means[1][j] == result['baselines']['MostPop']['mean']['recall@20']


def test_a_folder_that_is_neither_is_refused(tmp_path):
  with pytest.raises(UserError, match='no metrics.jsonl'):
    plots.is_cv(str(tmp_path))


def test_plots_of_a_run_and_a_cross_validation(tiny, tmp_path):
  pytest.importorskip('matplotlib')
  run, cv = tiny
  out = str(tmp_path / 'plots')
  written = plots.plot_all([run, cv], out)
  names = {os.path.relpath(p, out) for p in written}
  metrics = ['recall_at_10', 'ndcg_at_10', 'precision_at_10', 'hit_at_10',
             'recall_at_20', 'ndcg_at_20', 'precision_at_20', 'hit_at_20']
  expected = {f'{m}.png' for m in ['loss', *metrics]}
  assert expected <= names  # The run: loss and every validation metric.
  assert {f'folds_cv/{n}' for n in expected} <= names  # Per-fold curves.
  assert plots.BAR_CHART in names
  for path in written:
    with open(path, 'rb') as f:
      assert f.read(8) == PNG


def test_without_matplotlib_one_clear_line(tiny, tmp_path):
  run, _ = tiny
  # A None entry in sys.modules makes `import matplotlib` fail, as it does
  # where the extra is not installed.
  code = ('import sys, runpy; sys.modules["matplotlib"] = None; '
          'sys.argv = ["launch/plot.py", "--workdir=%s", "--out=%s"]; '
          'runpy.run_path("launch/plot.py", run_name="__main__")'
          % (run, tmp_path / 'plots'))
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and 'pip install -e ".[plot]"' in lines[0]
  assert not os.path.exists(tmp_path / 'plots')
