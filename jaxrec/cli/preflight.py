"""A config's checks before a tool makes any folder: every owner's, in one call.

Each part of a config is checked by its owner: the run-level fields by
jaxrec.tasks.base.check_config, config.data by
jaxrec.data.pipeline.check_config (which also finds the data's files), and
config.model by the model's create(), which needs the loaded data and so
runs while the task is built, still before the run writes its config.
"""

from __future__ import annotations

import sys

import ml_collections

from jaxrec import config as config_lib
from jaxrec import models
from jaxrec import tasks
from jaxrec.cli import config_help
from jaxrec.data import pipeline
from jaxrec.tasks import base


def check(config: ml_collections.ConfigDict) -> None:
  """Raises a UserError (ConfigError, DataError) for a field that cannot
  work."""
  spec = models.get(config.model.name)
  config_lib.check_known(config)
  kind = tasks.KINDS[spec.task]
  base.check_config(config, None, kind.metric_names(config))
  pipeline.check_config(config.data)


def checked(config: ml_collections.ConfigDict,
            show: bool = False) -> ml_collections.ConfigDict:
  """The config, checked; with `show` (--show_config), printed, then exit.

  --show_config prints before checking, so a config with a mistake can be
  seen too; the mistake then still ends the process as an error.
  """
  if show:
    print(f'config (override with --config.FIELD=VALUE):\n'
          f'{config_help.describe(config)}', flush=True)
  check(config)
  if show:
    sys.exit(0)
  return config
