"""Hyper-parameter search: a grid or random points, each cross-validated.

Each point of the search is a config (the base config with some fields
set) trained on every fold or seed, as jaxrec.cross_validation does; all
points' runs go through cross_validation.train_runs, so runs that differ
only in stacked.varying_fields() (learning rate, L2 weight, ... and the
folds) share compiled programs, and a shape-changing field (embed_dim,
num_layers) gets a program per value. Points are ranked by the mean over
their runs of the validation selection metric, never by test.

Files in the workdir:
  <point>/            one cross-validation per point (fold_<k>/ or
                      seed_<r>/ and cv.json), named after its values
  sweep.json          the points, ranked (see run())
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from typing import Any, Sequence

import ml_collections
import numpy as np

from jaxrec import config as config_lib
from jaxrec import cross_validation
from jaxrec import files
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError

SWEEP_FILE = 'sweep.json'
# Random-search distributions: 'log:LOW:HIGH' (log-uniform), 'uniform:LOW:
# HIGH', 'int:LOW:HIGH' (inclusive).
DISTRIBUTIONS = ('log', 'uniform', 'int')


@dataclasses.dataclass(frozen=True)
class Axis:
  """One searched field: a list of values, or a distribution to sample.

  Attributes:
    field: the config field, e.g. 'learning_rate' or 'model.num_layers'.
    values: the values (grid, or sampled uniformly by random search).
    distribution: None, or (kind, low, high) with kind in DISTRIBUTIONS.
  """

  field: str
  values: tuple[Any, ...] = ()
  distribution: tuple[str, float, float] | None = None


def _typed(text: str, like: Any, field: str) -> Any:
  """A value of the field's type, read from text."""
  try:
    if isinstance(like, bool):
      if text.lower() not in ('true', 'false'):
        raise ValueError(text)
      return text.lower() == 'true'
    return type(like)(text) if isinstance(like, (int, float, str)) else (
        float(text))
  except ValueError:
    raise ConfigError(f'--sweep {field}={text}: {text!r} is not a '
                      f'{type(like).__name__}, the type of config.{field}.'
                      ) from None


def parse(arg: str, config: ml_collections.ConfigDict) -> Axis:
  """'FIELD=V1,V2,...' or 'FIELD=log:1e-4:1e-2' -> Axis, checked on config."""
  field, sep, spec = arg.partition('=')
  if not sep or not spec:
    raise ConfigError(f'--sweep={arg!r}: write FIELD=V1,V2 (e.g. '
                      f'learning_rate=1e-3,5e-3) or FIELD=log:LOW:HIGH.')
  like = config_lib.get_field(config, field, '--sweep=')
  if isinstance(like, (tuple, list, ml_collections.ConfigDict)):
    raise ConfigError(f'--sweep {field}: only single numbers, booleans and '
                      f'strings can be searched; config.{field} is {like!r}.')
  kind, _, bounds = spec.partition(':')
  if kind in DISTRIBUTIONS and bounds:
    low, _, high = bounds.partition(':')
    try:
      low, high = float(low), float(high)
    except ValueError:
      raise ConfigError(f'--sweep {arg}: write {kind}:LOW:HIGH with numbers.'
                        ) from None
    if not low < high or (kind == 'log' and low <= 0):
      raise ConfigError(f'--sweep {arg}: need LOW < HIGH (and LOW > 0 for '
                        f'log).')
    return Axis(field, distribution=(kind, low, high))
  return Axis(field, tuple(_typed(v, like, field) for v in spec.split(',')))


def grid(axes: Sequence[Axis]) -> list[dict[str, Any]]:
  """Every combination of the axes' values (all axes must list values)."""
  for a in axes:
    if a.distribution:
      raise ConfigError(f'--sweep {a.field}: a distribution needs random '
                        f'search (--search=random --trials=N).')
  return [dict(zip([a.field for a in axes], values))
          for values in itertools.product(*[a.values for a in axes])]


