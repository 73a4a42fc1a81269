"""A cross-validation still under way: the table of its finished runs.

cross_validation.run() writes cv.json once every fold (or seed) has
trained. A long one (PANE-GNN's five ML-1M folds take about an hour each on
a CPU) runs over several sittings, and meanwhile its fold_<k>/ folders
already hold the finished runs' final reports. summarize() reads them into
cv.json's shape, marked 'unfinished', so that cv_table prints the table so
far, labelled with how many runs it covers.
"""

from __future__ import annotations

import os
import re
from typing import Any

from jaxrec import cross_validation
from jaxrec import evaluate
from jaxrec.errors import ConfigError


def run_dirs(workdir: str) -> dict[int, tuple[str, str]]:
  """A cross-validation's run folders: index -> (unit, path), index order.

  Only folders named fold_<k> or seed_<r> that hold a metrics.jsonl (a run
  that has started) count.
  """
  if not os.path.isdir(workdir):
    return {}
  found = {}
  for name in os.listdir(workdir):
    match = re.fullmatch(r'(fold|seed)_(\d+)', name)
    path = os.path.join(workdir, name)
    if match and os.path.exists(os.path.join(path, 'metrics.jsonl')):
      found[int(match[2])] = (match[1], path)
  return dict(sorted(found.items()))


def summarize(workdir: str) -> dict[str, Any]:
  """cv.json's contents over the finished runs of an unfinished workdir.

  Args:
    workdir: a folder of launch/cross_validate.py without cv.json yet.

  Returns:
    What cross_validation.summary() gives for the runs that have their
    final report, plus 'unfinished': {'finished': their indices, 'of': the
    number of runs planned (a fold run's config.data.num_folds; for seeds,
    the seed_<r> folders present)}.
  """
  dirs = run_dirs(workdir)
  finals = {i: cross_validation.final_record(path)
            for i, (_, path) in dirs.items()}
  finished = [i for i, record in finals.items() if record]
  if not finished:
    started = ', '.join(os.path.basename(p) for _, p in dirs.values())
    raise ConfigError(
        f'{workdir} holds no {cross_validation.CV_FILE} and no finished run '
        f'({"runs started: " + started if started else "no fold_<k>/ runs"}).'
        f' Run launch/cross_validate.py with --workdir={workdir}: it resumes '
        f'unfinished runs and writes {cross_validation.CV_FILE}.')
  units = {unit for unit, _ in dirs.values()}
  if len(units) > 1:
    raise ConfigError(f'{workdir} holds both fold_<k>/ and seed_<r>/ runs: '
                      f'name a folder of one cross-validation.')
  unit = units.pop()
  runs = []
  for index in finished:
    path = dirs[index][1]
    config = evaluate.load_config(path)
    runs.append(cross_validation.run_record(config, path, index,
                                            finals[index], 0.0))
  planned = config.data.num_folds if unit == 'fold' else len(dirs)
  cv = cross_validation.summary(config, unit, runs)
  cv['unfinished'] = {'finished': finished, 'of': planned}
  return cv


def load(workdir: str) -> dict[str, Any]:
  """WORKDIR/cv.json if the cross-validation has finished, else summarize()."""
  if (os.path.exists(os.path.join(workdir, cross_validation.CV_FILE)) or
      not os.path.isdir(workdir)):  # load's error names a missing folder
    return cross_validation.load(workdir)
  return summarize(workdir)
