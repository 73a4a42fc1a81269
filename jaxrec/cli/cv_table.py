r"""Combines cross-validation folders into one Markdown table (mean±std, %).

  jaxrec-cv-table runs/cv-lightgcn-A runs/cv-pane_gnn-B
  jaxrec-cv-table --workdirs=runs/cv-a,runs/cv-b --ks=5,10,15 \
      [--metrics=precision,recall,ndcg] [--out=table.md]
  jaxrec-cv-table runs/cv/* --ks=10 \
      --paper="PANE-GNN (paper, ML-1M):27.97/20.50/34.70"

(python launch/cv_table.py and python -m jaxrec cv-table take the same
flags.) Each folder is one written by jaxrec-cross-validate (its cv.json);
one still training gives the runs finished so far, and the footer says how
many of how many (e.g. 'PANE-GNN: 2 of 5 folds (1, 2; unfinished)'). A
row is labelled by the run's name (the model's label, e.g. with its ablation
variant), or by the folder's name where names collide. Each method gets two
rows: 'val-selected' (the checkpoint chosen on validation, jaxrec's number)
and 'best test epoch (papers' protocol, optimistic)' (the evaluation with
the best test value of the selection metric, as the papers pick it), so a
published table compares like for like; --paper adds its rows. --nobest_test
prints the first only.
"""

from absl import flags

from jaxrec import cv_tables
from jaxrec.cli import app

_WORKDIRS = flags.DEFINE_list(
    'workdirs', [], 'Folders written by jaxrec-cross-validate (also '
    'accepted as positional arguments).')
_KS = flags.DEFINE_list(
    'ks', None, 'Cut-offs K, e.g. 5,10,15 (default: every K all runs have).')
_METRICS = flags.DEFINE_list(
    'metrics', ['precision', 'recall', 'ndcg'], 'Metrics, in column order '
    'within each K.')
_OUT = flags.DEFINE_string('out', None, 'Also write the table to this file.')
_BEST_TEST = flags.DEFINE_bool(
    'best_test', True, "Under each method's val-selected row, a row for the "
    "papers' protocol: each run's evaluation with the best test value of its "
    'selection metric (optimistic).')
_PAPER = flags.DEFINE_multi_string(
    'paper', [], 'A published row, LABEL:VALUE/VALUE/... with one value per '
    "column, as printed in the paper ('-' for none), e.g. "
    '--paper="PANE-GNN (paper):27.97/20.50/34.70" with --ks=10; repeatable.')
_BASELINES = flags.DEFINE_bool(
    'baselines', True, 'Add rows for the baselines the runs were compared '
    'with (e.g. MostPop), from the first folder that has them.')


def _ks() -> list[int] | None:
  try:
    return [int(k) for k in _KS.value] if _KS.value else None
  except ValueError:
    raise app.UsageError(f'--ks must be integers, e.g. --ks=5,10,15; got '
                         f'{",".join(_KS.value)}.') from None


def main(argv: list[str]) -> None:
  workdirs = [*_WORKDIRS.value, *argv[1:]]
  if not workdirs:
    raise app.UsageError('name the folders written by jaxrec-cross-validate '
                         '(as arguments or with --workdirs).')
  if _PAPER.value and not _BEST_TEST.value:
    raise app.UsageError('--paper needs the protocol column: drop '
                         '--nobest_test.')
  ks = _ks()
  results = cv_tables.load_many(workdirs)
  if _BASELINES.value:
    results.update(cv_tables.baseline_rows(results))
  if _BEST_TEST.value:
    table = cv_tables.format_comparison(
        results, metrics=_METRICS.value, ks=ks, papers=_PAPER.value)
    notes = f'\n\n{cv_tables.protocol_notes(results)}'
  else:
    table = cv_tables.format_table(results, metrics=_METRICS.value, ks=ks)
    notes = ''
  runs = ', '.join(f'{label}: {cv_tables.run_count(r)}'
                   for label, r in results.items() if 'runs' in r)
  text = (f'{table}\n\nTest mean±std over runs (population std), in percent; '
          f'{runs}.{notes}\n')
  print(text, end='')
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      f.write(text)
    print(f'Wrote {_OUT.value}')


def run() -> None:
  app.run(main, __doc__)
