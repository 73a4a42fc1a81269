r"""Row-sharded tables (config.shard_tables): memory, traffic and step time.

  python benchmarks/row_sharding.py [--data=/path/to/ml100k] \
      --out=benchmarks/results/row_sharding.json

LightGCN (configs/lightgcn_ml100k.py with --data, else the built-in
synthetic config), tables replicated or row-sharded, on D fake CPU devices
of one process. Each point runs in a fresh child process: it builds the
run's StepLayout (train.py: the inputs and state where the step takes
them), compiles the real train step, runs two warm-up steps and times
--steps more. Recorded per point: XLA's buffer sizes of one device's step
(arguments: parameters, Adam's moments, graph; temporaries: activations,
exchanged rows), the table rows and edges each device holds, the rows it
receives per layer, the step time and the first loss (the same update in
every point, to float rounding).

Then, on the host only, the same partition of a larger skewed graph
(50k users, 10k items, 1M interactions, item popularity ~ rank^-1) at
D = 2 ... 64: rows per device, and the rows a device receives per layer
(the halo) against the N rows a replicated table holds.

On this CPU the fake devices share its cores: the step times show the
cost of the exchanges, not a speedup.
"""

import json
import os
import platform
import subprocess
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_DATA = flags.DEFINE_string('data', None, 'MovieLens-100K folder; without '
                            'it, the built-in synthetic data.')
_DEVICES = flags.DEFINE_list('devices', ['1', '2'], 'Device counts.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps per point.')
_OUT = flags.DEFINE_string('out', 'benchmarks/results/row_sharding.json',
                           'Where to write the JSON.')
_CHILD = flags.DEFINE_string('child', None, 'Internal: one point, as JSON.')


def _config(data: str | None, shard_tables: bool, devices: int):
  import importlib  # pylint: disable=g-import-not-at-top
  name = 'lightgcn_ml100k' if data else 'lightgcn_synthetic'
  config = importlib.import_module(f'configs.{name}').get_config()
  config.unlock()
  if data:
    config.data.path = data
  config.shard_tables = shard_tables
  config.num_devices = devices
  return config, f'{name}.py'


def _time_point(point: dict) -> dict:
  """In a child process: compile and time one point's train step."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', point['devices'])
  import numpy as np  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, REPO)
  # pylint: disable=g-import-not-at-top
  from jaxrec import row_shards, tasks, train, train_state
  # pylint: enable=g-import-not-at-top
  config, name = _config(point['data'], point['shard_tables'],
                         point['devices'])
  task = tasks.build(config)
  devices = point['devices']
  state = train_state.create(task, config.seed)
  layout = train.StepLayout(config, task, state, devices)
  step = train.make_step(task, layout.inputs_axes, layout.state_axes)
  state = layout.to_step(state)
  batches = task.kind.batches(task, devices)
  times, losses = [], []
  for s in range(_STEPS.value + 2):
    batch = train.shard(batches.batch(*divmod(s, batches.steps_per_epoch)),
                        devices)
    start = time.perf_counter()
    state, loss = step(state, layout.inputs, batch, s)
    losses.append(float(loss))  # Waits for the step.
    times.append(time.perf_counter() - start)
  memory = step.lower(state, layout.inputs, batch,
                      0).compile().memory_analysis()
  graph = task.inputs
  result = {
      'config': name, 'devices': devices,
      'shard_tables': point['shard_tables'],
      'table_rows': int(graph.n_node[0]),
      'step_seconds': round(float(np.median(times[2:])), 5),
      'compile_seconds': round(times[0], 2), 'first_loss': losses[0],
      'device_bytes': {k: getattr(memory, f'{k}_size_in_bytes', None)
                       for k in ('argument', 'output', 'temp')}}
  if point['shard_tables']:
    result['partition'] = row_shards.balance(
        row_shards.shard_graph(graph, devices))
  return result


def _power_law_partition(seed: int = 0) -> dict:
  """Rows per device and rows received per layer on a skewed graph."""
  sys.path.insert(0, REPO)
  # pylint: disable=g-import-not-at-top
  from jaxrec import graphs, row_shards
  from jaxrec.data import synthetic
  # pylint: enable=g-import-not-at-top
  users, items = 50_000, 10_000
  g = graphs.bipartite(*synthetic.power_law_pairs(users, items, seed=seed),
                       users, items)
  out = {'users': users, 'items': items, 'real_edges': int(g.n_edge[0]),
         'by_devices': {}}
  for d in (2, 4, 8, 16, 64):
    b = row_shards.balance(row_shards.shard_graph(g, d))
    b['received_over_table_rows'] = round(
        b['rows_received_per_layer'] / (users + items), 3)
    del b['edges_per_shard']
    out['by_devices'][d] = b
  return out


def _launch(point: dict) -> dict:
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['JAX_PLATFORMS'] = 'cpu'
  proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__),
       f'--child={json.dumps(point)}', f'--steps={_STEPS.value}'],
      capture_output=True, text=True, env=env, timeout=1800, check=False)
  if proc.returncode:
    raise RuntimeError(f'{point} failed:\n{proc.stderr[-3000:]}')
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  return json.loads(line[-1][len('RESULT '):])


def main(argv):
  del argv
  if _CHILD.value:
    print('RESULT ' + json.dumps(_time_point(json.loads(_CHILD.value))),
          flush=True)
    return
  load_before = os.getloadavg()
  points = []
  for d in (int(x) for x in _DEVICES.value):
    for shard_tables in (False, True):
      points.append(_launch({'data': _DATA.value, 'devices': d,
                             'shard_tables': shard_tables}))
      print(json.dumps(points[-1]), flush=True)
  first = points[0]['first_loss']
  result = {
      'command': ' '.join(['benchmarks/row_sharding.py'] + sys.argv[1:]),
      'machine': {'cpu_count': os.cpu_count(), 'platform': platform.platform(),
                  'load_average_1_5_15min': {'start': load_before,
                                             'end': os.getloadavg()}},
      'data': 'ML-100K' if _DATA.value else 'synthetic (built-in)',
      'note': ('Fake CPU devices sharing this machine\'s cores: step times '
               'show the exchanges\' cost, not a speedup. device_bytes are '
               'XLA\'s buffers of one device\'s step.'),
      'points': points,
      'first_loss_max_rel_diff': max(abs(p['first_loss'] - first) / abs(first)
                                     for p in points),
      'power_law_partition': _power_law_partition()}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(result, f, indent=1)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