def random_points(axes: Sequence[Axis], trials: int, seed: int,
                  config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
  """`trials` points, each axis drawn independently (seeded)."""
  if trials < 1:
    raise ConfigError(f'--trials must be at least 1; got {trials}.')
  rng = np.random.default_rng(seed)
  points = []
  for _ in range(trials):
    point = {}
    for a in axes:
      if a.distribution is None:
        point[a.field] = a.values[rng.integers(len(a.values))]
        continue
      kind, low, high = a.distribution
      value = {'log': lambda: math.exp(rng.uniform(math.log(low),
                                                   math.log(high))),
               'uniform': lambda: rng.uniform(low, high),
               'int': lambda: int(rng.integers(low, high + 1))}[kind]()
      like = config_lib.get_field(config, a.field, '--sweep=')
      point[a.field] = (int(round(value)) if isinstance(like, int) and not
                        isinstance(like, bool) else float(value))
    points.append(point)
  return points


def point_name(point: dict[str, Any]) -> str:
  """The point's folder name, e.g. 'learning_rate=0.001,model.num_layers=2'."""
  return ','.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                  for k, v in point.items()).replace('/', '_') or 'base'


def point_config(config: ml_collections.ConfigDict,
                 point: dict[str, Any]) -> ml_collections.ConfigDict:
  """A copy of config with the point's values set."""
  cfg = config.copy_and_resolve_references()
  for field, value in point.items():
    config_lib.set_field(cfg, field, value)
  return cfg


def run(config: ml_collections.ConfigDict, workdir: str,
        points: Sequence[dict[str, Any]], num_folds: int | None = None,
        num_seeds: int | None = None, parallel: int = 1,
        allow_data_change: bool = False) -> dict[str, Any]:
  """Cross-validates every point; ranks them by validation; writes sweep.json.

  Args:
    config: the base config (not changed).
    workdir: folder for the points' folders and sweep.json; running again
      resumes unfinished runs.
    points: field -> value per point (grid() or random_points()).
    num_folds, num_seeds: as cross_validation.run takes them.
    parallel: runs per compiled program (cross_validation.train_runs).
    allow_data_change: see train.train_and_evaluate.

  Returns:
    What sweep.json holds: 'selection_metric', and 'points', best first,
    each with 'point' (its values), 'name', 'workdir', 'val' (mean over
    its runs of each validation metric: the ranking uses
    val[selection_metric]) and 'cv' (its cv.json path).
  """
  plans = []
  for point in points:
    cfg = point_config(config, point)
    unit, configs = cross_validation.run_configs(cfg, num_folds, num_seeds)
    plans.append((point, cfg, unit, configs,
                  os.path.join(workdir, point_name(point))))
  os.makedirs(workdir, exist_ok=True)
  with workdir_lib.lock(workdir, 'sweep'):
    dirs, all_configs, labels = [], [], []
    for point, _, unit, configs, pdir in plans:
      for i, cfg in enumerate(configs):
        dirs.append(os.path.join(pdir, f'{unit}_{i}'))
        all_configs.append(cfg)
        labels.append(f'{point_name(point)} {unit} {i}')
    trained = cross_validation.train_runs(all_configs, dirs, allow_data_change,
                                          parallel, labels)
    rows, start = [], 0
    for point, cfg, unit, configs, pdir in plans:
      cv = cross_validation.write(cfg, pdir, unit, configs,
                                  trained[start:start + len(configs)],
                                  name=point_name(point))
      start += len(configs)
      rows.append({'point': point, 'name': point_name(point), 'workdir': pdir,
                   'val': cv['val_mean'],
                   'cv': os.path.join(pdir, cross_validation.CV_FILE)})
    metric = config.selection_metric
    rows.sort(key=lambda r: -r['val'].get(metric, -math.inf))
    result = {'selection_metric': metric, 'points': rows}
    files.write_json(os.path.join(workdir, SWEEP_FILE), result)
  return result


def format_table(result: dict[str, Any], max_rows: int | None = None) -> str:
  """The ranked points as Markdown: rank, values, validation metrics (%)."""
  rows = result['points'][:max_rows]
  fields = list(rows[0]['point']) if rows else []
  metric = result['selection_metric']
  others = sorted({k for r in rows for k in r['val']} - {metric})
  names = [metric] + [k for k in others if k.split('@')[-1] ==
                      metric.split('@')[-1]]
  head = ['rank', *fields, *[f'val {n}' for n in names]]
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for rank, r in enumerate(rows, 1):
    cells = [str(rank), *[str(r['point'][f]) for f in fields],
             *[f'{100 * r["val"][n]:.2f}' if n in r['val'] else '' for n in
               names]]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
