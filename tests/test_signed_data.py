"""Tests of signed (like / dislike) feedback, the fold_files and csv loaders."""

import os

import numpy as np
import pytest

from jaxrec.data import config as data_config_lib
from jaxrec.data import csv_files
from jaxrec.data import likes
from jaxrec.data import pipeline
from jaxrec.data import splits
from jaxrec.data.dataset import DataError, Interactions
from jaxrec.errors import ConfigError


def write(folder, name, text):
  """Writes text to folder/name and returns the path."""
  path = os.path.join(folder, name)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return path


def data_config(path='', **changes):
  """config.data's defaults with the given fields changed."""
  cfg = data_config_lib.default_config()
  cfg.path = os.fspath(path)
  for key, value in changes.items():
    setattr(cfg, key, value)
  return cfg


def raw_rows(ds, part):
  """{(raw user, raw item): row index} of a split."""
  inter = getattr(ds, part)
  return {(ds.user_ids[u], ds.item_ids[i]): r
          for r, (u, i) in enumerate(zip(inter.user, inter.item))}


def assert_error(error, fn, *needles):
  """Asserts fn() raises `error` whose message holds every needle."""
  with pytest.raises(error) as info:
    fn()
  for needle in needles:
    assert needle in str(info.value), (needle, str(info.value))
  return str(info.value)


def ratings_csv(folder, num_users=40, num_items=30, seed=0):
  """A MovieLens ratings.csv with half stars; returns {(user, item): rating}."""
  rng = np.random.default_rng(seed)
  table = {}
  lines = ['userId,movieId,rating,timestamp']
  for u in range(1, num_users + 1):
    for i in rng.choice(num_items, rng.integers(6, 15), replace=False):
      rating = float(rng.choice(np.arange(1, 11) / 2))  # 0.5 .. 5.0
      table[(str(u), str(i + 1))] = rating
      lines.append(f'{u},{i + 1},{rating},{1000 + len(lines)}')
  write(folder, 'ratings.csv', '\n'.join(lines) + '\n')
  return table


# --- Interactions.liked ------------------------------------------------------


def test_interactions_carry_liked():
  """select, empty, concat keep the liked column; likes() picks the likes."""
  inter = Interactions(np.arange(4, dtype=np.int32), np.zeros(4, np.int32),
                       np.array([1, 4, 5, 2], np.float32),
                       liked=np.array([False, True, True, False]))
  np.testing.assert_array_equal(inter.select([3, 1]).liked, [False, True])
  np.testing.assert_array_equal(inter.likes().user, [1, 2])
  empty = Interactions.empty(like=inter)
  assert empty.liked.dtype == bool and len(empty.liked) == 0
  both = Interactions.concat([inter, inter.select([0])])
  np.testing.assert_array_equal(both.liked, [False, True, True, False, False])
  # Implicit data: no liked column, every row a like.
  bare = Interactions(inter.user, inter.item)
  assert bare.likes() is bare and Interactions.empty(like=bare).liked is None
  assert Interactions.concat([inter, bare]).liked is None
  with pytest.raises(ValueError, match='liked'):
    Interactions(inter.user, inter.item, liked=np.ones(3, bool))


def test_threshold_rule_is_strict_and_rating_rule_is_not():
  """A rating equal to the threshold is a like under 'rating' only."""
  inter = Interactions(np.arange(4, dtype=np.int32), np.zeros(4, np.int32),
                       np.array([3.0, 3.5, 4.0, 5.0], np.float32))
  np.testing.assert_array_equal(
      likes.positive_mask(inter, 'threshold', 4.0, 3.5),
      [False, False, True, True])
  np.testing.assert_array_equal(
      likes.positive_mask(inter, 'rating', 3.5, 99.0),
      [False, True, True, True])
  np.testing.assert_array_equal(
      likes.filter_positive(inter, 'threshold', 0.0, 3.5).rating, [4, 5])
  assert likes.positive_mask(inter, 'all', 4.0, 3.5).all()
  with pytest.raises(DataError, match="'threshold'.*config.data.positive"):
    likes.positive_mask(Interactions(inter.user, inter.item), 'threshold',
                         4.0, 3.5)


# --- the signed pipeline -----------------------------------------------------


