"""Full-ranking top-K evaluation: precision, recall, nDCG and hit rate.

Every item is ranked for every evaluated user. Items to exclude (train
items, and validation items when scoring test) get -inf before the top-K.
Users without ground truth are skipped. Users are scored in fixed-size
chunks, the last one padded, so the device program compiles once; the
chunks are spread over the devices and processes, and their sums added in
chunk order on the host, so the numbers do not depend on how many there
are.
Ties are broken by item id (lower first), as `lax.top_k` does.

Definitions for a user with truth set T and top-K list L:
  precision@K = |L & T| / K
  recall@K    = |L & T| / |T|
  nDCG@K      = sum_{r: L[r] in T} 1/log2(r + 2) / sum_{r < min(|T|, K)} 1/log2(r + 2)
  hit@K       = 1 if L & T else 0
Each is averaged over the evaluated users.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import distributed
from jaxrec.data.dataset import Interactions
from jaxrec.errors import ConfigError, DataError, TrainingDiverged

METRICS = ('precision', 'recall', 'ndcg', 'hit')
# score_fn(outputs, users [C]) -> scores [C, I]; outputs is any pytree.
ScoreFn = Callable[[Any, jax.Array], jax.Array]


class UserItems:
  """Per-user item lists in CSR form (host numpy).

  Attributes:
    indptr: int64 [U + 1]; user u's items are indices[indptr[u]:indptr[u+1]].
    indices: int32 [n] item ids, grouped by user.
  """

  def __init__(self, parts: Sequence[Interactions], num_users: int):
    users = np.concatenate([p.user for p in parts]).astype(np.int64)
    items = np.concatenate([p.item for p in parts]).astype(np.int32)
    order = np.argsort(users, kind='stable')
    self.indices = items[order]
    self.indptr = np.concatenate(
        [[0], np.cumsum(np.bincount(users, minlength=num_users))])

  def counts(self) -> np.ndarray:
    """int [U] number of items per user."""
    return np.diff(self.indptr)

  def dense(self, users: np.ndarray, num_items: int) -> np.ndarray:
    """bool [len(users), I] with True where the user has the item."""
    starts, ends = self.indptr[users], self.indptr[users + 1]
    lengths = ends - starts
    rows = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                                   lengths)
    out = np.zeros((len(users), num_items), bool)
    out[rows, self.indices[np.repeat(starts, lengths) + offsets]] = True
    return out


def _discounts(k: int) -> np.ndarray:
  return 1.0 / np.log2(np.arange(k) + 2.0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _chunk_sums(score_fn: ScoreFn, ks: tuple[int, ...], outputs, users,
                exclude, truth, valid):
  """Sums of each metric over the valid users of one chunk.

  Args:
    score_fn: see ScoreFn.
    ks: cut-offs, e.g. (10, 20).
    outputs: the model's evaluation outputs.
    users: int32 [C] user ids (padding rows repeat a real id).
    exclude: bool [C, I] items to rank last (-inf).
    truth: bool [C, I] ground truth.
    valid: float32 [C] 1 for real users with truth, else 0.

  Returns:
    dict 'metric@k' -> float32 sum over the chunk's valid users, and 'nan':
    the number of NaN scores.
  """
  scores = score_fn(outputs, users).astype(jnp.float32)
  out = {'nan': jnp.sum(jnp.isnan(scores) & (valid[:, None] > 0))}
  scores = jnp.where(exclude, -jnp.inf, scores)
  _, top = jax.lax.top_k(scores, max(ks))
  hits = jnp.take_along_axis(truth, top, axis=1).astype(jnp.float32)
  n_truth = truth.sum(axis=1).astype(jnp.float32)
  discount = jnp.asarray(_discounts(max(ks)), jnp.float32)
  ideal = jnp.cumsum(discount)
  for k in ks:
    n_hit = hits[:, :k].sum(axis=1)
    dcg = (hits[:, :k] * discount[:k]).sum(axis=1)
    idcg = ideal[jnp.clip(jnp.minimum(n_truth, k).astype(jnp.int32) - 1, 0)]
    per_user = {
        'precision': n_hit / k,
        'recall': n_hit / jnp.maximum(n_truth, 1.0),
        'ndcg': dcg / idcg,
        'hit': (n_hit > 0).astype(jnp.float32),
    }
    for name in METRICS:
      out[f'{name}@{k}'] = jnp.sum(per_user[name] * valid)
  return out


def eval_devices(num_devices: int = 0) -> list[jax.Device]:
  """The local devices evaluation spreads its user chunks over.

  Args:
    num_devices: config.num_devices (0 = all local devices). Alone, the
      first num_devices local devices, capped at what this machine has (a
      run trained on 8 devices still evaluates on a laptop). With several
      processes, every local device: the run spans all of them (as its
      train step does, distributed.global_devices).
  """
  local = jax.local_devices()
  if distributed.process_count() > 1 or not num_devices:
    return local
  return local[:num_devices]


def evaluate(score_fn: ScoreFn, outputs, truth: UserItems,
             exclude: UserItems, num_items: int,
             ks: Sequence[int] = (10, 20), chunk_size: int = 256,
             num_devices: int = 0) -> dict[str, float]:
  """Full-ranking metrics averaged over the users that have truth items.

  The chunks are spread over the local devices (eval_devices) and over the
  processes of a multi-process run, one chunk per device per call; the
  per-chunk sums are gathered to every process and added on the host in
  chunk order, so the result is the same, to the last bit, on any number of
  devices and processes.

  Args:
    score_fn: (outputs, users [C]) -> scores [C, I]; must be jit-compatible.
    outputs: pytree the scores are computed from (e.g. final embeddings).
    truth: the held-out items per user.
    exclude: items never to recommend per user (e.g. train items).
    num_items: I.
    ks: cut-offs.
    chunk_size: users per device call.
    num_devices: config.num_devices (0 = all local devices).

  Returns:
    dict 'precision@K', 'recall@K', 'ndcg@K', 'hit@K' for each K, and
    'num_evaluated' (how many users, or anchor items, were evaluated).
  """
  ks = tuple(sorted(int(k) for k in ks))
  if ks[-1] > num_items:
    raise ConfigError(f'Cut-off K={ks[-1]} (config.eval_ks) exceeds the '
                      f'{num_items} items.')
  users = np.flatnonzero(truth.counts() > 0)
  if not len(users):
    raise DataError('No user has ground-truth items in this split: nothing '
                    'to evaluate.')
  chunks = _Chunks(users, chunk_size, truth, exclude, num_items)
  sums = _per_chunk_sums(score_fn, ks, outputs, chunks,
                         eval_devices(num_devices))
  if sums.pop('nan').sum():
    raise TrainingDiverged('The model produced NaN scores: training has '
                             'diverged (try a lower learning_rate).')
  result = {k: float(_in_order(v)) / len(users)
            for k, v in sorted(sums.items())}
  result['num_evaluated'] = len(users)
  return result


def _in_order(x: np.ndarray) -> np.float32:
  """float32 sum of [N] float32 values, added one after the other in order
  (np.sum would add pairwise): the running on-device sum evaluation kept
  before it spread over devices, so one device's numbers stay the same."""
  return np.add.accumulate(x.astype(np.float32))[-1]


