"""Reads MovieLens ratings (u.data, ratings.dat, ratings.csv) and movie info."""

from __future__ import annotations

import csv
import io
import os
from typing import Optional

from absl import logging
import numpy as np

from jaxrec.data import dedupe
from jaxrec.data import readers
from jaxrec.data.dataset import DataError, Dataset, Interactions, remap_ids

# Ratings files in the order a folder is searched.
RATINGS_FILES = ('u.data', 'ratings.dat', 'ratings.csv')
# ML-100K's genre flag columns of u.item, in file order (as u.genre lists them).
ML100K_GENRES = ('unknown', 'Action', 'Adventure', 'Animation', "Children's",
                 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
                 'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance',
                 'Sci-Fi', 'Thriller', 'War', 'Western')
CSV_HEADER = ['userId', 'movieId', 'rating', 'timestamp']
MOVIES_CSV_HEADER = ['movieId', 'title', 'genres']
# MovieLens text before ML-latest is latin-1; newer files are UTF-8.
ENCODINGS = ('utf-8', 'latin-1')

_EXPECTED = ('a MovieLens ratings file (u.data, ratings.dat or ratings.csv) '
             'or a folder holding one, as unpacked from '
             'https://grouplens.org/datasets/movielens/')
_COLUMNS = ('user', 'item', 'rating', 'timestamp')
_KINDS = ('id', 'id', 'float', 'int')


def find_ratings(path: readers.PathLike) -> str:
  """The ratings file at path: itself, or the first of RATINGS_FILES in it."""
  path = os.fspath(path)
  if os.path.isdir(path):
    for name in RATINGS_FILES:
      candidate = os.path.join(path, name)
      if os.path.isfile(candidate):
        return candidate
    raise DataError(f'{path} holds none of {", ".join(RATINGS_FILES)}; '
                    f'expected {_EXPECTED}.')
  return readers.require_file(path, _EXPECTED)


def _layout(ratings_path: str) -> tuple[str, bool, str]:
  """(separator, has header, sibling movie file) of a ratings file's format."""
  name = os.path.basename(ratings_path)
  if name.endswith('.csv'):
    return ',', True, 'movies.csv'  # ML-latest, 20M, 25M, 32M.
  if name.endswith('.dat'):
    return '::', False, 'movies.dat'  # ML-1M, 10M.
  return '\t', False, 'u.item'  # ML-100K's u.data, u1.base, ...


def read_ratings(path: str) -> readers.Table:
  """Reads a ratings file into columns user, item, rating, timestamp.

  Args:
    path: u.data-like (tab-separated), *.dat ('::') or *.csv (with header).

  Returns:
    A Table with int64 [n] user, item, timestamp and float64 [n] rating.
  """
  sep, header, _ = _layout(path)
  table = readers.read_columns(path, sep, _COLUMNS, _KINDS, header=header,
                               what='MovieLens ratings')
  if header and [h.strip() for h in table.header] != CSV_HEADER:
    raise readers.line_error(
        path, 1, readers.read_line(path, 1), 'the header is not the expected '
        'one', f'the header {",".join(CSV_HEADER)}',
        fix='restore the header line (the file has lost it or is not a '
        'MovieLens ratings.csv)')
  return table


