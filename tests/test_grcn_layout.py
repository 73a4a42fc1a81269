"""Tests of the GRCN layout: reader (grcn_layout) and writer (grcn_write)."""

import os
import shutil
import sys

import numpy as np
import pytest

from jaxrec.data import grcn_layout
from jaxrec.data import grcn_write
from jaxrec.data import safe_pickle
from jaxrec.data import synthetic_grcn
from jaxrec.data.dataset import DataError

N_U = 4  # Users of the hand-made folders; items there are 0..4.


def tiny(preset='movielens', seed=0):
  """A small synthetic GRCN dataset (real feature widths)."""
  return synthetic_grcn.synthetic_grcn(preset, num_users=40, num_items=30,
                                       seed=seed)


def pairs(inter):
  """The sorted (user, item) pairs of a split, as an int64 [n, 2] array."""
  rows = np.stack([inter.user, inter.item], axis=1).astype(np.int64)
  return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def save_object(path, values):
  """np.save of a 1-d object array holding values, like the official files."""
  array = np.empty(len(values), dtype=object)
  for k, v in enumerate(values):
    array[k] = v
  np.save(path, array, allow_pickle=True)


def hand_made(folder, train=None, val=None, test=None, features=None,
              table=None):
  """Writes a tiny offset folder (N_u=4, 5 items); arguments override parts.

  Args:
    folder: where to write.
    train: [E, 2] rows [user, item + N_u].
    val, test: lists [user, item + N_u, ...].
    features: file name -> array.
    table: the user_item_dict dict, or None for no such file.

  Returns:
    The folder.
  """
  if train is None:
    train = [[0, 4], [0, 5], [1, 6], [2, 7], [3, 8], [3, 4]]
  if val is None:
    val = [[0, 6], [1, 4], [2], [3, 5]]
  if test is None:
    test = [[0, 7], [1, 8], [2, 4], [3]]
  os.makedirs(folder, exist_ok=True)
  np.save(os.path.join(folder, 'train.npy'), np.array(train, np.int64))
  save_object(os.path.join(folder, 'val_full.npy'), val)
  save_object(os.path.join(folder, 'test_full.npy'), test)
  for name, x in (features or {}).items():
    np.save(os.path.join(folder, name), x)
  if table is not None:
    np.save(os.path.join(folder, 'user_item_dict.npy'), table,
            allow_pickle=True)
  return folder


def assert_error(fn, *needles):
  """Asserts fn() raises DataError whose message holds every needle."""
  with pytest.raises(DataError) as info:
    fn()
  for needle in needles:
    assert needle in str(info.value), (needle, str(info.value))
  return str(info.value)


# --- round trips -------------------------------------------------------------


@pytest.mark.parametrize('layout', grcn_write.LAYOUTS)
def test_round_trip(tmp_path, layout):
  """write_grcn then load_grcn gives the same split, features and bags."""
  ds = tiny(layout)
  grcn_write.write_grcn(ds, tmp_path, layout=layout)
  back = grcn_layout.load_grcn(tmp_path)
  assert (back.num_users, back.num_items) == (ds.num_users, ds.num_items)
  assert back.name == os.path.basename(tmp_path)
  # train.npy keeps the row order; val / test come back grouped by user.
  np.testing.assert_array_equal(back.train.user, ds.train.user)
  np.testing.assert_array_equal(back.train.item, ds.train.item)
  for name in ('val', 'test'):
    np.testing.assert_array_equal(pairs(getattr(back, name)),
                                  pairs(getattr(ds, name)))
  assert back.train.rating is None and back.train.timestamp is None
  assert sorted(back.item_features) == sorted(ds.item_features)
  for m, x in ds.item_features.items():
    np.testing.assert_array_equal(back.item_features[m], x)
    assert back.item_features[m].dtype == np.float32
  assert sorted(back.item_bags) == sorted(ds.item_bags)
  for m, bag in ds.item_bags.items():
    np.testing.assert_array_equal(back.item_bags[m], bag)
  np.testing.assert_array_equal(back.item_ids, np.arange(30).astype(str))


