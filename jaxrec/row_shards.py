"""Row-sharded tables: each device owns N / D rows of the node embeddings.

With config.shard_tables the train step's devices split the node table
(users then items, the graph's node ids) into D parts of R = ceil(N / D)
rows: device k owns the nodes i with i % D == k (its local row i // D),
keeps only those rows of the parameters and of Adam's moments, and
computes only those rows of every propagation layer. Dealing the rows out
in turn, rather than in contiguous blocks, gives each device about as many
users, items and edges as the others (contiguous blocks of ML-100K put 4 of
every 5 edges on one of 2 devices). A layer needs the rows its edges read,
the senders of the edges into its rows (its "halo"): before each layer
every device sends each other device the rows of its own that the other
needs, in one all_to_all (kernels_rows.py), so no device holds the whole
table.

This module builds the per-device graph (host side) and moves a TrainState
between its usual layout ([N, d] tables, what checkpoints and evaluation
use) and the sharded one ([D, R, d], pmap in_axes 0). Per device k:

  receivers        int32 [E_s] local row (t // D) of each edge into the
      device's rows, sorted; padding edges last, on row R - 1, weight 0
  senders          int32 [E_s] position of the edge's sender in the
      exchanged halo buffer: j H + h for the h-th row device j sends,
      ascending within each row
  edges[...]       [E_s] the graph's edge fields but 'reverse' (the
      reverse of a local edge usually lives on another device)
  edges['t_order'], ['t_rows'], ['t_cols']  int32 [E_s] the same edges
      sorted by (halo position, local row): the transpose, for the backward
  nodes['in_edges']    int32 [R] edges into each local row (row pointers)
  nodes['halo_edges']  int32 [D H] edges out of each halo position
  nodes['send']        int32 [D, H] for each destination device, the local
      rows it needs from this device (padded with row 0, never read)
  n_edge           int32 [2] (real, padding) edges

globals holds a RowLayout (a pytree node without leaves), by which ops.py
tells a row-sharded graph while tracing. A row sums the same terms as in
the unsharded graph, in the order of their halo positions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jraph
import numpy as np

from jaxrec import graphs


@dataclasses.dataclass(frozen=True)
class RowLayout:
  """What every device knows of the row split (static under jit).

  Attributes:
    num_shards: D.
    rows: R, table rows per device (the last device's tail is padding).
    num_rows: N, the real rows of the table (the graph's real nodes).
    halo: H, rows a device sends to each device per layer (padded).
  """

  num_shards: int
  rows: int
  num_rows: int
  halo: int

  def owner(self, ids):
    """The device that holds each global row id (numpy or jax ints)."""
    return ids % self.num_shards

  def local(self, ids):
    """Each global row id's row on its owner."""
    return ids // self.num_shards


jax.tree_util.register_static(RowLayout)


def is_row_sharded(graph: Any) -> bool:
  return isinstance(graph, jraph.GraphsTuple) and isinstance(
      graph.globals, RowLayout)


def _device_edges(graph: jraph.GraphsTuple, layout: RowLayout):
  """Per device: (senders, local receivers, edge index) of its real edges."""
  real = int(graph.n_edge[0])
  senders = np.asarray(graph.senders)[:real]
  receivers = np.asarray(graph.receivers)[:real]
  owner = layout.owner(receivers)
  return [(senders[owner == k], layout.local(receivers[owner == k]),
           np.flatnonzero(owner == k)) for k in range(layout.num_shards)]


def _needs(senders: np.ndarray, layout: RowLayout):
  """Sorted local rows this device reads from each device."""
  owner = layout.owner(senders)
  return [np.unique(layout.local(senders[owner == j]))
          for j in range(layout.num_shards)]


def _one_device(graph, block, needs, layout: RowLayout, size: int):
  """One device's arrays (see the module docstring)."""
  senders, local, index = block
  d, h = layout.num_shards, layout.halo
  owner = layout.owner(senders)
  pos = np.zeros(len(senders), np.int64)
  for j in range(d):
    mine = owner == j
    pos[mine] = j * h + np.searchsorted(needs[j], layout.local(senders[mine]))
  # CSR order: by local row, then halo position.
  order = np.lexsort((pos, local))
  pos, local, index = pos[order], local[order], index[order]
  pad = size - len(senders)
  # Padding edges: the last row and the last halo position keep both the
  # rows and the columns of every row ascending (as graphs.py pads).
  pos = np.concatenate([pos, np.full(pad, d * h - 1)]).astype(np.int32)
  rows = np.concatenate([local, np.full(pad, layout.rows - 1)]).astype(
      np.int32)
  edges = {k: np.concatenate([np.asarray(v)[index],
                              np.zeros((pad,) + np.shape(v)[1:], v.dtype)])
           for k, v in graph.edges.items() if k != 'reverse'}
  t_order = np.lexsort((rows, pos)).astype(np.int32)
  edges.update(t_order=t_order, t_rows=pos[t_order], t_cols=rows[t_order])
  return dict(
      senders=pos, receivers=rows, edges=edges,
      nodes={'in_edges': np.bincount(rows, minlength=layout.rows),
             'halo_edges': np.bincount(pos, minlength=d * h)},
      n_edge=np.array([len(senders), pad], np.int32))


def shard_graph(graph: jraph.GraphsTuple, num_shards: int
                ) -> jraph.GraphsTuple:
  """The D per-device graphs of a graph from graphs.py, stacked [D, ...].

  Args:
    graph: padded GraphsTuple with its real edges first (host arrays);
      its real nodes are the table's rows.
    num_shards: D >= 1.

  Returns:
    GraphsTuple of numpy arrays with a leading [D] axis on every array but
    n_node, and globals = RowLayout.
  """
  n = int(graph.n_node[0])
  rows = -(-n // num_shards)
  owners = RowLayout(num_shards, rows, n, halo=0)  # The halo comes next.
  blocks = _device_edges(graph, owners)
  needs = [_needs(b[0], owners) for b in blocks]
  halo = max(1, max(len(x) for per_device in needs for x in per_device))
  layout = RowLayout(num_shards, rows, n, halo)
  size = graphs.bucket(max(len(b[0]) for b in blocks))
  per_device = [_one_device(graph, b, nd, layout, size)
                for b, nd in zip(blocks, needs)]
  # send[j][k]: what device j sends device k, i.e. what k needs from j.
  send = np.zeros((num_shards, num_shards, halo), np.int32)
  for k, nd in enumerate(needs):
    for j, rows_jk in enumerate(nd):
      send[j, k, :len(rows_jk)] = rows_jk
  stacked = jax.tree.map(lambda *xs: np.stack(xs), *per_device)
  stacked['nodes']['send'] = send
  return jraph.GraphsTuple(
      nodes={k: v.astype(np.int32) for k, v in stacked['nodes'].items()},
      edges=stacked['edges'], senders=stacked['senders'],
      receivers=stacked['receivers'], n_node=np.asarray(graph.n_node),
      n_edge=stacked['n_edge'], globals=layout)


def graph_axes(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  """pmap in_axes of a row-sharded graph: 0 on every array but n_node."""
  return jraph.GraphsTuple(
      nodes={k: 0 for k in graph.nodes}, edges={k: 0 for k in graph.edges},
      senders=0, receivers=0, n_node=None, n_edge=0, globals=None)


def balance(graph: jraph.GraphsTuple) -> dict[str, Any]:
  """Edges per device, the halo, and what one layer sends per device."""
  real = np.asarray(graph.n_edge)[:, 0]
  layout = graph.globals
  return {'edges_per_shard': real.tolist(),
          'max_over_mean': float(real.max() / max(real.mean(), 1e-9)),
          'rows_per_shard': layout.rows,
          'halo_rows_per_pair': layout.halo,
          'rows_received_per_layer': layout.num_shards * layout.halo}


def _is_table(path, names: tuple[str, ...]) -> bool:
  """Whether a state leaf is one of the named tables (or its Adam moment:
  optax's moments repeat the parameters' tree, so the last key matches)."""
  return bool(path) and getattr(path[-1], 'key', None) in names


def state_axes(state: Any, names: tuple[str, ...]) -> Any:
  """pmap in/out_axes of a TrainState: 0 on the named tables and their
  optimizer moments (row-sharded), None elsewhere (replicated)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: 0 if _is_table(path, names) else None, state)


def _map_tables(fn, axes: Any, state: Any) -> Any:
  """fn(leaf) on axis-0 leaves, np.asarray on the others."""
  return jax.tree.map(lambda axis, x: np.asarray(x) if axis is None else fn(
      np.asarray(x)), axes, state, is_leaf=lambda x: x is None)


def split_rows(x: np.ndarray, layout: RowLayout) -> np.ndarray:
  """[N, ...] -> [D, R, ...]: device k's rows are x[k::D] (zero rows pad
  the last ones)."""
  if x.shape[0] != layout.num_rows:
    raise ValueError(f'A row-sharded table has {x.shape[0]} rows; the '
                     f'graph has {layout.num_rows} nodes.')
  d, r = layout.num_shards, layout.rows
  padding = np.zeros((d * r - len(x),) + x.shape[1:], x.dtype)
  return np.swapaxes(np.concatenate([x, padding]).reshape(r, d, *x.shape[1:]),
                     0, 1)


def join_rows(x: np.ndarray, layout: RowLayout) -> np.ndarray:
  """split_rows's inverse: [D, R, ...] -> [N, ...]."""
  return np.swapaxes(x, 0, 1).reshape(-1, *x.shape[2:])[:layout.num_rows]


def shard_state(state: Any, axes: Any, layout: RowLayout) -> Any:
  """The named tables split by split_rows; host arrays."""
  return _map_tables(lambda x: split_rows(x, layout), axes, state)


def unshard_state(state: Any, axes: Any, layout: RowLayout) -> Any:
  """The tables whole again: the layout checkpoints and evaluation use (so
  a run resumes with or without sharding, on any D); host arrays."""
  return _map_tables(lambda x: join_rows(x, layout), axes, state)


def layout_of(inputs: Any) -> RowLayout:
  """The RowLayout of the (first) row-sharded graph in a model's inputs."""
  graphs_ = [x for x in jax.tree.leaves(
      inputs, is_leaf=is_row_sharded) if is_row_sharded(x)]
  return graphs_[0].globals
