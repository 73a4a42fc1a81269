"""Log set-up for the command-line tools: jaxrec's progress, libraries' warnings.

Orbax and JAX log every checkpoint write and backend probe at INFO; a run's
log should show training progress. The filter keeps INFO records from jaxrec
and launch/ and WARNING or worse from everything else.
"""

import logging as std_logging
import os

from absl import logging

from jaxrec import distributed

_OURS = (os.sep + 'jaxrec' + os.sep, os.sep + 'launch' + os.sep,
         os.sep + 'benchmarks' + os.sep)


class _OwnInfo(std_logging.Filter):
  """Passes warnings from anywhere and lower levels from jaxrec's own files."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING or
            any(p in record.pathname for p in _OURS))


def setup(workdir: str | None = None) -> None:
  """Shows INFO progress on stderr, and mirrors it to WORKDIR/train.log
  (train.process<k>.log for process k > 0 of a multi-process run)."""
  logging.set_verbosity(logging.INFO)
  handler = logging.get_absl_handler()
  handler.addFilter(_OwnInfo())
  if workdir:
    index = distributed.process_index()
    name = f'train.process{index}.log' if index else 'train.log'
    mirror = std_logging.FileHandler(os.path.join(workdir, name))
    mirror.setFormatter(logging.PythonFormatter())
    mirror.addFilter(_OwnInfo())
    std_logging.getLogger().addHandler(mirror)
