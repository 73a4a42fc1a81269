r"""Graph work per device and step time of the train step at D devices.

  python benchmarks/scaling.py --data=/path/to/ml100k \
      [--grcn_modalities=class] --out=benchmarks/results/scaling.json

For each model (the ML-100K configs with --data, else the built-in
synthetic ones) and each point (processes x devices, config.shard_graph
off / on), a fresh child process builds the task, compiles the real train
step (train.make_step, with graph_shards.step_inputs when sharded), runs
two warm-up steps and times --steps more, one at a time to completion
(median and 10th-90th percentiles). Devices are fake CPU devices
(jax_num_cpu_devices) of one process, or 2 processes of one CPU device
each joined by jax.distributed on localhost (gloo collectives).

Recorded per point: the edges each device propagates per pass over the
model's graphs (the sum over its graphs of the padded edge count each
device holds: E unsharded, the shard size E_s sharded; and the real
edges of the fullest shard), the step time, the compile time, the first
step's loss (every point trains the same update, so these agree to float
rounding), and the speedup over one device without sharding. Per graph:
the shards' balance (max / mean real edges) at D = 2, 4, 8.

On a CPU the fake devices are threads of one process sharing the
machine's cores (2 here), and two processes share them too: D devices do
not add compute, so no speedup is expected; what the numbers show is the
per-device work reduction (E -> about E / D) and the cost of the
collectives. Speedups need devices with their own compute (GPUs, TPU
cores, hosts).
"""

import json
import os
import platform
import socket
import subprocess
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_DATA = flags.DEFINE_string('data', None, 'MovieLens-100K folder (the '
                            'RecBole files); without it, synthetic data.')
_MODELS = flags.DEFINE_list(
    'models', ['lightgcn', 'siren', 'pane_gnn', 'grcn', 'gcn_link'],
    'Models to measure.')
_DEVICES = flags.DEFINE_list(
    'devices', None, 'Device counts of one process (default: 1, 2 and, '
    'with 4+ cores, 4).')
_PROCESSES = flags.DEFINE_bool('processes', True, 'Also time 2 processes '
                               'of one CPU device each (jax.distributed).')
_GRCN_MODALITIES = flags.DEFINE_list(
    'grcn_modalities', ['genre'], 'GRCN\'s modalities on --data: the '
    'genres are \'genre\' in the GroupLens files, \'class\' in RecBole\'s.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps per point.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/scaling.json',
                           'Where to write the JSON.')
_CHILD = flags.DEFINE_string('child', None, 'Internal: one point, as JSON.')

# model -> (config with --data, its overrides; synthetic config, overrides).
CONFIGS = {
    'lightgcn': ('lightgcn_ml100k', {}, 'lightgcn_synthetic', {}),
    'siren': ('siren_ml100k', {}, 'siren_synthetic', {}),
    'pane_gnn': ('pane_gnn_ml100k', {}, 'pane_gnn_synthetic', {}),
    'grcn': ('grcn_ml100k', {}, 'grcn_movielens', {}),
    'gcn_link': ('gcn_copurchase_ml100k', {}, 'gcn_copurchase_toy', {}),
}


def _config(model: str, data: str | None, shard: bool, devices: int):
  """The point's run config."""
  import importlib  # pylint: disable=g-import-not-at-top
  name, overrides, synthetic, synthetic_overrides = CONFIGS[model]
  if not data:
    name, overrides = synthetic, synthetic_overrides
  config = importlib.import_module(f'configs.{name}').get_config()
  config.unlock()
  if data:
    config.data.path = data
    if model == 'grcn':
      config.model.modalities = tuple(_GRCN_MODALITIES.value)
  for key, value in overrides.items():
    config.model[key] = value
  config.shard_graph = shard
  config.num_devices = devices
  return config, f'{name}.py'


def _graphs(inputs) -> list:
  """The GraphsTuples in a model's inputs."""
  import jax  # pylint: disable=g-import-not-at-top
  import jraph  # pylint: disable=g-import-not-at-top
  is_graph = lambda x: isinstance(x, jraph.GraphsTuple)
  return [g for g in jax.tree.leaves(inputs, is_leaf=is_graph)
          if is_graph(g)]


