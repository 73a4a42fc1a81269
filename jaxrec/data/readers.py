"""Reads delimited text tables fast, and names the first bad row if any."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence, Union

import numpy as np

from jaxrec.data.dataset import DataError, remap_ids

# How a column is parsed: 'id' a non-negative integer (int64), 'int' any
# integer (int64), 'float' a finite number (float64), 'token' a non-empty
# string, 'str' any string, 'skip' counted but not kept.
KINDS = ('id', 'int', 'float', 'token', 'str', 'skip')

_EXPECTED_VALUE = {
    'id': 'a non-negative integer id',
    'int': 'an integer',
    'float': 'a finite number',
    'token': 'a non-empty value',
}
_SEP_NAMES = {None: 'whitespace', '\t': 'tabs', ',': 'commas', ' ': 'spaces'}
# Bytes that str.split() treats as whitespace (the ASCII ones).
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True

PathLike = Union[str, os.PathLike]
Encodings = Union[str, Sequence[str]]


@dataclasses.dataclass(frozen=True)
class Table:
  """Columns read from one file, with the 1-based line number of every row.

  Attributes:
    path: the file read.
    columns: column name -> [n] array (kinds 'skip' are left out).
    line: int64 [n] line number of each row in the file (1-based).
    header: the header's fields, or None when the file has no header.
  """

  path: str
  columns: dict[str, np.ndarray]
  line: np.ndarray
  header: Optional[list[str]] = None

  def __getitem__(self, name: str) -> np.ndarray:
    """The [n] column `name`."""
    return self.columns[name]

  def __len__(self) -> int:
    """Number of rows n."""
    return len(self.line)


def require_file(path: PathLike, what: str) -> str:
  """Returns path as a str, or raises DataError saying what belongs there."""
  path = os.fspath(path)
  if os.path.isdir(path):
    raise DataError(f'{path} is a folder; expected a file: {what}.')
  if not os.path.exists(path):
    raise DataError(f'{path} does not exist. Expected there: {what}.')
  return path


def read_text(path: PathLike, what: str,
              encoding: Encodings = 'utf-8') -> str:
  """Reads a whole text file with '\\n' line ends.

  Args:
    path: the file.
    what: what the file should be, for the error when it is missing.
    encoding: an encoding, or several tried in order (e.g. ('utf-8',
      'latin-1') for MovieLens files of either vintage).

  Returns:
    The text, without a byte-order mark and with '\\r\\n' turned into '\\n'.
  """
  path = require_file(path, what)
  with open(path, 'rb') as f:
    data = f.read()
  encodings = [encoding] if isinstance(encoding, str) else list(encoding)
  for i, name in enumerate(encodings):
    try:
      text = data.decode(name)
      break
    except UnicodeDecodeError as e:
      if i + 1 < len(encodings):
        continue
      line = data.count(b'\n', 0, e.start) + 1
      raise DataError(
          f'{path}, line {line}: byte {data[e.start]:#x} is not valid '
          f'{name}; expected {what} as {" or ".join(encodings)} text. Fix: '
          f're-save the file as UTF-8.') from None
  return text.lstrip('\ufeff').replace('\r\n', '\n')


def read_line(path: PathLike, number: int) -> str:
  """The text of line `number` (1-based) of a file, for error messages."""
  with open(path, 'rb') as f:
    for i, raw in enumerate(f, 1):
      if i == number:
        return raw.decode('utf-8', 'replace').rstrip('\r\n')
  return ''


def line_error(path: str, number: int, line: str, problem: str,
               expected: str,
               fix: str = 'correct or delete this line') -> DataError:
  """A DataError naming the file, the line, what is wrong and how to fix it."""
  shown = line if len(line) <= 200 else line[:200] + '...'
  return DataError(f'{path}, line {number}: {problem}; expected {expected}. '
                   f'The line reads {shown!r}. Fix: {fix}.')


def describe_row(names: Sequence[str], sep: Optional[str]) -> str:
  """How a row looks, e.g. "4 fields separated by '::': user, item, ..."."""
  seps = _SEP_NAMES.get(sep, repr(sep))
  return f'{len(names)} fields separated by {seps}: {", ".join(names)}'


def count_fields(text: str, sep: Optional[str]) -> np.ndarray:
  """Counts the fields on each line of text, vectorised.

  Args:
    text: lines joined by '\\n' (a final '\\n' starts one more, empty line).
    sep: the separator, or None for runs of whitespace as str.split() finds
      them. Separators must be ASCII.

  Returns:
    int64 [num_lines]: fields per line. With sep=None a blank line has 0;
    otherwise every line has one more field than separators.
  """
  # Separators are ASCII, so counting bytes of the UTF-8 text is exact.
  buf = np.frombuffer(text.encode('utf-8', 'surrogatepass'), np.uint8)
  newlines = np.flatnonzero(buf == ord('\n'))
  num_lines = len(newlines) + 1
  if sep is None:
    solid = ~_WHITESPACE[buf]
    starts = np.flatnonzero(solid & ~np.concatenate([[False], solid[:-1]]))
    # searchsorted counts the newlines before each field: its line index.
    return np.bincount(np.searchsorted(newlines, starts), minlength=num_lines)
  pattern = np.frombuffer(sep.encode('ascii'), np.uint8)
  n = max(len(buf) - len(pattern) + 1, 0)
  hit = np.ones(n, bool)
  for k, byte in enumerate(pattern):
    hit &= buf[k:k + n] == byte
  return np.bincount(np.searchsorted(newlines, np.flatnonzero(hit)),
                     minlength=num_lines) + 1


def read_columns(path: PathLike,
                 sep: Optional[str],
                 names: Sequence[str],
                 kinds: Sequence[str],
                 *,
                 header: bool = False,
                 what: str = 'a delimited text table',
                 encoding: Encodings = 'utf-8') -> Table:
  """Reads a delimited text table, checking every row.

  A vectorised path splits the whole file at once. When it meets anything
  odd (a blank line, a wrong field count, a value that does not parse) the
  file is read again line by line, which either raises a DataError naming the
  file, the line, the line's text, what was expected and the fix, or (blank
  lines only) returns the same table.

  Args:
    path: the file.
    sep: field separator ('\\t', '::', ',', '|', ...), or None for whitespace.
    names: [c] column names.
    kinds: [c] how each column parses, one of KINDS.
    header: whether the first line is a header (returned in Table.header).
    what: what the file should be, for errors about a missing or empty file.
    encoding: an encoding, or several tried in order.

  Returns:
    A Table with one [n] array per column whose kind is not 'skip': int64 for
    'id' and 'int', float64 for 'float', str otherwise.
  """
  if len(names) != len(kinds) or any(k not in KINDS for k in kinds):
    raise ValueError(f'read_columns: kinds {kinds} must be one of {KINDS} '
                     f'for each of the columns {names}.')
  path = require_file(path, what)
  text = read_text(path, what, encoding).rstrip('\n')
  first = 1
  head = None
  if header:
    top, _, text = text.partition('\n')
    head = top.split(sep)
    first = 2
  if not text.strip():
    raise DataError(f'{path} has no data rows; expected {what}, lines of '
                    f'{describe_row(names, sep)}. Fix: check that the file '
                    f'was downloaded and unpacked completely.')
  table = _read_fast(text, path, sep, names, kinds, first)
  if table is None:
    table = _read_slowly(text, path, sep, names, kinds, first)
  return dataclasses.replace(table, header=head)


def _read_fast(text: str, path: str, sep: Optional[str], names: Sequence[str],
               kinds: Sequence[str], first: int) -> Optional[Table]:
  """Splits the whole text at once; None if any row needs a closer look."""
  ncols = len(names)
  counts = count_fields(text, sep)
  if np.any(counts != ncols):
    return None
  fields = text.split() if sep is None else text.replace('\n', sep).split(sep)
  if len(fields) != len(counts) * ncols:
    return None
  columns = {}
  for c, (name, kind) in enumerate(zip(names, kinds)):
    if kind == 'skip':
      continue
    values = parse_column(np.array(fields[c::ncols]), kind)
    if values is None:
      return None
    columns[name] = values
  line = np.arange(first, first + len(counts), dtype=np.int64)
  return Table(path, columns, line)


def parse_column(raw: np.ndarray, kind: str) -> Optional[np.ndarray]:
  """Parses a [n] str column by kind (see KINDS), vectorised.

  Args:
    raw: [n] strings.
    kind: one of KINDS other than 'skip'.

  Returns:
    The [n] parsed values, or None if any value is bad for the kind (the
    caller then finds and reports the first one).
  """
  try:
    if kind in ('id', 'int'):
      values = raw.astype(np.int64)
      return None if kind == 'id' and np.any(values < 0) else values
    if kind == 'float':
      values = raw.astype(np.float64)
      return values if np.all(np.isfinite(values)) else None
  except (ValueError, OverflowError):
    return None
  if kind == 'token' and np.any(raw == ''):
    return None
  return raw


def _read_slowly(text: str, path: str, sep: Optional[str],
                 names: Sequence[str], kinds: Sequence[str],
                 first: int) -> Table:
  """Reads line by line; raises DataError at the first bad row."""
  expected = describe_row(names, sep)
  values = [[] for _ in names]
  lines = []
  for number, line in enumerate(text.split('\n'), first):
    if not line.strip():
      continue  # Blank lines carry no row.
    fields = line.split(sep)
    if len(fields) != len(names):
      raise line_error(path, number, line,
                       f'found {len(fields)} fields', expected)
    for c, (name, kind, field) in enumerate(zip(names, kinds, fields)):
      values[c].append(parse_value(path, number, line, name, kind, field))
    lines.append(number)
  dtypes = {'id': np.int64, 'int': np.int64, 'float': np.float64}
  columns = {name: np.array(v, dtype=dtypes.get(kind, str))
             for name, kind, v in zip(names, kinds, values) if kind != 'skip'}
  return Table(path, columns, np.array(lines, dtype=np.int64))


def parse_value(path: str, number: int, line: str, name: str, kind: str,
                field: str) -> Union[int, float, str]:
  """Parses one field by kind (see KINDS), or raises a DataError naming it."""
  if kind in ('str', 'skip'):
    return field
  if kind == 'token':
    if field:
      return field
  else:
    try:
      value = int(field) if kind in ('id', 'int') else float(field)
      if kind == 'float' and np.isfinite(value):
        return value
      if kind != 'float' and -2**63 <= value < 2**63 and (
          kind == 'int' or value >= 0):
        return value
    except ValueError:
      pass
  raise line_error(path, number, line, f'field {name!r} is {field!r}',
                   f'{_EXPECTED_VALUE[kind]} in field {name!r}')


def multi_hot(values: Sequence[str],
              sep: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
  """Turns [n] strings of separated tokens into a multi-hot matrix.

  Args:
    values: [n] strings such as 'Action|Comedy' ('' for no token).
    sep: the token separator, or None for whitespace.

  Returns:
    (matrix, vocab): float32 [n, V] with matrix[r, v] = 1 when row r has
    token vocab[v], and the [V] sorted tokens.
  """
  # A loop over item rows (not interactions): item tables are small.
  tokens = [[t for t in str(v).split(sep) if t] for v in values]
  flat = np.array([t for row in tokens for t in row], dtype=str)
  rows = np.repeat(np.arange(len(tokens)), [len(row) for row in tokens])
  vocab, cols = np.unique(flat, return_inverse=True)
  matrix = np.zeros((len(tokens), len(vocab)), np.float32)
  matrix[rows, cols.reshape(-1)] = 1.0
  return matrix, vocab


def lookup_ids(vocab: np.ndarray, raw: np.ndarray) -> np.ndarray:
  """Contiguous ids of raw ids under a vocabulary from `remap_ids`.

  Args:
    vocab: [V] raw ids as strings, as `remap_ids` returns them.
    raw: [n] raw ids (strings or integers), e.g. from a side file.

  Returns:
    int64 [n]: i with vocab[i] == raw (compared as numbers when both are
    numeric, as remap_ids does), or -1 where the id is not in vocab.
  """
  keys = np.asarray(vocab).astype(str)
  wanted = np.asarray(raw).astype(str)
  try:
    keys, wanted = keys.astype(np.int64), wanted.astype(np.int64)
  except (ValueError, OverflowError):
    pass  # Text ids: compare as text.
  if not len(keys):
    return np.full(len(wanted), -1, np.int64)
  order = np.argsort(keys, kind='stable')
  pos = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
  found = keys[order][pos] == wanted
  return np.where(found, order[pos], -1).astype(np.int64)


def scatter_rows(index: np.ndarray, values: np.ndarray,
                 num: int) -> np.ndarray:
  """Places side-file rows at their contiguous ids.

  Args:
    index: int [n] contiguous id of each row, -1 for rows to drop (ids not in
      the interactions).
    values: [n, ...] one row per side-file row.
    num: number of ids.

  Returns:
    [num, ...] with out[index[r]] = values[r]; zeros ('' for strings) at ids
    no row names.
  """
  keep = index >= 0
  out = np.zeros((num,) + values.shape[1:], values.dtype)
  out[index[keep]] = values[keep]
  return out


def concat_ids(parts: Sequence[np.ndarray]) -> np.ndarray:
  """Joins id columns; all become text if any part is not numeric."""
  if any(p.dtype.kind == 'U' for p in parts):
    parts = [p.astype(str) for p in parts]
  return np.concatenate(parts)


def joint_ids(columns: Sequence[np.ndarray]
              ) -> tuple[list[np.ndarray], np.ndarray]:
  """Contiguous ids of several files' id columns, remapped over all at once.

  One vocabulary for every file, so that the splits read from different
  files share their ids.

  Args:
    columns: one [n_f] raw id column per file.

  Returns:
    ([int32 [n_f] ids per file], vocab): vocab[ids] are the raw ids as
    strings (see remap_ids).
  """
  ids, vocab = remap_ids(concat_ids(columns))
  return np.split(ids, np.cumsum([len(c) for c in columns])[:-1]), vocab
