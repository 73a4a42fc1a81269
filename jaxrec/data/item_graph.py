"""Item-item co-occurrence graphs: from baskets, from user histories, a toy.

An ItemGraph holds undirected weighted edges (i < j, weight = how often the
two items occur together), split into train / val / test edges. Held-out
edges are removed from the training graph; models see only `train`.
`load_item_graph` builds the one a run trains on from `config.data`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional

import ml_collections
import numpy as np

from jaxrec.data import baskets
from jaxrec.data import likes
from jaxrec.data import pipeline
from jaxrec.data.dataset import DataError, Interactions


@dataclasses.dataclass(frozen=True)
class Edges:
  """Undirected edges with i < j.

  Attributes:
    i: int32 [E] smaller endpoint.
    j: int32 [E] larger endpoint.
    weight: float32 [E] co-occurrence count.
  """

  i: np.ndarray
  j: np.ndarray
  weight: np.ndarray

  def __len__(self) -> int:
    return len(self.i)

  def select(self, index: np.ndarray) -> Edges:
    return Edges(self.i[index], self.j[index], self.weight[index])

  @staticmethod
  def concat(parts: list[Edges]) -> Edges:
    return Edges(*(np.concatenate([getattr(p, f) for p in parts])
                   for f in ('i', 'j', 'weight')))


@dataclasses.dataclass(frozen=True)
class ItemGraph:
  """Items and their co-occurrence edges, split for training and evaluation.

  Attributes:
    name: short name for logs.
    source: where it came from (a path, or the generator and its arguments).
    num_items: I.
    train, val, test: disjoint undirected edges.
    item_ids: [I] raw item ids as strings.
    item_names: [I] strings, or None.
    item_features: modality -> float32 [I, d].
  """

  name: str
  source: str
  num_items: int
  train: Edges
  val: Edges
  test: Edges
  item_ids: np.ndarray
  item_names: Optional[np.ndarray] = None
  item_features: Mapping[str, np.ndarray] = dataclasses.field(
      default_factory=dict)

  @property
  def is_synthetic(self) -> bool:
    return self.name.startswith('synthetic')

  def all_edges(self) -> Edges:
    return Edges.concat([self.train, self.val, self.test])

  def summary(self) -> str:
    """One line for logs."""
    return (f'{self.name}: {self.num_items} items, train/val/test = '
            f'{len(self.train)}/{len(self.val)}/{len(self.test)} undirected '
            f'edges (from {self.source})')


def group_pairs(group: np.ndarray, item: np.ndarray,
                time: Optional[np.ndarray] = None,
                max_offset: Optional[int] = None,
                window: Optional[float] = None,
                num_items: Optional[int] = None) -> Edges:
  """Counts item pairs that occur in the same group (order or user).

  Within each group the rows are ordered by time (or kept in input order),
  and rows a and b < a pair up when b - a <= max_offset (consecutive
  interactions) and |time[b] - time[a]| <= window. A pair counts once per
  group however often it occurs there.

  Args:
    group: int [n] group id of each row (order id or user id).
    item: int [n] item ids in [0, num_items).
    time: [n] timestamps, or None.
    max_offset: pair rows at most this far apart in the group's order; None
      pairs every two rows of a group.
    window: pair rows at most this far apart in time (needs `time`).
    num_items: I (default max(item) + 1).

  Returns:
    Edges with i < j and weight = number of groups the pair occurs in.
  """
  num_items = int(num_items or item.max() + 1)
  keys = [np.arange(len(group))] if time is None else [np.arange(len(group)),
                                                       time]
  order = np.lexsort((*keys, group))
  group, item = group[order], item[order].astype(np.int64)
  time = None if time is None else time[order]
  sizes = np.bincount(np.unique(group, return_inverse=True)[1])
  longest = int(sizes.max(initial=1))
  max_offset = longest - 1 if max_offset is None else min(max_offset,
                                                          longest - 1)
  if window is not None and time is None:
    raise DataError('A time window needs timestamps; this data has none.')
  keys = []
  for d in range(1, max_offset + 1):  # A loop over offsets, not rows.
    same = group[d:] == group[:-d]
    if window is not None:
      same &= np.abs(time[d:] - time[:-d]) <= window
    a, b = item[:-d][same], item[d:][same]
    a, b = np.minimum(a, b), np.maximum(a, b)
    keep = a != b
    # One key per (group, pair), so a pair counts once per group.
    keys.append((group[d:][same][keep].astype(np.int64), a[keep] * num_items
                 + b[keep]))
  if not keys:
    return Edges(np.zeros(0, np.int32), np.zeros(0, np.int32),
                 np.zeros(0, np.float32))
  g = np.concatenate([k[0] for k in keys])
  pair = np.concatenate([k[1] for k in keys])
  order = np.lexsort((pair, g))
  g, pair = g[order], pair[order]
  first = np.r_[True, (g[1:] != g[:-1]) | (pair[1:] != pair[:-1])]
  pairs, counts = np.unique(pair[first], return_counts=True)
  return Edges((pairs // num_items).astype(np.int32),
               (pairs % num_items).astype(np.int32),
               counts.astype(np.float32))


def from_histories(inter: Interactions, num_items: int,
                   max_offset: Optional[int] = None,
                   window: Optional[float] = None,
                   max_per_user: Optional[int] = None) -> Edges:
  """Co-interaction edges: items interacted with by the same user.

  Args:
    inter: the interactions (users are the groups).
    num_items: I.
    max_offset: only pair each interaction with the next `max_offset` ones of
      the same user (in time order when timestamps exist).
    window: only pair interactions at most this far apart in time.
    max_per_user: keep only each user's latest `max_per_user` interactions,
      so heavy users do not make dense cliques.

  Returns:
    Edges weighted by the number of users the pair occurs for.
  """
  if max_per_user:
    key = inter.timestamp if inter.timestamp is not None else np.arange(
        len(inter))
    order = np.lexsort((-key, inter.user))
    user = inter.user[order]
    rank = np.arange(len(user)) - np.searchsorted(user, user)
    inter = inter.select(order[rank < max_per_user])
  return group_pairs(inter.user, inter.item, inter.timestamp, max_offset,
                     window, num_items)


def split_edges(edges: Edges, val_ratio: float, test_ratio: float,
                seed: int) -> tuple[Edges, Edges, Edges]:
  """A seeded random share of edges for validation and test.

  Args:
    edges: all edges.
    val_ratio: share for validation.
    test_ratio: share for test.
    seed: seed of the permutation.

  Returns:
    (train, val, test), disjoint and covering `edges`.
  """
  if val_ratio < 0 or test_ratio < 0 or val_ratio + test_ratio >= 1:
    raise DataError(f'Edge split shares val={val_ratio}, test={test_ratio} '
                    f'must be >= 0 and sum to less than 1.')
  n = len(edges)
  perm = np.random.default_rng([seed, 2]).permutation(n)
  n_val, n_test = int(round(n * val_ratio)), int(round(n * test_ratio))
  mark = np.zeros(n, np.int8)
  mark[perm[:n_val]] = 1
  mark[perm[n_val:n_val + n_test]] = 2
  return tuple(edges.select(mark == k) for k in range(3))


def toy_categories(num_items: int = 20, category_size: int = 7,
                   p_in: float = 0.7, p_out: float = 0.05,
                   seed: int = 42) -> tuple[Edges, np.ndarray]:
  """The co-purchase article's toy graph, edge for edge.

  Item i is in category i // category_size; each pair i < j is an edge with
  probability p_in within a category and p_out across, drawn in the
  article's loop order with numpy's legacy generator seeded by `seed`.

  Returns:
    (edges with weight 1, int [I] category of each item).
  """
  i, j = np.triu_indices(num_items, k=1)  # Row-major: the article's order.
  draws = np.random.RandomState(seed).random_sample(len(i))
  category = np.arange(num_items) // category_size
  p = np.where(category[i] == category[j], p_in, p_out)
  keep = draws < p
  return (Edges(i[keep].astype(np.int32), j[keep].astype(np.int32),
                np.ones(keep.sum(), np.float32)), category)


# From config.data to a graph: the edges and items of
# config.data.item_graph.source, then held-out edges split off.
ITEM_GRAPH_SOURCES = ('toy', 'baskets', 'histories')


def _edges_from_baskets(cfg: ml_collections.ConfigDict):
  """Edges between items bought in the same order, with ids and names."""
  b = cfg.item_graph.baskets
  log = baskets.load_baskets(cfg.path, b.order_column, b.item_column,
                             b.time_column, b.names_path, b.name_column)
  sizes = np.bincount(log.order)
  keep = sizes[log.order] <= b.max_basket if b.max_basket else slice(None)
  edges = group_pairs(log.order[keep], log.item[keep],
                      num_items=len(log.item_ids))
  return edges, log.item_ids, log.item_names, {}, 'baskets'


def _edges_from_histories(cfg: ml_collections.ConfigDict):
  """Edges between items the same user interacted with (positives only)."""
  # Co-interaction edges come from likes only, so data.feedback plays no
  # part here: dislikes are dropped as with implicit feedback.
  ds = likes.keep_positive(pipeline.read(cfg), cfg)
  g = cfg.item_graph
  edges = from_histories(
      ds.all_interactions(), ds.num_items, max_offset=g.max_offset or None,
      window=g.window or None, max_per_user=g.max_per_user or None)
  return (edges, ds.item_ids, ds.item_names, dict(ds.item_features),
          f'{ds.name}-histories')


def _edges_from_toy(cfg: ml_collections.ConfigDict):
  """The GCN article's toy: three categories of items."""
  t = cfg.item_graph.toy
  edges, category = toy_categories(
      t.num_items, t.category_size, t.p_in, t.p_out, t.seed)
  names = np.array([f'item {i} (category {c})' for i, c in enumerate(category)])
  return (edges, np.arange(t.num_items).astype(str), names, {},
          'synthetic-toy')


