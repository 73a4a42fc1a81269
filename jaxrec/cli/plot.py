"""Writes PNG plots of runs and cross-validations (needs the plot extra).

  pip install -e ".[plot]"
  jaxrec-plot --workdir=runs/lightgcn-A            # -> runs/lightgcn-A/plots/
  jaxrec-plot --workdir=runs/A runs/B --out=plots  # runs overlaid
  jaxrec-plot --workdir=runs/cv-lightgcn runs/cv-pane_gnn --out=cv_plots

A run folder (launch/train.py) gives loss.png and one PNG per validation
metric (test, logged only, dashed; the best checkpoint starred), several
runs overlaid. A cross-validation folder (launch/cross_validate.py) gives
its per-fold curves in OUT/folds_<name>/, and all of them together
OUT/cv_test_bars.png: test mean ± std per metric, one bar per method. See
jaxrec/plots.py.
"""

import os

from absl import flags

from jaxrec import plots
from jaxrec.cli import app

_WORKDIR = flags.DEFINE_multi_string(
    'workdir', [], 'A run or cross-validation folder; repeat the flag or list '
    'more folders after it.')
_OUT = flags.DEFINE_string(
    'out', None, 'Folder for the PNGs (default: WORKDIR/plots when one folder '
    'is given; required for several).')


def main(argv: list[str]) -> None:
  workdirs = [*_WORKDIR.value, *argv[1:]]
  if not workdirs:
    raise app.UsageError('name a run or cross-validation folder: '
                         '--workdir=DIR [DIR ...].')
  if _OUT.value is None and len(workdirs) > 1:
    raise app.UsageError('several folders: say where the plots go with '
                         '--out=DIR.')
  out = _OUT.value or os.path.join(workdirs[0], 'plots')
  written = plots.plot_all(workdirs, out)
  print(f'Wrote {len(written)} plots to {out}:')
  for path in written:
    print(f'  {path}')


def run() -> None:
  app.run(main, __doc__)
