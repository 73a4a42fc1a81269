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
without a second copy of the structure (see ops.py).

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
    pad_nodes_to: total node count after padding (default: bucket(N + 1)).
    pad_edges_to: total edge count after padding (default: bucket(2E)).

  Returns:
    A GraphsTuple with two graphs (the real one and the padding one), edges
    sorted by (receiver, sender), edge fields 'weight' and 'reverse', node
    field 'in_edges'.
  """
  heads = np.asarray(heads, np.int64)
  tails = np.asarray(tails, np.int64)
  num_edges = len(heads)
  senders = np.concatenate([heads, tails])
  receivers = np.concatenate([tails, heads])
  if weights is None:
    weights = symmetric_norm(senders, receivers, num_nodes)
  weights = np.asarray(weights, np.float32)
  # Edge k's reverse is k + E (and vice versa) before sorting.
  reverse = np.concatenate([np.arange(num_edges, 2 * num_edges),
                            np.arange(num_edges)])
  order = np.lexsort((senders, receivers))
  position = np.empty_like(order)
  position[order] = np.arange(len(order))
  senders, receivers = senders[order], receivers[order]
  weights, reverse = weights[order], position[reverse[order]]

  n_node = pad_nodes_to or bucket(num_nodes + 1)
  n_edge = pad_edges_to or bucket(2 * num_edges)
  if n_node <= num_nodes or n_edge < 2 * num_edges:
    raise ValueError(f'Padding to {n_node} nodes / {n_edge} edges cannot hold '
                     f'{num_nodes} nodes (+1 padding) / {2 * num_edges} edges.')
  pad_e = n_edge - 2 * num_edges
  pad_node = num_nodes  # First padding node; padding edges are its self loops.
  receivers_all = np.concatenate([receivers, np.full(pad_e, pad_node)])
  return jraph.GraphsTuple(
      nodes={'in_edges': np.bincount(receivers_all, minlength=n_node)
             .astype(np.int32)},
      edges={
          'weight': np.concatenate([weights, np.zeros(pad_e, np.float32)]),
          'reverse': np.concatenate(
              [reverse, np.arange(2 * num_edges, n_edge)]).astype(np.int32),
      },
      senders=np.concatenate(
          [senders, np.full(pad_e, pad_node)]).astype(np.int32),
      receivers=receivers_all.astype(np.int32),
      globals=None,
      n_node=np.array([num_nodes, n_node - num_nodes], np.int32),
      n_edge=np.array([2 * num_edges, pad_e], np.int32),
  )


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


def num_real_nodes(graph: jraph.GraphsTuple) -> int:
  """Nodes before padding (static, read on the host)."""
  return int(np.asarray(graph.n_node)[0])


def node_mask(graph: jraph.GraphsTuple) -> np.ndarray:
  """bool [N_pad]: True on real nodes."""
  return np.asarray(jraph.get_node_padding_mask(graph))


def edge_mask(graph: jraph.GraphsTuple) -> np.ndarray:
  """bool [E_pad]: True on real edges."""
  return np.asarray(jraph.get_edge_padding_mask(graph))
