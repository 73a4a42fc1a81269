"""Multi-process training (jaxrec.distributed): 2 processes on localhost.

Each child process is one CPU device; the two join through
jax.distributed (JAX's CPU collectives, gloo, carry the pmap's psum and
all_gather between them). Their run must equal a one-process run, and only
process 0 may write the run's files.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxrec import distributed
from jaxrec import evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# argv: process id, number of processes, port, workdir, config, output file.
# It trains, evaluates the test split, and writes what it saw to the output
# file: the files it opened for writing in the workdir (an audit hook sees
# every open; orbax's checkpoints/ excepted), the results and the final
# parameters.
_CHILD = textwrap.dedent('''
    import importlib, json, os, sys
    pid, n, port, workdir, config_arg, out = sys.argv[1:]
    pid, n = int(pid), int(n)
    written = set()

    def audit(event, args):
      if event == 'open' and isinstance(args[0], (str, bytes)):
        path = os.path.abspath(os.fsdecode(args[0]))
        mode, flags = args[1] or '', args[2] or 0
        writes = any(c in mode for c in 'wax+') or flags & (
            os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
        inside = path.startswith(os.path.abspath(workdir) + os.sep)
        if writes and inside and os.sep + 'checkpoints' not in path:
          written.add(os.path.relpath(path, workdir).split('.tmp-')[0])

    sys.addaudithook(audit)
    import jax
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', 1)
    sys.path.insert(0, {repo!r})
    import numpy as np
    from jaxrec import (checkpoint, distributed, evaluate, tasks, train,
                        train_state)
    if n > 1:
      distributed.initialize(f'localhost:{{port}}', n, pid)
    module, _, variant = config_arg.partition(':')
    config = importlib.import_module('configs.' + module).get_config(variant)
    config.unlock()
    config.num_epochs = 2
    result = train.train_and_evaluate(config, workdir)
    evaluation = evaluate.evaluate_workdir(workdir, 'test')
    task = tasks.build(config)
    ckpts = checkpoint.Checkpoints(workdir, read_only=True)
    state, _ = ckpts.restore(ckpts.latest_epoch(), train_state.abstract(task))
    leaves = jax.tree_util.tree_flatten_with_path(state.params)[0]
    params = {{jax.tree_util.keystr(k): np.asarray(v).tolist()
              for k, v in leaves}}
    with open(out, 'w') as f:
      json.dump({{'written': sorted(written), 'result': result,
                 'evaluation': evaluation, 'params': params,
                 'devices': jax.device_count()}}, f)
''')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _start(pid, n, port, workdir, config_arg, out):
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  env['JAX_PLATFORMS'] = 'cpu'
  code = _CHILD.format(repo=REPO)
  return subprocess.Popen(
      [sys.executable, '-c', code, str(pid), str(n), str(port), workdir,
       config_arg, out], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _run(procs):
  """Waits for the processes; returns their exit codes and stderr tails."""
  codes, errors = [], []
  for p in procs:
    try:
      _, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
    codes.append(p.returncode)
    errors.append(err[-3000:])
  return codes, errors


def _train(tmp_path, config_arg):
  """A 1-process run and a 2-process run, side by side; their outputs.

  An XLA:CPU collectives abort (exit 134, seen on 2-core machines) is
  retried once, as in tests/test_train.py.
  """
  for attempt in range(2):
    base = tmp_path / f'attempt{attempt}'
    port = _free_port()
    outs = [str(base / f'out{i}.json') for i in range(3)]
    procs = [_start(0, 1, 0, str(base / 'one'), config_arg, outs[0])]
    procs += [_start(i, 2, port, str(base / 'two'), config_arg, outs[1 + i])
              for i in range(2)]
    codes, errors = _run(procs)
    if 134 not in codes:
      break
  assert codes == [0, 0, 0], '\n'.join(errors)
  results = []
  for out in outs:
    with open(out) as f:
      results.append(json.load(f))
  return base, results


def _timeless(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [{k: v for k, v in json.loads(line).items() if 'seconds' not in k
             and 'per_sec' not in k} for line in f]


def _assert_close(a, b):
  """Equal dicts / lists, numbers within 1e-6."""
  assert type(a) is type(b) or {type(a), type(b)} <= {int, float}
  if isinstance(a, dict):
    assert sorted(a) == sorted(b)
    for k in a:
      _assert_close(a[k], b[k])
  elif isinstance(a, list) and a and isinstance(a[0], dict):
    assert len(a) == len(b)
    for x, y in zip(a, b):
      _assert_close(x, y)
  elif isinstance(a, list):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                               rtol=1e-6, atol=1e-6)
  elif isinstance(a, float):
    assert a == pytest.approx(b, rel=1e-6, abs=1e-6)
  else:
    assert a == b


def test_two_processes_equal_one_process(tmp_path):
  """LightGCN's smoke run, 2 epochs. (PANE-GNN, whose loss also gathers the
  global batch across processes, compiles for tens of seconds here: its
  2-process run was checked by hand, on configs/pane_gnn_ml100k.py:smoke.)"""
  base, (one, first, second) = _train(tmp_path, 'lightgcn_synthetic:smoke')
  assert (one['devices'], first['devices']) == (1, 2)
  # Every process holds the same run; it equals the 1-process run.
  for two in (first, second):
    _assert_close(two['params'], one['params'])
    _assert_close(two['result'], one['result'])
    _assert_close(two['evaluation'], one['evaluation'])
  _assert_close(_timeless(base / 'two'), _timeless(base / 'one'))
  # One process (this one) restores the checkpoint two processes saved.
  _, params, epoch = evaluate.restore_run(str(base / 'two'), 'latest')
  assert epoch == 2
  _assert_close({jax.tree_util.keystr(k): np.asarray(v).tolist() for k, v in
                 jax.tree_util.tree_flatten_with_path(params)[0]},
                one['params'])
  with open(base / 'two' / 'eval_test.json') as f:
    _assert_close(json.load(f), {'split': 'test', 'checkpoint': 'best',
                                 **one['evaluation']})
  # Process 0 wrote the run's files, and process 1 none.
  assert first['written'] == one['written']
  assert {'metrics.jsonl', 'config.json', 'data_fingerprint.json',
          '.jaxrec.lock', 'eval_test.json'} <= set(first['written'])
  assert second['written'] == []


def test_one_process_without_a_cluster(monkeypatch):
  """No flags, no cluster: no jax.distributed; a SLURM job of one task
  is one process too (all local devices stay visible), of two it is not."""
  for var in ('SLURM_JOB_ID', 'OMPI_MCA_orte_hnp_uri',
              'KUBERNETES_SERVICE_HOST'):
    monkeypatch.delenv(var, raising=False)
  assert distributed._detected_processes() == 1
  slurm = {'SLURM_JOB_ID': '7', 'SLURM_STEP_NODELIST': 'node1',
           'SLURM_NTASKS': '1', 'SLURM_PROCID': '0', 'SLURM_LOCALID': '0'}
  for key, value in slurm.items():
    monkeypatch.setenv(key, value)
  assert distributed._detected_processes() == 1
  distributed.initialize()
  assert distributed.process_count() == 1 and distributed.is_primary()
  monkeypatch.setenv('SLURM_NTASKS', '2')
  assert distributed._detected_processes() == 2


def test_local_rows_are_this_process_share(monkeypatch):
  """[D, ...] rows over 4 devices of 2 processes: process 1 feeds 2, 3."""
  batch = {'user': np.arange(8).reshape(4, 2)}
  assert distributed.local_rows(batch) is batch
  monkeypatch.setattr(distributed, 'process_count', lambda: 2)
  monkeypatch.setattr(distributed, 'process_index', lambda: 1)
  np.testing.assert_array_equal(distributed.local_rows(batch)['user'],
                                [[4, 5], [6, 7]])
  stacked = np.arange(12).reshape(1, 4, 3)  # [R, D, B / D]
  np.testing.assert_array_equal(distributed.local_rows(stacked, 1),
                                [[[6, 7, 8], [9, 10, 11]]])
