"""Cross-validation: folds, mean and std, resume, tables, the tools."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxrec import cross_validation
from jaxrec import cv_tables
from jaxrec.data import pipeline
from jaxrec.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def kfold_config(smoke_config):
  """The synthetic smoke config on k-fold data, two epochs."""
  smoke_config.data.split = 'kfold'
  smoke_config.num_epochs = 2
  smoke_config.eval_every_epochs = 1
  return smoke_config


def _pairs(inter):
  """The (user, item) pairs of some interactions, as a set."""
  return set(zip(inter.user.tolist(), inter.item.tolist()))


def _final_record(run_workdir):
  """The last record of a run's metrics.jsonl (the best checkpoint's)."""
  with open(os.path.join(run_workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()][-1]


def _evaluations(run_workdir):
  """A run's per-evaluation records (not its final report)."""
  with open(os.path.join(run_workdir, 'metrics.jsonl')) as f:
    return [r for r in map(json.loads, f) if 'val/recall@20' in r
            and 'best_epoch' not in r]


def _checkpoint_epochs(run_workdir):
  """The epochs saved in a run's checkpoints folder."""
  return sorted(os.listdir(os.path.join(run_workdir, 'checkpoints')))


def _run_tool(*args):
  """Runs a launch/ tool as a user would; returns the finished process."""
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


def test_folds_are_disjoint_and_cover_the_data(kfold_config):
  unit, configs = cross_validation.run_configs(kfold_config, num_folds=3)
  assert unit == 'fold'
  assert [c.data.fold for c in configs] == [0, 1, 2]
  assert {c.data.num_folds for c in configs} == {3}
  datasets = [pipeline.load(c.data) for c in configs]
  tests = [_pairs(ds.test) for ds in datasets]
  for i in range(3):
    for j in range(i + 1, 3):
      assert not tests[i] & tests[j], (i, j)
  everything = _pairs(datasets[0].all_interactions())
  assert set.union(*tests) == everything
  assert sum(len(t) for t in tests) == len(everything)
  for ds, test in zip(datasets, tests):
    assert len(ds.val)
    assert not _pairs(ds.val) & test
    assert not _pairs(ds.train) & test
    assert _pairs(ds.train) | _pairs(ds.val) | test == everything
  # The caller's config is copied, not changed.
  assert kfold_config.data.fold == 0 and kfold_config.data.num_folds == 5


