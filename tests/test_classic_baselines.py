"""benchmarks/classic_baselines.py: the baselines against direct references."""

import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))

import classic_baselines  # pylint: disable=g-import-not-at-top,wrong-import-position


def _likes(seed=0, users=9, items=7):
  """A random 0/1 like matrix with every row and column non-empty."""
  x = (np.random.default_rng(seed).random((users, items)) < 0.4)
  x[np.arange(users), np.arange(users) % items] = True
  return x.astype(np.float32)


def test_ease_solves_each_items_ridge_without_itself():
  x, lam = _likes(), 3.0
  scores = classic_baselines.ease(x, lam)
  # Column j of B: argmin ||x_j - X b||^2 + lam ||b||^2 with b_j = 0, i.e. a
  # ridge regression of item j on the other items.
  b = np.zeros((x.shape[1],) * 2)
  for j in range(x.shape[1]):
    others = np.delete(np.arange(x.shape[1]), j)
    a = x[:, others].astype(np.float64)
    b[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(len(others)),
                                   a.T @ x[:, j])
  np.testing.assert_allclose(scores, x @ b, rtol=1e-4, atol=1e-5)


def test_item_and_user_knn_match_loops():
  x = _likes(1)
  cos = lambda a, b: a @ b / np.sqrt(a.sum() * b.sum())
  items = x.shape[1]
  sim_i = np.array([[0.0 if i == j else cos(x[:, i], x[:, j])
                     for j in range(items)] for i in range(items)])
  np.testing.assert_allclose(classic_baselines.item_knn(x), x @ sim_i,
                             rtol=1e-5, atol=1e-6)
  users, k = x.shape[0], 3
  sim_u = np.array([[0.0 if u == v else cos(x[u], x[v]) for v in range(users)]
                    for u in range(users)])
  want = np.zeros_like(x)
  for u in range(users):
    top = np.sort(sim_u[u])[-k]
    for v in range(users):
      if sim_u[u, v] >= top:
        want[u] += sim_u[u, v] * x[v]
  got = classic_baselines.user_knn(x, classic_baselines._cosine(x.T), k)  # pylint: disable=protected-access
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_script_scores_a_planted_dataset(tmp_path):
  out = tmp_path / 'b.json'
  proc = subprocess.run(
      [sys.executable, 'benchmarks/classic_baselines.py',
       '--config=configs/lightgcn_synthetic.py:smoke', '--name=planted',
       f'--out={out}', '--ease_lambdas=1,100', '--user_neighbours=5'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  result = json.loads(out.read_text())
  rows = result['baselines']
  assert set(rows) == {'MostPop', 'ItemKNN', 'UserKNN', 'EASE'}
  assert rows['EASE']['setting'] in (1.0, 100.0)
  # Planted clusters: every collaborative baseline beats popularity.
  for name in ('ItemKNN', 'UserKNN', 'EASE'):
    assert (rows[name]['test']['recall@20'] >
            1.5 * rows['MostPop']['test']['recall@20']), name