def test_signed_kfold_keeps_dislikes_and_every_sign(tmp_path):
  """Folds of all ratings are disjoint, cover the data, and keep their sign."""
  truth = ratings_csv(tmp_path)
  tests = []
  for fold in range(5):
    ds = pipeline.load(data_config(
        tmp_path, format='movielens', split='kfold', num_folds=5, fold=fold,
        val_ratio=0.0, feedback='signed', positive='threshold'))
    assert ds.signed
    train, test = raw_rows(ds, 'train'), raw_rows(ds, 'test')
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(truth)  # Dislikes are kept.
    for name in ('train', 'test'):
      part = getattr(ds, name)
      np.testing.assert_array_equal(part.liked, part.rating > 3.5)
      for pair, r in raw_rows(ds, name).items():
        assert part.liked[r] == (truth[pair] > 3.5)
    assert 0 < len(ds.test.likes()) < len(ds.test)
    tests.append(set(test))
  assert sum(len(t) for t in tests) == len(truth)
  assert set().union(*tests) == set(truth)


def test_signed_ratio_split_carries_liked_into_validation(tmp_path):
  """carve_validation keeps liked; the summary counts likes per split."""
  ratings_csv(tmp_path)
  ds = pipeline.load(data_config(
      tmp_path, format='movielens', split='ratio', test_ratio=0.2,
      val_ratio=0.2, feedback='signed', positive='rating', min_rating=3.5))
  for part in (ds.train, ds.val, ds.test):
    assert part.liked is not None
    np.testing.assert_array_equal(part.liked, part.rating >= 3.5)
  assert len(ds.val) > 0
  assert (f'likes {len(ds.train.likes())}/{len(ds.val.likes())}/'
          f'{len(ds.test.likes())}') in ds.summary()


def test_implicit_feedback_is_unchanged(tmp_path):
  """Implicit: positives kept before splitting, no liked column."""
  truth = ratings_csv(tmp_path)
  cfg = data_config(tmp_path, format='movielens', split='ratio',
                    positive='threshold', threshold=3.5)
  ds = pipeline.load(cfg)
  assert not ds.signed and 'likes' not in ds.summary()
  for part in (ds.train, ds.val, ds.test):
    assert part.liked is None and np.all(part.rating > 3.5)
  total = len(ds.train) + len(ds.val) + len(ds.test)
  assert total == sum(r > 3.5 for r in truth.values())
  # The same as filtering then splitting by hand.
  by_hand = splits.split(likes.keep_positive(pipeline.read(cfg), cfg), cfg)
  for name in ('train', 'val', 'test'):
    np.testing.assert_array_equal(getattr(ds, name).timestamp,
                                  getattr(by_hand, name).timestamp)


def test_signed_on_synthetic_data():
  """The synthetic data's dislikes stay with signed feedback only."""
  def load(**changes):
    cfg = data_config(positive='rating', min_rating=4.0, **changes)
    cfg.synthetic.num_users = 60
    cfg.synthetic.num_items = 40
    cfg.synthetic.dislikes_per_user = 3.0
    return pipeline.load(cfg)
  ds, implicit = load(feedback='signed'), load()
  assert ds.signed and not implicit.signed
  assert len(ds.all_interactions()) > len(implicit.all_interactions())
  assert len(ds.all_interactions().likes()) == len(
      implicit.all_interactions())


def test_config_errors(tmp_path):
  """Feedback typo, signed with 'all', fold_files without a given split."""
  assert_error(ConfigError, lambda: pipeline.load(data_config(
      feedback='signd')), 'config.data.feedback', "'implicit', 'signed'")
  assert_error(ConfigError, lambda: pipeline.load(data_config(
      feedback='signed', positive='all')), "config.data.positive='all'",
      "'threshold'", "'rating'", "'label'")
  assert_error(ConfigError, lambda: pipeline.load(data_config(
      tmp_path, format='fold_files', split='kfold')),
      "config.data.split='given'")
  assert_error(ConfigError, lambda: pipeline.load(data_config(
      positive='liked')), 'config.data.positive')


