"""Cross-validation: one training run per fold (or per seed), mean and std.

Papers that evaluate on k folds (PANE-GNN and SiReN on MovieLens) report,
for each method, the mean and standard deviation of each test metric over
the folds; on datasets with a given split (KuaiRec) they repeat the run with
different seeds instead. run() trains those runs, each with
jaxrec.train.train_and_evaluate in a folder of its own, and writes
WORKDIR/cv.json; load() reads it back, and cv_tables.py turns one or more
such results into the papers' Markdown table (mean±std in percent).

Two protocols, both in cv.json: 'val-selected' scores each run's checkpoint
chosen on validation (jaxrec's number), 'best test epoch' each run's
evaluation with the highest test value of the selection metric (the papers'
protocol: optimistic, since the test split picks the epoch). The second
needs the per-epoch test metrics that training logs with
config.log_test_every_eval; runs saved without them have none.

Files in the workdir:
  fold_<k>/ or seed_<r>/  one run each, as launch/train.py writes it; running
                          again resumes unfinished runs
  cv.json                 per-run val and test metrics, test mean and std
                          under both protocols
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Mapping, Sequence

from absl import logging
import ml_collections
import numpy as np

from jaxrec import evaluate
from jaxrec import files
from jaxrec import models
from jaxrec import stacked
from jaxrec import train
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError

CV_FILE = 'cv.json'
DEFAULT_SEEDS = 5


def is_kfold(config: ml_collections.ConfigDict) -> bool:
  """Whether the data is cut into folds (else it has one fixed split)."""
  return config.data.split == 'kfold' or config.data.format == 'fold_files'


def default_name(config: ml_collections.ConfigDict) -> str:
  """The table label of a config: its model's (ModelSpec.label)."""
  return models.get(config.model.name).label(config)


def run_configs(config: ml_collections.ConfigDict,
                num_folds: int | None = None,
                num_seeds: int | None = None
                ) -> tuple[str, list[ml_collections.ConfigDict]]:
  """The configs of the runs of a cross-validation, checked before training.

  Args:
    config: the run config; it is copied, never changed.
    num_folds: k-fold data only: the number of folds (default
      config.data.num_folds).
    num_seeds: fixed-split data only: the number of runs (default 5).

  Returns:
    (unit, configs): unit 'fold', with configs[k] training on fold k of
    num_folds, or 'seed', with configs[r].seed = config.seed + r.
  """
  split = f'config.data.split={config.data.split!r}'
  if is_kfold(config):
    if num_seeds is not None:
      raise ConfigError(
          f'{split} (format {config.data.format!r}) is cut into folds: one '
          f'run per fold, so num_seeds (--seeds) does not apply; choose the '
          f'number of folds with num_folds (--folds).')
    folds = config.data.num_folds if num_folds is None else num_folds
    if folds < 2:
      raise ConfigError(f'Cross-validation needs at least 2 folds; got '
                        f'{folds} (num_folds / --folds, or '
                        f'config.data.num_folds).')
    if not config.data.val_ratio > 0:
      # Without validation, the best checkpoint would be picked on the test
      # fold it is then scored on, which inflates every number in the table.
      raise ConfigError(
          f'config.data.val_ratio={config.data.val_ratio}: k-fold runs select '
          f'their checkpoint on validation carved from each fold\'s train '
          f'part, never on the test fold. Set config.data.val_ratio (e.g. '
          f'--config.data.val_ratio=0.1).')
    configs = []
    for fold in range(folds):
      # A locked copy still accepts new values for existing fields.
      cfg = config.copy_and_resolve_references()
      cfg.data.num_folds = folds
      cfg.data.fold = fold
      configs.append(cfg)
    return 'fold', configs
  if num_folds is not None:
    raise ConfigError(
        f'{split} is one fixed split, not folds, so num_folds (--folds) does '
        f'not apply: repeat the run over seeds with num_seeds (--seeds), or '
        f"set config.data.split='kfold'.")
  seeds = DEFAULT_SEEDS if num_seeds is None else num_seeds
  if seeds < 1:
    raise ConfigError(f'num_seeds (--seeds) must be at least 1; got {seeds}.')
  configs = []
  for r in range(seeds):
    cfg = config.copy_and_resolve_references()
    cfg.seed = config.seed + r
    configs.append(cfg)
  return 'seed', configs


