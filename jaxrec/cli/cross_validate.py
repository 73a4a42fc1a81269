r"""Cross-validates a config: one run per fold (or seed), mean±std table.

  jaxrec-cross-validate --config=configs/pane_gnn_ml100k.py \
      --folds=5 --config.data.path=data/ml-100k
  jaxrec-cross-validate --config=configs/lightgcn_synthetic.py:smoke \
      --config.data.split=kfold --folds=2
  jaxrec-cross-validate --config=configs/lightgcn_synthetic.py \
      --seeds=5 [--workdir=DIR] [--name=LABEL] [--config.FIELD=VALUE ...]
  jaxrec-cross-validate --config=configs/pane_gnn_ml100k.py --folds=5 \
      --parallel=5 --sweep=learning_rate=1e-3,5e-3 --sweep=l2_weight=0,1e-4

(python launch/cross_validate.py and python -m jaxrec cross-validate take
the same flags.) K-fold data (--config.data.split=kfold, or
data.format=fold_files) trains one run per fold (--folds, default
config.data.num_folds), each choosing its best checkpoint on validation
carved from the fold's train part. Any other split is fixed, and the run is
repeated with seeds config.seed + 0, 1, ... (--seeds, default 5). Run r
trains in WORKDIR/fold_<r> or WORKDIR/seed_<r>; the same command on the same
--workdir resumes unfinished runs. At the end the tool prints the test
mean±std (population std, in percent) as a Markdown table, under jaxrec's
protocol (val-selected) and the papers' (best test epoch, optimistic), and
writes WORKDIR/cv.json; jaxrec-cv-table combines several such folders into
one table.

--parallel=N trains up to N runs (folds, seeds, sweep points) in one
compiled program, vmapped over a run axis; each keeps its own folder,
metrics, checkpoints and early stopping, and equals the run trained alone.
Runs that differ in a field that changes shapes or the program (embed_dim,
num_layers, dropout, ...) go to separate programs automatically. --sweep
cross-validates every combination of the values given (a grid; jaxrec-sweep
also does random search) and prints the points ranked by the validation
selection metric.
"""

import os

from absl import flags

from jaxrec import cross_validation
from jaxrec import cv_tables
from jaxrec import logs
from jaxrec import runtime
from jaxrec import stacked
from jaxrec import sweep
from jaxrec.cli import app
from jaxrec.cli import config_files
from jaxrec.cli import preflight

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
PARALLEL = flags.DEFINE_integer(
    'parallel', 1, 'Train up to this many runs (folds, seeds, sweep points) '
    'in one compiled program; fields that may differ inside one: '
    f'{", ".join(stacked.VARYING_FIELDS)} and some model fields '
    '(ModelSpec.stacked_fields). 1: one run at a time.')
SWEEP = flags.DEFINE_multi_string(
    'sweep', [], 'FIELD=V1,V2,...: cross-validate every combination of these '
    'values (repeat the flag per field), e.g. --sweep=learning_rate=1e-3,5e-3 '
    '--sweep=model.num_layers=2,3. Ranked by validation, never test.')
_CONFIG, _SHOW_CONFIG = config_files.define_flags()
_ALLOW_DATA_CHANGE = app.define_allow_data_change()
DISTRIBUTED = app.define_distributed()


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  DISTRIBUTED.initialize(_WORKDIR.value)
  config = preflight.checked(_CONFIG.value, _SHOW_CONFIG.value)
  # --folds / --seeds mistakes, before any folder is made.
  cross_validation.run_configs(config, _FOLDS.value, _SEEDS.value)
  if SWEEP.value:
    axes = [sweep.parse(a, config) for a in SWEEP.value]
    run_sweep(config, sweep.grid(axes), 'sweep')
    return
  workdir = _WORKDIR.value or runtime.default_workdir(
      flags.FLAGS['config'].config_filename, prefix='cv')
  with runtime.run_folder(workdir):
    print(f'Workdir: {workdir}', flush=True)
    logs.setup(workdir)
    cv = cross_validation.run(config, workdir, num_folds=_FOLDS.value,
                              num_seeds=_SEEDS.value, name=_NAME.value,
                              allow_data_change=_ALLOW_DATA_CHANGE.value,
                              parallel=PARALLEL.value)
  print(f'\nTest mean±std over {len(cv["runs"])} {cv["unit"]}s (population '
        f'std), in percent:\n')
  print(cv_tables.format_comparison({cv['name']: cv}))
  print(f'\n{cv_tables.protocol_notes({cv["name"]: cv})}')
  print(f'\nWrote {os.path.join(workdir, cross_validation.CV_FILE)}')


def run_sweep(config, points, prefix: str) -> None:
  """Cross-validates each point (the flags' folds, seeds, parallel, workdir)
  and prints them ranked by validation."""
  workdir = _WORKDIR.value or runtime.default_workdir(
      flags.FLAGS['config'].config_filename, prefix=prefix)
  with runtime.run_folder(workdir):
    print(f'Workdir: {workdir}', flush=True)
    logs.setup(workdir)
    result = sweep.run(config, workdir, points, _FOLDS.value, _SEEDS.value,
                       PARALLEL.value, _ALLOW_DATA_CHANGE.value)
  print(f'\n{len(points)} points, ranked by validation '
        f'{result["selection_metric"]} (mean over each point\'s runs, in '
        f'percent):\n')
  print(sweep.format_table(result))
  print(f'\nWrote {os.path.join(workdir, sweep.SWEEP_FILE)}; each point\'s '
        f'test numbers are in its cv.json (jaxrec-cv-table DIR).')


def run() -> None:
  app.run(main, __doc__, has_config=True)
