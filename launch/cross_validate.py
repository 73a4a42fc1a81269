"""Cross-validates a config: one run per fold (or seed), mean±std table.

  python launch/cross_validate.py --config=configs/pane_gnn_ml100k.py \
      --folds=5 --config.data.path=data/ml-100k
  python launch/cross_validate.py --config=configs/lightgcn_synthetic.py:smoke \
      --config.data.split=kfold --folds=2
  python launch/cross_validate.py --config=configs/lightgcn_synthetic.py \
      --seeds=5 [--workdir=DIR] [--name=LABEL] [--config.KEY=VALUE ...]

K-fold data (--config.data.split=kfold, or data.format=fold_files) trains
one run per fold (--folds, default config.data.num_folds), each choosing its
best checkpoint on validation carved from the fold's train part. Any other
split is fixed, and the run is repeated with seeds config.seed + 0, 1, ...
(--seeds, default 5). Run r trains in WORKDIR/fold_<r> or WORKDIR/seed_<r>;
the same command on the same --workdir resumes unfinished runs. At the end
the tool prints the test mean±std (population std, in percent) as a
Markdown table, under jaxrec's protocol (val-selected) and the papers' (best
test epoch, optimistic), and writes WORKDIR/cv.json; launch/cv_table.py
combines several such folders into one table.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from jaxrec import cross_validation
from jaxrec import cv_tables
from jaxrec import logs
from jaxrec.errors import UserError

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Folder for the runs (fold_<k>/ or seed_<r>/) and '
    'cv.json (default: a fresh folder under runs/).')
_FOLDS = flags.DEFINE_integer(
    'folds', None, 'K-fold data: number of folds (default: '
    'config.data.num_folds).')
_SEEDS = flags.DEFINE_integer(
    'seeds', None, 'Fixed-split data: number of runs with seeds config.seed, '
    f'config.seed + 1, ... (default: {cross_validation.DEFAULT_SEEDS}).')
_NAME = flags.DEFINE_string(
    'name', None, "The results' label in tables (default: the model's label, "
    "its name and any ablation variant), e.g. 'pane_gnn mlp_input=table'.")
_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, e.g. configs/lightgcn_synthetic.py[:smoke].',
    lock_config=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  workdir = _WORKDIR.value or runtime.default_workdir(
      flags.FLAGS['config'].config_filename, prefix='cv')
  os.makedirs(workdir, exist_ok=True)
  print(f'Workdir: {workdir}', flush=True)
  logs.setup(workdir)
  try:
    cv = cross_validation.run(_CONFIG.value, workdir, num_folds=_FOLDS.value,
                              num_seeds=_SEEDS.value, name=_NAME.value)
    table = cv_tables.format_comparison({cv['name']: cv})
  except UserError as e:
    sys.exit(f'error: {e}')
  print(f'\nTest mean±std over {len(cv["runs"])} {cv["unit"]}s (population '
        f'std), in percent:\n')
  print(table)
  print(f'\n{cv_tables.protocol_notes({cv["name"]: cv})}')
  print(f'\nWrote {os.path.join(workdir, cross_validation.CV_FILE)}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
