"""PNG plots of training runs and cross-validations (launch/plot.py).

Curves, one PNG per quantity with several runs overlaid: the training loss
and every validation metric over epochs, from each run's metrics.jsonl.
Test metrics logged at each evaluation (config.log_test_every_eval; never
used for selection) are drawn dashed in the run's colour, and each run's
best checkpoint is marked on its validation curve.

A cross-validation folder (cv.json with fold_<k>/ or seed_<r>/ runs, see
jaxrec/cross_validation.py) gets its per-fold curves in a folder of its own;
all cross-validation folders together get one bar chart: test mean ± std
(population std, as cv.json holds it) of each metric at the checkpoints
chosen on validation, one bar per method (each folder, and the baselines
the runs were compared with, e.g. MostPop).

matplotlib is an optional extra (pip install -e ".[plot]"); the data
functions here need only the standard library.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Sequence

from jaxrec import cross_validation
from jaxrec import cv_tables
from jaxrec import cv_unfinished
from jaxrec import evaluate
from jaxrec import train
from jaxrec.errors import UserError

LOSS = 'train/loss'
BAR_CHART = 'cv_test_bars.png'


class MissingExtra(UserError):
  """An optional dependency is not installed; the message says how to add it."""


def pyplot():
  """matplotlib.pyplot on the file-only Agg backend, or a one-line error."""
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')  # No display needed; PNG files only.
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise MissingExtra(
        'plots need matplotlib, which is not installed: pip install -e '
        '".[plot]" (or pip install matplotlib).') from None
  return plt


# Data ------------------------------------------------------------------------


def is_cv(workdir: str) -> bool:
  """Whether a folder is a cross-validation (else a run); errors if neither."""
  if os.path.exists(os.path.join(workdir, 'metrics.jsonl')):
    return False
  if (os.path.exists(os.path.join(workdir, cross_validation.CV_FILE)) or
      cv_runs(workdir)):
    return True
  raise UserError(
      f'{workdir} holds no metrics.jsonl (a run of launch/train.py) and no '
      f'{cross_validation.CV_FILE} or fold_<k>/ runs (launch/'
      f'cross_validate.py): name such folders.')


def cv_runs(workdir: str) -> dict[str, str]:
  """A cross-validation's runs: {'fold 0': path, ...} in index order."""
  return {f'{unit} {i}': path
          for i, (unit, path) in cv_unfinished.run_dirs(workdir).items()}


def curves(records: Sequence[Mapping[str, Any]]
           ) -> dict[str, tuple[list[int], list[float]]]:
  """A run's curves from its metrics.jsonl records.

  Returns:
    'train/loss', 'val/<metric>' and 'test/<metric>' -> (epochs, values),
    from the per-epoch records (not the final report); counts such as
    num_evaluated are left out.
  """
  out: dict[str, tuple[list[int], list[float]]] = {}
  for r in records:
    if 'epoch' not in r or 'best_epoch' in r:
      continue
    for key, value in r.items():
      split, _, name = key.partition('/')
      if key != LOSS and not (split in ('val', 'test') and _is_metric(name)):
        continue
      epochs, values = out.setdefault(key, ([], []))
      epochs.append(r['epoch'])
      values.append(value)
  return out


def _is_metric(name: str) -> bool:
  return name not in evaluate.NOT_METRICS and not name.startswith('num_')


def best_epoch(records: Sequence[Mapping[str, Any]]) -> int | None:
  """The best checkpoint's epoch (the final report's), or None before it."""
  finals = [r['best_epoch'] for r in records if 'best_epoch' in r]
  return finals[-1] if finals else None


def labels(workdirs: Sequence[str]) -> list[str]:
  """Legend labels of runs: folder names, or paths where names collide."""
  names = [os.path.basename(os.path.normpath(w)) for w in workdirs]
  return [os.path.normpath(w) if names.count(n) > 1 else n
          for w, n in zip(workdirs, names)]


def bar_data(cv_dirs: Sequence[str]
             ) -> tuple[list[str], list[str], list[list[float]],
                        list[list[float]]]:
  """Test mean and std per method and metric, for the bar chart.

  Args:
    cv_dirs: cross-validation folders (each with its cv.json).

  Returns:
    (methods, metrics, means [method][metric], stds [method][metric]):
    each folder's label (as launch/cv_table.py labels it) and then its
    baselines; the metrics every method has, in reading order.
  """
  results = cv_tables.load_many(cv_dirs)
  results.update(cv_tables.baseline_rows(results))
  common = set.intersection(*(set(r.get('mean', {}))
                              for r in results.values()))
  metrics = [m for m in evaluate.metric_columns([{k: 0 for k in common}])
             if _is_metric(m)]
  if not metrics:
    raise UserError(f'{", ".join(cv_dirs)}: no test metric is in every '
                    f'{cross_validation.CV_FILE}; plot them separately.')
  methods = list(results)
  means = [[results[m]['mean'][k] for k in metrics] for m in methods]
  stds = [[results[m].get('std', {}).get(k, 0.0) for k in metrics]
          for m in methods]
  return methods, metrics, means, stds


