"""MMRec's data layout (data/NAME/NAME.inter + image_feat.npy, text_feat.npy)."""

import os

import numpy as np
import pytest

from jaxrec.data import config as data_config_lib
from jaxrec.data import mmrec
from jaxrec.data import pipeline
from jaxrec.data.dataset import DataError, Dataset, Interactions

# user, item, x_label; user 3 has no train row (MMRec drops its test row).
ROWS = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 2),
        (1, 1, 0), (1, 4, 0), (1, 0, 1), (1, 2, 2),
        (2, 3, 0), (2, 2, 0), (2, 4, 2),
        (3, 1, 2)]
I = 5


def write(folder, rows=ROWS, header='userID\titemID\trating\ttimestamp\t'
          'x_label', image=None, text=None, name=None):
  """Writes an MMRec folder the way MMRec's preprocessing does."""
  os.makedirs(folder, exist_ok=True)
  name = name or os.path.basename(folder)
  with open(os.path.join(folder, name + '.inter'), 'w') as f:
    f.write(header + '\n')
    for u, i, x in rows:
      f.write(f'{u}\t{i}\t5.0\t{1000 + u}\t{x}\n')
  rng = np.random.default_rng(0)
  image = rng.random((I, 6), np.float32) if image is None else image
  text = rng.normal(size=(I, 4)).astype(np.float32) if text is None else text
  if image is not False:
    np.save(os.path.join(folder, 'image_feat.npy'), image)
  if text is not False:
    np.save(os.path.join(folder, 'text_feat.npy'), text)
  return folder


def config(folder):
  c = data_config_lib.default_config()
  c.format = 'mmrec'
  c.path = str(folder)
  c.split = 'given'
  return c


def assert_error(fn, *needles):
  with pytest.raises(DataError) as e:
    fn()
  for n in needles:
    assert n in str(e.value), (n, str(e.value))


def test_reads_split_ids_and_features(tmp_path):
  folder = write(str(tmp_path / 'baby'))
  ds = pipeline.load(config(folder))
  assert (ds.name, ds.num_users, ds.num_items) == ('baby', 4, I)
  assert sorted(zip(ds.train.user, ds.train.item)) == [
      (0, 0), (0, 1), (1, 1), (1, 4), (2, 2), (2, 3)]
  assert sorted(zip(ds.val.user, ds.val.item)) == [(0, 2), (1, 0)]
  # User 3's test row is dropped: no train row (filter_out_cod_start_users).
  assert sorted(zip(ds.test.user, ds.test.item)) == [(0, 3), (1, 2), (2, 4)]
  np.testing.assert_array_equal(
      ds.item_features['visual'], np.load(os.path.join(folder,
                                                       'image_feat.npy')))
  assert ds.item_features['textual'].shape == (I, 4)


def test_cold_start_filter_can_be_switched_off(tmp_path):
  c = config(write(str(tmp_path / 'baby')))
  c.mmrec.filter_cold_start_users = False
  assert (3, 1) in set(zip(pipeline.load(c).test.user, pipeline.load(c).test.item))


def test_round_trip_and_auto_detection(tmp_path):
  rng = np.random.default_rng(1)
  part = lambda n: Interactions(rng.integers(0, 6, n).astype(np.int32),
                                rng.integers(0, 9, n).astype(np.int32))
  train = Interactions(np.repeat(np.arange(6), 3).astype(np.int32),
                       np.tile([0, 4, 8], 6).astype(np.int32))
  ds = Dataset('x', 'x', 6, 9, train, Interactions(
      np.array([0], np.int32), np.array([1], np.int32)), Interactions(
          np.array([2], np.int32), np.array([3], np.int32)),
               np.arange(6).astype(str), np.arange(9).astype(str),
               item_features={'visual': rng.random((9, 3), np.float32)})
  del part
  folder = str(tmp_path / 'toy')
  mmrec.write_mmrec(ds, folder)
  c = config(folder)
  c.format = 'auto'
  assert pipeline.resolve_format(c) == 'mmrec'
  back = pipeline.load(c)
  np.testing.assert_array_equal(back.train.item, ds.train.item)
  np.testing.assert_array_equal(back.item_features['visual'],
                                ds.item_features['visual'])
  assert 'textual' not in back.item_features  # text_feat.npy not written.