def _graph_stats(inputs) -> list[dict]:
  """Per graph of the inputs: edges, padded edges, shard balance."""
  from jaxrec import graph_shards  # pylint: disable=g-import-not-at-top
  return [{'real_edges': int(g.n_edge[0]),
           'padded_edges': int(g.senders.shape[0]),
           'nodes': int(g.n_node[0]),
           'max_over_mean': {d: round(graph_shards.balance(
               graph_shards.shard_graph(g, d))['max_over_mean'], 4)
                             for d in (2, 4, 8)}} for g in _graphs(inputs)]


def _edges_per_device(inputs, shard: bool, devices: int) -> dict:
  """Edges each device holds, summed over the model's graphs."""
  from jaxrec import graph_shards  # pylint: disable=g-import-not-at-top
  padded = real = 0
  for g in _graphs(inputs):
    if shard:
      b = graph_shards.balance(graph_shards.shard_graph(g, devices))
      padded += b['padded_edges_per_shard']
      real += max(b['edges_per_shard'])
    else:
      padded += int(g.senders.shape[0])
      real += int(g.n_edge[0])
  return {'padded': padded, 'real_max': real}


def _memory_model(task) -> dict:
  """Bytes of one device's train step per edge and per node, measured.

  XLA's buffer totals (arguments + outputs + temporaries) of the
  one-device step compiled four times: as built, with every graph padded
  to twice its edges, to twice its nodes (graphs.repad; padding edges and
  nodes cost what real ones cost), and with half the batch. The
  differences give bytes per edge, per padded node (activations) and per
  batch example; the rest (parameters, Adam's moments, gradients) is
  spread over the real nodes, whose embedding rows it mostly is:
  bytes_per_node = per padded node + rest / real nodes.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jraph  # pylint: disable=g-import-not-at-top
  from jaxrec import (graphs, train,  # pylint: disable=g-import-not-at-top
                      train_state)
  is_graph = lambda x: isinstance(x, jraph.GraphsTuple)
  state = train.replicate(train_state.create(task, task.config.seed), 1)
  batch = train.shard(task.kind.batches(task, 1).batch(0, 0), 1)

  examples = len(batch['mask'][0])

  def total(nodes: int, edges: int, share: int = 1) -> int:
    """Bytes at nodes x / edges x the padding, with 1 / share of the batch."""
    inputs = jax.tree.map(
        lambda g: graphs.repad(g, nodes * len(g.nodes['in_edges']),
                               edges * len(g.senders)) if is_graph(g) else g,
        task.inputs, is_leaf=is_graph)
    part = {k: v[:, :examples // share] for k, v in batch.items()}
    m = train.make_step(task).lower(state, jax.device_put(inputs), part,
                                    0).compile().memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes +
            m.temp_size_in_bytes)

  base = total(1, 1)
  graphs_in = _graphs(task.inputs)
  edges = sum(len(g.senders) for g in graphs_in)
  nodes = len(graphs_in[0].nodes['in_edges'])
  real_nodes = int(graphs_in[0].n_node[0])
  per_edge = (total(1, 2) - base) / edges
  per_padded_node = (total(2, 1) - base) / nodes
  per_example = (base - total(1, 1, 2)) / (examples - examples // 2)
  # The rest (parameters, Adam's moments, gradients, update buffers) grows
  # with the embedding tables, i.e. with the real nodes.
  rest = (base - per_edge * edges - per_padded_node * nodes -
          per_example * examples)
  return {'total_bytes': base, 'real_nodes': real_nodes,
          'padded_nodes': nodes, 'padded_edges': edges,
          'batch_examples': examples,
          'bytes_per_edge': round(per_edge, 1),
          'bytes_per_padded_node': round(per_padded_node, 1),
          'bytes_per_example': round(per_example, 1),
          'bytes_per_node': round(per_padded_node + rest / real_nodes, 1),
          'param_bytes': sum(x.nbytes for x in jax.tree.leaves(state.params))}


def _run_point(point: dict) -> dict:
  """In a child process: one point (a timing, the memory model, or the
  balance of the model's graphs)."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', point['local_devices'])
  sys.path.insert(0, REPO)
  from jaxrec import tasks  # pylint: disable=g-import-not-at-top
  if point.get('stats_only'):  # Balance of the model's graphs, no step.
    config, name = _config(point['model'], point['data'], False, 1)
    return {'config': name, 'graphs': _graph_stats(tasks.build(config).inputs)}
  if point.get('memory'):  # Per kernel: csr (CPU's), segment_sum (GPU's).
    config, name = _config(point['model'], point['data'], False, 1)
    result = {'config': name}
    for impl in ('csr', 'segment_sum'):
      config.model.propagation = impl
      result[impl] = _memory_model(tasks.build(config))
    return result
  return _time_point(point)


