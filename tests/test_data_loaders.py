"""Tests of the on-disk loaders on tiny hand-written files."""

import os

import numpy as np
import pytest

from jaxrec.data import lightgcn_text
from jaxrec.data import movielens
from jaxrec.data import readers
from jaxrec.data import recbole
from jaxrec.data import triples
from jaxrec.data.dataset import DataError

# The shared real-data folder beside the checkout, when there is one.
KUAIREC = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data',
                       'kuairec')


def write(folder, name, text, encoding='utf-8'):
  """Writes text to folder/name and returns the path."""
  path = os.path.join(folder, name)
  with open(path, 'wb') as f:
    f.write(text.encode(encoding))
  return path


def raw_pairs(ds, part):
  """The (raw user, raw item) pairs of a split, as a list of tuples."""
  inter = getattr(ds, part)
  return list(zip(ds.user_ids[inter.user], ds.item_ids[inter.item]))


def assert_error(fn, *needles):
  """Asserts fn() raises DataError whose message holds every needle."""
  with pytest.raises(DataError) as info:
    fn()
  for needle in needles:
    assert needle in str(info.value), (needle, str(info.value))
  return str(info.value)


def u_item_line(movie_id, title, genres):
  """A u.item line with the given 0/1 genre flags (19 of them)."""
  flags = '|'.join(str(g) for g in genres)
  return f'{movie_id}|{title}|01-Jan-1995||http://imdb/x|{flags}'


# --- readers -----------------------------------------------------------------


def test_read_columns_fast_and_slow_paths_agree(tmp_path):
  """Blank lines and CRLF take the slow path and give the same table."""
  plain = write(tmp_path, 'a.txt', '1 2 0.5\n3 4 1.5\n')
  blank = write(tmp_path, 'b.txt', '1 2 0.5\n\n  \n3 4 1.5\r\n\n')
  kinds = ('id', 'id', 'float')
  a = readers.read_columns(plain, None, ('u', 'i', 'r'), kinds)
  b = readers.read_columns(blank, None, ('u', 'i', 'r'), kinds)
  for name in ('u', 'i', 'r'):
    np.testing.assert_array_equal(a[name], b[name])
  np.testing.assert_array_equal(a.line, [1, 2])
  np.testing.assert_array_equal(b.line, [1, 4])


def test_count_fields():
  """Fields per line, with a separator and with whitespace."""
  np.testing.assert_array_equal(
      readers.count_fields('a::b::c\nd\n\ne::f', '::'), [3, 1, 1, 2])
  np.testing.assert_array_equal(
      readers.count_fields(' a  b\t c\n\nd ', None), [3, 0, 1])


def test_lookup_ids_numeric_and_text():
  """Side-file ids map to contiguous ids, -1 when absent."""
  np.testing.assert_array_equal(
      readers.lookup_ids(np.array(['2', '10']), np.array([10, 7, 2])),
      [1, -1, 0])
  np.testing.assert_array_equal(
      readers.lookup_ids(np.array(['a', 'b']), np.array(['b', 'c'])), [1, -1])


# --- MovieLens ---------------------------------------------------------------


