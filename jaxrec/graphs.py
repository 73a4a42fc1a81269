"""Interaction graphs as padded `jraph.GraphsTuple`s.

Every graph built here has a symmetric edge set (each edge s->t has its
reverse t->s), edges sorted by (receiver, sender), and these edge fields:

  edges['weight']:  float32 [E_pad] propagation weight; 0 on padding edges.
  edges['reverse']: int32 [E_pad] index of the reverse edge (t->s for s->t).
  nodes['in_edges']: int32 [N_pad] number of edges into each node (padding
      edges included); its cumulative sum is the CSR row pointer, and its
      static length tells jitted code the padded node count.

Sorted receivers make the edge list a CSR matrix (row = receiver), which is
what the fast propagation kernels need; `reverse` gives the transposed matrix
without a second copy of the structure (see kernels.py).

Padding follows jraph: one extra graph holds the padding nodes (at least
one) and all padding edges; padding edges are self loops on the first padding
node with weight 0, so they add nothing and receive no gradient. Node and
edge counts are rounded up to buckets so that graphs of similar size share
one compiled program.
"""

from __future__ import annotations

import jraph
import numpy as np


def bucket(n: int, min_size: int = 128) -> int:
  """Rounds n up to a size with at most 1/8 waste (steps of 2**(log2 n - 3))."""
  n = max(int(n), min_size)
  step = 1 << max(int(np.floor(np.log2(n))) - 3, 0)
  return -(-n // step) * step


def symmetric_norm(senders: np.ndarray, receivers: np.ndarray,
                   num_nodes: int) -> np.ndarray:
  """LightGCN / GCN weights 1 / sqrt(deg(s) deg(t)) for each edge s->t.

  Args:
    senders: int [E] sender ids.
    receivers: int [E] receiver ids.
    num_nodes: number of nodes N.

  Returns:
    float32 [E] weights; degrees count the edges into each node.
  """
  deg = np.bincount(receivers, minlength=num_nodes).astype(np.float64)
  return (1.0 / np.sqrt(deg[senders] * deg[receivers])).astype(np.float32)


def from_undirected(heads: np.ndarray, tails: np.ndarray, num_nodes: int,
                    weights: np.ndarray | None = None,
                    edge_fields: dict[str, np.ndarray] | None = None,
                    node_fields: dict[str, np.ndarray] | None = None,
                    pad_nodes_to: int | None = None,
                    pad_edges_to: int | None = None) -> jraph.GraphsTuple:
  """Builds a padded graph with both directions of each undirected edge.

  Args:
    heads: int [E] one end of each edge.
    tails: int [E] the other end; (heads[k], tails[k]) must be distinct pairs
      and heads[k] != tails[k].
    num_nodes: number of real nodes N.
    weights: float32 [2E] weights for the directed edges heads->tails then
      tails->heads, or None for the symmetric normalisation.
    edge_fields: more per-edge arrays [2E, ...], in the order of `weights`.
    node_fields: per-node arrays [N, ...]; padding nodes get zeros.
    pad_nodes_to: total node count after padding (default: bucket(N + 1)).
    pad_edges_to: total edge count after padding (default: bucket(2E)).

  Returns:
    A GraphsTuple with two graphs (the real one and the padding one), edges
    sorted by (receiver, sender), edge fields 'weight', 'reverse' and
    `edge_fields` (zeros on padding edges), node fields 'in_edges' and
    `node_fields`.
  """
  heads = np.asarray(heads, np.int64)
  tails = np.asarray(tails, np.int64)
  num_edges = len(heads)
  senders = np.concatenate([heads, tails])
  receivers = np.concatenate([tails, heads])
  if weights is None:
    weights = symmetric_norm(senders, receivers, num_nodes)
  fields = {'weight': np.asarray(weights, np.float32), **(edge_fields or {})}
  order, senders, receivers, reverse = _sort_by_receiver(senders, receivers)

  n_node = pad_nodes_to or bucket(num_nodes + 1)
  n_edge = pad_edges_to or bucket(2 * num_edges)
  if n_node <= num_nodes or n_edge < 2 * num_edges:
    raise ValueError(f'Padding to {n_node} nodes / {n_edge} edges cannot hold '
                     f'{num_nodes} nodes (+1 padding) / {2 * num_edges} edges.')
  pad_e = n_edge - 2 * num_edges
  pad_node = num_nodes  # First padding node; padding edges are its self loops.
  receivers = np.concatenate([receivers, np.full(pad_e, pad_node)])
  edges = {k: _pad(np.asarray(v)[order], n_edge) for k, v in fields.items()}
  edges['reverse'] = np.concatenate(
      [reverse, np.arange(2 * num_edges, n_edge)]).astype(np.int32)
  nodes = {k: _pad(np.asarray(v), n_node)
           for k, v in (node_fields or {}).items()}
  nodes['in_edges'] = np.bincount(receivers, minlength=n_node).astype(np.int32)
  return jraph.GraphsTuple(
      nodes=nodes,
      edges=edges,
      senders=np.concatenate(
          [senders, np.full(pad_e, pad_node)]).astype(np.int32),
      receivers=receivers.astype(np.int32),
      globals=None,
      n_node=np.array([num_nodes, n_node - num_nodes], np.int32),
      n_edge=np.array([2 * num_edges, pad_e], np.int32),
  )


def repad(graph: jraph.GraphsTuple, n_node: int,
          n_edge: int) -> jraph.GraphsTuple:
  """The same graph padded to n_node nodes and n_edge edges in all.

  Real nodes and edges keep their indices and values, and the new edges are
  self loops on the first padding node with zero fields, as
  from_undirected pads: every result on the real nodes is unchanged.
  Stacked runs (jaxrec.stacked) pad their graphs (e.g. folds that landed in
  different size buckets) to one shape this way.

  Args:
    graph: a graph from this module.
    n_node: total node count, at least the graph's.
    n_edge: total edge count, at least the graph's.

  Returns:
    The padded GraphsTuple (the graph itself if nothing changes).
  """
  old_n, old_e = graph.nodes['in_edges'].shape[0], graph.senders.shape[0]
  if n_node < old_n or n_edge < old_e:
    raise ValueError(f'repad to {n_node} nodes / {n_edge} edges: the graph '
                     f'already has {old_n} / {old_e}.')
  if (n_node, n_edge) == (old_n, old_e):
    return graph
  pad_node = int(graph.n_node[0])
  extra = np.full(n_edge - old_e, pad_node, np.int32)
  edges = {k: _pad(np.asarray(v), n_edge) for k, v in graph.edges.items()}
  edges['reverse'] = np.concatenate(
      [np.asarray(graph.edges['reverse']),
       np.arange(old_e, n_edge)]).astype(np.int32)
  nodes = {k: _pad(np.asarray(v), n_node) for k, v in graph.nodes.items()}
  nodes['in_edges'][pad_node] += len(extra)
  real_edges = int(graph.n_edge[0])
  return graph._replace(
      nodes=nodes, edges=edges,
      senders=np.concatenate([np.asarray(graph.senders), extra]),
      receivers=np.concatenate([np.asarray(graph.receivers), extra]),
      n_node=np.array([pad_node, n_node - pad_node], np.int32),
      n_edge=np.array([real_edges, n_edge - real_edges], np.int32))


def _sort_by_receiver(senders: np.ndarray, receivers: np.ndarray
                      ) -> tuple[np.ndarray, ...]:
  """Sorts the 2E edges heads->tails, then tails->heads, into CSR order.

  Args:
    senders: int [2E] sender of each edge; edge k + E is the reverse of k.
    receivers: int [2E] its receiver.

  Returns:
    (order, senders, receivers, reverse): int [2E] each: the permutation
    that sorts the edges by (receiver, sender), the sorted senders and
    receivers, and the sorted index of each sorted edge's reverse.
  """
  num_edges = len(senders) // 2
  # Edge k's reverse is k + E (and vice versa) before sorting.
  reverse = np.concatenate([np.arange(num_edges, 2 * num_edges),
                            np.arange(num_edges)])
  order = np.lexsort((senders, receivers))
  position = np.empty_like(order)
  position[order] = np.arange(len(order))
  return order, senders[order], receivers[order], position[reverse[order]]


def _pad(x: np.ndarray, n: int) -> np.ndarray:
  """Pads the leading axis of x with zeros to length n."""
  return np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], x.dtype)])