def load_item_graph(cfg: ml_collections.ConfigDict) -> ItemGraph:
  """The item co-occurrence graph a run trains on, edges split and checked.

  Args:
    cfg: `config.data`; cfg.item_graph.source picks 'toy', 'baskets' (a CSV
      at cfg.path) or 'histories' (any user-item format, cfg.format /
      cfg.path / cfg.positive). cfg.val_ratio and cfg.test_ratio are shares
      of edges held out.

  Returns:
    The ItemGraph.
  """
  source = cfg.item_graph.source
  if source not in ITEM_GRAPH_SOURCES:
    raise DataError(f'config.data.item_graph.source={source!r} is not one of '
                    f'{ITEM_GRAPH_SOURCES}.')
  if source == 'baskets' and not os.path.exists(os.path.expanduser(cfg.path)):
    raise DataError(f'config.data.path={cfg.path!r} does not exist; it must '
                    f'be the baskets CSV (order id, item id [, timestamp]).')
  read_edges = {'toy': _edges_from_toy, 'baskets': _edges_from_baskets,
                'histories': _edges_from_histories}[source]
  edges, item_ids, names, features, name = read_edges(cfg)
  edges = edges.select(edges.weight >= cfg.item_graph.min_count)
  if not len(edges):
    raise DataError(f'No item pairs co-occur (min_count='
                    f'{cfg.item_graph.min_count}): the item graph is empty.')
  train, val, test = split_edges(edges, cfg.val_ratio, cfg.test_ratio,
                                 cfg.split_seed)
  return ItemGraph(
      name=name,
      source=('GCN article toy graph; NOT real data' if source == 'toy'
              else os.fspath(cfg.path)),
      num_items=len(item_ids), train=train, val=val, test=test,
      item_ids=item_ids, item_names=names, item_features=features)
