"""Trains a model from a config file.

  python launch/train.py --config=configs/lightgcn_synthetic.py
  python launch/train.py --config=configs/NAME.py[:smoke] [--workdir=DIR] \
      [--config.KEY=VALUE ...]

Without --workdir a fresh folder under runs/ is made. On a workdir that
already has checkpoints, training resumes from the latest one.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from jaxrec import logs
from jaxrec import train
from jaxrec.errors import UserError

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Folder for config.json, metrics.jsonl and checkpoints '
    '(default: a fresh folder under runs/).')
_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, e.g. configs/lightgcn_synthetic.py[:smoke].',
    lock_config=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  workdir = _WORKDIR.value or runtime.default_workdir(
      flags.FLAGS['config'].config_filename)
  os.makedirs(workdir, exist_ok=True)
  print(f'Workdir: {workdir}', flush=True)
  logs.setup(workdir)
  try:
    train.train_and_evaluate(_CONFIG.value, workdir)
  except UserError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
