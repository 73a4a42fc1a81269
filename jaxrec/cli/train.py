r"""Trains a model from a config file.

  jaxrec-train --config=configs/lightgcn_synthetic.py
  jaxrec-train --config=configs/NAME.py[:smoke] [--workdir=DIR] \
      [--config.FIELD=VALUE ...] [--show_config]

(python launch/train.py and python -m jaxrec train take the same flags.)
Without --workdir a fresh folder under runs/ is made. On a workdir that
already has checkpoints, training resumes from the latest one.
"""

from absl import flags

from jaxrec import logs
from jaxrec import runtime
from jaxrec import train
from jaxrec.cli import app
from jaxrec.cli import config_files
from jaxrec.cli import preflight

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Folder for config.json, metrics.jsonl and checkpoints '
    '(default: a fresh folder under runs/).')
_CONFIG, _SHOW_CONFIG = config_files.define_flags()
_ALLOW_DATA_CHANGE = app.define_allow_data_change()
DISTRIBUTED = app.define_distributed()


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  DISTRIBUTED.initialize(_WORKDIR.value)
  config = preflight.checked(_CONFIG.value, _SHOW_CONFIG.value)
  workdir = _WORKDIR.value or runtime.default_workdir(
      flags.FLAGS['config'].config_filename)
  with runtime.run_folder(workdir):
    print(f'Workdir: {workdir}', flush=True)
    logs.setup(workdir)
    train.train_and_evaluate(config, workdir,
                             allow_data_change=_ALLOW_DATA_CHANGE.value)


def run() -> None:
  app.run(main, __doc__, has_config=True)
