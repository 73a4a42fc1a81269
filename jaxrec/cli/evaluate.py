r"""Restores a run's checkpoint, prints its metrics and writes eval_<split>.json.

  jaxrec-evaluate --workdir=DIR [--split=val|test] \
      [--checkpoint=best|latest] [--override=FIELD=VALUE ...]

(python launch/evaluate.py and python -m jaxrec evaluate take the same
flags.) --override ranks with another value of a config.model field that
acts only when ranking (the model's spec lists them; e.g. PANE-GNN's
disinterest threshold: --override=filter_threshold=0): no retraining, and
the result goes to eval_<split>_<FIELD><VALUE>.json.
"""

from absl import flags

from jaxrec import evaluate
from jaxrec import logs
from jaxrec.cli import app

_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a training run.')
_SPLIT = flags.DEFINE_enum('split', 'test', ['val', 'test'], 'Split to score.')
_CHECKPOINT = flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                                'Which checkpoint to restore.')
_OVERRIDE = flags.DEFINE_multi_string(
    'override', [], 'FIELD=VALUE: rank with this config.model field value '
    "instead of the run's (only fields that act when ranking).")
_ALLOW_DATA_CHANGE = app.define_allow_data_change()
DISTRIBUTED = app.define_distributed()
flags.mark_flag_as_required('workdir')


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  DISTRIBUTED.initialize(_WORKDIR.value)
  logs.setup()
  overrides = evaluate.parse_overrides(_OVERRIDE.value)
  result = evaluate.evaluate_workdir(
      _WORKDIR.value, _SPLIT.value, _CHECKPOINT.value, overrides,
      allow_data_change=_ALLOW_DATA_CHANGE.value)
  config = evaluate.load_config(_WORKDIR.value)
  name = f'{config.model.name} ({_SPLIT.value}, epoch {result["epoch"]}'
  name += ''.join(f', {k} {v}' for k, v in overrides.items())
  print(evaluate.format_table({name + ')': result}))
  print(f'Wrote {evaluate.eval_file(_WORKDIR.value, _SPLIT.value, overrides)}')


def run() -> None:
  app.run(main, __doc__)