def test_movielens_100k(tmp_path):
  """u.data + latin-1 u.item: ids, ratings, times, titles, genres."""
  write(tmp_path, 'u.data', '10\t20\t4\t881250949\n2\t20\t5\t881250950\n'
        '10\t3\t1\t881250951\n')
  genres = [[0] * 19 for _ in range(3)]
  genres[0][1] = genres[0][5] = 1  # Action, Comedy.
  genres[1][8] = 1  # Drama.
  genres[2][0] = 1
  write(tmp_path, 'u.item', '\n'.join([
      u_item_line(3, 'Café (1994)', genres[0]),
      u_item_line(20, 'Twenty (1996)', genres[1]),
      u_item_line(99, 'Nobody rated me (1990)', genres[2])]) + '\n',
        encoding='latin-1')
  ds = movielens.load_movielens(str(tmp_path))
  assert (ds.num_users, ds.num_items) == (2, 2)
  np.testing.assert_array_equal(ds.user_ids, ['2', '10'])
  np.testing.assert_array_equal(ds.item_ids, ['3', '20'])
  np.testing.assert_array_equal(ds.train.user, [1, 0, 1])
  np.testing.assert_array_equal(ds.train.item, [1, 1, 0])
  assert ds.train.user.dtype == np.int32 and ds.train.item.dtype == np.int32
  np.testing.assert_array_equal(ds.item_ids[ds.train.item], ['20', '20', '3'])
  np.testing.assert_array_equal(ds.train.rating, [4, 5, 1])
  assert ds.train.rating.dtype == np.float32
  np.testing.assert_array_equal(ds.train.timestamp,
                                [881250949, 881250950, 881250951])
  assert ds.train.timestamp.dtype == np.int64
  assert len(ds.val) == len(ds.test) == 0
  assert ds.val.rating is not None and ds.test.timestamp is not None
  np.testing.assert_array_equal(ds.item_names,
                                ['Café (1994)', 'Twenty (1996)'])
  genre = ds.item_features['genre']
  assert genre.shape == (2, 19) and genre.dtype == np.float32
  np.testing.assert_array_equal(genre[0], genres[0])
  np.testing.assert_array_equal(genre[1], genres[1])
  assert ds.source == str(tmp_path)


def test_movielens_1m(tmp_path):
  """ratings.dat + movies.dat: genres of rated movies only."""
  folder = tmp_path / 'ml-1m'
  folder.mkdir()
  write(folder, 'ratings.dat', '1::10::5::978300760\n1::2::3::978302109\n'
        '7::10::4::978301968\n')
  write(folder, 'movies.dat',
        "2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
        '5::Unrated (1995)::Comedy\n'
        '10::GoldenEye (1995)::Action|Adventure|Thriller\n', encoding='latin-1')
  ds = movielens.load_movielens(str(folder / 'ratings.dat'))
  assert ds.name == 'ml-1m'
  np.testing.assert_array_equal(ds.user_ids, ['1', '7'])
  np.testing.assert_array_equal(ds.item_ids, ['2', '10'])
  assert raw_pairs(ds, 'train') == [('1', '10'), ('1', '2'), ('7', '10')]
  np.testing.assert_array_equal(ds.train.rating, [5, 3, 4])
  np.testing.assert_array_equal(ds.item_names,
                                ['Jumanji (1995)', 'GoldenEye (1995)'])
  # Genres of rated movies only, sorted: Action Adventure Children's Fantasy
  # Thriller (Comedy belongs to the unrated movie 5).
  np.testing.assert_array_equal(ds.item_features['genre'],
                                [[0, 1, 1, 1, 0], [1, 1, 0, 0, 1]])


def test_movielens_latest_csv(tmp_path):
  """ratings.csv + movies.csv with a quoted comma in a title."""
  write(tmp_path, 'ratings.csv', 'userId,movieId,rating,timestamp\n'
        '1,1,4.0,964982703\n1,3,4.5,964981247\n6,3,0.5,964982224\n')
  write(tmp_path, 'movies.csv', 'movieId,title,genres\n'
        '1,Toy Story (1995),Adventure|Animation\n'
        '3,"American President, The (1995)",Comedy|Romance\n')
  ds = movielens.load_movielens(tmp_path)
  assert ds.name == 'movielens'
  assert raw_pairs(ds, 'train') == [('1', '1'), ('1', '3'), ('6', '3')]
  np.testing.assert_array_equal(ds.train.rating, [4.0, 4.5, 0.5])
  np.testing.assert_array_equal(
      ds.item_names, ['Toy Story (1995)', 'American President, The (1995)'])
  np.testing.assert_array_equal(ds.item_features['genre'],
                                [[1, 1, 0, 0], [0, 0, 1, 1]])