def test_file_names_per_layout(tmp_path):
  """MovieLens names versus feat_*.npy, as the official folders have them."""
  grcn_write.write_grcn(tiny('movielens'), tmp_path / 'm')
  grcn_write.write_grcn(tiny('tiktok'), tmp_path / 't', layout='tiktok')
  assert sorted(os.listdir(tmp_path / 'm')) == sorted([
      'FeatureAudio_avg_normal.npy', 'FeatureText_stl_normal.npy',
      'FeatureVideo_normal.npy', 'test_full.npy', 'train.npy',
      'user_item_dict.npy', 'val_full.npy'])
  assert {'feat_v.npy', 'feat_a.npy', 'feat_t.npy'} <= set(
      os.listdir(tmp_path / 't'))
  # The object arrays hold plain Python ints, like the official files.
  table = np.load(tmp_path / 'm' / 'user_item_dict.npy',
                  allow_pickle=True).item()
  assert all(type(i) is int for items in table.values() for i in items)


def test_unoffset_items_detected_and_fixed(tmp_path, caplog):
  """Toy-set style files (items not + N_u) load like the offset ones."""
  ds = tiny('kwai')
  grcn_write.write_grcn(ds, tmp_path / 'offset')
  grcn_write.write_grcn(ds, tmp_path / 'plain', offset_items=False)
  assert np.load(tmp_path / 'plain' / 'train.npy')[:, 1].min() < ds.num_users
  a = grcn_layout.load_grcn(tmp_path / 'offset')
  assert 'not offset' not in caplog.text
  b = grcn_layout.load_grcn(tmp_path / 'plain')
  assert 'not offset by the number of users (N_u=40); added N_u' in caplog.text
  for name in ('train', 'val', 'test'):
    np.testing.assert_array_equal(pairs(getattr(a, name)),
                                  pairs(getattr(b, name)))


# Offset train.npy (N_u=4, items 4..8) with row 5's item written without it.
STRAY = [[0, 4], [0, 5], [1, 6], [2, 7], [3, 8], [3, 1]]


def test_one_stray_id_refuses_the_folder_without_features(tmp_path):
  """One id below N_u names its row; it no longer flips every file to plain.

  Read as plain, this folder had N_i = 9: items 0-3 (the offset ids) were
  phantoms with no interaction, and the real items were shifted by N_u.
  """
  folder = hand_made(tmp_path, train=STRAY)
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'train.npy: row 5 (item id 1); 1 item id in 1 row',
               '1 of 12 are below N_u=4', 'config.data.grcn.num_items')


def test_one_stray_id_with_features_names_the_row_not_the_features(tmp_path):
  """With N_i known from the features, the stray row is named, not them."""
  folder = hand_made(tmp_path, train=STRAY, features={
      'FeatureVideo_normal.npy': np.ones((5, 3), np.float32)})
  message = assert_error(
      lambda: grcn_layout.load_grcn(folder),
      'Read as offset (ids in [N_u, N_u + N_i) = [4, 9), N_i=5 from the rows '
      'of', 'train.npy: row 5 (item id 1)', '8 would not be below N_i')
  assert 'has 5 rows' not in message
  assert_error(lambda: grcn_layout.load_grcn(folder, num_items=5),
               'N_i=5 from the num_items argument', 'row 5 (item id 1)')


def test_mixed_ids_list_the_first_rows_with_counts(tmp_path):
  """Many stray ids: the first three are listed, then the counts per file."""
  test = [[0, 0, 1, 7], [1, 2], [2, 3, 0], [3, 8]]
  folder = hand_made(tmp_path, test=test)
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'test_full.npy: list 0 (item id 0), list 0 (item id 1), list 1 '
               '(item id 2) and 2 more; 5 item ids in 3 lists', 'Below N_u')


