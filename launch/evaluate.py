"""Restores a run's checkpoint, prints its metrics and writes eval_<split>.json.

  python launch/evaluate.py --workdir=DIR [--split=val|test] \
      [--checkpoint=best|latest] [--override=FIELD=VALUE ...]

--override ranks with another value of a config.model field that acts only
when ranking (the model's spec lists them; e.g. PANE-GNN's disinterest
threshold: --override=filter_threshold=0): no retraining, and the result
goes to eval_<split>_<FIELD><VALUE>.json.
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
_OVERRIDE = flags.DEFINE_multi_string(
    'override', [], 'FIELD=VALUE: rank with this config.model field value '
    "instead of the run's (only fields that act when ranking).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logs.setup()
  try:
    overrides = evaluate.parse_overrides(_OVERRIDE.value)
    result = evaluate.evaluate_workdir(_WORKDIR.value, _SPLIT.value,
                                       _CHECKPOINT.value, overrides)
  except UserError as e:
    sys.exit(f'error: {e}')
  config = evaluate.load_config(_WORKDIR.value)
  name = f'{config.model.name} ({_SPLIT.value}, epoch {result["epoch"]}'
  name += ''.join(f', {k} {v}' for k, v in overrides.items())
  print(evaluate.format_table({name + ')': result}))
  path = evaluate.eval_file(_WORKDIR.value, _SPLIT.value, overrides)
  print(f'Wrote {path}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
