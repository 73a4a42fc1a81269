r"""Exports a trained run for serving: embeddings with raw ids, top-K lists.

  jaxrec-export --workdir=DIR [--out=DIR/export] [--k=10] \
      [--checkpoint=best|latest] [--noexclude_known]

Writes item_embeddings.npy (and user_embeddings.npy for user-item models)
with items.csv / users.csv mapping rows to the data's raw ids, topk.csv
(the top K of every user, or of every item for item-item models, masked as
launch/recommend.py masks them) and export.json. See jaxrec/export.py.
"""

import os

from absl import flags

from jaxrec import export
from jaxrec import logs
from jaxrec.cli import app

_WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a training run.')
_OUT = flags.DEFINE_string('out', None, 'Export folder (default: '
                           'WORKDIR/export).')
_K = flags.DEFINE_integer('k', 10, 'Length of each top-K list.')
_CHECKPOINT = flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                                'Which checkpoint to export.')
_EXCLUDE = flags.DEFINE_bool(
    'exclude_known', True, 'Leave out of the top-K lists the items the data '
    'already links to the query (as recommend does).')
_ALLOW_DATA_CHANGE = app.define_allow_data_change()
flags.mark_flag_as_required('workdir')


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  logs.setup()
  out, manifest = export.export_workdir(
      _WORKDIR.value, _OUT.value, _K.value, _CHECKPOINT.value,
      _EXCLUDE.value, _ALLOW_DATA_CHANGE.value)
  print(f'Exported {manifest["model"]} (epoch {manifest["epoch"]}, '
        f'{manifest["checkpoint"]} checkpoint) to {out}:')
  for name in manifest['files'].values():
    print(f'  {os.path.join(out, name)}')
  if not manifest['dot_products_rank']:
    print('Note: the model\'s scores are not plain dot products of these '
          'embeddings (e.g. a ranking filter); topk.csv has its ranking.')


def run() -> None:
  app.run(main, __doc__)