def final_record(run_workdir: str) -> dict[str, Any]:
  """The final report of a finished run (its last metrics.jsonl record).

  Args:
    run_workdir: a training run's folder.

  Returns:
    The last record that has 'best_epoch' ({} before the run's final
    report): the best checkpoint's 'val/...' and 'test/...' metrics and the
    baselines' 'baseline/<name>/...' test metrics.
  """
  finals = [r for r in train.MetricsLog(run_workdir).read()
            if 'best_epoch' in r]
  return finals[-1] if finals else {}


def best_test_epoch(run_workdir: str, metric: str
                    ) -> tuple[int | None, dict[str, float]]:
  """The papers' protocol: the evaluation with the highest test `metric`.

  Args:
    run_workdir: a training run's folder.
    metric: the metric that picks the epoch, e.g. 'recall@10' (the run's
      selection metric, here read on test).

  Returns:
    (epoch, {metric: value} of that epoch's test evaluation); ties go to
    the earlier epoch, as checkpoints do. (None, {}) unless every
    evaluation logged test metrics (config.log_test_every_eval on since the
    run started: runs saved by an older jaxrec, even if resumed since, have
    none for their first epochs, and a best over some epochs would pass
    for the papers' number).
  """
  key = f'test/{metric}'
  # The final report has test/* too, but of the val-selected checkpoint; it
  # is the one record with 'best_epoch' and no 'epoch'.
  evals = [r for r in train.MetricsLog(run_workdir).read()
           if 'epoch' in r and 'best_epoch' not in r
           and any(k.startswith(('val/', 'test/')) for k in r)]
  if not evals or any(key not in r for r in evals):
    return None, {}
  best = max(evals, key=lambda r: (r[key], -r['epoch']))
  return best['epoch'], _strip(best, 'test')


def _baselines(record: Mapping[str, Any]) -> dict[str, dict[str, float]]:
  """{'baseline/MostPop/recall@10': v} -> {'MostPop': {'recall@10': v}}."""
  out = {}
  for key, value in record.items():
    kind, _, rest = key.partition('/')
    if kind == 'baseline':
      name, _, metric = rest.partition('/')
      out.setdefault(name, {})[metric] = value
  return out


def summarize(results: Sequence[Mapping[str, float]]
              ) -> tuple[dict[str, float], dict[str, float]]:
  """Mean and std over runs of each metric that every run has.

  Args:
    results: one {metric: value} dict per run.

  Returns:
    (mean, std). The std is the population std (ddof=0), as the papers'
    evaluation scripts compute it with numpy's default.
  """
  names = set.intersection(*(set(r) for r in results)) if results else set()
  names -= set(evaluate.NOT_METRICS)
  mean, std = {}, {}
  for name in sorted(names):
    values = np.array([r[name] for r in results], np.float64)
    mean[name] = float(np.mean(values))
    std[name] = float(np.std(values, ddof=0))
  return mean, std


def _strip(result: Mapping[str, float], split: str) -> dict[str, float]:
  """{'test/recall@10': v, ...} -> {'recall@10': v} for one split."""
  prefix = f'{split}/'
  return {k[len(prefix):]: v for k, v in result.items()
          if k.startswith(prefix)}