def test_run_mean_std_and_resume(kfold_config, tmp_path):
  kfold_config.lock()
  workdir = str(tmp_path / 'cv')
  cv = cross_validation.run(kfold_config, workdir, num_folds=2)
  assert kfold_config.is_locked and kfold_config.data.fold == 0
  assert cv['unit'] == 'fold' and cv['name'] == 'lightgcn'
  assert [r['index'] for r in cv['runs']] == [0, 1]
  assert cv == cross_validation.load(workdir)

  finals = [_final_record(os.path.join(workdir, f'fold_{k}'))
            for k in range(2)]
  assert [r['best_epoch'] for r in cv['runs']] == [
      f['best_epoch'] for f in finals]
  assert 'recall@20' in cv['mean'] and 'num_evaluated' not in cv['mean']
  for metric in cv['mean']:
    values = [f[f'test/{metric}'] for f in finals]
    assert cv['mean'][metric] == pytest.approx(np.mean(values), abs=1e-12)
    assert cv['std'][metric] == pytest.approx(np.std(values, ddof=0),
                                              abs=1e-12)
  for run, final in zip(cv['runs'], finals):
    assert run['val']['recall@20'] == final['val/recall@20']
  # The papers' protocol: per run, the evaluation with the best test
  # recall@20 (the smoke config's selection metric).
  assert cv['selection_metric'] == 'recall@20'
  for k, run in enumerate(cv['runs']):
    evals = _evaluations(os.path.join(workdir, f'fold_{k}'))
    assert [r['epoch'] for r in evals] == [1, 2]
    best = max(evals, key=lambda r: (r['test/recall@20'], -r['epoch']))
    assert run['best_test_epoch'] == best['epoch']
    assert run['best_test']['ndcg@10'] == best['test/ndcg@10']
    # Optimistic by construction: the val-selected epoch is a candidate.
    assert run['best_test']['recall@20'] >= run['test']['recall@20'] - 1e-6
  best_values = [r['best_test']['recall@20'] for r in cv['runs']]
  assert cv['best_test']['mean']['recall@20'] == pytest.approx(
      np.mean(best_values), abs=1e-12)
  assert cv['best_test']['std']['recall@20'] == pytest.approx(
      np.std(best_values, ddof=0), abs=1e-12)
  # The baseline (MostPop) goes through the same summary.
  pop = [f['baseline/MostPop/recall@20'] for f in finals]
  assert cv['baselines']['MostPop']['mean']['recall@20'] == pytest.approx(
      np.mean(pop), abs=1e-12)
  with open(os.path.join(workdir, 'fold_1', 'config.json')) as f:
    saved = json.load(f)
  assert saved['data']['fold'] == 1 and saved['data']['num_folds'] == 2

  epochs = [_checkpoint_epochs(os.path.join(workdir, f'fold_{k}'))
            for k in range(2)]
  # Fold 1 as an older jaxrec saved it: no test metrics per evaluation.
  log = os.path.join(workdir, 'fold_1', 'metrics.jsonl')
  with open(log) as f:
    records = [json.loads(line) for line in f]
  with open(log, 'w') as f:
    for r in records:
      if 'best_epoch' not in r:
        r = {k: v for k, v in r.items() if not k.startswith('test/')}
      f.write(json.dumps(r) + '\n')
  again = cross_validation.run(kfold_config, workdir, num_folds=2)
  assert [_checkpoint_epochs(os.path.join(workdir, f'fold_{k}'))
          for k in range(2)] == epochs
  for k in range(2):
    with open(os.path.join(workdir, f'fold_{k}', 'metrics.jsonl')) as f:
      losses = [r for r in map(json.loads, f) if 'train/loss' in r]
    assert [r['epoch'] for r in losses] == [1, 2]  # Not trained again.
  assert again['mean'] == pytest.approx(cv['mean'], abs=1e-7)
  assert again['std'] == pytest.approx(cv['std'], abs=1e-7)
  assert [r['best_epoch'] for r in again['runs']] == [
      r['best_epoch'] for r in cv['runs']]
  assert again['runs'][0]['best_test'] == cv['runs'][0]['best_test']
  assert again['runs'][1]['best_test_epoch'] is None
  assert again['runs'][1]['best_test'] == {}
  # No mean over some of the folds: the row shows '–'.
  assert again['best_test'] == {'mean': {}, 'std': {}}
  lines = cv_tables.format_comparison({'lightgcn': again}).splitlines()
  assert lines[2].startswith('| lightgcn | val-selected | ')
  assert lines[3] == ("| lightgcn | best test epoch (papers' protocol, "
                      "optimistic) | " + ' | '.join(['–'] * 6) + ' |')


def test_kfold_without_validation_is_refused(kfold_config, tmp_path):
  kfold_config.data.val_ratio = 0.0
  with pytest.raises(ConfigError, match='val_ratio'):
    cross_validation.run(kfold_config, str(tmp_path / 'cv'), num_folds=2)
  assert not os.path.exists(tmp_path / 'cv')


def test_wrong_repetition_option_is_refused(kfold_config, tmp_path):
  with pytest.raises(ConfigError, match='num_folds'):
    cross_validation.run(kfold_config, str(tmp_path / 'a'), num_seeds=2)
  kfold_config.data.split = 'ratio'
  with pytest.raises(ConfigError, match='num_seeds'):
    cross_validation.run(kfold_config, str(tmp_path / 'b'), num_folds=2)
  with pytest.raises(ConfigError, match='launch/cross_validate.py'):
    cross_validation.load(str(tmp_path / 'b'))
  with pytest.raises(ConfigError, match='cv.json not found'):
    cross_validation.load(str(tmp_path))


