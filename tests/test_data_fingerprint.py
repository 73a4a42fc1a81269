"""Runs are tied to their data: evaluate, recommend and resume refuse data
that changed since training, naming what changed, unless told otherwise."""

import os

import numpy as np
import pytest

from jaxrec import checkpoint
from jaxrec import evaluate
from jaxrec import fingerprint
from jaxrec import train
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.data.item_graph import Edges, ItemGraph
from jaxrec.errors import UserError


def _write_ratings(path, extra=()):
  """A small MovieLens u.data: 40 users x 12 ratings of 30 items, + extra."""
  rng = np.random.default_rng(0)
  lines = [f'{u}\t{i}\t{rng.integers(3, 6)}\t{880000000 + 100 * u + i}'
           for u in range(1, 41)
           for i in rng.choice(np.arange(1, 31), 12, replace=False)]
  (path / 'u.data').write_text('\n'.join([*lines, *extra]) + '\n')
  return lines


@pytest.fixture
def trained(tmp_path):
  """(config, workdir, data folder, ratings lines) of a 1-epoch file run."""
  from configs import lightgcn_ml100k  # pylint: disable=g-import-not-at-top
  data = tmp_path / 'ml'
  data.mkdir()
  lines = _write_ratings(data)
  config = lightgcn_ml100k.get_config('smoke')
  config.unlock()
  config.data.path = str(data)
  config.num_epochs = 1
  run = tmp_path / 'run'
  train.train_and_evaluate(config, str(run))
  return config, run, data, lines


def test_edited_ratings_are_refused_by_evaluate_and_resume(trained):
  config, run, data, lines = trained
  before = (run / 'metrics.jsonl').read_bytes()
  user, item, rating, stamp = lines[0].split('\t')
  lines[0] = '\t'.join([user, item, '5' if rating != '5' else '4', stamp])
  (data / 'u.data').write_text('\n'.join(lines) + '\n')

  with pytest.raises(fingerprint.DataChanged) as err:
    evaluate.evaluate_workdir(str(run), 'test')
  message = str(err.value)
  assert '\n' not in message and 'allow_data_change' in message
  assert 'interactions (same size, other values)' in message
  assert 'user ids' not in message and 'item ids' not in message
  assert not os.path.exists(evaluate.eval_file(str(run), 'test'))

  config.num_epochs = 2
  with pytest.raises(fingerprint.DataChanged, match='interactions'):
    train.train_and_evaluate(config, str(run))
  assert (run / 'metrics.jsonl').read_bytes() == before

  # The explicit override: scored (and resumed) on the data as it is now.
  result = evaluate.evaluate_workdir(str(run), 'test', allow_data_change=True)
  assert os.path.exists(evaluate.eval_file(str(run), 'test'))
  assert result['epoch'] == 1
  train.train_and_evaluate(config, str(run), allow_data_change=True)
  assert checkpoint.Checkpoints(str(run), True).latest_epoch() == 2
  # From now on the run is tied to the data it last trained on.
  evaluate.evaluate_workdir(str(run), 'test')


def test_added_rows_give_one_clean_line_not_a_traceback(trained):
  _, run, data, lines = trained
  new_user = [f'41\t{i}\t5\t{890000000 + i}' for i in range(1, 8)]
  _write_ratings(data, extra=new_user)
  with pytest.raises(fingerprint.DataChanged) as err:
    evaluate.restore_run(str(run))  # What launch/recommend.py calls.
  assert 'user ids (40 -> 41 rows)' in str(err.value)
  # Forced past the check, the restore still fails cleanly: the model built
  # from the new data has another shape than the checkpoint.
  with pytest.raises(checkpoint.CheckpointMismatch) as err:
    evaluate.restore_run(str(run), allow_data_change=True)
  assert isinstance(err.value, UserError) and '\n' not in str(err.value)
  assert 'embedding' in str(err.value)
  del lines


def test_a_run_saved_before_fingerprints_warns_and_proceeds(trained, caplog):
  _, run, _, _ = trained
  os.remove(run / fingerprint.FILE)
  caplog.set_level('WARNING')
  evaluate.evaluate_workdir(str(run), 'val')
  assert any(fingerprint.FILE in r.getMessage() for r in caplog.records)


def _dataset(**changes):
  inter = lambda u, i: Interactions(np.array(u, np.int32),
                                    np.array(i, np.int32))
  ds = Dataset('d', '/somewhere', 2, 3, inter([0, 1], [0, 2]),
               inter([0], [1]), inter([1], [1]),
               np.array(['u1', 'u2']), np.array(['a', 'b', 'c']),
               item_features={'visual': np.eye(3, dtype=np.float32)})
  return ds.replace(**changes)


def test_fingerprint_names_each_changed_part():
  parts = fingerprint.of_data(_dataset())
  assert set(parts) == {'train interactions', 'val interactions',
                        'test interactions', 'user ids', 'item ids',
                        "item features 'visual'"}
  assert parts['train interactions']['size'] == 2
  # Where the data lives, and integer widths, are not the data.
  moved = _dataset(source='/elsewhere', user_ids=np.array(['u1', 'u2'],
                                                          object))
  assert fingerprint.of_data(moved) == parts
  wide = _dataset(train=Interactions(np.array([0, 1], np.int64),
                                     np.array([0, 2], np.int64)))
  assert fingerprint.of_data(wide) == parts

  features = np.eye(3, dtype=np.float32)
  features[2, 0] = 0.5
  changed = _dataset(item_features={'visual': features},
                     item_ids=np.array(['a', 'b', 'd']))
  assert fingerprint.changes(parts, fingerprint.of_data(changed)) == [
      'item ids (same size, other values)',
      "item features 'visual' (same size, other values)"]
  grown = _dataset(test=Interactions(np.array([1, 0], np.int32),
                                     np.array([1, 2], np.int32)),
                   item_features={})
  assert fingerprint.changes(parts, fingerprint.of_data(grown)) == [
      'test interactions (1 -> 2 rows)', "item features 'visual' (gone)"]


def test_item_graphs_are_fingerprinted_by_the_same_walk():
  edges = lambda i, j: Edges(np.array(i, np.int32), np.array(j, np.int32),
                             np.ones(len(i), np.float32))
  graph = ItemGraph('g', 'toy', 4, edges([0, 1], [1, 2]), edges([2], [3]),
                    edges([0], [3]), np.array(['w', 'x', 'y', 'z']))
  parts = fingerprint.of_data(graph)
  assert set(parts) == {'train edges', 'val edges', 'test edges', 'item ids'}
  heavier = graph.__class__(**{**graph.__dict__, 'train': Edges(
      graph.train.i, graph.train.j, np.array([1, 2], np.float32))})
  assert fingerprint.changes(parts, fingerprint.of_data(heavier)) == [
      'train edges (same size, other values)']