def run_record(config: ml_collections.ConfigDict, run_dir: str, index: int,
               result: Mapping[str, float], seconds: float) -> dict[str, Any]:
  """A trained run's entry of cv.json's 'runs' (result: its best metrics)."""
  record = final_record(run_dir)
  test_epoch, best_test = best_test_epoch(run_dir, config.selection_metric)
  return {
      'index': index,
      'seed': config.seed,
      'workdir': run_dir,
      'best_epoch': record.get('best_epoch'),
      'seconds': round(seconds, 3),
      'test': _strip(result, 'test'),
      'val': _strip(result, 'val'),
      'baselines': _baselines(record),
      'best_test_epoch': test_epoch,
      'best_test': best_test,
  }


def train_runs(configs: Sequence[ml_collections.ConfigDict],
               workdirs: Sequence[str], allow_data_change: bool = False,
               parallel: int = 1, labels: Sequence[str] | None = None
               ) -> list[tuple[dict[str, float], float]]:
  """Trains (or resumes) runs one after the other, or `parallel` at a time.

  Args:
    configs: the runs' configs.
    workdirs: their folders.
    allow_data_change: see train.train_and_evaluate.
    parallel: how many runs may share one compiled program (jaxrec.stacked:
      runs that differ only in stacked.varying_fields()); 1 trains each
      alone.
    labels: the runs' names in log lines.

  Returns:
    Per run, in order: (its best checkpoint's metrics, seconds spent on its
    program in this call).
  """
  labels = labels or [os.path.basename(w) for w in workdirs]
  if parallel < 1:
    raise ConfigError(f'parallel (--parallel) must be at least 1; got '
                      f'{parallel}.')
  for field in ('shard_graph', 'shard_tables'):
    if parallel > 1 and any(c[field] for c in configs):
      raise ConfigError(f'--parallel > 1 (stacked runs) and config.{field}='
                        f'True do not combine yet: set one of them back.')
  out = [None] * len(configs)
  groups = (stacked.programs(configs, parallel) if parallel > 1 else
            [[i] for i in range(len(configs))])
  for n, idx in enumerate(groups):
    logging.info('Training %s (%s %d of %d).',
                 ', '.join(labels[i] for i in idx),
                 'program' if parallel > 1 else 'run', n + 1, len(groups))
    start = time.monotonic()
    if parallel > 1:
      results = stacked.train_many([configs[i] for i in idx],
                                   [workdirs[i] for i in idx],
                                   allow_data_change, [labels[i] for i in idx])
    else:
      results = [train.train_and_evaluate(configs[idx[0]], workdirs[idx[0]],
                                          allow_data_change)]
    for i, result in zip(idx, results):
      out[i] = (result, time.monotonic() - start)
  return out


def _summarize_baselines(runs: Sequence[Mapping[str, Any]]
                         ) -> dict[str, dict[str, dict[str, float]]]:
  """name -> {'mean', 'std'} of each baseline that every run has."""
  baselines = {}
  for baseline in sorted(set.intersection(*(set(r['baselines'])
                                            for r in runs))):
    b_mean, b_std = summarize([r['baselines'][baseline] for r in runs])
    baselines[baseline] = {'mean': b_mean, 'std': b_std}
  return baselines


def run(config: ml_collections.ConfigDict, workdir: str,
        num_folds: int | None = None, num_seeds: int | None = None,
        name: str | None = None, allow_data_change: bool = False,
        parallel: int = 1) -> dict[str, Any]:
  """Trains (or resumes) every fold or seed of a config; writes cv.json.

  K-fold data (config.data.split 'kfold', or data.format 'fold_files') gets
  one run per fold, each selecting its checkpoint on validation carved from
  the fold's train part. Any other split is fixed, and the run is repeated
  with seeds config.seed, config.seed + 1, .... Run r trains in
  WORKDIR/fold_<r> or WORKDIR/seed_<r>; calling run() again on the same
  workdir resumes unfinished runs and re-reports finished ones. One process
  at a time works in a workdir (jaxrec.workdir): a second gets WorkdirBusy.

  Args:
    config: the run config (see jaxrec/config.py); it is not changed.
    workdir: folder for the runs' folders and cv.json.
    num_folds: k-fold data only: the number of folds (default
      config.data.num_folds).
    num_seeds: fixed-split data only: the number of seeds (default 5).
    name: the results' label in tables (default: default_name(config)).
    allow_data_change: resume runs even if their data differs from the
      data they trained on (see train.train_and_evaluate).
    parallel: train up to this many folds or seeds in one compiled program
      (jaxrec.stacked); the results equal the runs trained one by one.

  Returns:
    What cv.json holds (see write()).
  """
  unit, configs = run_configs(config, num_folds, num_seeds)
  os.makedirs(workdir, exist_ok=True)
  with workdir_lib.lock(workdir, 'cross-validate'):
    dirs = [os.path.join(workdir, f'{unit}_{i}') for i in range(len(configs))]
    trained = train_runs(configs, dirs, allow_data_change, parallel)
    return write(config, workdir, unit, configs, trained, name)