def _time_point(point: dict) -> dict:
  """Compiles and times the train step of one point (see the docstring)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from jaxrec import distributed, graph_shards, tasks, train, train_state
  # pylint: enable=g-import-not-at-top
  if point['processes'] > 1:
    distributed.initialize(f'localhost:{point["port"]}', point['processes'],
                           point['process_id'])
  config, name = _config(point['model'], point['data'], point['shard'],
                         point['devices'])
  task = tasks.build(config)
  devices = train.num_devices(config)
  batches = task.kind.batches(task, devices)
  if config.shard_graph:
    inputs, axes = graph_shards.step_inputs(task.inputs, devices,
                                            distributed.local_rows)
  else:
    inputs, axes = train.place_inputs(task.inputs, devices), None
  step = train.make_step(task, axes)
  state = train.replicate(train_state.create(task, config.seed), devices)
  times, losses, cpu = [], [], 0.0
  for s in range(_STEPS.value + 2):
    batch = train.shard(batches.batch(*divmod(s, batches.steps_per_epoch)),
                        devices)
    start, start_cpu = time.perf_counter(), time.process_time()
    state, loss = step(state, inputs, batch, s)
    losses.append(float(loss))  # Waits for the step.
    times.append(time.perf_counter() - start)
    cpu += (time.process_time() - start_cpu) if s >= 2 else 0.0
  timed = np.array(times[2:])
  # XLA's accounting of one device's buffers (a second compile).
  memory = step.lower(state, inputs, batch, 0).compile().memory_analysis()
  result = {
      'config': name, 'processes': point['processes'], 'devices': devices,
      'shard_graph': point['shard'],
      'edges_per_device': _edges_per_device(task.inputs, point['shard'],
                                            devices),
      'step_seconds': round(float(np.median(timed)), 5),
      'step_seconds_p10_p90': [round(float(np.percentile(timed, q)), 5)
                               for q in (10, 90)],
      # CPU seconds per wall second of the timed steps: how many cores
      # this process kept busy.
      'cores_busy': round(cpu / float(timed.sum()), 2),
      'compile_seconds': round(times[0], 2), 'first_loss': losses[0],
      'device_bytes': {k: getattr(memory, f'{k}_size_in_bytes', None)
                       for k in ('argument', 'output', 'temp')}}
  if point.get('stats'):
    result['graphs'] = _graph_stats(task.inputs)
  return result


def _power_law_balance(seed: int = 0) -> dict:
  """Shard balance of a skewed synthetic graph: 50k users, 10k items, 1M
  interactions, item popularity ~ rank^-1 (a few items hold many edges, the
  hard case for receiver blocks)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, REPO)
  # pylint: disable=g-import-not-at-top
  from jaxrec import graph_shards, graphs
  from jaxrec.data import synthetic
  # pylint: enable=g-import-not-at-top
  users, items = 50_000, 10_000
  g = graphs.bipartite(*synthetic.power_law_pairs(users, items, seed=seed),
                       users, items)
  in_edges = np.asarray(g.nodes['in_edges'])[:users + items]
  return {'users': users, 'items': items, 'real_edges': int(g.n_edge[0]),
          'max_in_degree': int(in_edges.max()),
          'max_over_mean': {d: round(graph_shards.balance(
              graph_shards.shard_graph(g, d))['max_over_mean'], 4)
                            for d in (2, 4, 8, 16, 64)}}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _launch(point: dict) -> dict:
  """Runs one point in fresh child processes (one per JAX process);
  returns process 0's result."""
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['JAX_PLATFORMS'] = 'cpu'
  procs = []
  for pid in range(point['processes']):
    child = dict(point, process_id=pid)
    cmd = [sys.executable, os.path.abspath(__file__),
           f'--child={json.dumps(child)}', f'--steps={_STEPS.value}',
           f'--grcn_modalities={",".join(_GRCN_MODALITIES.value)}']
    procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env))
  outputs = [p.communicate(timeout=1800) for p in procs]
  for p, (out, err) in zip(procs, outputs):
    if p.returncode:
      raise RuntimeError(f'{point} failed:\n{err[-3000:]}')
  line = [l for l in outputs[0][0].splitlines() if l.startswith('RESULT ')]
  return json.loads(line[-1][len('RESULT '):])