def file_name(key: str) -> str:
  """'train/loss' -> 'loss.png'; 'recall@20' -> 'recall_at_20.png'."""
  name = key.rpartition('/')[2].replace('@', '_at_')
  return re.sub(r'[^\w.-]', '_', name) + '.png'


# Figures ---------------------------------------------------------------------


def plot_runs(runs: Mapping[str, str], out: str, title: str = ''
              ) -> list[str]:
  """Curves of several runs overlaid: loss.png and one PNG per metric.

  Args:
    runs: legend label -> run folder (with metrics.jsonl).
    out: folder for the PNGs (made if needed).
    title: prefix of each figure's title.

  Returns:
    The paths written.
  """
  plt = pyplot()
  data = {}
  for label, workdir in runs.items():
    records = train.MetricsLog(workdir).read()
    data[label] = (curves(records), best_epoch(records))
  metrics = evaluate.metric_columns(
      [{k.partition('/')[2]: 0 for k in c if k != LOSS}
       for c, _ in data.values()])
  os.makedirs(out, exist_ok=True)
  written = []
  for metric in [None, *metrics]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, (c, best)) in enumerate(data.items()):
      _draw(ax, c, metric, label, f'C{i % 10}', best)
    ax.set_xlabel('epoch')
    ax.set_ylabel('training loss' if metric is None else metric)
    what = 'training loss' if metric is None else (
        f'{metric}: validation (solid, * best checkpoint), test (dashed, '
        f'logged only)')
    ax.set_title(f'{title}\n{what}' if title else what, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = os.path.join(out, file_name(LOSS if metric is None else metric))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
  return written


def _draw(ax, c, metric: str | None, label: str, color: str,
          best: int | None) -> None:
  """One run's curve(s) on an axis; the best checkpoint marked on val."""
  if metric is None:
    if LOSS in c:
      ax.plot(*c[LOSS], color=color, label=label)
    return
  val, test = c.get(f'val/{metric}'), c.get(f'test/{metric}')
  if val:
    ax.plot(*val, color=color, marker='.', label=f'{label} (val)')
    if best in val[0]:
      ax.plot([best], [val[1][val[0].index(best)]], color=color, marker='*',
              markersize=14, linestyle='none')
  if test:
    ax.plot(*test, color=color, linestyle='--', label=f'{label} (test)')


def plot_bars(cv_dirs: Sequence[str], out: str) -> str:
  """The bar chart of methods: test mean ± std per metric; returns its path."""
  plt = pyplot()
  methods, metrics, means, stds = bar_data(cv_dirs)
  width = 0.8 / len(methods)
  fig, ax = plt.subplots(
      figsize=(max(6.0, 0.35 * len(metrics) * len(methods) + 2), 4.5))
  for i, method in enumerate(methods):
    xs = [j + (i - (len(methods) - 1) / 2) * width
          for j in range(len(metrics))]
    ax.bar(xs, means[i], width, yerr=stds[i], capsize=3, label=method,
           color=f'C{i % 10}')
  ax.set_xticks(range(len(metrics)))
  ax.set_xticklabels(metrics, rotation=30, ha='right')
  ax.set_ylabel('test, mean ± std over runs')
  ax.set_title('Test metrics at the checkpoints chosen on validation: mean '
               '± population std over folds / seeds', fontsize=10)
  ax.grid(axis='y', alpha=0.3)
  ax.legend(fontsize=8)
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, BAR_CHART)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_all(workdirs: Sequence[str], out: str) -> list[str]:
  """Everything launch/plot.py writes for some folders; returns the paths.

  Runs are overlaid in out/; each cross-validation folder's runs in
  out/folds_<label>/; cross-validation folders with a cv.json share one bar
  chart, out/cv_test_bars.png.

  Args:
    workdirs: run folders (metrics.jsonl) and cross-validation folders
      (cv.json, fold_<k>/ or seed_<r>/), in any mix.
    out: the folder for the PNGs.
  """
  pyplot()  # A missing extra is reported before anything is read.
  if not workdirs:
    raise UserError('name at least one run or cross-validation folder.')
  kinds = {w: is_cv(w) for w in workdirs}
  runs = [w for w in workdirs if not kinds[w]]
  cvs = [w for w in workdirs if kinds[w]]
  written = []
  if runs:
    written += plot_runs(dict(zip(labels(runs), runs)), out)
  for label, cv in zip(labels(cvs), cvs):
    folds = cv_runs(cv)
    if folds:
      written += plot_runs(folds, os.path.join(out, f'folds_{label}'), label)
  finished = [w for w in cvs
              if os.path.exists(os.path.join(w, cross_validation.CV_FILE))]
  if finished:
    written.append(plot_bars(finished, out))
  return written
