"""launch/export.py: embeddings with raw ids, top-K lists masked as recommend."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxrec import evaluate
from jaxrec import export
from jaxrec import train
from jaxrec.errors import ConfigError
from jaxrec.tasks import base

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(name, tmp_path_factory, **fields):
  """A trained smoke run of configs/<name>.py; returns its folder."""
  module = __import__(f'configs.{name}', fromlist=['get_config'])
  config = module.get_config('smoke')
  config.unlock()
  config.update(fields)
  workdir = str(tmp_path_factory.mktemp(name) / 'run')
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def user_item_run(tmp_path_factory):
  return _train('lightgcn_synthetic', tmp_path_factory, num_epochs=2)


def _topk(out):
  """topk.csv as {query id: [(item id, score), ...]} in rank order."""
  lists = {}
  with open(os.path.join(out, 'topk.csv'), newline='') as f:
    reader = csv.DictReader(f)
    query = reader.fieldnames[0]
    for row in reader:
      assert int(row['rank']) == len(lists.get(row[query], [])) + 1
      lists.setdefault(row[query], []).append((row['item_id'],
                                               float(row['score'])))
  return query, lists


def _same_as_recommend(task, params, lists, **query):
  """Checks one query's exported list against launch/recommend.py's rows."""
  (key, raw), = query.items()
  rows = task.kind.recommend(task, params, k=len(lists[raw]), **query)
  assert len(rows) == len(lists[raw])
  for r, (item, score) in zip(rows, lists[raw]):
    # Batched and single-row scoring may differ in the last bits; an order
    # can then differ only between (near-)tied items.
    assert r.item_id == item or abs(r.score - score) < 1e-5, (key, raw)
    assert r.score == pytest.approx(score, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize('outputs,user_shape,item_shape', [
    ((np.ones((3, 4)), np.ones((5, 4))), (3, 4), (5, 4)),
    ({'user': np.ones((3, 4)), 'item': np.ones((5, 4)),
      'user_dis': np.ones((3, 4)), 'threshold': 0.5}, (3, 4), (5, 4)),
    (np.ones((5, 4)), None, (5, 4)),
])
def test_embeddings_rule(outputs, user_shape, item_shape):
  user, item = export.embeddings(outputs)
  assert (None if user is None else user.shape) == user_shape
  assert item.shape == item_shape and item.dtype == np.float32


def test_outputs_without_embeddings_are_refused():
  with pytest.raises(ConfigError, match='no embeddings'):
    export.embeddings({'scores': np.ones((3, 5))})


def test_user_item_export(user_item_run, tmp_path):
  out = str(tmp_path / 'export')
  _, manifest = export.export_workdir(user_item_run, out, k=5)
  task, params, epoch = evaluate.restore_run(user_item_run)
  ds = task.data
  assert manifest['epoch'] == epoch and manifest['dot_products_rank']
  user = np.load(os.path.join(out, 'user_embeddings.npy'))
  item = np.load(os.path.join(out, 'item_embeddings.npy'))
  want_user, want_item = base.model_outputs(task, params)
  np.testing.assert_allclose(user, want_user, rtol=1e-6)
  np.testing.assert_allclose(item, want_item, rtol=1e-6)
  with open(os.path.join(out, 'items.csv'), newline='') as f:
    assert [r['item_id'] for r in csv.DictReader(f)] == list(ds.item_ids)
  with open(os.path.join(out, 'users.csv'), newline='') as f:
    assert [r['user_id'] for r in csv.DictReader(f)] == list(ds.user_ids)
  query, lists = _topk(out)
  assert query == 'user_id' and set(lists) == set(ds.user_ids)
  for u in range(ds.num_users):
    raw = ds.user_ids[u]
    seen = {ds.item_ids[i] for part in (ds.train, ds.val, ds.test)
            for i in part.item[part.user == u]}
    assert not seen & {i for i, _ in lists[raw]}  # Known items masked.
    assert len(lists[raw]) == min(5, ds.num_items - len(seen))
  for raw in ds.user_ids[:20]:
    _same_as_recommend(task, params, lists, user=raw)


def test_item_item_export(tmp_path_factory, tmp_path):
  run = _train('gcn_copurchase_toy', tmp_path_factory, num_epochs=2,
               eval_every_epochs=1)
  out = str(tmp_path / 'export')
  _, manifest = export.export_workdir(run, out, k=3)
  assert manifest['num_users'] is None
  assert not os.path.exists(os.path.join(out, 'user_embeddings.npy'))
  task, params, _ = evaluate.restore_run(run)
  query, lists = _topk(out)
  assert query == 'anchor_item_id'
  for raw in task.data.item_ids:
    assert raw not in {i for i, _ in lists.get(raw, [])}
  for raw in list(lists)[:10]:
    _same_as_recommend(task, params, lists, item=raw)


def test_a_ranking_filter_reaches_the_top_k(tmp_path_factory, tmp_path):
  run = _train('pane_gnn_synthetic', tmp_path_factory, num_epochs=2,
               eval_every_epochs=1)
  task, params, _ = evaluate.restore_run(run)
  outputs = base.model_outputs(task, params)
  assert 'user_dis' in outputs  # The smoke config ranks with the filter.
  disinterest = np.asarray(outputs['user_dis'] @ outputs['item_dis'].T)
  # A threshold that filters half the pairs.
  threshold = float(np.median(disinterest))
  task, params, _ = evaluate.restore_run(
      run, overrides={'filter_threshold': threshold})
  out = str(tmp_path / 'export')
  manifest = export.write_export(task, params, out, k=10)
  assert not manifest['dot_products_rank']
  _, lists = _topk(out)
  ds = task.data
  for u in range(ds.num_users):
    for item, _ in lists.get(ds.user_ids[u], []):
      i = list(ds.item_ids).index(item)
      assert disinterest[u, i] <= threshold  # Filtered items never listed.
  for raw in ds.user_ids[:10]:
    _same_as_recommend(task, params, lists, user=raw)


def test_launcher_refuses_k_0_in_one_line(user_item_run, tmp_path):
  proc = subprocess.run(
      [sys.executable, 'launch/export.py', f'--workdir={user_item_run}',
       '--k=0', f'--out={tmp_path / "export"}'], cwd=REPO,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      'error: --k=0: the top-K lists need k of at least 1.']
  assert not os.path.exists(tmp_path / 'export')


def test_launcher_writes_the_manifest(user_item_run, tmp_path):
  out = tmp_path / 'export'
  proc = subprocess.run(
      [sys.executable, 'launch/export.py', f'--workdir={user_item_run}',
       f'--out={out}', '--k=3'], cwd=REPO, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(out / 'export.json') as f:
    manifest = json.load(f)
  assert manifest['k'] == 3 and manifest['queries'] == 'user_id'
  assert str(out / 'topk.csv') in proc.stdout