def test_movielens_without_movie_file(tmp_path):
  """No movie file: no names, no features."""
  write(tmp_path, 'u.data', '1\t2\t3\t4\n')
  ds = movielens.load_movielens(tmp_path / 'u.data')
  assert ds.item_names is None and not ds.item_features


@pytest.mark.parametrize('name,text,needles', [
    ('ratings.dat', '1::2::3::4\n1::3::3::4\n1::2::3\n',
     ['ratings.dat', 'line 3', 'found 3 fields', "'1::2::3'"]),
    ('u.data', '1\t2\t3\t4\n1\t3\tgood\t4\n', ['u.data', 'line 2', 'good']),
    ('u.data', '1\t2\t3\t4\n\n1\t3\tnan\t4\n',
     ['u.data', 'line 3', "'rating'", 'finite']),
    ('ratings.dat', '1::2::3::4\n1::-3::3::4\n',
     ['ratings.dat', 'line 2', 'non-negative']),
    ('ratings.dat', '', ['ratings.dat', 'no data rows']),
    ('ratings.csv', 'userId,movieId,rating,timestamp\n',
     ['ratings.csv', 'no data rows']),
    ('ratings.csv', '1,2,3.5,4\n1,3,3.5,4\n', ['ratings.csv', 'line 1',
                                              'userId,movieId']),
    ('ratings.dat', '1::2::3::4\n5::6::1::4\n1::2::5::4\n',
     ['ratings.dat', 'user 1 and item 2', 'line 1', 'line 3',
      "duplicates='keep_first'"]),
])
def test_movielens_bad_files(tmp_path, name, text, needles):
  """Each malformed ratings file names the file and the line."""
  write(tmp_path, name, text)
  assert_error(lambda: movielens.load_movielens(tmp_path), *needles)


def test_movielens_missing(tmp_path):
  """A missing file or a folder without ratings says what is expected."""
  missing = str(tmp_path / 'nowhere' / 'u.data')
  assert_error(lambda: movielens.load_movielens(missing), missing,
               'ratings.dat')
  assert_error(lambda: movielens.load_movielens(tmp_path), str(tmp_path),
               'u.data', 'ratings.csv')


def test_movielens_bad_movie_file(tmp_path):
  """A malformed movies.dat names the file and the line."""
  write(tmp_path, 'ratings.dat', '1::2::3::4\n')
  write(tmp_path, 'movies.dat', '2::Two::Drama\n3::Three\n')
  assert_error(lambda: movielens.load_movielens(tmp_path), 'movies.dat',
               'line 2')


@pytest.mark.parametrize('policy,rating', [('keep_first', 3), ('keep_last', 5)])
def test_movielens_duplicates_kept(tmp_path, policy, rating):
  """keep_first / keep_last keep that occurrence."""
  write(tmp_path, 'ratings.dat', '1::2::3::4\n5::6::1::4\n1::2::5::4\n')
  ds = movielens.load_movielens(tmp_path, duplicates=policy)
  assert raw_pairs(ds, 'train')[0 if policy == 'keep_first' else 1] == (
      '1', '2')
  assert len(ds.train) == 2
  assert rating in ds.train.rating


# --- RecBole -----------------------------------------------------------------

INTER = ('user_id:token\titem_id:token\trating:float\ttimestamp:float\n'
         'bob\tm2\t3\t100\nann\tm1\t4.5\t200\nbob\tm1\t1\t300\n')
ITEM = ('item_id:token\tmovie_title:token_seq\trelease_year:token\t'
        'class:token_seq\temb:float_seq\n'
        'm1\tThe First One\t1995\tAction Comedy\t0.5 1\n'
        'm9\tUnrated\t1990\tHorror\t0 0\n'
        'm2\tSecond\t1996\tComedy\t-1 2.5\n')