def test_signed_needs_ratings_and_likes(tmp_path):
  """No rating column, or no likes in test, fails with the fix."""
  write(tmp_path, 'train.txt', '0 1 2\n1 2 3\n')
  write(tmp_path, 'test.txt', '0 3\n1 1\n')
  assert_error(DataError, lambda: pipeline.load(data_config(
      tmp_path, format='lightgcn_text', split='given', feedback='signed',
      positive='threshold')), "feedback='implicit'", 'rating')
  folder = tmp_path / 'csv'
  folder.mkdir()
  write(folder, 'big_matrix.csv', 'user_id,video_id,watch_ratio\n'
        '1,1,3.0\n1,2,0.5\n2,1,2.5\n')
  write(folder, 'small_matrix.csv', 'user_id,video_id,watch_ratio\n'
        '1,3,0.5\n2,2,1.0\n')
  assert_error(DataError, lambda: pipeline.load(data_config(
      folder, format='csv', split='given', val_ratio=0.0, feedback='signed',
      positive='threshold', threshold=2.0)), 'test split has no likes',
      'rating > config.data.threshold=2.0', 'Fix')


# --- fold_files --------------------------------------------------------------


def write_folds(folder, num_folds=5, sep=',', timestamps=True, seed=0):
  """Fold files test_1m{k}.dat of disjoint random ratings; returns the rows.

  Returns:
    [num_folds] lists of (raw user, raw item, rating).
  """
  rng = np.random.default_rng(seed)
  pairs = [(u, i) for u in range(1, 13) for i in range(100, 120)]
  chosen = rng.choice(len(pairs), 20 * num_folds, replace=False)
  folds = []
  for k in range(num_folds):
    rows = [(str(pairs[c][0]), str(pairs[c][1]), int(rng.integers(1, 6)))
            for c in chosen[20 * k:20 * (k + 1)]]
    lines = [sep.join([u, i, str(r)] + ([str(7 * n)] if timestamps else []))
             for n, (u, i, r) in enumerate(rows)]
    write(folder, f'test_1m{k + 1}.dat', '\n'.join(lines) + '\n')
    folds.append(rows)
  return folds


def fold_config(folder, **changes):
  """config.data reading fold files, signed, no validation."""
  return data_config(folder, **{
      'format': 'fold_files', 'split': 'given', 'val_ratio': 0.0,
      'feedback': 'signed', 'positive': 'threshold', **changes})


def test_fold_files_test_is_file_k_plus_one(tmp_path):
  """Fold k's test is file k + 1, train the others; ids shared by folds."""
  folds = write_folds(tmp_path)
  vocab = None
  for fold in range(5):
    ds = pipeline.load(fold_config(tmp_path, fold=fold))
    expect_test = {(u, i): r for u, i, r in folds[fold]}
    expect_train = {(u, i): r for k, rows in enumerate(folds) if k != fold
                    for u, i, r in rows}
    for name, expect in (('test', expect_test), ('train', expect_train)):
      part = getattr(ds, name)
      rows = raw_rows(ds, name)
      assert set(rows) == set(expect)
      for pair, r in rows.items():
        assert part.rating[r] == expect[pair]
        assert part.liked[r] == (expect[pair] > 3.5)
      assert part.rating.dtype == np.float32
      assert part.timestamp.dtype == np.int64
    # Raw ids map to the same contiguous ids whichever fold is test.
    if vocab is None:
      vocab = (ds.user_ids, ds.item_ids)
    np.testing.assert_array_equal(ds.user_ids, vocab[0])
    np.testing.assert_array_equal(ds.item_ids, vocab[1])
  assert list(ds.user_ids) == sorted(ds.user_ids, key=int)


@pytest.mark.parametrize('sep,timestamps', [('::', True), ('\t', False),
                                            (',', False)])
def test_fold_files_other_separators_and_three_fields(tmp_path, sep,
                                                      timestamps):
  """'::' and tab separators, and files without timestamps."""
  folds = write_folds(tmp_path, num_folds=3, sep=sep, timestamps=timestamps)
  ds = pipeline.load(fold_config(tmp_path, num_folds=3, fold=2))
  assert set(raw_rows(ds, 'test')) == {(u, i) for u, i, _ in folds[2]}
  assert (ds.test.timestamp is None) == (not timestamps)


