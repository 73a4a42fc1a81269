"""Synthetic interaction data with planted structure (the built-in default).

Users and items fall into clusters; users mostly pick items of their own
cluster (popular ones more often), so a graph model that learns the
clusters beats popularity by a wide margin. Optional extras: noise edges
(false positives unrelated to clusters and features), item features per
modality correlated with the item clusters, and dislikes (low ratings on
items of another cluster). Everything is a pure function of the arguments.

The dataset is named 'synthetic' and its `source` says so, so logs never pass
it off as real data. synthetic_grcn.py dresses it as the GRCN datasets.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from jaxrec.data.dataset import Dataset, Interactions

LIKE_RATINGS = (4.0, 5.0)
DISLIKE_RATINGS = (1.0, 2.0)


def _pick_items(rng, clusters, item_cluster, popularity, size):
  """Items drawn from the given clusters, proportional to popularity.

  Args:
    rng: numpy Generator.
    clusters: int [n] the cluster to draw from, per draw.
    item_cluster: int [I] cluster of each item.
    popularity: float [I] positive item weights.
    size: n.

  Returns:
    int [n] item ids.
  """
  order = np.argsort(item_cluster, kind='stable')
  sorted_pop = popularity[order]
  # Per-cluster CDFs laid end to end: cluster c occupies [start[c], end[c]).
  counts = np.bincount(item_cluster)
  end = np.cumsum(counts)
  start = end - counts
  cum = np.cumsum(sorted_pop)
  base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
  total = cum[end - 1] - base
  u = base[clusters] + rng.random(size) * total[clusters]
  idx = np.searchsorted(cum, u, side='right')
  idx = np.clip(idx, start[clusters], end[clusters] - 1)
  return order[idx]


def _first_per_user(users, items, limit, num_items):
  """Deduplicates (user, item) keeping first draws, at most limit[u] per user."""
  keys = users.astype(np.int64) * num_items + items
  _, first = np.unique(keys, return_index=True)
  first.sort()
  users, items = users[first], items[first]
  order = np.argsort(users, kind='stable')
  users, items = users[order], items[order]
  starts = np.searchsorted(users, users, side='left')
  rank = np.arange(len(users)) - starts
  keep = rank < limit[users]
  return users[keep], items[keep]


@dataclasses.dataclass(frozen=True)
class Planted:
  """The structure the generator planted (for experiments and tests).

  Attributes:
    user_cluster: int [U] cluster of each user.
    item_cluster: int [I] cluster of each item.
    is_noise: bool [n] per row of the generated `train`: a noise edge (a
      false positive unrelated to the clusters and the features).
  """

  user_cluster: np.ndarray
  item_cluster: np.ndarray
  is_noise: np.ndarray


def generate(**kwargs) -> Dataset:
  """Generates a planted-cluster dataset; see generate_planted."""
  return generate_planted(**kwargs)[0]


def _structure(rng: np.random.Generator, num_users: int, num_items: int,
               num_clusters: int) -> tuple[np.ndarray, ...]:
  """(user_cluster int [U], item_cluster int [I], popularity float [I]).

  Clusters of items have equal sizes (within one); popularity is
  Zipf-like, so that MostPop is a real (but beatable) baseline.
  """
  user_cluster = rng.integers(0, num_clusters, num_users)
  item_cluster = np.arange(num_items) % num_clusters
  rng.shuffle(item_cluster)
  popularity = 1.0 / (1.0 + rng.permutation(num_items)) ** 0.7
  return user_cluster, item_cluster, popularity


def _likes(rng: np.random.Generator, num_clusters: int,
           user_cluster: np.ndarray, item_cluster: np.ndarray,
           popularity: np.ndarray, interactions_per_user: float,
           in_cluster: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The true likes: (user, item, rating) [n] each, sorted by user.

  Each user draws Poisson(interactions_per_user) likes (at least 3, at most
  I / 2), each from its own cluster with probability in_cluster, else from
  a uniformly drawn cluster.
  """
  num_users, num_items = len(user_cluster), len(item_cluster)
  n_likes = np.maximum(rng.poisson(interactions_per_user, num_users), 3)
  n_likes = np.minimum(n_likes, num_items // 2)
  draws = 2 * n_likes  # Oversample, then deduplicate.
  users = np.repeat(np.arange(num_users), draws)
  own = rng.random(len(users)) < in_cluster
  clusters = np.where(own, user_cluster[users],
                      rng.integers(0, num_clusters, len(users)))
  items = _pick_items(rng, clusters, item_cluster, popularity, len(users))
  users, items = _first_per_user(users, items, n_likes, num_items)
  ratings = rng.choice(LIKE_RATINGS, len(users)).astype(np.float32)
  return users, items, ratings


def _noise(rng: np.random.Generator, num_users: int, num_items: int,
           n_noise: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(user, item, rating) [n_noise] each: likes uniform over all pairs."""
  return (rng.integers(0, num_users, n_noise),
          rng.integers(0, num_items, n_noise),
          rng.choice(LIKE_RATINGS, n_noise).astype(np.float32))


def _dislikes(rng: np.random.Generator, num_clusters: int,
              user_cluster: np.ndarray, item_cluster: np.ndarray,
              popularity: np.ndarray, dislikes_per_user: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(user, item, rating) [n] each: Poisson dislikes on cluster c + 1."""
  n_dis = rng.poisson(dislikes_per_user, len(user_cluster))
  du = np.repeat(np.arange(len(user_cluster)), n_dis)
  di = _pick_items(rng, (user_cluster[du] + 1) % num_clusters, item_cluster,
                   popularity, len(du))
  return du, di, rng.choice(DISLIKE_RATINGS, len(du)).astype(np.float32)


def _one_per_pair(parts: list[tuple[np.ndarray, ...]], num_items: int,
                  noise_part: int | None) -> tuple[np.ndarray, ...]:
  """Joins the parts' rows, keeping one per (user, item): the first wins.

  Args:
    parts: (user, item, rating) [n_p] each, true likes first.
    num_items: I.
    noise_part: the index of the noise part in parts, or None.

  Returns:
    (user, item, rating, is_noise) [n] each, in the order of first rows.
  """
  users = np.concatenate([p[0] for p in parts])
  items = np.concatenate([p[1] for p in parts])
  ratings = np.concatenate([p[2] for p in parts])
  part = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
  keys = users.astype(np.int64) * num_items + items
  _, first = np.unique(keys, return_index=True)
  first.sort()
  return (users[first], items[first], ratings[first],
          part[first] == noise_part)


def _timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
  """int64 [n] timestamps, shuffled: unrelated to the rows' order."""
  timestamps = np.sort(rng.integers(1_000_000_000, 1_100_000_000, n))
  return timestamps[rng.permutation(n)].astype(np.int64)


def _features(rng: np.random.Generator, num_clusters: int,
              item_cluster: np.ndarray,
              feature_dims: Mapping[str, int] | None,
              feature_noise: float) -> dict[str, np.ndarray]:
  """modality -> float32 [I, d]: the item's cluster centroid plus noise."""
  features = {}
  for m, d in sorted((feature_dims or {}).items()):
    centroids = rng.normal(size=(num_clusters, d))
    features[m] = (centroids[item_cluster] + feature_noise *
                   rng.normal(size=(len(item_cluster), d))).astype(np.float32)
  return features


def _dataset(train: Interactions, num_users: int, item_cluster: np.ndarray,
             features: dict[str, np.ndarray], args: str) -> Dataset:
  """The generated Dataset: all rows in train, item names with clusters."""
  num_items = len(item_cluster)
  return Dataset(
      name='synthetic',
      source=f'jaxrec.data.synthetic.generate({args}); NOT real data',
      num_users=num_users, num_items=num_items, train=train,
      val=Interactions.empty(like=train), test=Interactions.empty(like=train),
      user_ids=np.arange(num_users).astype(str),
      item_ids=np.arange(num_items).astype(str),
      item_names=np.array([f'item {i} (cluster {c})'
                           for i, c in enumerate(item_cluster)]),
      item_features=features)


def generate_planted(num_users: int = 600,
                     num_items: int = 400,
                     num_clusters: int = 6,
                     interactions_per_user: float = 25.0,
                     in_cluster: float = 0.9,
                     noise: float = 0.0,
                     feature_dims: Mapping[str, int] | None = None,
                     feature_noise: float = 1.0,
                     dislikes_per_user: float = 0.0,
                     seed: int = 0) -> tuple[Dataset, Planted]:
  """Generates a planted-cluster dataset; every row lands in `train`.

  Args:
    num_users: U.
    num_items: I.
    num_clusters: number of user/item clusters.
    interactions_per_user: mean likes per user (Poisson, at least 3).
    in_cluster: probability that a like is in the user's own cluster.
    noise: extra false-positive likes, as a share of the true likes, drawn
      uniformly over all (user, item) pairs.
    feature_dims: modality -> width; each item gets its cluster's centroid
      plus Gaussian noise of scale `feature_noise`.
    feature_noise: noise scale of the features (centroids have unit scale).
    dislikes_per_user: mean dislikes per user, on items of cluster c + 1.
    seed: everything is deterministic in it.

  Returns:
    A Dataset named 'synthetic' with ratings (likes 4-5, dislikes 1-2),
    timestamps, item names 'item <id> (cluster <c>)' and the features; and
    the Planted structure.
  """
  if not 0 < num_clusters <= num_items // 2:
    raise ValueError(f'synthetic: need 0 < num_clusters <= num_items / 2, got '
                     f'{num_clusters} clusters for {num_items} items.')
  # One generator, drawn from in a fixed order: the data is a pure function
  # of the arguments.
  rng = np.random.default_rng(seed)
  user_cluster, item_cluster, popularity = _structure(
      rng, num_users, num_items, num_clusters)
  parts = [_likes(rng, num_clusters, user_cluster, item_cluster, popularity,
                  interactions_per_user, in_cluster)]
  noise_part = None
  if noise > 0:
    noise_part = len(parts)
    parts.append(_noise(rng, num_users, num_items,
                        int(round(noise * len(parts[0][0])))))
  if dislikes_per_user > 0:
    parts.append(_dislikes(rng, num_clusters, user_cluster, item_cluster,
                           popularity, dislikes_per_user))
  users, items, ratings, is_noise = _one_per_pair(parts, num_items,
                                                  noise_part)
  train = Interactions(users.astype(np.int32), items.astype(np.int32),
                       ratings, _timestamps(rng, len(users)))
  features = _features(rng, num_clusters, item_cluster, feature_dims,
                       feature_noise)
  args = (f'num_users={num_users}, num_items={num_items}, '
          f'num_clusters={num_clusters}, noise={noise}, seed={seed}')
  return (_dataset(train, num_users, item_cluster, features, args),
          Planted(user_cluster, item_cluster, is_noise))


def power_law_pairs(num_users: int = 50_000, num_items: int = 10_000,
                    draws: int = 1_000_000, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
  """Distinct (user, item) pairs with item popularity ~ rank^-1: a few items
  hold many edges (the hard case for partitioning a graph; the scaling
  benchmarks use it). Users uniform; duplicate draws merged.

  Returns:
    (users, items) int arrays, sorted by user then item.
  """
  rng = np.random.default_rng(seed)
  popularity = 1.0 / np.arange(1, num_items + 1)
  pairs = np.unique(np.stack([
      rng.integers(0, num_users, draws),
      rng.choice(num_items, draws, p=popularity / popularity.sum())], 1),
                    axis=0)
  return pairs[:, 0], pairs[:, 1]
