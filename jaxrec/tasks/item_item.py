"""Item-to-item recommendation from co-occurrence graphs (co-purchase GCN).

Data: an ItemGraph (jaxrec.data.item_graph) whose held-out edges are
removed from the training graph. Batches: train edges and fresh non-edges
(BCE). Evaluation of a split's held-out edges:
  - AUC: held-out edges against as many sampled non-edges (of the whole
    graph), scored by the model's ranking score;
  - ranking: for each item with held-out neighbours ("anchor"), all items
    ranked, the anchor itself and its training neighbours (and validation
    neighbours when scoring test) excluded; recall@K, hit@K, nDCG@K,
    precision@K of the held-out neighbours.
Baselines through the same evaluation: popularity (weighted training degree)
and two-hop co-occurrence (A^2: counts of shared co-occurring items; direct
co-occurrence is zero for every held-out pair by construction).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxrec import graphs
from jaxrec import metrics
from jaxrec import ops
from jaxrec import sampling
from jaxrec.data import item_graph
from jaxrec.data.dataset import Interactions
from jaxrec.data.item_graph import Edges, ItemGraph
from jaxrec.errors import ConfigError
from jaxrec.models.spec import ModelSpec
from jaxrec.tasks import base

_SPLITS = ('val', 'test')


def neighbours(edges: list[Edges], num_items: int,
               self_loops: bool = False) -> metrics.UserItems:
  """Each item's neighbours over undirected edges (both directions)."""
  i = np.concatenate([np.concatenate([e.i, e.j]) for e in edges])
  j = np.concatenate([np.concatenate([e.j, e.i]) for e in edges])
  if self_loops:
    i = np.concatenate([i, np.arange(num_items)])
    j = np.concatenate([j, np.arange(num_items)])
  return metrics.UserItems([Interactions(i.astype(np.int32),
                                         j.astype(np.int32))], num_items)


def _known(data: ItemGraph, split: str) -> list[Edges]:
  """Edges a split's ranking may not recommend: train, and val for test."""
  return [data.train] if split == 'val' else [data.train, data.val]


def _negative_pairs(data: ItemGraph, split: str, seed: int):
  """As many non-edges (of the whole graph) as the split has edges."""
  every = data.all_edges()
  keys = sampling.edge_keys(every.i, every.j, data.num_items)
  rng = np.random.default_rng([seed, 3, _SPLITS.index(split)])
  return sampling.uniform_non_edges(len(getattr(data, split)), keys,
                                    data.num_items, rng)


def evaluate_scores(task: base.Task, score_fn: metrics.ScoreFn, outputs,
                    split: str) -> dict[str, float]:
  """AUC and ranking metrics of any ScoreFn on a split's held-out edges."""
  data, c = task.data, task.config
  held_out = getattr(data, split)
  result = metrics.evaluate(
      score_fn, outputs, neighbours([held_out], data.num_items),
      neighbours(_known(data, split), data.num_items, self_loops=True),
      data.num_items, c.eval_ks, c.eval_chunk_size,
      c.get('num_devices', 0))  # Hand-built configs may lack it: all.
  na, nb = _negative_pairs(data, split, c.seed)
  pos = metrics.pair_scores(score_fn, outputs, held_out.i, held_out.j,
                            c.eval_chunk_size)
  neg = metrics.pair_scores(score_fn, outputs, na, nb, c.eval_chunk_size)
  result['auc'] = metrics.auc(pos, neg)
  return result


class TwoHop(NamedTuple):
  """Outputs of the two-hop co-occurrence baseline."""

  adj: ops.Adjacency
  counts: jax.Array  # float [E] co-occurrence count of each edge.
  items: jax.Array  # [I] zeros: its static length is the item count.


def two_hop_scores(outputs: TwoHop, anchors: jax.Array) -> jax.Array:
  """ScoreFn: (A^2)[anchor, j] for the count matrix A, by two sparse products.

  Args:
    outputs: the training graph's structure and counts.
    anchors: int [C].

  Returns:
    float [C, I].
  """
  a = outputs.adj
  one_hot = jax.nn.one_hot(anchors, a.num_nodes, dtype=jnp.float32).T
  paths = ops.propagate(a, outputs.counts,
                        ops.propagate(a, outputs.counts, one_hot))
  return paths.T[:, :outputs.items.shape[0]]