def test_recbole(tmp_path):
  """A .inter and .item pair: text ids, names, multi-hot and dense features."""
  write(tmp_path, 'tiny.inter', INTER)
  write(tmp_path, 'tiny.item', ITEM)
  ds = recbole.load_recbole(tmp_path)
  assert ds.name == 'tiny'
  np.testing.assert_array_equal(ds.user_ids, ['ann', 'bob'])
  np.testing.assert_array_equal(ds.item_ids, ['m1', 'm2'])
  np.testing.assert_array_equal(ds.train.user, [1, 0, 1])
  np.testing.assert_array_equal(ds.train.item, [1, 0, 0])
  assert raw_pairs(ds, 'train') == [('bob', 'm2'), ('ann', 'm1'),
                                    ('bob', 'm1')]
  np.testing.assert_array_equal(ds.train.rating, [3, 4.5, 1])
  np.testing.assert_array_equal(ds.train.timestamp, [100, 200, 300])
  assert ds.train.timestamp.dtype == np.int64
  np.testing.assert_array_equal(ds.item_names, ['The First One', 'Second'])
  # class: Action, Comedy (Horror belongs to the unrated m9).
  np.testing.assert_array_equal(ds.item_features['class'], [[1, 1], [0, 1]])
  np.testing.assert_array_equal(ds.item_features['emb'], [[0.5, 1], [-1, 2.5]])
  assert ds.item_features['emb'].dtype == np.float32
  assert set(ds.item_features) == {'class', 'emb'}


def test_recbole_label_and_numeric_tokens(tmp_path):
  """label:float becomes the rating; numeric tokens sort as numbers."""
  path = write(tmp_path, 'x.inter', 'user_id:token\titem_id:token\t'
               'label:float\n10\t7\t1\n9\t7\t0\n')
  ds = recbole.load_recbole(path)
  np.testing.assert_array_equal(ds.user_ids, ['9', '10'])
  np.testing.assert_array_equal(ds.train.rating, [1, 0])
  assert ds.train.timestamp is None and ds.item_names is None


@pytest.mark.parametrize('inter,item,needles', [
    ('user_id:token\titem_id:token\trating:floaty\n1\t2\t3\n', None,
     ['x.inter', 'line 1', 'floaty', 'token_seq']),
    ('user:token\titem_id:token\n1\t2\n', None,
     ['x.inter', 'line 1', 'no user_id field', 'user_id:token']),
    ('user_id:token\titem_id:token\trating:float\n1\t2\t3\n1\t3\n', None,
     ['x.inter', 'line 3', 'found 2 fields']),
    ('user_id:token\titem_id:token\trating:float\n1\t2\tNaN\n', None,
     ['x.inter', 'line 2', 'NaN']),
    ('user_id:token\titem_id:token\n1\t2\n',
     'item_id:token\temb:float_seq\n2\t1 nan\n',
     ['x.item', 'line 2', "'emb'"]),
    ('user_id:token\titem_id:token\n1\t2\n1\t3\n',
     'item_id:token\temb:float_seq\n2\t1 2\n3\t1\n',
     ['x.item', 'line 3', "'emb'", '1 numbers']),
    ('user_id:token\titem_id:token\n1\t2\n1\t2\n', None,
     ['x.inter', 'line 2', 'line 3']),
    ('', None, ['x.inter', 'empty']),
])
def test_recbole_bad_files(tmp_path, inter, item, needles):
  """Each malformed RecBole file names the file, line and field."""
  write(tmp_path, 'x.inter', inter)
  if item is not None:
    write(tmp_path, 'x.item', item)
  assert_error(lambda: recbole.load_recbole(tmp_path), *needles)