def test_fixed_split_repeats_over_seeds(kfold_config, tmp_path):
  kfold_config.data.split = 'ratio'
  kfold_config.seed = 7
  kfold_config.num_epochs = 1
  workdir = str(tmp_path / 'cv')
  cv = cross_validation.run(kfold_config, workdir, num_seeds=2)
  assert cv['unit'] == 'seed' and kfold_config.seed == 7
  assert [r['seed'] for r in cv['runs']] == [7, 8]
  seeds, tests = [], []
  for r in range(2):
    run_dir = os.path.join(workdir, f'seed_{r}')
    with open(os.path.join(run_dir, 'config.json')) as f:
      seeds.append(json.load(f)['seed'])
    tests.append(_final_record(run_dir)['test/recall@10'])
  assert seeds == [7, 8]
  assert cv['mean']['recall@10'] == pytest.approx(np.mean(tests), abs=1e-12)
  # Same split, different initialisation and batches.
  assert cv['runs'][0]['test'] != cv['runs'][1]['test']


def test_default_name_is_the_models_label(smoke_config):
  assert cross_validation.default_name(smoke_config) == 'lightgcn'
  # An ablation's label names its variant, as cv.json files always have.
  smoke_config.model.name = 'pane_gnn'
  smoke_config.model.variant = 'full'
  assert cross_validation.default_name(smoke_config) == 'pane_gnn'
  smoke_config.model.variant = 'B'
  assert cross_validation.default_name(smoke_config) == 'pane_gnn-B'


def test_format_table():
  results = {
      'PANE-GNN': {
          'mean': {'precision@5': 0.33664, 'recall@5': 0.1, 'ndcg@5': 0.25,
                   'precision@10': 0.3, 'recall@10': 0.2, 'ndcg@10': 0.3,
                   'precision@15': 0.1},
          'std': {'precision@5': 0.0014, 'recall@5': 0.0, 'ndcg@5': 0.0101,
                  'precision@10': 0.002, 'recall@10': 0.001, 'ndcg@10': 0.003,
                  'precision@15': 0.0},
      },
      'LightGCN': {
          'mean': {'precision@5': 0.31, 'recall@5': 0.09,
                   'precision@10': 0.28, 'recall@10': 0.18, 'ndcg@10': 0.27,
                   'hit@20': 0.9},
          'std': {'precision@5': 0.001, 'recall@5': 0.002,
                  'precision@10': 0.003, 'recall@10': 0.004, 'ndcg@10': 0.005,
                  'hit@20': 0.0},
      },
  }
  # K=15 is only in the first row, K=20 only has 'hit': both left out.
  assert cv_tables.format_table(results) == '\n'.join([
      '| method | P@5 | R@5 | nDCG@5 | P@10 | R@10 | nDCG@10 |',
      '|---|---|---|---|---|---|---|',
      '| PANE-GNN | 33.66±0.14 | 10.00±0.00 | 25.00±1.01 | 30.00±0.20 | '
      '20.00±0.10 | 30.00±0.30 |',
      '| LightGCN | 31.00±0.10 | 9.00±0.20 | – | 28.00±0.30 | 18.00±0.40 | '
      '27.00±0.50 |',
  ])
  assert cv_tables.format_table(
      results, metrics=('precision',), ks=(15, 5), percent=False) == '\n'.join([
          '| method | P@15 | P@5 |',
          '|---|---|---|',
          '| PANE-GNN | 0.1000±0.0000 | 0.3366±0.0014 |',
          '| LightGCN | – | 0.3100±0.0010 |',
      ])
  with pytest.raises(ConfigError, match='cut-off'):
    cv_tables.format_table(results, metrics=('auc',))