class ItemItem(base.TaskKind):
  """The item-item task kind (see the module docstring)."""

  def build(self, config: ml_collections.ConfigDict,
            spec: ModelSpec) -> base.Task:
    """Builds the item graph, its padded training graph and the model."""
    data = item_graph.load_item_graph(config.data)
    base.check_config(config, data.num_items - 1,
                      self.metric_names(config))
    if config.train_examples != 'every_row':
      raise ConfigError(
          f'config.train_examples={config.train_examples!r} draws users; '
          f'{config.model.name} trains on item pairs (every edge each epoch): '
          f"leave it at 'every_row'.")
    base.log_data(data.summary(), data.is_synthetic)
    features = {m: data.item_features[m] for m in config.model.features
                if m in data.item_features}
    graph = graphs.item_item(data.train.i, data.train.j, data.num_items,
                             data.train.weight, config.model.weighted_edges,
                             node_fields=features)
    model = spec.create(config, data)
    return base.Task(config, self, data, graph,
                     spec.inputs(config, data, graph), spec, model)

  def batches(self, task: base.Task,
              num_devices: int) -> sampling.LinkBatches:
    """Train edges (label 1) and neg_ratio fresh non-edges each (label 0)."""
    d, c = task.data, task.config
    n = len(d.train) * (1 + c.model.neg_ratio)
    return sampling.LinkBatches(
        d.train.i, d.train.j, d.num_items,
        base.effective_batch_size(c, n, num_devices), c.model.neg_ratio, c.seed)

  def metric_names(self, config: ml_collections.ConfigDict) -> list[str]:
    """'auc' and metric@K for every K."""
    return ['auc'] + [f'{m}@{k}' for k in config.eval_ks
                      for m in metrics.METRICS]

  def has_split(self, task: base.Task, split: str) -> bool:
    """Whether the split has held-out edges."""
    if split not in _SPLITS:
      raise ConfigError(f"split must be 'val' or 'test', got {split!r}.")
    return len(getattr(task.data, split)) > 0

  def evaluate_outputs(self, task: base.Task, outputs,
                       split: str) -> dict[str, float]:
    """The model's AUC and ranking metrics on 'val' or 'test' edges."""
    return evaluate_scores(task, task.spec.score, outputs, split)

  def baselines(self, task: base.Task,
                split: str) -> dict[str, dict[str, float]]:
    """Popularity and two-hop co-occurrence through the same evaluation."""
    data, graph = task.data, task.graph
    degree = np.zeros(data.num_items, np.float32)
    np.add.at(degree, np.concatenate([data.train.i, data.train.j]),
              np.concatenate([data.train.weight, data.train.weight]))
    two_hop = TwoHop(ops.adjacency(graph), jnp.asarray(graph.edges['count']),
                     jnp.zeros(data.num_items))
    return {
        'Popularity': evaluate_scores(task, metrics.most_popular_scores,
                                      degree, split),
        'Co-occurrence (2-hop)': evaluate_scores(task, two_hop_scores,
                                                 two_hop, split),
    }

  def recommend(self, task: base.Task, params, user: str | None = None,
                item: str | None = None, k: int = 10,
                exclude_known: bool = True) -> list[base.Recommendation]:
    """Items most similar to `item` (raw id), never the item itself.

    With exclude_known, its known neighbours (train, val and test edges) are
    left out too, so the list shows only items the data does not already pair
    with it (the GCN article's rule); without, it is a plain "also bought"
    list.
    """
    data = task.data
    if user is not None or item is None:
      raise ConfigError(f'{task.config.model.name} recommends items for items: '
                        f'pass --item=ID (not --user).')
    i = base.lookup(data.item_ids, item, 'item')
    _, _, known = self.queries(task, exclude_known)
    return base.recommend_rows(task, params, i, known, data.item_ids,
                               data.item_names, k)

  def queries(self, task: base.Task, exclude_known: bool = True
              ) -> tuple[str, np.ndarray, metrics.UserItems]:
    """Anchor items, and the items never listed for them: the anchor
    itself and, with exclude_known, its known neighbours."""
    data = task.data
    edges = (data.all_edges() if exclude_known
             else data.train.select(slice(0, 0)))
    return 'anchor_item_id', data.item_ids, neighbours(
        [edges], data.num_items, self_loops=True)