def bipartite(users: np.ndarray, items: np.ndarray, num_users: int,
              num_items: int, **padding) -> jraph.GraphsTuple:
  """The user-item graph: users are nodes [0, U), items [U, U + I).

  Args:
    users: int [E] user ids of the (deduplicated) interactions.
    items: int [E] item ids, in [0, I).
    num_users: U.
    num_items: I.
    **padding: pad_nodes_to / pad_edges_to, see `from_undirected`.

  Returns:
    The padded GraphsTuple with symmetric normalisation weights
    D^-1/2 A D^-1/2 (LightGCN's).
  """
  users = np.asarray(users, np.int64)
  items = np.asarray(items, np.int64)
  if len(users) and (users.min() < 0 or users.max() >= num_users or
                     items.min() < 0 or items.max() >= num_items):
    raise ValueError('Interaction ids out of range for the graph.')
  return from_undirected(users, items + num_users, num_users + num_items,
                         **padding)


def remove_edges(heads: np.ndarray, tails: np.ndarray, rate: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Drops each undirected edge independently with probability `rate`.

  PANE-GNN's distortion A_d = A_n * P, P ~ Bernoulli(1 - p) (eq. 9), drawn
  per undirected edge so that the distorted graph stays symmetric, as the
  neighbour sets of eq. 10 assume.

  Args:
    heads: int [E] one end of each edge.
    tails: int [E] the other end.
    rate: p in [0, 1).
    seed: seed of the draw.

  Returns:
    (heads, tails) of the kept edges, in their original order.
  """
  if not 0 <= rate < 1:
    raise ValueError(f'Edge removal rate {rate} must be in [0, 1).')
  keep = np.random.default_rng(seed).random(len(heads)) >= rate
  return np.asarray(heads)[keep], np.asarray(tails)[keep]


def directed_keep(num_edges: int, rate: float, seed: int) -> np.ndarray:
  """bool [2E]: which directed edges survive, heads->tails then tails->heads.

  One uniform draw per directed edge, as PyG's dropout_adj (without
  force_undirected) makes one per column of its edge_index.
  """
  if not 0 <= rate < 1:
    raise ValueError(f'Edge removal rate {rate} must be in [0, 1).')
  return np.random.default_rng(seed).random(2 * num_edges) >= rate


def directed_removal(heads: np.ndarray, tails: np.ndarray, num_nodes: int,
                     rate: float, seed: int,
                     **padding) -> jraph.GraphsTuple:
  """Drops each DIRECTED edge with probability `rate`: the authors' G_d.

  PANE-GNN's code draws its distorted graph with PyG's dropout_adj on the
  2E directed edges (heads->tails, then tails->heads; see directed_keep),
  so an edge may keep one direction only, and normalises each kept edge
  s->t by 1 / sqrt(d_in(s) d_in(t)) with in-degrees of the kept edges (0
  where d_in(s) is 0). The result is stored in the usual symmetric
  structure: a pair with at least one kept direction is an edge, and a
  dropped direction has weight 0. Its weights are not symmetric: propagate
  it with symmetric=False (ops.lightgcn_on_graph).

  Args:
    heads: int [E] one end of each undirected edge.
    tails: int [E] the other end.
    num_nodes: N.
    rate: p in [0, 1).
    seed: seed of the draw.
    **padding: pad_nodes_to / pad_edges_to, see `from_undirected`.

  Returns:
    The padded GraphsTuple.
  """
  heads = np.asarray(heads, np.int64)
  tails = np.asarray(tails, np.int64)
  keep = directed_keep(len(heads), rate, seed)
  forward, backward = keep[:len(heads)], keep[len(heads):]
  receivers = np.concatenate([tails[forward], heads[backward]])
  deg = np.bincount(receivers, minlength=num_nodes).astype(np.float64)
  inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1.0)), 0.0)
  norm = inv_sqrt[heads] * inv_sqrt[tails]
  pair = forward | backward
  weights = np.concatenate([norm * forward, norm * backward])
  weights = weights[np.concatenate([pair, pair])].astype(np.float32)
  return from_undirected(heads[pair], tails[pair], num_nodes,
                         weights=weights, **padding)


def gcn_norm(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
             edge_weight: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
  """PyG GCNConv's normalisation D~^-1/2 (A + I) D~^-1/2, self loops apart.

  Degrees count the self loop (weight 1), as GCNConv's add_self_loops does.

  Args:
    senders: int [E] (no self loops).
    receivers: int [E].
    num_nodes: N.
    edge_weight: float [E] edge weights, or None for 1.

  Returns:
    (w, self_w): float32 [E] weight of each edge s->t, 1/sqrt(d~_s d~_t) times
    its edge weight, and float32 [N] weight of each node's self loop, 1/d~.
  """
  ew = np.ones(len(senders)) if edge_weight is None else edge_weight
  deg = np.bincount(receivers, weights=ew, minlength=num_nodes) + 1.0
  w = ew / np.sqrt(deg[senders] * deg[receivers])
  return w.astype(np.float32), (1.0 / deg).astype(np.float32)


def item_item(i: np.ndarray, j: np.ndarray, num_items: int,
              counts: np.ndarray, weighted: bool = False,
              node_fields: dict[str, np.ndarray] | None = None,
              **padding) -> jraph.GraphsTuple:
  """The item co-occurrence graph with GCN weights.

  Args:
    i, j: int [E] undirected edges (i != j, no duplicates).
    num_items: I.
    counts: float [E] co-occurrence counts.
    weighted: use the counts as GCN edge weights (default: 1, as in the
      GCN article, which builds an unweighted graph).
    node_fields: per-item arrays [I, ...] (e.g. features) kept in nodes.
    **padding: pad_nodes_to / pad_edges_to, see `from_undirected`.

  Returns:
    The padded GraphsTuple: edges['weight'] the GCN normalisation,
    edges['count'] the raw counts, nodes['self_weight'] the self-loop weight.
  """
  counts = np.concatenate([counts, counts]).astype(np.float32)
  senders = np.concatenate([i, j])
  receivers = np.concatenate([j, i])
  w, self_w = gcn_norm(senders, receivers, num_items,
                       counts if weighted else None)
  return from_undirected(i, j, num_items, weights=w,
                         edge_fields={'count': counts},
                         node_fields={'self_weight': self_w,
                                      **(node_fields or {})}, **padding)


def node_mask(graph: jraph.GraphsTuple) -> np.ndarray:
  """bool [N_pad]: True on real nodes."""
  return np.asarray(jraph.get_node_padding_mask(graph))


def edge_mask(graph: jraph.GraphsTuple) -> np.ndarray:
  """bool [E_pad]: True on real edges."""
  return np.asarray(jraph.get_edge_padding_mask(graph))
