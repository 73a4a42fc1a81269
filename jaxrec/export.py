"""Exports a trained run for serving: embeddings with raw ids, top-K lists.

launch/export.py writes, into OUT (default WORKDIR/export):
  item_embeddings.npy   float32 [I, d], row i = items.csv row i
  user_embeddings.npy   float32 [U, d] (user-item models), row u = users.csv
  items.csv, users.csv  row, raw id (and name) as in the data files
  topk.csv              the top K items of every query (each user, or each
                        item for item-item models), raw ids, best first,
                        masked as launch/recommend.py masks them
  export.json           what was exported: checkpoint, epoch, K, shapes,
                        and whether dot products of the embeddings give the
                        model's own ranking scores (serve with them alone)

Embeddings come from the model's eval_outputs by one generic rule
(embeddings()); the top-K lists from its score function, so a model's
ranking filter applies there as it does in recommend.py.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Iterator

import jax
import numpy as np

from jaxrec import evaluate
from jaxrec import files as files_lib
from jaxrec import metrics
from jaxrec import workdir as workdir_lib
from jaxrec.errors import ConfigError
from jaxrec.tasks import base

MANIFEST = 'export.json'


def embeddings(outputs: Any) -> tuple[np.ndarray | None, np.ndarray]:
  """(user embeddings [U, d] or None, item embeddings [I, d]) of eval_outputs.

  The rule, for any ModelSpec.eval_outputs: a pair (user [U, d], item
  [I, d]); a mapping with 'user' and 'item' entries (other entries, e.g. a
  ranking filter's, are not embeddings); or one [I, d] array (item-item
  models: no users).
  """
  if isinstance(outputs, dict) and {'user', 'item'} <= set(outputs):
    pair = (outputs['user'], outputs['item'])
  elif isinstance(outputs, (tuple, list)) and len(outputs) == 2:
    pair = tuple(outputs)
  elif getattr(outputs, 'ndim', None) == 2:
    return None, np.asarray(outputs, np.float32)
  else:
    raise ConfigError(
        f'The model\'s eval_outputs ({type(outputs).__name__}) is none of '
        f'(user, item), {{"user": ..., "item": ...}} or an [I, d] array: '
        f'there are no embeddings to export (see jaxrec/export.py).')
  user, item = (np.asarray(x, np.float32) for x in pair)
  if user.ndim != 2 or item.ndim != 2 or user.shape[1] != item.shape[1]:
    raise ConfigError(f'The model\'s embeddings have shapes {user.shape} and '
                      f'{item.shape}; export needs [U, d] and [I, d].')
  return user, item


def top_k(task: base.Task, outputs, known: metrics.UserItems, num_queries: int,
          k: int, chunk: int) -> Iterator[tuple[int, int, int, float]]:
  """(query row, rank, item row, score) of every query's top k, best first.

  Scores come from the model's score function; known items get -inf and
  are never listed (a query may get fewer than k rows), and ties go to the
  lower item row, as in base.recommend_rows.
  """
  score = jax.jit(task.spec.score)
  num_items = len(embeddings(outputs)[1])
  for start in range(0, num_queries, chunk):
    rows = np.arange(start, min(start + chunk, num_queries), dtype=np.int32)
    s = np.asarray(score(outputs, rows))
    s = np.where(known.dense(rows, num_items), -np.inf, s)
    top = np.argsort(-s, axis=1, kind='stable')[:, :k]
    for q, items in zip(rows, top):
      for rank, i in enumerate(items[np.isfinite(s[q - start, items])]):
        yield int(q), rank + 1, int(i), float(s[q - start, i])


def dot_products_rank(task: base.Task, outputs, sample: int = 64) -> bool:
  """Whether <query embedding, item embedding> equals the model's score.

  Checked on the first `sample` queries. False for a model whose score adds
  anything (a filter, a non-linear head): then serve with topk.csv or the
  model, and an embedding index only as a candidate generator.
  """
  user, item = embeddings(outputs)
  query = item if user is None else user
  rows = np.arange(min(sample, len(query)), dtype=np.int32)
  model = np.asarray(task.spec.score(outputs, rows), np.float64)
  dot = query[rows].astype(np.float64) @ item.T.astype(np.float64)
  return bool(np.all(np.isfinite(model)) and
              np.allclose(model, dot, rtol=1e-4, atol=1e-5))


def _save_npy(path: str, array: np.ndarray) -> None:
  def write(tmp):
    with open(tmp, 'wb') as f:
      np.save(f, array)
  files_lib.write_atomically(path, write)


def _write_csv(path: str, header: list[str], rows) -> None:
  def write(tmp):
    with open(tmp, 'w', newline='', encoding='utf-8') as f:
      w = csv.writer(f)
      w.writerow(header)
      w.writerows(rows)
  files_lib.write_atomically(path, write)


def _ids_csv(path: str, column: str, ids: np.ndarray,
             names: np.ndarray | None) -> None:
  header = ['row', column] + ([] if names is None else ['name'])
  _write_csv(path, header, ([r, i] + ([] if names is None else [names[r]])
                            for r, i in enumerate(ids)))


def write_export(task: base.Task, params, out: str, k: int = 10,
                 exclude_known: bool = True,
                 info: dict[str, Any] | None = None) -> dict[str, Any]:
  """Writes a task's embeddings and top-K lists to `out` (see the module doc).

  Args:
    task: the run's task.
    params: its parameters.
    out: the folder (made if needed; files in it are replaced).
    k: top-K list length.
    exclude_known: mask known items, as launch/recommend.py does.
    info: more fields for export.json (e.g. the checkpoint's epoch).

  Returns:
    What export.json holds.
  """
  if k < 1:
    raise ConfigError(f'--k={k}: the top-K lists need k of at least 1.')
  os.makedirs(out, exist_ok=True)
  data = task.data
  outputs = base.model_outputs(task, params)
  user, item = embeddings(outputs)
  files = {'item_embeddings': 'item_embeddings.npy', 'items': 'items.csv',
           'topk': 'topk.csv'}
  _save_npy(os.path.join(out, files['item_embeddings']), item)
  _ids_csv(os.path.join(out, files['items']), 'item_id', data.item_ids,
           data.item_names)
  if user is not None:
    files.update(user_embeddings='user_embeddings.npy', users='users.csv')
    _save_npy(os.path.join(out, files['user_embeddings']), user)
    _ids_csv(os.path.join(out, files['users']), 'user_id', data.user_ids,
             None)
  column, query_ids, known = task.kind.queries(task, exclude_known)
  rows = top_k(task, outputs, known, len(query_ids), k,
               task.config.eval_chunk_size)
  names = data.item_names
  _write_csv(
      os.path.join(out, files['topk']),
      [column, 'rank', 'item_id', 'score'] + ([] if names is None else
                                              ['name']),
      ([query_ids[q], rank, data.item_ids[i], f'{s:.6g}'] +
       ([] if names is None else [names[i]]) for q, rank, i, s in rows))
  manifest = {
      **(info or {}), 'model': task.spec.label(task.config),
      'task': task.spec.task, 'k': k, 'exclude_known': exclude_known,
      'num_items': int(item.shape[0]), 'embedding_dim': int(item.shape[1]),
      'num_users': None if user is None else int(user.shape[0]),
      'queries': column, 'files': files,
      'dot_products_rank': dot_products_rank(task, outputs)}
  files_lib.write_json(os.path.join(out, MANIFEST), manifest)
  return manifest


def export_workdir(workdir: str, out: str | None = None, k: int = 10,
                   which: str = 'best', exclude_known: bool = True,
                   allow_data_change: bool = False
                   ) -> tuple[str, dict[str, Any]]:
  """Restores a run's checkpoint and exports it; returns (out, manifest).

  Args:
    workdir: folder of a run of launch/train.py.
    out: the export folder (default WORKDIR/export).
    k: top-K list length.
    which: 'best' (on validation) or 'latest' checkpoint.
    exclude_known: mask known items, as launch/recommend.py does.
    allow_data_change: export even if the data differs from the data the
      run trained on (see evaluate.restore_run).
  """
  if k < 1:  # Before the checkpoint is restored.
    raise ConfigError(f'--k={k}: the top-K lists need k of at least 1.')
  # Held while the checkpoint is read and WORKDIR/export written, so a run
  # training in the folder cannot delete the checkpoint mid-read.
  with workdir_lib.lock(workdir, 'export'):
    task, params, epoch = evaluate.restore_run(
        workdir, which, allow_data_change=allow_data_change)
    out = out or os.path.join(workdir, 'export')
    manifest = write_export(task, params, out, k, exclude_known,
                            {'workdir': os.path.abspath(workdir),
                             'checkpoint': which, 'epoch': epoch})
  return out, manifest