def write(config: ml_collections.ConfigDict, workdir: str, unit: str,
          configs: Sequence[ml_collections.ConfigDict],
          trained: Sequence[tuple[Mapping[str, float], float]],
          name: str | None = None) -> dict[str, Any]:
  """Summarises trained runs (train_runs' output) into WORKDIR/cv.json.

  Returns:
    What cv.json holds: 'name', 'model', 'unit' ('fold' or 'seed'), 'runs'
    (per run: 'index', 'seed', 'workdir', 'best_epoch', 'seconds' spent in
    this call, 'test' and 'val' metrics of the best checkpoint, the
    'baselines'' test metrics, and the papers' protocol: 'best_test_epoch'
    and its 'best_test' metrics, see best_test_epoch()), 'mean' and 'std'
    of the val-selected test metrics over the runs, 'val_mean' of their
    validation metrics (what sweeps rank by), 'best_test': {'mean', 'std'}
    of the best-test-epoch metrics (empty dicts unless every run has them),
    'selection_metric', and 'baselines': name -> {'mean', 'std'} (e.g.
    MostPop).
  """
  runs = [run_record(cfg, os.path.join(workdir, f'{unit}_{i}'), i, result,
                     seconds)
          for i, (cfg, (result, seconds)) in enumerate(zip(configs, trained))]
  logging.info('Test metrics of the best checkpoints:\n%s',
               evaluate.format_table(
                   {f'{unit} {r["index"]}': r['test'] for r in runs}))
  cv = summary(config, unit, runs, name)
  files.write_json(os.path.join(workdir, CV_FILE), cv)
  return cv


def summary(config: ml_collections.ConfigDict, unit: str,
            runs: Sequence[Mapping[str, Any]], name: str | None = None
            ) -> dict[str, Any]:
  """What cv.json holds (see write()), from the runs' run_record()s."""
  mean, std = summarize([r['test'] for r in runs])
  best_mean, best_std = summarize([r['best_test'] for r in runs])
  return {
      'name': name or default_name(config),
      'model': config.model.name,
      'unit': unit,
      'runs': runs,
      'mean': mean,
      'std': std,
      'val_mean': summarize([r['val'] for r in runs])[0],
      'selection_metric': config.selection_metric,
      'best_test': {'mean': best_mean, 'std': best_std},
      'baselines': _summarize_baselines(runs),
  }


def load(workdir: str) -> dict[str, Any]:
  """The results run() wrote to WORKDIR/cv.json.

  Args:
    workdir: a folder written by run() (launch/cross_validate.py).

  Returns:
    The dict run() returned.
  """
  path = os.path.join(workdir, CV_FILE)
  if not os.path.isdir(workdir):
    raise ConfigError(f'{workdir} is not a folder: name folders written by '
                      f'launch/cross_validate.py (run it first).')
  if not os.path.exists(path):
    raise ConfigError(
        f'{path} not found: {workdir} holds no finished cross-validation. Run '
        f'launch/cross_validate.py first (with --workdir={workdir} it resumes '
        f'an unfinished one).')
  with open(path) as f:
    return json.load(f)
