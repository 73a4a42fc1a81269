"""Restores a run's checkpoint, prints its metrics and writes eval_<split>.json.

  python launch/evaluate.py --workdir=DIR [--split=val|test] \
      [--checkpoint=best|latest] [--filter_threshold=DELTA]

--filter_threshold scores a PANE-GNN run at another disinterest threshold
(eq. 13 acts only when ranking): no retraining, and the result goes to
eval_<split>_delta<DELTA>.json.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import sys

from absl import app
from absl import flags

from jaxrec import evaluate
from jaxrec import logs
from jaxrec.errors import UserError

_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a training run.')
_SPLIT = flags.DEFINE_enum('split', 'test', ['val', 'test'], 'Split to score.')
_CHECKPOINT = flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                                'Which checkpoint to restore.')
_FILTER = flags.DEFINE_float(
    'filter_threshold', None, "PANE-GNN: rank with this delta instead of "
    "the run's config.model.filter_threshold.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logs.setup()
  try:
    result = evaluate.evaluate_workdir(_WORKDIR.value, _SPLIT.value,
                                       _CHECKPOINT.value, _FILTER.value)
  except UserError as e:
    sys.exit(f'error: {e}')
  config = evaluate.load_config(_WORKDIR.value)
  name = f'{config.model.name} ({_SPLIT.value}, epoch {result["epoch"]}'
  if _FILTER.value is not None:
    name += f', delta {_FILTER.value:g}'
  print(evaluate.format_table({name + ')': result}))
  path = evaluate.eval_file(_WORKDIR.value, _SPLIT.value, _FILTER.value)
  print(f'Wrote {path}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