def test_fold_files_validation_is_carved_from_train(tmp_path):
  """val comes out of train's files, never out of the test fold."""
  folds = write_folds(tmp_path)
  ds = pipeline.load(fold_config(tmp_path, fold=0, val_ratio=0.2))
  assert len(ds.val) > 0 and ds.val.liked is not None
  assert set(raw_rows(ds, 'test')) == {(u, i) for u, i, _ in folds[0]}
  assert not set(raw_rows(ds, 'val')) & set(raw_rows(ds, 'test'))


def test_fold_files_bad_line_and_missing_files(tmp_path):
  """A bad line names file and line; missing files are listed together."""
  assert_error(DataError, lambda: pipeline.load(fold_config(tmp_path)),
               'test_1m1.dat', 'test_1m5.dat', 'lacks 5 of the 5',
               'SiReN', "config.data.format='movielens'",
               "config.data.split='kfold'")
  write_folds(tmp_path)
  os.remove(tmp_path / 'test_1m4.dat')
  message = assert_error(DataError, lambda: pipeline.load(fold_config(
      tmp_path)), 'test_1m4.dat', 'lacks 1 of the 5')
  assert 'test_1m3.dat' not in message
  write_folds(tmp_path)
  with open(tmp_path / 'test_1m3.dat', 'a') as f:
    f.write('5,101,four,9\n')
  assert_error(DataError, lambda: pipeline.load(fold_config(tmp_path)),
               'test_1m3.dat', 'line 21', "'rating'")
  write_folds(tmp_path)
  with open(tmp_path / 'test_1m2.dat', 'a') as f:
    f.write('5,101,4\n')  # 3 fields in a file of 4.
  assert_error(DataError, lambda: pipeline.load(fold_config(tmp_path)),
               'test_1m2.dat', 'line 21', 'found 3 fields')
  write(tmp_path, 'test_1m2.dat', '1;2;3\n')
  assert_error(DataError, lambda: pipeline.load(fold_config(tmp_path)),
               'test_1m2.dat', 'line 1', '3 or 4 fields')
  write_folds(tmp_path)
  assert_error(ConfigError, lambda: pipeline.load(fold_config(
      tmp_path, fold=5)), 'config.data.fold=5')


def test_fold_files_duplicates(tmp_path):
  """A pair in two files names both; keep_first keeps the lower file's."""
  folds = write_folds(tmp_path, num_folds=3)
  u, i, _ = folds[0][0]
  with open(tmp_path / 'test_1m3.dat', 'a') as f:
    f.write(f'{u},{i},1,99\n')
  assert_error(DataError, lambda: pipeline.load(fold_config(
      tmp_path, num_folds=3)), 'test_1m1.dat (line 1)',
      'test_1m3.dat (line 21)', "duplicates='keep_first'")
  for fold in (0, 2):
    ds = pipeline.load(fold_config(tmp_path, num_folds=3, fold=fold,
                                   duplicates='keep_first'))
    assert ((u, i) in raw_rows(ds, 'test')) == (fold == 0)
    assert len(ds.train) + len(ds.test) == 60


# --- csv ---------------------------------------------------------------------

KUAIREC_HEADER = ('user_id,video_id,play_duration,video_duration,time,date,'
                  'timestamp,watch_ratio')


def kuairec_line(user, item, ratio, time='1593898068.378'):
  """A big_matrix.csv-like line; some unneeded fields empty or NaN."""
  date = '' if user % 2 else '20200705.0'
  stamp = time if user % 3 else 'nan'
  return (f'{user},{item},1234,{"" if item % 2 else 5678},'
          f'2020-07-05 05:27:48.378,{date},{stamp},{ratio}')


def kuairec_folder(folder):
  """A KuaiRec-like folder; returns the (user, item, ratio) rows per file."""
  rng = np.random.default_rng(0)
  big = [(u, v, round(float(rng.uniform(0, 4)), 3))
         for u in range(10) for v in range(0, 30, 2)]
  small = [(u, v, round(float(rng.uniform(0, 4)), 3))
           for u in range(10) for v in range(1, 30, 4)]
  big += [(0, 2 * 7 + 100, 2.0)]  # Exactly 2.0: a dislike.
  for name, rows in (('big_matrix.csv', big), ('small_matrix.csv', small)):
    write(folder, name, '\n'.join([KUAIREC_HEADER] + [
        kuairec_line(*row) for row in rows]) + '\n')
  return big, small


