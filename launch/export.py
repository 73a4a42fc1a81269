"""Exports a trained run for serving: embeddings with raw ids, top-K lists.

  python launch/export.py --workdir=DIR [--out=DIR/export] [--k=10] \
      [--checkpoint=best|latest] [--noexclude_known]

Writes item_embeddings.npy (and user_embeddings.npy for user-item models)
with items.csv / users.csv mapping rows to the data's raw ids, topk.csv
(the top K of every user, or of every item for item-item models, masked as
launch/recommend.py masks them) and export.json. See jaxrec/export.py.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import os
import sys

from absl import app
from absl import flags

from jaxrec import export
from jaxrec import logs
from jaxrec.errors import UserError

_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a training run.')
_OUT = flags.DEFINE_string('out', None, 'Export folder (default: '
                           'WORKDIR/export).')
_K = flags.DEFINE_integer('k', 10, 'Length of each top-K list.')
_CHECKPOINT = flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                                'Which checkpoint to export.')
_EXCLUDE = flags.DEFINE_bool(
    'exclude_known', True, 'Leave out of the top-K lists the items the data '
    'already links to the query (as launch/recommend.py does).')
_ALLOW_DATA_CHANGE = flags.DEFINE_bool(
    'allow_data_change', False, 'Export even if the data files differ from '
    'the data the run trained on.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logs.setup()
  try:
    out, manifest = export.export_workdir(
        _WORKDIR.value, _OUT.value, _K.value, _CHECKPOINT.value,
        _EXCLUDE.value, _ALLOW_DATA_CHANGE.value)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'Exported {manifest["model"]} (epoch {manifest["epoch"]}, '
        f'{manifest["checkpoint"]} checkpoint) to {out}:')
  for name in manifest['files'].values():
    print(f'  {os.path.join(out, name)}')
  if not manifest['dot_products_rank']:
    print('Note: the model\'s scores are not plain dot products of these '
          'embeddings (e.g. a ranking filter); topk.csv has its ranking.')


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
