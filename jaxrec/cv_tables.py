"""Markdown tables of cross-validation results (mean±std, in percent).

format_table() gives the papers' table: one row per method.
format_comparison() gives each method two rows, one per protocol of
cross_validation.py: the val-selected checkpoint (jaxrec's number) and the
best test epoch (the papers' protocol, optimistic), so a published table
compares like for like; runs saved without per-epoch test metrics show '–'
there.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from jaxrec import cv_unfinished
from jaxrec.errors import ConfigError

# Column labels of the papers' tables; other metrics keep their own name.
METRIC_LABELS = {'precision': 'P', 'recall': 'R', 'ndcg': 'nDCG', 'hit': 'HR'}
MISSING = '–'
# Row labels of the protocols in format_comparison().
VAL_SELECTED = 'val-selected'
BEST_TEST = "best test epoch (papers' protocol, optimistic)"
NO_SELECTION = 'no training (either protocol)'
PUBLISHED = 'published'


def load_many(workdirs: Sequence[str]) -> dict[str, dict[str, Any]]:
  """Several workdirs' results, labelled for one table.

  Args:
    workdirs: folders written by cross_validation.run()
      (launch/cross_validate.py); one still under way gives its finished
      runs (cv_unfinished), with 'unfinished' set.

  Returns:
    label -> results, in the order given. The label is the results' name;
    where names collide it is the folder's name (or, if those collide too,
    its path).
  """
  results = [(os.path.normpath(w), cv_unfinished.load(w))
             for w in workdirs]

  def collide(labels):
    """The labels that occur more than once."""
    return {l for l in labels if labels.count(l) > 1}

  labels = [r.get('name') or os.path.basename(w) for w, r in results]
  clash = collide(labels)
  labels = [os.path.basename(w) if l in clash else l
            for (w, _), l in zip(results, labels)]
  clash = collide(labels)
  labels = [w if l in clash else l for (w, _), l in zip(results, labels)]
  if collide(labels):
    raise ConfigError(f'A folder is named twice: {sorted(collide(labels))}.')
  return {l: r for l, (_, r) in zip(labels, results)}


def run_count(result: Mapping[str, Any]) -> str:
  """'5 folds', or '2 of 5 folds (0, 3; unfinished)' while runs still train."""
  unit, done = result['unit'], len(result['runs'])
  part = result.get('unfinished')
  if not part:
    return f'{done} {unit}s'
  which = ', '.join(str(i) for i in part['finished'])
  return f'{done} of {part["of"]} {unit}s ({which}; unfinished)'


def baseline_rows(results: Mapping[str, Mapping[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
  """Table rows of the baselines, from the first result that has each.

  Runs on the same data and folds share their baselines, so one row per
  baseline name is enough.

  Args:
    results: label -> results (load_many's).

  Returns:
    baseline name -> {'mean', 'std'}, for names that are not labels already.
  """
  rows = {}
  for result in results.values():
    for name, row in result.get('baselines', {}).items():
      if name not in results:
        rows.setdefault(name, row)
  return rows


def _ks(result: Mapping[str, Any], metrics: Sequence[str]) -> set[int]:
  """The cut-offs K of `metrics` in a result's mean."""
  ks = set()
  for key in result.get('mean', {}):
    metric, at, k = key.partition('@')
    if at and metric in metrics and k.isdigit():
      ks.add(int(k))
  return ks


def _cell(result: Mapping[str, Any], key: str, percent: bool) -> str:
  """'mean±std' of one metric, or MISSING."""
  mean = result.get('mean', {}).get(key)
  if mean is None:
    return MISSING
  scale, digits = (100.0, 2) if percent else (1.0, 4)
  std = result.get('std', {}).get(key)
  text = f'{mean * scale:.{digits}f}'
  return text if std is None else f'{text}±{std * scale:.{digits}f}'


def _columns(results: Mapping[str, Mapping[str, Any]],
             metrics: Sequence[str], ks: Sequence[int] | None
             ) -> tuple[list[str], list[str]]:
  """(metric keys, column labels) of a table, e.g. 'recall@10', 'R@10'."""
  if ks is None:
    found = [_ks(r, metrics) for r in results.values()]
    ks = sorted(set.intersection(*found)) if found else []
  if not ks:
    raise ConfigError(
        f'No cut-off K of {list(metrics)} is in every result '
        f'({", ".join(results) or "none given"}); choose the cut-offs '
        f'(ks / --ks), or set config.eval_ks to the same values for every run.')
  keys = [f'{m}@{k}' for k in ks for m in metrics]
  labels = [f'{METRIC_LABELS.get(m, m)}@{k}' for k in ks for m in metrics]
  return keys, labels


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A Markdown table; '|' in a cell is escaped."""

  def line(cells):
    return '| ' + ' | '.join(c.replace('|', r'\|') for c in cells) + ' |'

  return '\n'.join([line(header), '|' + '---|' * len(header)] +
                   [line(r) for r in rows])


def format_table(results: Mapping[str, Mapping[str, Any]],
                 metrics: Sequence[str] = ('precision', 'recall', 'ndcg'),
                 ks: Sequence[int] | None = None,
                 percent: bool = True) -> str:
  """The papers' table in Markdown: one row per method, mean±std per cell.

  Args:
    results: row label -> results with 'mean' and 'std' dicts of
      'metric@K' values (what cross_validation.run() returns or
      load() reads).
    metrics: metric names, in column order within each K.
    ks: cut-offs, in column order (default: every K that all rows have, in
      ascending order).
    percent: show values x 100 with 2 decimals (as the papers do); else as
      they are, with 4.

  Returns:
    The Markdown table, columns e.g. P@5 R@5 nDCG@5 P@10 ...; a row missing
    a metric shows '–'.
  """
  keys, labels = _columns(results, metrics, ks)
  rows = [[label] + [_cell(result, key, percent) for key in keys]
          for label, result in results.items()]
  return _markdown(['method'] + labels, rows)


def comparison_rows(results: Mapping[str, Mapping[str, Any]]
                    ) -> list[tuple[str, str, Mapping[str, Any]]]:
  """(method, protocol, {'mean', 'std'}) per table row.

  Args:
    results: label -> results (load_many's, with baseline_rows' added).

  Returns:
    Two rows per cross-validation, VAL_SELECTED then BEST_TEST (empty when
    its runs logged no per-epoch test metrics: an older cv.json), and one
    NO_SELECTION row per baseline: an untrained baseline (MostPop) has no
    epoch to pick, so both protocols give its one number.
  """
  rows = []
  for label, result in results.items():
    if 'runs' not in result:
      rows.append((label, NO_SELECTION, result))
      continue
    rows.append((label, VAL_SELECTED, result))
    rows.append((label, BEST_TEST, result.get('best_test', {})))
  return rows


def paper_row(spec: str, columns: Sequence[str]) -> list[str]:
  """A published result as table cells: 'LABEL:v1/v2/...' -> [LABEL, v1, ...].

  Args:
    spec: the label, a colon, then one value per column separated by '/',
      as printed in the paper (e.g. percent), '-' where it has none; e.g.
      'PANE-GNN:27.97/20.50/34.70' for columns P@10 R@10 nDCG@10.
    columns: the table's metric column labels.

  Returns:
    [label, PUBLISHED, cell per column].
  """
  label, colon, text = spec.rpartition(':')
  values = text.split('/')
  if not colon or not label:
    raise ConfigError(f'Paper row {spec!r}: write LABEL:VALUE/VALUE/..., e.g. '
                      f'"PANE-GNN:27.97/20.50/34.70".')
  if len(values) != len(columns):
    raise ConfigError(
        f'Paper row {spec!r} gives {len(values)} values for the table\'s '
        f'{len(columns)} columns ({" ".join(columns)}): give one per column '
        f"('-' where the paper has none), or choose the columns (ks / --ks, "
        f'metrics / --metrics).')
  cells = []
  for value in values:
    value = value.strip()
    if value in ('-', MISSING, ''):
      cells.append(MISSING)
      continue
    try:
      float(value)
    except ValueError:
      raise ConfigError(f'Paper row {spec!r}: {value!r} is not a number.'
                        ) from None
    cells.append(value)
  return [label, PUBLISHED, *cells]


def format_comparison(results: Mapping[str, Mapping[str, Any]],
                      metrics: Sequence[str] = ('precision', 'recall',
                                                'ndcg'),
                      ks: Sequence[int] | None = None,
                      percent: bool = True,
                      papers: Sequence[str] = ()) -> str:
  """The table under both protocols, for comparison with published tables.

  Each method gets a VAL_SELECTED row (jaxrec's number) and, below it, a
  BEST_TEST row (the papers' protocol), in the same columns as the
  papers' tables; then optional published rows.

  Args:
    results: label -> results (load_many's, with baseline_rows' added).
    metrics: metric names, in column order within each K.
    ks: cut-offs, in column order (default: every K that all rows have).
    percent: values x 100 with 2 decimals; else as they are, with 4.
    papers: published rows, 'LABEL:v1/v2/...' (see paper_row).

  Returns:
    The Markdown table, columns method, protocol, e.g. P@5 R@5 nDCG@5 ...;
    a missing value shows '–'.
  """
  keys, labels = _columns(results, metrics, ks)
  rows = [[label, protocol] + [_cell(result, key, percent) for key in keys]
          for label, protocol, result in comparison_rows(results)]
  rows += [paper_row(spec, labels) for spec in papers]
  return _markdown(['method', 'protocol'] + labels, rows)


def protocol_notes(results: Mapping[str, Mapping[str, Any]]) -> str:
  """What the protocol rows of format_comparison mean, for under the table."""
  picked = sorted({r['selection_metric'] for r in results.values()
                   if r.get('selection_metric')})
  metric = f'test {"/".join(picked)}' if picked else 'test selection metric'
  notes = (
      f'{VAL_SELECTED}: each run scored at its checkpoint chosen on '
      f'validation (jaxrec\'s number). {BEST_TEST}: each run scored at the '
      f'evaluation with the highest {metric}, the protocol of the papers\' '
      f'tables; optimistic, since the test split picks the epoch (among the '
      f'epochs evaluated before early stopping on validation).')
  if any('runs' in r and not r.get('best_test', {}).get('mean')
         for r in results.values()):
    notes += (f' {MISSING}: not logged (runs saved before jaxrec logged test '
              f'at every evaluation, or with log_test_every_eval off).')
  return notes
