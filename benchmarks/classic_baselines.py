r"""Non-neural baselines through jaxrec's own evaluation: is a dataset personal?

  python benchmarks/classic_baselines.py --config=configs/lightgcn_kuairec.py \
      --config.data.path=../shared/data/kuairec --name=kuairec

Before a graph model that loses to MostPop is called a defect, this asks
whether anything collaborative beats MostPop on the data at all. It loads
the config's data and split exactly as training does (tasks.build), scores
every baseline with the task's own evaluation (same truth, same excluded
items, same cold-user rule as the models' reported numbers) and writes
--out (default benchmarks/results/classic_baselines_NAME.json):

  MostPop   train like counts (the baseline every run reports);
  ItemKNN   cosine item-item similarity of the train likes, a user's score
            the sum of similarities to the items they liked;
  UserKNN   cosine user-user similarity, the top --user_neighbours users'
            likes summed with those weights;
  EASE      Steck's closed-form item-item regression (WWW 2019):
            B = I - P diag(1 / diag P), P = (X'X + lambda I)^-1, diagonal 0;
            lambda picked on validation from --ease_lambdas.

Every baseline is selected (where it has a setting) on the validation
split and reported on test, like the models. Dense [users, items] and
[items, items] matrices: meant for datasets of up to ~20k users and ~10k
items.
"""

import json
import os
import platform
import time

from absl import app
from absl import flags
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np

from jaxrec import metrics
from jaxrec import tasks
from jaxrec.tasks import user_item

_CONFIG = config_flags.DEFINE_config_file('config', None, 'A user-item config '
                                          'whose data and split to use.')
_NAME = flags.DEFINE_string('name', 'data', 'Dataset label (file name).')
_OUT = flags.DEFINE_string('out', None, 'JSON path (default benchmarks/'
                           'results/classic_baselines_NAME.json).')
_LAMBDAS = flags.DEFINE_list(
    'ease_lambdas', ['10', '100', '500', '2000', '10000', '50000'],
    'EASE L2 weights to try (picked on validation).')
_NEIGHBOURS = flags.DEFINE_list('user_neighbours', ['20', '50', '200'],
                                'UserKNN neighbourhood sizes to try.')


def _likes_matrix(ds) -> np.ndarray:
  """[U, I] float32, 1 where the user liked the item in train."""
  likes = ds.train.likes()
  x = np.zeros((ds.num_users, ds.num_items), np.float32)
  x[likes.user, likes.item] = 1.0
  return x


def _cosine(x: np.ndarray) -> np.ndarray:
  """Cosine similarity of x's columns, diagonal 0: [C, C]."""
  norm = np.sqrt(x.sum(0)) + 1e-9
  sim = (x.T @ x) / norm[:, None] / norm[None, :]
  np.fill_diagonal(sim, 0.0)
  return sim


def item_knn(x: np.ndarray) -> np.ndarray:
  """[U, I] scores: similarity to the user's liked items, summed."""
  return x @ _cosine(x)


def user_knn(x: np.ndarray, sim: np.ndarray, neighbours: int) -> np.ndarray:
  """[U, I] scores: the `neighbours` most similar users' likes, weighted.

  sim: _cosine(x.T), the [U, U] user similarities (shared by every size).
  """
  if neighbours < sim.shape[0]:
    cut = np.partition(sim, -neighbours, axis=1)[:, -neighbours][:, None]
    sim = np.where(sim >= cut, sim, 0.0)
  return sim @ x


def ease(x: np.ndarray, lam: float) -> np.ndarray:
  """[U, I] scores of EASE with L2 weight lam."""
  gram = (x.T @ x).astype(np.float64)
  gram[np.diag_indices_from(gram)] += lam
  p = np.linalg.inv(gram)
  b = -p / np.diag(p)[None, :]
  np.fill_diagonal(b, 0.0)
  return (x @ b).astype(np.float32)


def _rows(scores, users):
  """A ScoreFn over a precomputed [U, I] score matrix."""
  return scores[users]


def _score(task, scores: np.ndarray, split: str) -> dict[str, float]:
  """The task's evaluation of a [U, I] score matrix on a split."""
  # The function the models' and MostPop's reported numbers come from.
  return user_item._evaluate(task, _rows, jnp.asarray(scores), split)  # pylint: disable=protected-access


def _select(task, candidates, metric):
  """(setting, val, test) of the candidate best on validation `metric`."""
  best = None
  for setting, scores in candidates:
    val = _score(task, scores, 'val')
    if best is None or val[metric] > best[1][metric]:
      best = (setting, val, scores)
  setting, val, scores = best
  return setting, val, _score(task, scores, 'test')


def main(argv):
  del argv
  config = _CONFIG.value
  task = tasks.build(config)
  ds, metric = task.data, config.selection_metric
  x = _likes_matrix(ds)
  pop = metrics.item_popularity(ds.train.likes(), ds.num_items)
  start = time.monotonic()
  users = _cosine(x.T)
  rows = {
      'MostPop': _select(task, [(None, np.tile(pop, (ds.num_users, 1)))],
                         metric),
      'ItemKNN': _select(task, [(None, item_knn(x))], metric),
      # Generators: one candidate's [U, I] scores in memory at a time.
      'UserKNN': _select(task, ((int(n), user_knn(x, users, int(n)))
                                for n in _NEIGHBOURS.value), metric),
      'EASE': _select(task, ((float(l), ease(x, float(l)))
                             for l in _LAMBDAS.value), metric),
  }
  result = {
      'name': _NAME.value,
      'data': config.data.to_dict(),
      'users': ds.num_users, 'items': ds.num_items,
      'train_likes': int(x.sum()),
      'selection_metric': metric,
      'baselines': {name: {'setting': s, 'val': v, 'test': t}
                    for name, (s, v, t) in rows.items()},
      'seconds': round(time.monotonic() - start, 1),
      'machine': f'{platform.machine()}, {os.cpu_count()} CPUs',
  }
  out = _OUT.value or os.path.join(os.path.dirname(__file__), 'results',
                                   f'classic_baselines_{_NAME.value}.json')
  with open(out, 'w') as f:
    json.dump(result, f, indent=1)
  for name, (s, _, t) in rows.items():
    print(f'{name:8s} {"" if s is None else s!s:>6s}  ' + '  '.join(
        f'{k} {t[k]:.4f}' for k in ('precision@10', 'recall@10', 'ndcg@10',
                                     'recall@20', 'ndcg@20') if k in t))
  print(f'Wrote {out}')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
