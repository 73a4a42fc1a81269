"""Prints top-k recommendations from a trained run, with original ids and names.

  jaxrec-recommend --workdir=DIR --item=ID [--k=5]   # item-to-item
  jaxrec-recommend --workdir=DIR --user=ID [--k=10]  # user-item

(python launch/recommend.py and python -m jaxrec recommend take the same
flags.) IDs are the raw ids of the data files (e.g. MovieLens movie ids).
"""

from absl import flags

from jaxrec import evaluate
from jaxrec import logs
from jaxrec.cli import app

_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a training run.')
_ITEM = flags.DEFINE_string('item', None, 'Recommend items for this item id.')
_USER = flags.DEFINE_string('user', None, 'Recommend items for this user id.')
_K = flags.DEFINE_integer('k', 10, 'How many items to list (at least 1).',
                          lower_bound=1)
_EXCLUDE = flags.DEFINE_bool(
    'exclude_known', True, 'Leave out items the data already links to the '
    'query (its co-occurring items, or the items the user has seen); '
    '--noexclude_known lists them too.')
_CHECKPOINT = flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                                'Which checkpoint to restore.')
_OVERRIDE = flags.DEFINE_multi_string(
    'override', [], 'FIELD=VALUE: rank with this config.model field value '
    "instead of the run's (only fields that act when ranking, e.g. "
    "PANE-GNN's filter_threshold).")
_ALLOW_DATA_CHANGE = app.define_allow_data_change()
flags.mark_flag_as_required('workdir')


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  if (_ITEM.value is None) == (_USER.value is None):
    raise app.UsageError('pass exactly one of --item=ID or --user=ID.')
  logs.setup()
  task, params, _ = evaluate.restore_run(
      _WORKDIR.value, _CHECKPOINT.value,
      evaluate.parse_overrides(_OVERRIDE.value),
      allow_data_change=_ALLOW_DATA_CHANGE.value)
  rows = task.kind.recommend(task, params, user=_USER.value, item=_ITEM.value,
                             k=_K.value, exclude_known=_EXCLUDE.value)
  query = f'item {_ITEM.value}' if _ITEM.value else f'user {_USER.value}'
  names = getattr(task.data, 'item_names', None)
  if _ITEM.value is not None and names is not None:
    index = list(task.data.item_ids).index(_ITEM.value)
    query += f' ({names[index]})'
  print(f'Top {len(rows)} for {query}:')
  for r in rows:
    print(f'{r.rank:3d}. {r.item_id:>8s}  {r.score:8.4f}  {r.name}')


def run() -> None:
  app.run(main, __doc__)