def test_plain_ids_with_more_items_than_users(tmp_path):
  """Plain ids >= N_u are items when N_i says so; else the error asks for it.

  N_u = 4 users and N_i = 7 plain items 0..6: ids 4..6 are at or above N_u
  but below N_i, so the folder is plain, not mixed.
  """
  train = [[0, 0], [0, 4], [1, 1], [1, 5], [2, 2], [2, 6], [3, 3]]
  val, test = [[0, 5], [1, 0], [3, 4]], [[0, 6], [2, 3], [3, 0]]
  x = np.arange(14, dtype=np.float32).reshape(7, 2)
  with_features = hand_made(tmp_path / 'a', train, val, test,
                            features={'feat_v.npy': x})
  ds = grcn_layout.load_grcn(with_features)
  assert (ds.num_users, ds.num_items) == (4, 7)
  np.testing.assert_array_equal(pairs(ds.train), train)
  np.testing.assert_array_equal(pairs(ds.test), [[0, 6], [2, 3], [3, 0]])
  np.testing.assert_array_equal(ds.item_features['visual'], x)
  bare = hand_made(tmp_path / 'b', train, val, test)
  assert_error(lambda: grcn_layout.load_grcn(bare), 'Item ids are mixed',
               'pass the item count (--config.data.grcn.num_items)')
  ds = grcn_layout.load_grcn(bare, num_items=7)
  np.testing.assert_array_equal(pairs(ds.train), train)
  # With N_i = 7 as well, an offset id (5 + N_u = 9) is named as not plain.
  bad = hand_made(tmp_path / 'c', train + [[3, 9]], val, test,
                  features={'feat_v.npy': x})
  assert_error(lambda: grcn_layout.load_grcn(bad),
               'Read as plain ids (below N_i=7', 'train.npy: row 7 (item id 9)')


def test_one_file_offset_and_another_plain_is_refused(tmp_path):
  """train.npy offset but test_full.npy plain: the test lists are named."""
  folder = hand_made(tmp_path, test=[[0, 3], [1, 4], [2, 0]],
                     features={'feat_v.npy': np.ones((5, 2), np.float32)})
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'test_full.npy: list 0 (item id 3), list 2 (item id 0); 2 item '
               'ids in 2 lists')


def test_readme_file_names_accepted(tmp_path):
  """val.npy / test.npy work when the *_full names are absent."""
  folder = hand_made(tmp_path)
  os.rename(folder / 'val_full.npy', folder / 'val.npy')
  os.rename(folder / 'test_full.npy', folder / 'test.npy')
  ds = grcn_layout.load_grcn(folder)
  np.testing.assert_array_equal(pairs(ds.val), [[0, 2], [1, 0], [3, 1]])
  np.testing.assert_array_equal(pairs(ds.test), [[0, 3], [1, 4], [2, 0]])
  assert (ds.num_users, ds.num_items) == (N_U, 5)


def test_equal_length_lists_saved_as_matrix(tmp_path):
  """np.save makes an int matrix of equal-length lists; it reads the same."""
  folder = hand_made(tmp_path)
  np.save(folder / 'val_full.npy', np.array([[0, 6], [1, 4], [3, 5]]))
  ds = grcn_layout.load_grcn(folder)
  np.testing.assert_array_equal(pairs(ds.val), [[0, 2], [1, 0], [3, 1]])


def test_num_users_and_num_items_given(tmp_path):
  """Given counts are used as is; items beyond them are refused."""
  folder = hand_made(tmp_path)
  ds = grcn_layout.load_grcn(folder, num_items=7)
  assert (ds.num_users, ds.num_items) == (N_U, 7)
  assert_error(lambda: grcn_layout.load_grcn(folder, num_items=3),
               'train.npy, row 3', 'item id 7', 'num_items')


# --- refused files -----------------------------------------------------------