class _Chunks:
  """The evaluated users in chunks of chunk_size, and each chunk's inputs."""

  def __init__(self, users: np.ndarray, chunk_size: int, truth: UserItems,
               exclude: UserItems, num_items: int):
    self.users, self.size = users, chunk_size
    self.truth, self.exclude, self.num_items = truth, exclude, num_items
    self.count = -(-len(users) // chunk_size)

  def inputs(self, c: int) -> tuple[np.ndarray, ...]:
    """_chunk_sums's (users, exclude, truth, valid) for chunk c; a chunk
    past the last (c >= count: a device with no chunk left) has no valid
    user. Padding rows repeat the chunk's first user (any real id)."""
    chunk = self.users[c * self.size:(c + 1) * self.size]
    valid = np.zeros(self.size, np.float32)
    valid[:len(chunk)] = 1.0
    first = chunk[0] if len(chunk) else self.users[0]
    chunk = np.concatenate([chunk, np.full(self.size - len(chunk), first)])
    return (chunk.astype(np.int32), self.exclude.dense(chunk, self.num_items),
            self.truth.dense(chunk, self.num_items), valid)


def _per_chunk_sums(score_fn: ScoreFn, ks: tuple[int, ...], outputs,
                    chunks: _Chunks, devices: list[jax.Device]
                    ) -> dict[str, np.ndarray]:
  """_chunk_sums of every chunk, on every process: 'metric@k' -> float32
  [count], 'nan' -> int [count].

  Call r puts chunk r * D + g on global device g (D devices over all
  processes, process by process as pmap orders them); each process builds
  its own devices' chunks, and the pmap's all_gather hands every device all
  D sums. A single chunk, or one device of one process: plain jitted
  calls, no pmap (every process computing the chunk alone).
  """
  count = distributed.process_count()
  if count == 1:  # No idle device. (Several processes' pmap spans all.)
    devices = devices[:chunks.count]
  local = len(devices)
  if chunks.count == 1 or local * count == 1:
    parts = [_chunk_sums(score_fn, ks, outputs, *chunks.inputs(c))
             for c in range(chunks.count)]
    parts = jax.device_get(parts)  # One host sync, after every call.
    return {k: np.stack([p[k] for p in parts]) for k in parts[0]}
  total = local * count
  first = distributed.process_index() * local
  # Several processes: pmap's own choice, all devices of all processes.
  step = _gathered_step(score_fn, ks,
                        tuple(devices) if count == 1 else None)
  outputs = _replicate(outputs, devices)
  parts = []
  for start in range(0, chunks.count, total):
    rows = [chunks.inputs(start + first + i) for i in range(local)]
    parts.append(step(outputs, *[np.stack(x) for x in zip(*rows)]))
  parts = jax.device_get(parts)  # [calls] dicts of [total] sums.
  return {k: np.concatenate([p[k] for p in parts])[:chunks.count]
          for k in parts[0]}


_AXIS = 'chunks'


@functools.lru_cache(maxsize=None)
def _gathered_step(score_fn: ScoreFn, ks: tuple[int, ...],
                   devices: tuple[jax.Device, ...] | None):
  """pmap of _chunk_sums over the devices (None: pmap's default), every
  device's sums all-gathered: dict of [D] arrays, the same on every device.
  Cached, so that each evaluation reuses the compiled program."""

  def step(outputs, users, exclude, truth, valid):
    sums = _chunk_sums(score_fn, ks, outputs, users, exclude, truth, valid)
    return jax.lax.all_gather(sums, _AXIS)

  return jax.pmap(step, _AXIS, in_axes=(None, 0, 0, 0, 0), out_axes=None,
                  devices=devices)


def _replicate(tree, devices: list[jax.Device]):
  """tree on every one of devices, where the pmap takes its broadcast
  arguments without copying them there at every call."""
  mesh = jax.sharding.Mesh(np.array(devices), (_AXIS,))
  return jax.device_put(tree, jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec()))