def kuairec_config(folder, **changes):
  """config.data reading the KuaiRec-like folder, signed at watch_ratio 2."""
  return data_config(folder, **{
      'format': 'csv', 'split': 'given', 'val_ratio': 0.0,
      'feedback': 'signed', 'positive': 'threshold', 'threshold': 2.0,
      **changes})


def test_csv_kuairec_layout_signed(tmp_path):
  """big_matrix is train, small_matrix test, likes where watch_ratio > 2."""
  big, small = kuairec_folder(tmp_path)
  ds = pipeline.load(kuairec_config(tmp_path))
  assert ds.name == tmp_path.name and ds.signed
  for name, rows in (('train', big), ('test', small)):
    part = getattr(ds, name)
    got = raw_rows(ds, name)
    assert set(got) == {(str(u), str(v)) for u, v, _ in rows}
    for u, v, ratio in rows:
      r = got[(str(u), str(v))]
      assert part.rating[r] == np.float32(ratio)
      assert part.liked[r] == (ratio > 2.0)
    assert part.timestamp is None
  assert not ds.train.liked[raw_rows(ds, 'train')[('0', '114')]]


def test_csv_time_column_and_text_ids(tmp_path):
  """A named time column is read (rounded), ids may be text."""
  write(tmp_path, 'log.csv', 'who,what,when,extra\n'
        'ann,x1,10.4,"a, quoted"\nbob,x2,11.6,\nann,x2,12,z\n')
  cfg = data_config(tmp_path / 'log.csv', format='csv', split='given')
  cfg.csv.user_column, cfg.csv.item_column = 'who', 'what'
  cfg.csv.rating_column, cfg.csv.time_column = '', 'when'
  ds = pipeline.read(cfg)
  assert ds.name == 'log' and list(ds.user_ids) == ['ann', 'bob']
  np.testing.assert_array_equal(ds.train.timestamp, [10, 12, 12])
  assert ds.train.rating is None and len(ds.test) == 0


def test_csv_single_file_is_split_later(tmp_path):
  """A file path puts every row in train; data.split then splits it."""
  big, _ = kuairec_folder(tmp_path)
  ds = pipeline.load(kuairec_config(tmp_path / 'big_matrix.csv',
                                    split='ratio', test_ratio=0.2))
  assert len(ds.train) + len(ds.test) == len(big)
  assert len(ds.test) > 0
  np.testing.assert_array_equal(ds.test.liked, ds.test.rating > 2.0)


def test_csv_given_val_and_test_files(tmp_path):
  """val_file and test_file are read when named; a missing test_file fails."""
  header = 'u;i;r\n'
  write(tmp_path, 'tr.csv', header + '1;1;5\n1;2;1\n1;5;5\n2;1;4\n2;3;2\n'
        '2;5;4\n3;1;5\n3;2;5\n')
  write(tmp_path, 'va.csv', header + '1;3;5\n')
  write(tmp_path, 'te.csv', header + '2;2;4\n1;4;2\n')
  cfg = data_config(tmp_path, format='csv', split='given', val_ratio=0.5,
                    feedback='signed', positive='threshold')
  cfg.csv.update(dict(user_column='u', item_column='i', rating_column='r',
                      sep=';', train_file='tr.csv', val_file='va.csv',
                      test_file='te.csv'))
  ds = pipeline.load(cfg)
  assert set(raw_rows(ds, 'val')) == {('1', '3')}  # Not carved: given.
  assert set(raw_rows(ds, 'test')) == {('2', '2'), ('1', '4')}
  np.testing.assert_array_equal(ds.test.liked, [True, False])
  assert ds.num_items == 5
  cfg.csv.test_file = 'tst.csv'
  assert_error(DataError, lambda: pipeline.load(cfg), 'tst.csv',
               'config.data.csv.test_file', 'te.csv')
  cfg.csv.test_file, cfg.csv.val_file = 'te.csv', 'nope.csv'
  ds = pipeline.load(cfg)  # A named val_file that is absent is skipped.
  assert len(ds.val) > 0  # Carved from train instead.
  assert ('1', '3') not in set(raw_rows(ds, 'train')) | set(raw_rows(ds,
                                                                     'val'))