def test_best_test_epoch_reads_the_evaluations(tmp_path):
  records = [
      {'epoch': 1, 'step': 4, 'train/loss': 0.7},
      {'epoch': 1, 'val/recall@10': 0.10, 'test/recall@10': 0.20,
       'test/ndcg@10': 0.31},
      {'epoch': 2, 'val/recall@10': 0.30, 'test/recall@10': 0.25,
       'test/ndcg@10': 0.32, 'test/num_evaluated': 9},
      {'epoch': 3, 'val/recall@10': 0.20, 'test/recall@10': 0.25,
       'test/ndcg@10': 0.40},  # A tie: the earlier epoch wins.
      {'epoch': 3, 'step': 12, 'train/loss': 0.6},
      # The final report (test of the val-selected checkpoint): not an epoch.
      {'best_epoch': 2, 'val/recall@10': 0.30, 'test/recall@10': 0.99},
  ]
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  assert cross_validation.best_test_epoch(str(tmp_path), 'recall@10') == (
      2, {'recall@10': 0.25, 'ndcg@10': 0.32, 'num_evaluated': 9})
  assert cross_validation.best_test_epoch(str(tmp_path), 'ndcg@10') == (
      3, {'recall@10': 0.25, 'ndcg@10': 0.40})
  # An older run resumed by today's jaxrec: epoch 1 has no test metrics, so
  # a best over the others would not be the papers' number.
  del records[1]['test/recall@10']
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  assert cross_validation.best_test_epoch(str(tmp_path), 'recall@10') == (
      None, {})
  # A run without per-evaluation test metrics (older jaxrec, or
  # log_test_every_eval off).
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(json.dumps({k: v for k, v in r.items()
                          if not k.startswith('test/') or 'best_epoch' in r})
              + '\n' for r in records))
  assert cross_validation.best_test_epoch(str(tmp_path), 'recall@10') == (
      None, {})


def _cv_json(folder, cv):
  """Writes a hand-made cv.json into a new folder; returns its path."""
  folder.mkdir()
  (folder / 'cv.json').write_text(json.dumps(cv))
  return str(folder)


def test_format_comparison_on_hand_made_results(tmp_path):
  pop = {'mean': {'precision@10': 0.13, 'recall@10': 0.12, 'ndcg@10': 0.17},
         'std': {'precision@10': 0.001, 'recall@10': 0.002, 'ndcg@10': 0.0}}
  new = _cv_json(tmp_path / 'new', {
      'name': 'pane_gnn', 'model': 'pane_gnn', 'unit': 'fold',
      'runs': [{}, {}], 'selection_metric': 'recall@10',
      'mean': {'precision@10': 0.2202, 'recall@10': 0.2339,
               'ndcg@10': 0.298},
      'std': {'precision@10': 0.0033, 'recall@10': 0.0068,
              'ndcg@10': 0.0042},
      'best_test': {
          'mean': {'precision@10': 0.2250, 'recall@10': 0.2401,
                   'ndcg@10': 0.3044},
          'std': {'precision@10': 0.0030, 'recall@10': 0.0050,
                  'ndcg@10': 0.0040}},
      'baselines': {'MostPop': pop}})
  # Saved before per-epoch test metrics: no 'best_test', no
  # 'selection_metric'.
  old = _cv_json(tmp_path / 'old', {
      'name': 'lightgcn', 'model': 'lightgcn', 'unit': 'fold',
      'runs': [{}, {}],
      'mean': {'precision@10': 0.2374, 'recall@10': 0.2502,
               'ndcg@10': 0.3233},
      'std': {'precision@10': 0.012, 'recall@10': 0.014, 'ndcg@10': 0.0179},
      'baselines': {'MostPop': pop}})
  results = cv_tables.load_many([new, old])
  results.update(cv_tables.baseline_rows(results))
  best = "best test epoch (papers' protocol, optimistic)"
  assert cv_tables.format_comparison(
      results, papers=['PANE-GNN (paper):27.97/20.50/34.70']) == '\n'.join([
          '| method | protocol | P@10 | R@10 | nDCG@10 |',
          '|---|---|---|---|---|',
          '| pane_gnn | val-selected | 22.02±0.33 | 23.39±0.68 | 29.80±0.42 |',
          f'| pane_gnn | {best} | 22.50±0.30 | 24.01±0.50 | 30.44±0.40 |',
          '| lightgcn | val-selected | 23.74±1.20 | 25.02±1.40 | 32.33±1.79 |',
          f'| lightgcn | {best} | – | – | – |',
          '| MostPop | no training (either protocol) | 13.00±0.10 | '
          '12.00±0.20 | 17.00±0.00 |',
          '| PANE-GNN (paper) | published | 27.97 | 20.50 | 34.70 |',
      ])
  notes = cv_tables.protocol_notes(results)
  assert 'highest test recall@10' in notes and 'optimistic' in notes
  assert 'not logged' in notes  # lightgcn's row.
  assert 'not logged' not in cv_tables.protocol_notes(
      {'pane_gnn': results['pane_gnn']})
  # The one-protocol table is unchanged.
  assert cv_tables.format_table(results).splitlines()[2] == (
      '| pane_gnn | 22.02±0.33 | 23.39±0.68 | 29.80±0.42 |')
  with pytest.raises(ConfigError, match='2 values for the table.s 3 columns'):
    cv_tables.format_comparison(results, papers=['X:1/2'])
  with pytest.raises(ConfigError, match='not a number'):
    cv_tables.format_comparison(results, papers=['X:1/2/a'])
  with pytest.raises(ConfigError, match='LABEL:VALUE'):
    cv_tables.format_comparison(results, papers=['1/2/3'])