def test_recbole_folder_must_hold_one_inter(tmp_path):
  """A folder needs exactly one .inter file."""
  assert_error(lambda: recbole.load_recbole(tmp_path), str(tmp_path),
               '0 *.inter')
  write(tmp_path, 'a.inter', INTER)
  write(tmp_path, 'b.inter', INTER)
  assert_error(lambda: recbole.load_recbole(tmp_path), 'a.inter', 'b.inter')
  missing = str(tmp_path / 'c.inter')
  assert_error(lambda: recbole.load_recbole(missing), missing)


# --- LightGCN text -----------------------------------------------------------


def test_lightgcn_text(tmp_path):
  """Given split, joint remapping, and a user listed without items."""
  write(tmp_path, 'train.txt', '0 1 2\n1 2\n2\n')
  write(tmp_path, 'test.txt', '0 3\n1 1\n')
  ds = lightgcn_text.load_lightgcn_text(tmp_path)
  assert (ds.num_users, ds.num_items) == (3, 3)  # User 2 has no items.
  np.testing.assert_array_equal(ds.item_ids, ['1', '2', '3'])
  np.testing.assert_array_equal(ds.train.user, [0, 0, 1])
  np.testing.assert_array_equal(ds.train.item, [0, 1, 1])
  assert raw_pairs(ds, 'train') == [('0', '1'), ('0', '2'), ('1', '2')]
  assert raw_pairs(ds, 'test') == [('0', '3'), ('1', '1')]
  assert len(ds.val) == 0
  assert ds.train.rating is None and ds.train.timestamp is None
  assert ds.name == os.path.basename(tmp_path)


def test_lightgcn_text_val_file(tmp_path):
  """An optional val.txt fills val."""
  write(tmp_path, 'train.txt', '0 1 2\n1 2\n')
  write(tmp_path, 'val.txt', '1 3\n')
  write(tmp_path, 'test.txt', '0 3\n')
  ds = lightgcn_text.load_lightgcn_text(tmp_path)
  assert raw_pairs(ds, 'val') == [('1', '3')]


@pytest.mark.parametrize('train,test,needles', [
    ('0 1 2\n1 -2\n', '0 3\n', ['train.txt', 'line 2', "'-2'"]),
    ('0 1 2\n1 2\n', '0 3\n\n2 1.5\n', ['test.txt', 'line 3', "'1.5'"]),
    ('', '0 3\n', ['train.txt', 'no data rows']),
    ('0 1 2 1\n', '0 3\n', ['train.txt', 'line 1', 'user 0 and item 1']),
    ('0 1 2\n1 2\n', '1 3\n1 2\n',
     ['train.txt (line 2)', 'test.txt (line 2)', "'keep_first'"]),
])
def test_lightgcn_text_bad_files(tmp_path, train, test, needles):
  """Bad ids, empty files and duplicates name the file and the line."""
  write(tmp_path, 'train.txt', train)
  write(tmp_path, 'test.txt', test)
  assert_error(lambda: lightgcn_text.load_lightgcn_text(tmp_path), *needles)


def test_lightgcn_text_missing_and_cross_split_policy(tmp_path):
  """test.txt is required; keep_first drops train pairs from test."""
  write(tmp_path, 'train.txt', '0 1 2\n1 2\n')
  assert_error(lambda: lightgcn_text.load_lightgcn_text(tmp_path),
               'test.txt', 'does not exist')
  write(tmp_path, 'test.txt', '1 3 2\n')
  ds = lightgcn_text.load_lightgcn_text(tmp_path, duplicates='keep_first')
  assert raw_pairs(ds, 'test') == [('1', '3')]  # (1, 2) was in train.


# --- Triples -----------------------------------------------------------------


def write_triples(folder, info=True, test='2 2 1.00\n'):
  """A small triples folder; returns nothing."""
  write(folder, 'train.txt', '0 1 1.00\n1 0 0.00\n2  3\t1.00\n')
  write(folder, 'valid.txt', '0 2 0.00\n')
  write(folder, 'test.txt', test)
  if info:
    write(folder, 'info.txt', 'users 3\nitems 5\ntrain 3\n    1.00: 2\n')


