"""Config fields with the comments their owners wrote, for --help.

The schema of a config is code: jaxrec/config.py base() (run-level fields),
jaxrec/data/config.py (config.data) and each model's default_config()
(config.model), with a comment at each field that needs one. The comments
are read from that source, so --help says what the code says:

  batch_size = 1024
      Global batch, split across devices (must be divisible by their
      number); 0 = the whole epoch in one batch.

A comment belongs to the field on its line (a trailing comment), or else to
the field right below it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import textwrap
import tokenize
from typing import Any, Callable, Iterator

import ml_collections

from jaxrec import config as config_lib
from jaxrec import models

_WIDTH = 79


def _line_comments(source: str) -> tuple[dict[int, str], set[int]]:
  """(line -> comment text, lines that hold nothing but a comment)."""
  comments, code_lines = {}, set()
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.COMMENT:
      comments[tok.start[0]] = tok.string.lstrip('#').strip()
    elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                          tokenize.DEDENT, tokenize.ENDMARKER):
      code_lines.update(range(tok.start[0], tok.end[0] + 1))
  return comments, set(comments) - code_lines


def _comment_at(line: int, comments: dict[int, str], alone: set[int]) -> str:
  """The trailing comment of `line`, else the comment block right above."""
  if line in comments and line not in alone:
    return comments[line]
  block = []
  while line - 1 in alone:
    line -= 1
    block.insert(0, comments[line])
  return ' '.join(block)


class _Reader:
  """Walks one function's source for the fields it sets."""

  def __init__(self, fn: Callable[..., Any]):
    self.globals = fn.__globals__
    source = textwrap.dedent(inspect.getsource(fn))
    self.body = ast.parse(source).body[0].body
    self.comments, self.alone = _line_comments(source)
    self.fields: dict[str, str] = {}

  def field(self, name: str, line: int, value: ast.AST) -> None:
    self.fields[name] = _comment_at(line, self.comments, self.alone)
    self.value(value, name + '.')

  def value(self, node: ast.AST, prefix: str) -> None:
    """Fields of a value: dict(k=...), ConfigDict(...), or a schema call."""
    if not isinstance(node, ast.Call):
      return
    func = node.func
    if isinstance(func, ast.Name) and func.id == 'dict':
      for kw in node.keywords:
        self.field(prefix + kw.arg, kw.lineno, kw.value)
    elif isinstance(func, ast.Attribute) and func.attr == 'ConfigDict':
      for arg in node.args:
        self.value(arg, prefix)
    else:  # csv_data(), data_config.default_config(): another schema.
      target = _resolve(func, self.globals)
      if target is not None:
        self.fields.update({prefix + k: v
                            for k, v in field_comments(target).items()})

  def read(self) -> dict[str, str]:
    for stmt in self.body:
      if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and
          isinstance(stmt.targets[0], ast.Attribute)):
        self.field(_dotted(stmt.targets[0]), stmt.lineno, stmt.value)
      elif isinstance(stmt, ast.Return) and stmt.value is not None:
        self.value(stmt.value, '')
    return self.fields


def _dotted(target: ast.Attribute) -> str:
  """'model.name' for the target c.model.name (c is the config built)."""
  names = []
  while isinstance(target, ast.Attribute):
    names.insert(0, target.attr)
    target = target.value
  return '.'.join(names)


def _resolve(func: ast.AST, scope: dict[str, Any]) -> Callable | None:
  """The function a call names (f or module.f), when it can be known."""
  if isinstance(func, ast.Name):
    target = scope.get(func.id)
  elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
    target = getattr(scope.get(func.value.id), func.attr, None)
  else:
    return None
  return target if inspect.isfunction(target) else None


@functools.lru_cache(maxsize=None)
def field_comments(fn: Callable[..., Any]) -> dict[str, str]:
  """Dotted field -> comment ('' for none), in the order the source sets them.

  Args:
    fn: a function that builds a ConfigDict by `c.FIELD = ...` statements
      or by returning ConfigDict(dict(FIELD=..., ...)); fields set from
      another such function (d.csv = csv_data()) get its comments.
  """
  return _Reader(fn).read()


def config_comments(config: ml_collections.ConfigDict) -> dict[str, str]:
  """Every field's comment, in schema order: base() with config.data's
  schema, and the model's default_config() where base() sets config.model."""
  name = config.get('model', {}).get('name')
  model = (field_comments(models.get(name).default_config)
           if name in models.MODELS else {})
  comments = {}
  for key, comment in field_comments(config_lib.base).items():
    comments[key] = comment
    if key == 'model':
      comments.update({f'model.{k}': v for k, v in model.items()})
  return comments


def _flatten(config: ml_collections.ConfigDict,
             prefix: str = '') -> Iterator[tuple[str, Any]]:
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict) and value.keys():
      yield from _flatten(value, f'{prefix}{key}.')
    else:
      yield prefix + key, (value.to_dict() if isinstance(
          value, ml_collections.ConfigDict) else value)


def describe(config: ml_collections.ConfigDict, skip: str = '') -> str:
  """One line per field, `name = value`, each comment wrapped below it.

  Args:
    config: the config.
    skip: leave out the fields under this prefix (e.g. 'model.').
  """
  comments = config_comments(config)
  rank = {name: i for i, name in enumerate(comments)}
  lines = []
  # ConfigDict sorts its keys; the schema's order keeps related fields (and
  # a comment about several of them) together.
  for name, value in sorted(_flatten(config),
                            key=lambda f: (rank.get(f[0], len(rank)), f[0])):
    if skip and name.startswith(skip):
      continue
    lines.append(f'  {name} = {value!r}')
    if comments.get(name):
      lines.extend(textwrap.wrap(comments[name], _WIDTH,
                                 initial_indent=' ' * 6,
                                 subsequent_indent=' ' * 6))
  return '\n'.join(lines)


def help_text(config: ml_collections.ConfigDict | None) -> str:
  """The config fields section of --help: the given config's, or the
  run-level and data fields of any config when none is given."""
  if config is not None:
    head = ("config fields (override with --config.FIELD=VALUE), with this "
            "config's values:")
    return f'{head}\n{describe(config)}'
  head = textwrap.fill(
      'config fields (override with --config.FIELD=VALUE), with their '
      'defaults; config.model.* depends on the model: add --config=FILE to '
      '--help to list them too:', _WIDTH)
  any_model = config_lib.base(sorted(models.MODELS)[0])
  return f'{head}\n{describe(any_model, skip="model.")}'