def test_launch_tools_end_to_end(tmp_path):
  folds = str(tmp_path / 'folds')
  proc = _run_tool('launch/cross_validate.py',
                   '--config=configs/lightgcn_synthetic.py:smoke', '--folds=2',
                   '--config.data.split=kfold', '--config.num_epochs=2',
                   f'--workdir={folds}', '--name=lightgcn smoke')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert ('| method | protocol | P@10 | R@10 | nDCG@10 | P@20 | R@20 | '
          'nDCG@20 |') in proc.stdout
  assert '| lightgcn smoke | val-selected | ' in proc.stdout
  assert ("| lightgcn smoke | best test epoch (papers' protocol, optimistic) "
          '| ') in proc.stdout
  assert '±' in proc.stdout and '–' not in proc.stdout
  assert os.path.join(folds, 'cv.json') in proc.stdout
  assert 'fold 1' in proc.stderr  # The per-fold table, logged as it goes.
  cv = cross_validation.load(folds)
  assert len(cv['runs']) == 2

  # A fixed split with --folds: the error, without a traceback.
  proc = _run_tool('launch/cross_validate.py',
                   '--config=configs/lightgcn_synthetic.py:smoke', '--folds=2',
                   f'--workdir={tmp_path / "bad"}')
  assert proc.returncode == 2
  assert 'error: ' in proc.stderr and '--seeds' in proc.stderr
  assert 'Traceback' not in proc.stderr

  # Two folders of the same model: rows labelled by folder, --workdirs first.
  # 'other' is as an older jaxrec wrote it: no best-test-epoch results.
  other = tmp_path / 'other'
  other.mkdir()
  old = {k: v for k, v in cv.items()
         if k not in ('best_test', 'selection_metric')}
  (other / 'cv.json').write_text(json.dumps({**old, 'std': {}}))
  out = str(tmp_path / 'table.md')
  proc = _run_tool('launch/cv_table.py', folds, f'--workdirs={other}',
                   '--ks=10', f'--out={out}',
                   '--paper=PANE-GNN (paper):27.97/20.50/-')
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    text = f.read()
  assert text in proc.stdout
  lines = text.splitlines()
  best = "best test epoch (papers' protocol, optimistic)"
  assert lines[0] == '| method | protocol | P@10 | R@10 | nDCG@10 |'
  assert lines[2].startswith('| other | val-selected | ')
  assert '±' not in lines[2]
  assert lines[3] == f'| other | {best} | – | – | – |'
  assert lines[4].startswith('| folds | val-selected | ') and '±' in lines[4]
  assert lines[5].startswith(f'| folds | {best} | ') and '±' in lines[5]
  assert lines[6].startswith('| MostPop | no training (either protocol) | ')
  assert lines[7] == '| PANE-GNN (paper) | published | 27.97 | 20.50 | – |'
  assert 'highest test recall@20' in text and 'not logged' in text

  # The old one-protocol table, and a --paper row that does not fit.
  proc = _run_tool('launch/cv_table.py', folds, '--ks=10', '--nobest_test')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '| method | P@10 | R@10 | nDCG@10 |' in proc.stdout
  assert 'val-selected' not in proc.stdout
  proc = _run_tool('launch/cv_table.py', folds, '--paper=X:1/2')
  assert proc.returncode == 2
  assert 'error: ' in proc.stderr and '6 columns' in proc.stderr
  assert 'Traceback' not in proc.stderr
