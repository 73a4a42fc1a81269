"""Edge shards of padded graphs: the train step's graph work split D ways.

With config.shard_graph every graph in the model's inputs is cut into D
shards, one per device of the train step's pmap, by blocks of receivers:
the real nodes [0, N) are cut into D contiguous blocks holding about E/D
incoming edges each (prefix sums of in-degrees), and device d gets the
edges into its block. Receiver blocks keep all of a node's incoming edges
on one device, so per-receiver work (a softmax over a node's incoming edges)
stays local; only the node-level sums cross devices
(kernels_sharded.py). A block cannot split a node, so the balance is
within one node's in-degree of E/D; `balance` measures it.

A sharded graph is a GraphsTuple whose per-edge arrays carry a leading
[D] axis (pmap in_axes 0), each shard padded to the same edge count E_s
as graphs.py pads (self loops on the first padding node, weight 0, after
the real edges, so ops.edge_mask still holds). Per shard:

  senders, receivers, edges[...]  [D, E_s] this shard's edges, sorted by
      (receiver, sender); every edge field of the graph but 'reverse'
      (the reverse of a local edge usually lives on another device)
  edges['pair']     int32 [D, E_s] global index of the undirected edge (the
      smaller of the edge's and its reverse's index): per-edge random
      draws are made over the whole graph, as on one device
  edges['t_order'], edges['t_rows'], edges['t_cols']  int32 [D, E_s] the
      shard's edges sorted by (sender, receiver), their senders and
      receivers: A_d^T in CSR order, for the backward
  nodes['in_edges'], nodes['out_edges']  int32 [D, N_pad] the shard's
      in- and out-degrees (the row pointers of A_d and A_d^T)
  n_edge  int32 [D, 2] (real, padding) edges of the shard

Other node fields (features, self-loop weights) and n_node are the
graph's own, broadcast to every device. globals holds a ShardLayout, a
pytree node without leaves: ops.adjacency tells a sharded graph by it
while tracing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jraph
import numpy as np

from jaxrec import graphs
from jaxrec import row_shards
from jaxrec.kernels import AXIS

# Node fields that differ between shards (pmap in_axes 0).
SHARDED_NODE_FIELDS = ('in_edges', 'out_edges')


@dataclasses.dataclass(frozen=True)
class ShardLayout:
  """What every device knows of a sharded graph (static under jit).

  Attributes:
    num_shards: D.
    num_edges: the unsharded graph's padded edge count E.
  """

  num_shards: int
  num_edges: int


jax.tree_util.register_static(ShardLayout)


def is_sharded(graph: jraph.GraphsTuple) -> bool:
  return isinstance(graph.globals, ShardLayout)


def receiver_blocks(in_edges: np.ndarray, num_shards: int) -> np.ndarray:
  """Cut points of D node blocks with balanced incoming-edge counts.

  Args:
    in_edges: int [N] incoming (real) edges of each node.
    num_shards: D.

  Returns:
    int [D + 1] ascending, from 0 to N: block d is nodes [c[d], c[d + 1]).
    Each inner cut is the node boundary nearest to d * E / D.
  """
  prefix = np.concatenate([[0], np.cumsum(in_edges)])
  target = prefix[-1] * np.arange(1, num_shards) / num_shards
  right = np.clip(np.searchsorted(prefix, target), 1, len(prefix) - 1)
  left = right - 1
  nearer_left = target - prefix[left] <= prefix[right] - target
  inner = np.where(nearer_left, left, right)
  cuts = np.concatenate([[0], inner, [len(in_edges)]])
  return np.maximum.accumulate(cuts).astype(np.int64)


def _pad(x: np.ndarray, n: int) -> np.ndarray:
  """x with zero rows appended along its leading axis up to length n."""
  return np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], x.dtype)])


def _one_shard(graph: jraph.GraphsTuple, start: int, stop: int, size: int
               ) -> dict[str, Any]:
  """Edges [start, stop) of the graph as one padded shard of `size` edges."""
  n_pad = len(graph.nodes['in_edges'])
  pad_node = int(graph.n_node[0])  # The first padding node, as graphs.py.
  index = np.arange(start, stop)
  padding = np.full(size - len(index), pad_node, np.int32)
  senders = np.concatenate([np.asarray(graph.senders)[index], padding])
  receivers = np.concatenate([np.asarray(graph.receivers)[index], padding])
  edges = {k: _pad(np.asarray(v)[index], size)
           for k, v in graph.edges.items() if k != 'reverse'}
  reverse = np.asarray(graph.edges['reverse'])[index]
  edges['pair'] = _pad(np.minimum(index, reverse).astype(np.int32), size)
  t_order = np.lexsort((receivers, senders)).astype(np.int32)
  edges.update(t_order=t_order, t_rows=senders[t_order],
               t_cols=receivers[t_order])
  count = lambda ids: np.bincount(ids, minlength=n_pad).astype(np.int32)
  return dict(senders=senders, receivers=receivers, edges=edges,
              nodes={'in_edges': count(receivers), 'out_edges': count(senders)},
              n_edge=np.array([len(index), len(padding)], np.int32))


def shard_graph(graph: jraph.GraphsTuple, num_shards: int
                ) -> jraph.GraphsTuple:
  """The D edge shards of a graph from graphs.py (see the module docstring).

  Args:
    graph: padded GraphsTuple, edges sorted by receiver, with
      edges['reverse'] and nodes['in_edges'] (host arrays).
    num_shards: D >= 1.

  Returns:
    The sharded GraphsTuple (numpy arrays; sharded fields [D, ...]).
  """
  receivers = np.asarray(graph.receivers)
  real, num_nodes = int(graph.n_edge[0]), int(graph.n_node[0])
  # Real edges into nodes < c: edges are sorted by receiver.
  indptr = np.searchsorted(receivers[:real], np.arange(num_nodes + 1))
  cuts = receiver_blocks(np.diff(indptr), num_shards)
  starts, stops = indptr[cuts[:-1]], indptr[cuts[1:]]
  size = graphs.bucket(int(np.max(stops - starts)))
  shards = [_one_shard(graph, a, b, size) for a, b in zip(starts, stops)]
  stacked = jax.tree.map(lambda *xs: np.stack(xs), *shards)
  nodes = {**graph.nodes, **stacked['nodes']}
  return jraph.GraphsTuple(
      nodes=nodes, edges=stacked['edges'], senders=stacked['senders'],
      receivers=stacked['receivers'], n_node=np.asarray(graph.n_node),
      n_edge=stacked['n_edge'],
      globals=ShardLayout(num_shards, len(receivers)))


def _graph_axes(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  """pmap in_axes of a sharded graph: 0 on per-shard arrays, else None."""
  return jraph.GraphsTuple(
      nodes={k: 0 if k in SHARDED_NODE_FIELDS else None for k in graph.nodes},
      edges={k: 0 for k in graph.edges}, senders=0, receivers=0,
      n_node=None, n_edge=0, globals=None)


def _is_graph(x: Any) -> bool:
  return isinstance(x, jraph.GraphsTuple)


def _graph_axes_any(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  if row_shards.is_row_sharded(graph):
    return row_shards.graph_axes(graph)
  return _graph_axes(graph)


def shard_inputs(inputs: Any, num_shards: int,
                 split: Callable[[jraph.GraphsTuple, int], Any] | None = None
                 ) -> tuple[Any, Any]:
  """Every graph in a model's inputs sharded D ways, and pmap's in_axes.

  Args:
    inputs: the model's inputs (spec.inputs: a graph, several graphs, a
      dict with a graph and features), host arrays.
    num_shards: D, the train step's device count.
    split: (graph, D) -> its per-device graph: shard_graph (edge shards)
      by default, row_shards.shard_graph for row-sharded tables.

  Returns:
    (inputs with each GraphsTuple replaced by its per-device graph, the
    in_axes pytree: 0 on sharded arrays, None on everything else).
  """
  split = split or shard_graph
  sharded = jax.tree.map(
      lambda x: split(x, num_shards) if _is_graph(x) else x, inputs,
      is_leaf=_is_graph)
  axes = jax.tree.map(lambda x: _graph_axes_any(x) if _is_graph(x) else None,
                      sharded, is_leaf=_is_graph)
  return sharded, axes


def place(inputs: Any, axes: Any, num_devices: int) -> Any:
  """inputs on the first num_devices local devices, as the pmapped step
  takes them: in_axes-0 arrays split along their leading axis, the rest
  replicated (so no step call moves them again)."""
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:num_devices]),
                           (AXIS,))
  spec = lambda axis: (jax.sharding.PartitionSpec() if axis is None else
                       jax.sharding.PartitionSpec(AXIS))
  return jax.tree.map(
      lambda axis, x: jax.device_put(
          x, jax.sharding.NamedSharding(mesh, spec(axis))),
      axes, inputs, is_leaf=lambda x: x is None)


def step_inputs(inputs: Any, num_devices: int,
                rows: Callable[[Any], Any] | None = None,
                split: Callable[[jraph.GraphsTuple, int], Any] | None = None
                ) -> tuple[Any, Any]:
  """The train step's edge-sharded model inputs on device, and their in_axes.

  Args:
    inputs: the model's inputs (host arrays).
    num_devices: D, the devices of the step (of all processes).
    rows: [D, ...] arrays -> this process's rows (its local devices'
      shards, as pmap takes host-local arrays in a multi-process run;
      distributed.local_rows), or None: all D on this process.
    split: see shard_inputs.

  Returns:
    (shard_inputs()'s inputs placed on this process's devices, in_axes).
  """
  sharded, axes = shard_inputs(inputs, num_devices, split)
  if rows is not None:
    sharded = jax.tree.map(lambda axis, x: x if axis is None else rows(x),
                           axes, sharded, is_leaf=lambda x: x is None)
  local = num_devices if rows is None else _leading_size(sharded, axes)
  return place(sharded, axes, local), axes


def _leading_size(inputs: Any, axes: Any) -> int:
  """The leading axis of the in_axes-0 arrays (this process's shards)."""
  sizes = jax.tree.leaves(jax.tree.map(
      lambda axis, x: None if axis is None else x.shape[0], axes, inputs,
      is_leaf=lambda x: x is None))
  return sizes[0]


def balance(graph: jraph.GraphsTuple) -> dict[str, Any]:
  """A sharded graph's load: real edges per shard and max / mean."""
  real = np.asarray(graph.n_edge)[:, 0]
  return {'edges_per_shard': real.tolist(),
          'padded_edges_per_shard': int(graph.senders.shape[1]),
          'unsharded_padded_edges': graph.globals.num_edges,
          'max_over_mean': float(real.max() / max(real.mean(), 1e-9))}
