"""Recall of approximate-nearest-neighbour top-K against exact top-K on an export.

  pip install -e ".[ann]"      # faiss-cpu
  python launch/export.py --workdir=DIR --out=DIR/export
  python benchmarks/ann_recall.py --export=DIR/export [--k=10] \
      [--out=benchmarks/results/ann_recall.json]

Reads launch/export.py's item_embeddings.npy (and user_embeddings.npy) and
builds faiss indexes on the item embeddings: HNSW (graph) at several
efSearch, and IVF-Flat (k-means cells) at several nprobe. Two query sets:

  similar items  every item, by cosine similarity (embeddings L2-normalised,
                 inner-product index); the item itself is left out of both
                 lists
  user -> items  every user, by inner product (the score of dot-product
                 models), before any masking of known items (a server
                 masks the candidates afterwards)

recall@K = |ANN top-K ∩ exact top-K| / K, averaged over queries; exact
top-K is a brute-force numpy product (ties: the lower row). One thread, so
the figures repeat. Writes JSON: the export's model and epoch, sizes, and
per index and setting recall@K and queries/s.
"""

import json
import os
import platform
import sys
import time

from absl import app
from absl import flags
import numpy as np

_EXPORT = flags.DEFINE_string('export', None, 'Folder written by '
                              'launch/export.py.')
_K = flags.DEFINE_integer('k', 10, 'K of the top-K lists.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/ann_recall.json',
                           'Where to write the JSON results.')
_EF = flags.DEFINE_list('ef_search', ['16', '32', '64'], 'HNSW efSearch.')
_NPROBE = flags.DEFINE_list('nprobe', ['1', '4', '16'], 'IVF cells probed.')


def exact_top_k(queries: np.ndarray, items: np.ndarray, k: int,
                skip_self: bool) -> np.ndarray:
  """int [Q, k] rows of the k largest inner products (without row q itself)."""
  scores = queries @ items.T
  if skip_self:
    np.fill_diagonal(scores, -np.inf)
  return np.argsort(-scores, axis=1, kind='stable')[:, :k]


def ann_top_k(index, queries: np.ndarray, k: int, skip_self: bool
              ) -> tuple[np.ndarray, float]:
  """(int [Q, k] rows from the index, queries per second)."""
  start = time.perf_counter()
  _, rows = index.search(queries, k + int(skip_self))
  seconds = time.perf_counter() - start
  if skip_self:
    rows = np.array([[r for r in row if r != q][:k]
                     for q, row in enumerate(rows)])
  return rows, len(queries) / seconds


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
  """Mean over queries of |approx ∩ exact| / k."""
  k = exact.shape[1]
  return float(np.mean([len(set(a) & set(e)) / k
                        for a, e in zip(approx, exact)]))


def indexes(faiss, items: np.ndarray):
  """(name, setting, index) per configuration, each built on `items`."""
  d = items.shape[1]
  hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
  hnsw.add(items)
  for ef in map(int, _EF.value):
    hnsw.hnsw.efSearch = ef
    yield 'HNSWFlat M=32', {'efSearch': ef}, hnsw
  nlist = max(1, int(round(np.sqrt(len(items)))))
  quantizer = faiss.IndexFlatIP(d)
  ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
  ivf.train(items)
  ivf.add(items)
  for nprobe in map(int, _NPROBE.value):
    ivf.nprobe = nprobe
    yield f'IVFFlat nlist={nlist}', {'nprobe': nprobe}, ivf


def measure(faiss, name: str, queries: np.ndarray, items: np.ndarray, k: int,
            skip_self: bool) -> list[dict]:
  """Recall and speed of every index configuration on one query set."""
  exact = exact_top_k(queries, items, k, skip_self)
  out = []
  for index_name, setting, index in indexes(faiss, items):
    approx, qps = ann_top_k(index, queries, k, skip_self)
    out.append({'queries': name, 'index': index_name, **setting,
                f'recall@{k}': recall(approx, exact),
                'queries_per_sec': qps})
    print(f'{name:14s} {index_name:18s} {setting}  recall@{k} '
          f'{out[-1][f"recall@{k}"]:.4f}  {qps:,.0f} queries/s')
  return out


def main(argv):
  del argv
  try:
    import faiss  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit('error: this benchmark needs faiss: pip install -e ".[ann]" (or '
             'pip install faiss-cpu).')
  faiss.omp_set_num_threads(1)
  with open(os.path.join(_EXPORT.value, 'export.json')) as f:
    manifest = json.load(f)
  files = manifest['files']
  items = np.load(os.path.join(_EXPORT.value, files['item_embeddings']))
  k = _K.value
  unit = items / np.maximum(np.linalg.norm(items, axis=1, keepdims=True),
                            1e-12)
  results = measure(faiss, 'similar items', unit, unit, k, skip_self=True)
  if 'user_embeddings' in files:
    users = np.load(os.path.join(_EXPORT.value, files['user_embeddings']))
    results += measure(faiss, 'user -> items', users, items, k,
                       skip_self=False)
  record = {
      'machine': {'platform': platform.platform(),
                  'cpu_count': os.cpu_count(), 'threads': 1,
                  'faiss': faiss.__version__},
      'export': {key: manifest.get(key) for key in
                 ('workdir', 'model', 'epoch', 'checkpoint')},
      'num_items': int(items.shape[0]), 'embedding_dim': int(items.shape[1]),
      'k': k, 'results': results,
  }
  os.makedirs(os.path.dirname(_OUT.value) or '.', exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(record, f, indent=2)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['export'])
  app.run(main)