def test_triples_with_info(tmp_path):
  """info.txt keeps ids as given and sets the counts."""
  write_triples(tmp_path)
  ds = triples.load_triples(tmp_path)
  assert (ds.num_users, ds.num_items) == (3, 5)  # Item 4 has no rows.
  np.testing.assert_array_equal(ds.item_ids, ['0', '1', '2', '3', '4'])
  np.testing.assert_array_equal(ds.train.user, [0, 1, 2])
  np.testing.assert_array_equal(ds.train.item, [1, 0, 3])
  np.testing.assert_array_equal(ds.train.rating, [1, 0, 1])
  assert ds.train.rating.dtype == np.float32
  assert raw_pairs(ds, 'val') == [('0', '2')]
  assert raw_pairs(ds, 'test') == [('2', '2')]


def test_triples_without_info_remaps(tmp_path):
  """Without info.txt ids are remapped over all files."""
  write_triples(tmp_path, info=False, test='7 9 1.00\n')
  ds = triples.load_triples(tmp_path)
  assert (ds.num_users, ds.num_items) == (4, 5)
  np.testing.assert_array_equal(ds.user_ids, ['0', '1', '2', '7'])
  np.testing.assert_array_equal(ds.item_ids, ['0', '1', '2', '3', '9'])
  np.testing.assert_array_equal(ds.test.user, [3])
  np.testing.assert_array_equal(ds.test.item, [4])


def test_triples_optional_files(tmp_path):
  """valid.txt and test.txt are optional."""
  write(tmp_path, 'train.txt', '0 1 1.00\n')
  ds = triples.load_triples(tmp_path)
  assert len(ds.val) == len(ds.test) == 0 and ds.test.rating is not None


@pytest.mark.parametrize('test,needles', [
    ('2 5 1.00\n', ['test.txt', 'line 1', 'item id 5', 'the 5 items',
                    'info.txt']),
    ('1 1 1.00\n3 1 1.00\n',
     ['test.txt', 'line 2', 'user id 3', 'the 3 users']),
    ('2 2 nan\n', ['test.txt', 'line 1', "'label'"]),
    ('2 2\n', ['test.txt', 'line 1', 'found 2 fields']),
    ('2 2 1.00\n1 x 1\n', ['test.txt', 'line 2', "'x'"]),
    ('0 1 1.00\n', ['train.txt (line 1)', 'test.txt (line 1)']),
])
def test_triples_bad_files(tmp_path, test, needles):
  """Bad rows and out-of-range ids name the file and the line."""
  write_triples(tmp_path, test=test)
  assert_error(lambda: triples.load_triples(tmp_path), *needles)


def test_triples_bad_info(tmp_path):
  """An info.txt without counts, or with a bad one, is refused."""
  write_triples(tmp_path)
  write(tmp_path, 'info.txt', 'users 3\n')
  assert_error(lambda: triples.load_triples(tmp_path), 'info.txt', 'items N')
  write(tmp_path, 'info.txt', 'users three\nitems 5\n')
  assert_error(lambda: triples.load_triples(tmp_path), 'info.txt', 'line 1')


def test_triples_missing(tmp_path):
  """A missing folder or train.txt says what is expected."""
  assert_error(lambda: triples.load_triples(tmp_path), 'train.txt',
               'does not exist')
  assert_error(lambda: triples.load_triples(tmp_path / 'nope'), 'nope',
               'not a folder')


@pytest.mark.skipif(not os.path.isdir(KUAIREC), reason='no KuaiRec copy here')
def test_triples_kuairec():
  """The real KuaiRec copy loads with its published sizes."""
  ds = triples.load_triples(KUAIREC)
  assert (ds.num_users, ds.num_items) == (1411, 3327)
  assert (len(ds.train), len(ds.val), len(ds.test)) == (177789, 25398, 50796)
  assert set(np.unique(ds.train.rating)) == {0.0, 1.0}