def test_csv_missing_column_and_bad_values(tmp_path):
  """Missing columns list the header; NaN / empty ratings name the line."""
  kuairec_folder(tmp_path)
  cfg = kuairec_config(tmp_path)
  cfg.csv.rating_column = 'watch_ratio_x'
  assert_error(DataError, lambda: pipeline.load(cfg), 'big_matrix.csv',
               "'watch_ratio_x'", 'config.data.csv.rating_column',
               "'play_duration'", "'video_id'")
  for bad, shown in (('nan', "'nan'"), ('', "''"), ('inf', "'inf'")):
    write(tmp_path, 'small_matrix.csv', '\n'.join([
        KUAIREC_HEADER, kuairec_line(1, 1, 0.5), kuairec_line(1, 3, bad),
        kuairec_line(2, 3, 3.0)]) + '\n')
    assert_error(DataError, lambda: pipeline.load(kuairec_config(tmp_path)),
                 'small_matrix.csv, line 3', shown, "'watch_ratio'")
  write(tmp_path, 'small_matrix.csv', KUAIREC_HEADER + '\n1,2,3\n')
  assert_error(DataError, lambda: pipeline.load(kuairec_config(tmp_path)),
               'small_matrix.csv, line 2', 'found 3 fields')
  write(tmp_path, 'small_matrix.csv', KUAIREC_HEADER + '\n')
  assert_error(DataError, lambda: pipeline.load(kuairec_config(tmp_path)),
               'small_matrix.csv', 'no data rows')


def test_csv_reads_in_chunks(tmp_path, monkeypatch):
  """Many small chunks give the same table and the right line numbers."""
  rows = [f'{u},{v},1,,x,,nan,{(u * v) % 5}.5' for u in range(30)
          for v in range(20)]
  path = write(tmp_path, 'big.csv', '\n'.join([KUAIREC_HEADER] + rows) + '\n')
  whole = csv_files.read_csv(path, {'user': 'user_id', 'item': 'video_id',
                                    'rating': 'watch_ratio'})
  monkeypatch.setattr(csv_files, 'CHUNK_BYTES', 64)
  chunked = csv_files.read_csv(path, {'user': 'user_id', 'item': 'video_id',
                                      'rating': 'watch_ratio'})
  for name in ('user', 'item', 'rating'):
    np.testing.assert_array_equal(whole[name], chunked[name])
  np.testing.assert_array_equal(chunked.line, np.arange(2, 602))
  rows[456] = '3,4,1,,x,,nan,NaN'
  write(tmp_path, 'big.csv', '\n'.join([KUAIREC_HEADER] + rows) + '\n')
  assert_error(DataError, lambda: csv_files.read_csv(
      path, {'user': 'user_id', 'item': 'video_id', 'rating': 'watch_ratio'}),
      'line 458', "'NaN'")


def test_csv_duplicates_across_files(tmp_path):
  """A pair in train and test: error with both lines, or dropped from test."""
  write(tmp_path, 'big_matrix.csv', 'user_id,video_id,watch_ratio\n'
        '1,1,3.0\n1,2,0.5\n2,1,2.5\n')
  write(tmp_path, 'small_matrix.csv', 'user_id,video_id,watch_ratio\n'
        '2,2,2.5\n1,2,3.0\n')
  assert_error(DataError, lambda: pipeline.load(kuairec_config(tmp_path)),
               'big_matrix.csv (line 3)', 'small_matrix.csv (line 3)')
  ds = pipeline.load(kuairec_config(tmp_path, duplicates='keep_first'))
  assert set(raw_rows(ds, 'test')) == {('2', '2')}


def test_auto_format_is_unchanged(tmp_path):
  """'auto' still finds MovieLens files and does not guess the new formats."""
  ratings_csv(tmp_path)
  assert pipeline.detect_format(os.fspath(tmp_path)) == 'movielens'
  other = tmp_path / 'kuairec'
  other.mkdir()
  kuairec_folder(other)
  write_folds(other)
  assert_error(DataError, lambda: pipeline.detect_format(os.fspath(other)),
               'cannot tell its format', "'csv'", "'fold_files'")