class _Payload:
  """Unpickling this runs a shell command (here: creates a marker file)."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f'touch {self.marker}',))


def test_malicious_pickle_refused_and_not_run(tmp_path):
  """A pickled os.system call in val_full.npy is refused, not executed."""
  folder = hand_made(tmp_path / 'data')
  marker = tmp_path / 'pwned'
  save_object(folder / 'val_full.npy', [[0, 6], _Payload(marker)])
  message = assert_error(lambda: grcn_layout.load_grcn(folder),
                         'val_full.npy', 'system', 'will not run code',
                         'plain lists of ints')
  assert not marker.exists(), message
  # The same through the loader itself, for the dict file.
  np.save(tmp_path / 'evil.npy', np.array({0: _Payload(marker)}),
          allow_pickle=True)
  with pytest.raises(DataError):
    safe_pickle.load_npy(tmp_path / 'evil.npy')
  assert not marker.exists()


def test_safe_loader_contents(tmp_path):
  """Containers of ints and numeric arrays load; floats and strings do not."""
  ok = tmp_path / 'ok.npy'
  save_object(ok, [[0, 1], (2, np.int32(3)), {4, 5}, {6: [7]},
                   np.arange(3)])
  back = safe_pickle.load_npy(ok)
  assert back[3] == {6: [7]} and back[2] == {4, 5}
  np.testing.assert_array_equal(safe_pickle.load_npy(ok)[4], np.arange(3))
  for name, bad in (('float', [0, 1.5]), ('str', ['user', 1])):
    path = tmp_path / f'{name}.npy'
    save_object(path, [bad])
    assert_error(lambda p=path: safe_pickle.load_npy(p), str(path),
                 f'type {name}')
  np.save(tmp_path / 'plain.npy', np.ones((2, 3), np.float32))
  np.testing.assert_array_equal(
      safe_pickle.load_npy(tmp_path / 'plain.npy'), np.ones((2, 3)))


def test_missing_files(tmp_path):
  """No train.npy: the error lists the layout; no test split: an error."""
  (tmp_path / 'empty').mkdir()
  assert_error(lambda: grcn_layout.load_grcn(tmp_path / 'empty'),
               'has no train.npy', 'val_full.npy', 'FeatureVideo_normal.npy')
  folder = hand_made(tmp_path / 'data')
  os.remove(folder / 'test_full.npy')
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'neither test_full.npy nor test.npy')


def test_feature_row_count_mismatch(tmp_path):
  """A feature with the wrong number of rows names the file and both counts."""
  folder = hand_made(tmp_path, features={
      'FeatureVideo_normal.npy': np.ones((5, 3), np.float32),
      'FeatureAudio_avg_normal.npy': np.ones((6, 2), np.float32)})
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'FeatureVideo_normal.npy has 5 rows', 'N_i=6',
               'FeatureAudio_avg_normal.npy')


def test_nan_feature(tmp_path):
  """A NaN in a feature names the file and the first bad row."""
  x = np.ones((5, 3), np.float32)
  x[3, 1] = np.nan
  folder = hand_made(tmp_path, features={'feat_a.npy': x})
  assert_error(lambda: grcn_layout.load_grcn(folder), 'feat_a.npy, row 3',
               'NaN')


def test_out_of_range_ids(tmp_path):
  """Users beyond num_users, negative users, items below N_u are refused."""
  folder = hand_made(tmp_path / 'a')
  assert_error(lambda: grcn_layout.load_grcn(folder, num_users=3),
               'train.npy, row 4', 'user id 3', 'N_u=3')
  folder = hand_made(tmp_path / 'b', test=[[0, 7], [-1, 8]])
  assert_error(lambda: grcn_layout.load_grcn(folder), 'test_full.npy, list 1',
               'user id -1')
  # train.npy is offset, so an item id below N_u in val is a mistake.
  folder = hand_made(tmp_path / 'c', val=[[0, 6], [1, 2]])
  assert_error(lambda: grcn_layout.load_grcn(folder),
               'val_full.npy: list 1 (item id 2)', '1 of 11 are below N_u=4')
  # Plain ids must not be negative.
  folder = hand_made(tmp_path / 'd', train=[[0, 0], [1, -1], [2, 1], [3, 2]],
                     val=[[0, 1]], test=[[1, 2]])
  assert_error(lambda: grcn_layout.load_grcn(folder), 'train.npy, row 1',
               'item id -1 is negative')


def test_bad_shapes(tmp_path):
  """train.npy must be (E, 2) ints; lists must be lists of ints."""
  folder = hand_made(tmp_path / 'a')
  np.save(folder / 'train.npy', np.zeros((3, 3), np.int64))
  assert_error(lambda: grcn_layout.load_grcn(folder), 'train.npy',
               'shape (3, 3)', '(E, 2)')
  folder = hand_made(tmp_path / 'b', val=[[0, 6], [1, [4]]])
  assert_error(lambda: grcn_layout.load_grcn(folder), 'val_full.npy, list 1',
               'not an integer')
  folder = hand_made(tmp_path / 'c', val=[[0, 6], []])
  assert_error(lambda: grcn_layout.load_grcn(folder), 'val_full.npy, list 1',
               'empty')


def test_user_item_dict_must_match_train(tmp_path):
  """A dict that agrees loads; one that differs names the first user."""
  table = {0: {4, 5}, 1: {6}, 2: {7}, 3: {8, 4}}
  grcn_layout.load_grcn(hand_made(tmp_path / 'a', table=table))
  table[2] = {7, 8}
  assert_error(lambda: grcn_layout.load_grcn(hand_made(tmp_path / 'b',
                                                       table=table)),
               'user_item_dict.npy disagrees with', 'user 2 has items [7, 8]')


def test_duplicates_policy(tmp_path):
  """Repeats in train.npy, or a train pair in test, follow the policy."""
  train = [[0, 4], [0, 5], [1, 6], [0, 4], [2, 7], [3, 8]]
  folder = hand_made(tmp_path / 'a', train=train)
  assert_error(lambda: grcn_layout.load_grcn(folder), 'train.npy',
               'line 0 and again on line 3')
  assert len(grcn_layout.load_grcn(folder, duplicates='keep_first').train) == 5
  folder = hand_made(tmp_path / 'b', test=[[0, 5], [1, 8]])
  assert_error(lambda: grcn_layout.load_grcn(folder), 'train.npy',
               'test_full.npy')


# --- .pt features and bags ---------------------------------------------------


def test_pt_feature_without_torch(tmp_path, monkeypatch):
  """Without PyTorch a .pt feature gives the one-line conversion command."""
  folder = hand_made(tmp_path)
  (folder / 'feat_v.pt').write_bytes(b'not read')
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` fails.
  assert_error(lambda: grcn_layout.load_grcn(folder), 'feat_v.pt',
               'PyTorch is not installed',
               'python -c "import torch, numpy; numpy.save(\'feat_v.npy\', '
               'torch.load(\'feat_v.pt\').numpy())"')
  # The .npy file, when there, is preferred and torch is not needed.
  np.save(folder / 'feat_v.npy', np.ones((5, 2), np.float32))
  assert grcn_layout.load_grcn(folder).item_features['visual'].shape == (5, 2)


def test_pt_features_without_torch(tmp_path, monkeypatch):
  """Tiktok-style .pt files (real torch.save output): dense visual and a
  textual bag of words, read with PyTorch hidden, as in CI."""
  folder = hand_made(tmp_path)
  fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'fixtures', 'torch_pt')
  for name in ('feat_v.pt', 'feat_t.pt'):  # [5, 3] float32, [2, 4] int64
    shutil.copy(os.path.join(fixtures, name), folder / name)
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` fails.
  ds = grcn_layout.load_grcn(folder)
  assert ds.item_features['visual'].dtype == np.float32
  np.testing.assert_array_equal(
      ds.item_features['visual'],
      np.arange(15, dtype=np.float32).reshape(5, 3) / 4 - 1)
  assert 'textual' not in ds.item_features
  np.testing.assert_array_equal(ds.item_bags['textual'],
                                [[0, 0, 3, 4], [7, 9, 7, 1]])
  assert ds.item_bags['textual'].dtype == np.int64


def test_bag_of_words_lands_in_item_bags(tmp_path):
  """An integer [2, n] textual file is a bag; its items must be in range."""
  bag = np.array([[0, 1, 1, 4], [3, 0, 2, 3]], np.int64)
  ds = grcn_layout.load_grcn(hand_made(tmp_path / 'a',
                                       features={'feat_t.npy': bag}))
  np.testing.assert_array_equal(ds.item_bags['textual'], bag)
  assert not ds.item_features
  bag[0, 2] = 5
  assert_error(lambda: grcn_layout.load_grcn(hand_made(
      tmp_path / 'b', features={'feat_t.npy': bag})), 'feat_t.npy, column 2',
               '[0, 5)')
