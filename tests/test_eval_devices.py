"""Evaluation spread over devices and processes (metrics.evaluate).

Chunks of users go to every device of every process, and their sums come
back to every process, where they are added in chunk order: the metrics on
2 (fake CPU) devices, and on 2 processes of one device each, must equal the
one-device numbers exactly (==, not approximately). Those run in
subprocesses (the device count is fixed when JAX starts); an XLA:CPU
collectives abort (exit 134, seen on 2-core machines) is retried, as in
tests/test_train.py.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import metrics
from jaxrec.data.dataset import Interactions
from jaxrec.errors import TrainingDiverged

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
CHUNK = 8
NAN_USER = 40  # Of chunk 3 (device 1, process 1): its scores are NaN.


def planted():
  """(outputs, truth, exclude, num_items): 50 users, 37 of them with
  truth (5 chunks of 8, the last one short: not a multiple of 8 x 2
  devices), random embeddings whose dot products rank 30 items."""
  rng = np.random.default_rng(0)
  users, items = 50, 30
  def pairs(n, among):
    return Interactions(rng.choice(among, n).astype(np.int32),
                        rng.integers(0, items, n).astype(np.int32))
  test = pairs(90, np.arange(37) + 13)  # Users 13..49, each at least once.
  test = Interactions(np.concatenate([np.arange(13, 50), test.user]),
                      np.concatenate([np.arange(37) % items, test.item]))
  train = pairs(400, np.arange(users))
  outputs = (rng.normal(size=(users, 4)).astype(np.float32),
             rng.normal(size=(items, 4)).astype(np.float32))
  return (outputs, metrics.UserItems([test], users),
          metrics.UserItems([train], users), items)


def dot_scores(outputs, users):
  """The planted ScoreFn."""
  user_emb, item_emb = outputs
  return jnp.asarray(user_emb)[users] @ jnp.asarray(item_emb).T


def run_all(num_devices=0):
  """What a child reports: the metrics (floats as their repr, in order),
  whether NaN scores of NAN_USER alone raised, and which chunks this
  process built (metrics._Chunks.inputs' argument)."""
  outputs, truth, exclude, items = planted()
  built = []
  inputs = metrics._Chunks.inputs  # pylint: disable=protected-access
  def recording(self, c):
    built.append(c)
    return inputs(self, c)
  metrics._Chunks.inputs = recording  # pylint: disable=protected-access
  args = (truth, exclude, items, (3, 10), CHUNK, num_devices)
  result = metrics.evaluate(dot_scores, outputs, *args)
  chunks = list(built)
  outputs[0][NAN_USER] = np.nan  # Same program, no second compile.
  try:
    metrics.evaluate(dot_scores, outputs, *args)
    diverged = False
  except TrainingDiverged:
    diverged = True
  metrics._Chunks.inputs = inputs  # pylint: disable=protected-access
  return {'metrics': [(k, repr(v)) for k, v in result.items()],
          'diverged': diverged, 'chunks': chunks,
          'devices': jax.device_count()}


# argv: local devices, process id, processes, port, num_devices, output.
_CHILD = textwrap.dedent('''
    import json, sys
    devices, pid, n, port, num_devices = map(int, sys.argv[1:6])
    import jax
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', devices)
    sys.path[:0] = [{repo!r}, {tests!r}]
    from jaxrec import distributed
    if n > 1:
      distributed.initialize(f'localhost:{{port}}', n, pid)
    import test_eval_devices
    with open(sys.argv[6], 'w') as f:
      json.dump(test_eval_devices.run_all(num_devices), f)
''')


def _children(tmp_path, runs):
  """Runs children (local devices, pid, processes, port, num_devices)
  side by side; returns what each reported."""
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['JAX_PLATFORMS'] = 'cpu'
  code = _CHILD.format(repo=REPO, tests=TESTS)
  for attempt in range(2):
    outs = [str(tmp_path / f'out{attempt}_{i}.json') for i in range(len(runs))]
    procs = [subprocess.Popen(
        [sys.executable, '-c', code, *map(str, run), out], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for run, out in zip(runs, outs)]
    codes, errors = [], []
    for p in procs:
      try:
        errors.append(p.communicate(timeout=120)[1][-3000:])
      except subprocess.TimeoutExpired:
        for q in procs:
          q.kill()
        raise
      codes.append(p.returncode)
    if 134 not in codes:
      break
  assert codes == [0] * len(runs), '\n'.join(errors)
  results = []
  for out in outs:
    with open(out) as f:
      results.append(json.load(f))
  return results


@pytest.fixture(scope='module')
def one_device():
  """The reference: this process, one device (plain jitted calls)."""
  return json.loads(json.dumps(run_all(num_devices=1)))


def test_two_devices_equal_one_device(tmp_path, one_device):
  """2 devices: calls of 2 chunks (the third call's second chunk is
  padding), the sums bit-identical to one device's."""
  [got] = _children(tmp_path, [(2, 0, 1, 0, 0)])
  assert got['devices'] == 2
  assert one_device['chunks'] == [0, 1, 2, 3, 4]
  assert got['chunks'] == [0, 1, 2, 3, 4, 5]
  assert got['metrics'] == one_device['metrics']
  assert got['diverged'] and one_device['diverged']


def test_two_processes_equal_one_process(tmp_path, one_device):
  """2 processes of 1 device: each builds every other chunk, and both get
  the 1-process metrics exactly; process 0 learns of process 1's NaN."""
  port = _free_port()
  results = _children(tmp_path, [(1, pid, 2, port, 0) for pid in (0, 1)])
  assert [r['devices'] for r in results] == [2, 2]
  assert [r['chunks'] for r in results] == [[0, 2, 4], [1, 3, 5]]
  for got in results:
    assert got['metrics'] == one_device['metrics']
    assert got['diverged']


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_eval_devices_respect_num_devices():
  local = jax.local_devices()
  assert metrics.eval_devices(0) == local
  assert metrics.eval_devices(1) == local[:1]
  assert metrics.eval_devices(len(local) + 3) == local  # Capped.


def test_chunk_sums_add_in_order_as_on_device():
  """The host sum is the running float32 sum evaluation kept on device
  before, not numpy's pairwise one: 1e8 then ones stays 1e8 (its float32
  spacing is 8), where pairwise would reach 1e8 + 16."""
  x = np.array([1e8] + [1.0] * 16, np.float32)
  running = jnp.float32(x[0])
  for v in x[1:]:
    running = running + jnp.float32(v)
  in_order = metrics._in_order(x)  # pylint: disable=protected-access
  assert in_order == np.float32(running) == np.float32(1e8)
  assert np.sum(x) != np.float32(1e8)  # What the test guards against.