def test_recbole_inter_still_detected_as_recbole(tmp_path):
  (tmp_path / 'a.inter').write_text('user_id:token\titem_id:token\n1\t2\n')
  c = config(tmp_path)
  c.format = 'auto'
  assert pipeline.resolve_format(c) == 'recbole'


def test_must_use_the_given_split(tmp_path):
  c = config(write(str(tmp_path / 'baby')))
  c.split = 'ratio'
  with pytest.raises(Exception, match="split='given'"):
    pipeline.load(c)


def test_missing_inter_file(tmp_path):
  os.makedirs(tmp_path / 'baby')
  assert_error(lambda: pipeline.load(config(tmp_path / 'baby')),
               '0 *.inter files', 'inter_file')


def test_missing_column_names_the_fix(tmp_path):
  folder = write(str(tmp_path / 'baby'),
                 header='user\titemID\trating\ttimestamp\tx_label')
  assert_error(lambda: pipeline.load(config(folder)), "no column 'userID'",
               'config.data.mmrec.user_column', 'line 1')


def test_bad_split_label(tmp_path):
  folder = write(str(tmp_path / 'baby'), rows=ROWS + [(2, 0, 3)])
  assert_error(lambda: pipeline.load(config(folder)), 'line 14',
               'x_label is 3')


def test_negative_id(tmp_path):
  folder = write(str(tmp_path / 'baby'), rows=ROWS + [(-1, 0, 0)])
  assert_error(lambda: pipeline.load(config(folder)), 'line 14')


def test_item_id_beyond_feature_rows(tmp_path):
  folder = write(str(tmp_path / 'baby'), rows=ROWS + [(2, 7, 0)])
  assert_error(lambda: pipeline.load(config(folder)), 'image_feat.npy',
               'item id 7', 'at least 8 rows')


def test_feature_shape_and_nan(tmp_path):
  folder = write(str(tmp_path / 'a'), image=np.zeros(I, np.float32))
  assert_error(lambda: pipeline.load(config(folder)), 'image_feat.npy',
               'shape (5,)', "vision_feature_file=''")
  text = np.ones((I, 4), np.float32)
  text[2, 1] = np.nan
  folder = write(str(tmp_path / 'b'), text=text)
  assert_error(lambda: pipeline.load(config(folder)), 'text_feat.npy',
               'row 2', 'NaN')
  folder = write(str(tmp_path / 'c'), text=np.ones((I + 1, 4), np.float32))
  assert_error(lambda: pipeline.load(config(folder)), 'text_feat.npy',
               '6 rows', 'other feature file has 5')


def test_feature_files_optional_but_not_both(tmp_path):
  folder = write(str(tmp_path / 'a'), text=False)
  assert set(pipeline.load(config(folder)).item_features) == {'visual'}
  folder = write(str(tmp_path / 'b'), image=False, text=False)
  assert_error(lambda: pipeline.load(config(folder)), 'neither feature file')
  c = config(folder)
  c.mmrec.vision_feature_file = c.mmrec.text_feature_file = ''
  assert pipeline.load(c).item_features == {}


@pytest.mark.parametrize('variant', ['smoke', 'reference,smoke'])
def test_grcn_mmrec_config_trains_on_the_folder(tmp_path, variant):
  from configs import grcn_mmrec  # pylint: disable=g-import-not-at-top
  from jaxrec import train  # pylint: disable=g-import-not-at-top
  c = grcn_mmrec.get_config(variant)
  c.unlock()
  c.data.path = write(str(tmp_path / 'baby'))
  c.eval_ks = (2,)
  c.selection_metric = 'recall@2'
  c.batch_size = 4
  assert c.model.hard_pruning == ('reference' in variant)
  result = train.train_and_evaluate(c, str(tmp_path / 'run'))
  assert np.isfinite(result['test/recall@2'])