def most_popular_scores(popularity: jax.Array, users: jax.Array) -> jax.Array:
  """ScoreFn of the MostPop baseline: every user gets the item counts."""
  return jnp.broadcast_to(popularity, (users.shape[0], popularity.shape[0]))


def item_popularity(train: Interactions, num_items: int) -> np.ndarray:
  """float32 [I] train interaction count per item (MostPop's outputs)."""
  return np.bincount(train.item, minlength=num_items).astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _gather_scores(score_fn: ScoreFn, outputs, anchors, rows, cols):
  """Scores of (anchors[rows[p]], cols[p]) pairs from one chunk's rows."""
  return score_fn(outputs, anchors)[rows, cols].astype(jnp.float32)


def pair_scores(score_fn: ScoreFn, outputs, src: np.ndarray, dst: np.ndarray,
                chunk_size: int = 256) -> np.ndarray:
  """Scores of (src, dst) pairs with a ranking ScoreFn, in fixed-size chunks.

  Args:
    score_fn: (outputs, anchors [C]) -> scores [C, I].
    outputs: its outputs.
    src: int [P] anchor of each pair.
    dst: int [P] item of each pair.
    chunk_size: anchors per device call.

  Returns:
    float32 [P] the score of dst in src's ranking.
  """
  anchors, inverse = np.unique(src, return_inverse=True)
  chunk_of = inverse // chunk_size
  order = np.argsort(chunk_of, kind='stable')
  bounds = np.searchsorted(chunk_of[order], np.arange(chunk_of.max() + 2))
  # Pairs per call are padded to one size, so the program compiles once.
  width = int(np.diff(bounds).max())
  out = np.zeros(len(src), np.float32)
  for c in range(len(bounds) - 1):
    chunk = anchors[c * chunk_size:(c + 1) * chunk_size]
    chunk = np.concatenate([chunk, np.full(chunk_size - len(chunk), chunk[0])])
    idx = order[bounds[c]:bounds[c + 1]]
    rows = np.zeros(width, np.int32)
    cols = np.zeros(width, np.int32)
    rows[:len(idx)] = inverse[idx] - c * chunk_size
    cols[:len(idx)] = dst[idx]
    scores = _gather_scores(score_fn, outputs, chunk.astype(np.int32), rows,
                            cols)
    out[idx] = np.asarray(scores)[:len(idx)]
  return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
  """Area under the ROC curve: P(pos score > neg score), ties counting 1/2.

  Args:
    pos: [P] scores of positive pairs.
    neg: [Q] scores of negative pairs.

  Returns:
    The AUC (Mann-Whitney U / (P Q)).
  """
  scores = np.concatenate([pos, neg]).astype(np.float64)
  order = np.argsort(scores, kind='stable')
  ranks = np.empty(len(scores))
  ranks[order] = np.arange(1, len(scores) + 1)
  # Tied scores share their average rank.
  uniq, inverse, counts = np.unique(scores, return_inverse=True,
                                    return_counts=True)
  if len(uniq) < len(scores):
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
  u = ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
  return float(u / (len(pos) * len(neg)))