def _points(model: str) -> list[dict]:
  """Every point of a model: one process at each device count (sharded
  and not; sharding one device measures its overhead), then 2 processes."""
  counts = [int(d) for d in _DEVICES.value or
            ([1, 2, 4] if (os.cpu_count() or 1) >= 4 else [1, 2])]
  base = {'model': model, 'data': _DATA.value, 'processes': 1}
  points = [dict(base, devices=d, local_devices=d, shard=s)
            for d in counts for s in (False, True)]
  points[0]['stats'] = True  # Also the balance of the model's graphs.
  if _PROCESSES.value:
    points += [dict(base, processes=2, devices=2, local_devices=1, shard=s,
                    port=_free_port()) for s in (False, True)]
  return points


def _summary(model: str) -> dict:
  results = []
  for point in _points(model):
    result = _launch(point)
    print(json.dumps(result), flush=True)
    results.append(result)
  first = results[0]
  one = (first['step_seconds'] if first['devices'] == 1 and
         not first['shard_graph'] else None)
  for r in results:  # Over 1 process, 1 device, whole graph.
    r['speedup_vs_one_device'] = one and round(one / r['step_seconds'], 3)
  base_edges = results[0]['edges_per_device']['padded']
  memory = _launch({'model': model, 'data': _DATA.value, 'processes': 1,
                    'local_devices': 1, 'memory': True})
  print(json.dumps(memory), flush=True)
  return {
      'memory_one_device': memory,
      'config': results[0]['config'], 'graphs': results[0].pop('graphs'),
      'points': results,
      'edge_reduction_per_device': {
          f'{r["processes"]}x{r["devices"] // r["processes"]}': round(
              base_edges / r['edges_per_device']['padded'], 3)
          for r in results if r['shard_graph']},
      'first_loss_max_rel_diff': max(
          abs(r['first_loss'] - results[0]['first_loss']) /
          abs(results[0]['first_loss']) for r in results)}


def main(argv):
  del argv
  if _CHILD.value:
    print('RESULT ' + json.dumps(_run_point(json.loads(_CHILD.value))),
          flush=True)
    return
  load_before = os.getloadavg()
  models = {m: _summary(m) for m in _MODELS.value}
  balance = {'power_law_synthetic': _power_law_balance()}
  if _DATA.value:  # The built-in synthetic configs' graphs too.
    balance.update({m: _launch({'model': m, 'data': None, 'processes': 1,
                                'local_devices': 1, 'stats_only': True})
                    for m in _MODELS.value})
  report = {
      'command': ' '.join(sys.argv),
      'machine': {'cpu_count': os.cpu_count(), 'platform': platform.platform(),
                  'processor': platform.processor(),
                  # Other work on the machine competes with the timings.
                  'load_average_1_5_15min': {'start': load_before,
                                             'end': os.getloadavg()}},
      'data': 'ML-100K' if _DATA.value else 'synthetic (built-in)',
      'timed_steps': _STEPS.value,
      'note': (
          'CPU only: the D devices are fake CPU devices of one process (or '
          '2 processes of one device each) sharing this machine\'s '
          f'{os.cpu_count()} cores, so a D-device step has no more compute '
          'than a 1-device step and no speedup is expected here. '
          'edges_per_device shows the work per device: sharded, about E / D '
          '(padded to a bucket), against E for every device without '
          'sharding. Speedups need devices with their own compute.'),
      'models': models,
      # Shard balance (max / mean real edges per shard) of other graphs.
      'balance': balance}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(report, f, indent=1)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