def _movies_dat(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(ids, titles, 'A|B' genre strings) of a movies.dat."""
  table = readers.read_columns(
      path, '::', ('movie id', 'title', 'genres'), ('id', 'str', 'str'),
      what='MovieLens movies (movie id::title::Genre1|Genre2)',
      encoding=ENCODINGS)
  return table['movie id'], table['title'], table['genres']


def _movies_csv(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(ids, titles, 'A|B' genre strings) of a movies.csv."""
  text = readers.read_text(path, 'MovieLens movies (movieId,title,genres)',
                           ENCODINGS)
  # Titles may hold quoted commas, so use the csv module (a loop over movies,
  # not ratings).
  rows = csv.reader(io.StringIO(text))
  expected = '3 comma-separated fields: movieId, title, genres'
  ids, titles, genres = [], [], []
  try:
    for row in rows:
      number = rows.line_num
      if number == 1:
        if row != MOVIES_CSV_HEADER:
          raise readers.line_error(path, 1, ','.join(row), 'the header is not '
                                   'the expected one',
                                   f'the header {",".join(MOVIES_CSV_HEADER)}')
        continue
      if not row:
        continue
      if len(row) != 3:
        raise readers.line_error(path, number, readers.read_line(path, number),
                                 f'found {len(row)} fields',
                                 expected + ' (quote titles holding commas)')
      if not row[0].isdigit():
        raise readers.line_error(path, number, readers.read_line(path, number),
                                 f'movieId is {row[0]!r}',
                                 'a non-negative integer movieId')
      ids.append(int(row[0]))
      titles.append(row[1])
      genres.append(row[2])
  except csv.Error as e:
    raise DataError(f'{path}, line {rows.line_num}: {e}; expected {expected}.'
                    f' Fix: correct the quoting on that line.') from None
  return np.array(ids, np.int64), np.array(titles, str), np.array(genres, str)


def _u_item(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(ids, titles, float32 [n, 19] genre flags) of ML-100K's u.item."""
  names = ('movie id', 'title', 'release date', 'video release date',
           'IMDb URL') + ML100K_GENRES
  kinds = ('id', 'str', 'skip', 'skip', 'skip') + ('int',) * len(ML100K_GENRES)
  table = readers.read_columns(path, '|', names, kinds,
                               what='MovieLens-100K movies (u.item)',
                               encoding=ENCODINGS)
  flags = np.stack([table[g] for g in ML100K_GENRES], axis=1)
  bad = np.flatnonzero(np.any((flags != 0) & (flags != 1), axis=1))
  if len(bad):
    number = int(table.line[bad[0]])
    raise readers.line_error(path, number, readers.read_line(path, number),
                             'a genre flag is not 0 or 1',
                             'the last 19 fields to be 0/1 genre flags')
  return table['movie id'], table['title'], flags.astype(np.float32)


def read_movies(path: str, item_ids: np.ndarray
                ) -> tuple[Optional[np.ndarray], dict[str, np.ndarray]]:
  """Reads titles and genres of the rated movies from a movie file.

  Args:
    path: u.item, movies.dat or movies.csv.
    item_ids: [I] raw item ids of the dataset.

  Returns:
    (item_names, item_features): [I] titles ('' for movies the file lacks)
    and {'genre': float32 [I, G] multi-hot}. Movies nobody rated are dropped,
    and so are genres only they have (u.item keeps its fixed 19 columns).
  """
  if os.path.basename(path) == 'u.item':
    ids, titles, genre = _u_item(path)
  else:
    read = _movies_csv if path.endswith('.csv') else _movies_dat
    ids, titles, genre = read(path)
  index = readers.lookup_ids(item_ids, ids)
  rated = index >= 0
  index, titles, genre = index[rated], titles[rated], genre[rated]
  if genre.ndim == 1:  # 'A|B' strings; only genres of rated movies count.
    genre, _ = readers.multi_hot(genre, '|')
  missing = len(item_ids) - len(np.unique(index))
  if missing:
    logging.warning('%s lacks %d of the %d rated movies: they get no title '
                    'and no genre.', path, missing, len(item_ids))
  names = readers.scatter_rows(index, titles, len(item_ids))
  return names, {'genre': readers.scatter_rows(index, genre, len(item_ids))}


def _dataset_name(ratings_path: str) -> str:
  """'ml-100k' and the like from the folder name, else 'movielens'."""
  folder = os.path.basename(os.path.dirname(os.path.abspath(ratings_path)))
  if folder.lower().startswith(('ml-', 'ml_', 'movielens')):
    return folder
  return 'movielens'


def load_movielens(path: readers.PathLike,
                   duplicates: str = 'error') -> Dataset:
  """Reads a MovieLens dataset as unsplit interactions (all in train).

  Args:
    path: a ratings file (u.data, ratings.dat, ratings.csv, or any *.dat /
      *.csv / tab-separated file of the same layout) or a folder holding one.
      Titles and genres come from the sibling u.item, movies.dat or
      movies.csv when it exists.
    duplicates: 'error', 'keep_first' or 'keep_last' for repeated (user,
      movie) rows.

  Returns:
    A Dataset with train = every rating (int32 user/item, float32 rating,
    int64 timestamp), empty val/test, the raw ids, and when the movie file
    exists item_names [I] and item_features['genre'] float32 [I, G].
  """
  ratings_path = find_ratings(path)
  table = read_ratings(ratings_path)
  user, user_ids = remap_ids(table['user'])
  item, item_ids = remap_ids(table['item'])
  train = Interactions(user, item, table['rating'].astype(np.float32),
                       table['timestamp'])
  _, _, movie_file = _layout(ratings_path)
  movies_path = os.path.join(os.path.dirname(ratings_path), movie_file)
  names, features = None, {}
  if os.path.isfile(movies_path):
    names, features = read_movies(movies_path, item_ids)
  return dedupe.unsplit_dataset(
      _dataset_name(ratings_path), os.fspath(path), train, user_ids, item_ids,
      names, features, duplicates, ratings_path, table.line)
