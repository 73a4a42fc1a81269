"""Checks of config values, shared by the owners of each config part.

The run-level fields are checked by jaxrec.tasks.base.check_config, the data
fields by jaxrec.data.pipeline.check_config and each model's fields by its
create(). They all phrase errors the same way, here: one line that names
the field, its value, what it must be and a value that works, e.g.

  config.model.embed_dim=0 must be an integer >= 1; e.g.
  --config.model.embed_dim=64 (the default).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Mapping, Sequence

import ml_collections

from jaxrec.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rule:
  """The numbers a field accepts: an interval, of integers or of reals.

  Attributes:
    integer: only integers (bools are refused either way).
    low: the lower end, or None for none.
    high: the upper end, or None for none.
    low_open: whether `low` itself is refused.
    high_open: whether `high` itself is refused.
    infinite: whether +-inf are accepted (e.g. a threshold that then
      removes nothing or everything); NaN never is.
  """

  integer: bool = False
  low: float | None = None
  high: float | None = None
  low_open: bool = False
  high_open: bool = False
  infinite: bool = False

  def accepts(self, value: Any) -> bool:
    """Whether `value` is a finite number of the interval."""
    kind = numbers.Integral if self.integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
      return False
    if math.isnan(value) or (math.isinf(value) and not self.infinite):
      return False
    if self.low is not None and (value <= self.low if self.low_open
                                 else value < self.low):
      return False
    return self.high is None or (value < self.high if self.high_open
                                 else value <= self.high)

  def __str__(self) -> str:
    what = 'an integer' if self.integer else 'a number'
    if self.low is not None and self.high is not None:
      return (f'{what} in {"(" if self.low_open else "["}{self.low:g}, '
              f'{self.high:g}{")" if self.high_open else "]"}')
    if self.low is not None:
      return f'{what} {">" if self.low_open else ">="} {self.low:g}'
    if self.high is not None:
      return f'{what} {"<" if self.high_open else "<="} {self.high:g}'
    if self.infinite:
      return f'{what} (+-inf allowed), not NaN'
    return f'a finite {what[2:] if self.integer else "number"}'


POSITIVE_INT = Rule(integer=True, low=1)
NON_NEGATIVE_INT = Rule(integer=True, low=0)
POSITIVE = Rule(low=0, low_open=True)
NON_NEGATIVE = Rule(low=0)
# A share that cannot be everything, e.g. a dropout rate or a test share.
FRACTION = Rule(low=0, high=1, high_open=True)
PROBABILITY = Rule(low=0, high=1)
FINITE = Rule()
NOT_NAN = Rule(infinite=True)


def _flag(field: str, value: Any) -> str:
  return f'--{field}={value!r}' if isinstance(value, str) else (
      f'--{field}={value}')


def check_number(value: Any, field: str, rule: Rule,
                 default: Any = None) -> None:
  """Raises ConfigError unless `rule` accepts `value`.

  Args:
    value: the field's value.
    field: its dotted name, e.g. 'config.model.embed_dim'.
    rule: what it must be.
    default: the field's default, suggested as the fix when it is valid.
  """
  if rule.accepts(value):
    return
  fix = (f'e.g. {_flag(field, default)} (the default)'
         if rule.accepts(default) else f'set --{field} to one')
  raise ConfigError(f'{field}={value!r} must be {rule}; {fix}.')


def check_choice(value: Any, field: str, choices: Sequence[Any]) -> None:
  """Raises ConfigError unless `value` is one of `choices`."""
  if value not in choices:
    raise ConfigError(f'{field}={value!r} is not one of {list(choices)}; '
                      f'e.g. {_flag(field, choices[0])}.')


def check_fields(cfg: ml_collections.ConfigDict, prefix: str,
                 rules: Mapping[str, Rule],
                 defaults: ml_collections.ConfigDict | None = None) -> None:
  """check_number for each field of a config part.

  Args:
    cfg: the part, e.g. config.model.
    prefix: its dotted name, e.g. 'config.model'.
    rules: field name -> Rule.
    defaults: the part's defaults (suggested as fixes), or None.
  """
  for name, rule in rules.items():
    default = None if defaults is None else defaults.get(name)
    check_number(cfg[name], f'{prefix}.{name}', rule, default)


def check_choices(cfg: ml_collections.ConfigDict, prefix: str,
                  choices: Mapping[str, Sequence[Any]]) -> None:
  """check_choice for each field of a config part (name -> choices)."""
  for name, allowed in choices.items():
    check_choice(cfg[name], f'{prefix}.{name}', allowed)
