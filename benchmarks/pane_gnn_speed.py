"""Speed and memory of PANE-GNN, SiReN and LightGCN at MovieLens-1M scale.

The data is the built-in synthetic signed dataset at ML-1M's size (6,040
users, 3,952 items, about 1M ratings, ~60% likes), cut into five folds like
the paper's protocol; fold 0 trains on ~800k ratings. It goes through the
same pipeline, sampler and train step as a real run. Measured per model, in
a fresh process each (so that peak memory is the model's own):

  step_ms        median wall time of one training step, host batch
                 (sampling K negatives) included, as the epoch loop runs it
  epoch_s        one whole epoch by the training loop (--full_epoch), else
                 step_ms x steps per epoch
  eval_s         full-ranking evaluation of every test user (all items, train
                 items masked, PANE-GNN's filter applied), median of 3
  peak_rss_gb    the process's peak resident memory

  python benchmarks/pane_gnn_speed.py                      # all three models
  python benchmarks/pane_gnn_speed.py --models=pane_gnn --full_epoch

Writes benchmarks/results/pane_gnn_speed.json. The authors' PyTorch figures
it quotes for comparison (5.1 s per batch, 113 s per evaluation, on the
same kind of 2-core machine, ML-1M, K = 40, batch 1024) were measured by
the people who filed the task, not by this script.
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax

from configs import common
from configs import lightgcn_ml100k_signed
from configs import pane_gnn_synthetic
from configs import siren_synthetic
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state

if __name__ == '__main__':
  # Flags only when run as a script: benchmarks/gpu_check.py imports
  # time_model next to other benchmarks' functions (which define --out too).
  _MODELS = flags.DEFINE_list('models', ['pane_gnn', 'siren', 'lightgcn'],
                              'Models to time, each in its own process.')
  _STEPS = flags.DEFINE_integer('steps', 40, 'Timed training steps.')
  _FULL_EPOCH = flags.DEFINE_bool('full_epoch', False,
                                  'Also time one whole epoch.')
  _OUT = flags.DEFINE_string('out', 'benchmarks/results/pane_gnn_speed.json',
                             'Where to write the JSON results.')
  _ONE = flags.DEFINE_string('one', None, 'Internal: time this model only '
                             'and print its JSON record.')

# Reported for the authors' code on ML-1M (K = 40, batch 1024), 2-core CPU.
AUTHORS = {'pane_gnn_step_s': 5.1, 'siren_step_s': 3.1,
           'pane_gnn_eval_s': 113.0, 'pane_gnn_epoch_h': 1.1}


def ml1m_scale_config(model: str):
  """The model's paper config on ML-1M-sized synthetic signed data."""
  if model == 'lightgcn':
    c = lightgcn_ml100k_signed.get_config()
    common.signed_protocol(c, 'synthetic')
  else:
    c = {'pane_gnn': pane_gnn_synthetic,
         'siren': siren_synthetic}[model].get_config()
  s = c.data.synthetic
  s.num_users, s.num_items, s.num_clusters = 6040, 3952, 20
  # About 1M ratings after de-duplication (ML-1M: 1,000,209).
  s.interactions_per_user, s.dislikes_per_user = 110.0, 90.0
  c.data.val_ratio = 0.0  # Speed only: train on the whole fold.
  return c


def _median_seconds(fn, reps: int) -> float:
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def time_model(model: str, steps: int = 40, full_epoch: bool = False,
               config=None) -> dict:
  """Times one model (in this process).

  Args:
    model: 'pane_gnn', 'siren' or 'lightgcn'.
    steps: timed training steps (after 4 warm-up ones).
    full_epoch: also time one whole epoch.
    config: the run config (default ml1m_scale_config(model)).
  """
  config = config or ml1m_scale_config(model)
  task = tasks.build(config)
  state = train_state.create(task, config.seed)
  batches = task.kind.batches(task, 1)
  step = train.make_step(task)
  inputs = jax.device_put(task.inputs)

  def run_steps(first: int, count: int):
    nonlocal state
    loss = None
    for s in range(first, first + count):
      batch = train.shard(batches.batch(0, s), 1)
      state, loss = step(state, inputs, batch, s)
    jax.block_until_ready(loss)

  start = time.perf_counter()
  run_steps(0, 1)
  compile_s = time.perf_counter() - start
  run_steps(1, 3)  # Warm-up.
  times = []
  for s in range(4, 4 + steps):
    begin = time.perf_counter()
    run_steps(s, 1)
    times.append(time.perf_counter() - begin)
  step_s = statistics.median(times)
  record = {
      'model': model,
      'train_ratings': batches.num_examples,
      'num_negatives': config.num_negatives,
      'batch_size': config.batch_size,
      'steps_per_epoch': batches.steps_per_epoch,
      'compile_s': round(compile_s, 2),
      'step_ms': round(step_s * 1e3, 1),
      'step_ms_min': round(min(times) * 1e3, 1),
      'epoch_s_from_steps': round(step_s * batches.steps_per_epoch, 1),
  }
  if full_epoch:
    start = time.perf_counter()
    state, _ = train.run_epoch(step, state, inputs, batches, 1, 1)
    record['epoch_s'] = round(time.perf_counter() - start, 1)
  task.kind.evaluate(task, state.params, 'test')  # Compiles.
  record['eval_s'] = round(_median_seconds(
      lambda: task.kind.evaluate(task, state.params, 'test'), 3), 3)
  record['eval_users'] = int(task.kind.evaluate(
      task, state.params, 'test')['num_evaluated'])
  record['peak_rss_gb'] = round(
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
  return record


def main(argv):
  del argv
  if _ONE.value:
    print('RECORD ' + json.dumps(time_model(_ONE.value, _STEPS.value,
                                            _FULL_EPOCH.value)), flush=True)
    return
  records = []
  for model in _MODELS.value:
    args = [sys.executable, os.path.abspath(__file__), f'--one={model}',
            f'--steps={_STEPS.value}',
            f'--full_epoch={_FULL_EPOCH.value}']
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RECORD ')]
    if proc.returncode or not lines:
      sys.exit(f'{model} failed:\n{proc.stderr[-3000:]}')
    records.append(json.loads(lines[-1][len('RECORD '):]))
    print(json.dumps(records[-1]), flush=True)
  for r in records:
    authors = AUTHORS.get(f'{r["model"]}_step_s')
    if authors:
      r['authors_step_s'] = authors
      r['speedup_per_step'] = round(authors / (r['step_ms'] / 1e3), 1)
  result = {
      'machine': {
          'platform': platform.platform(),
          'cpu_count': os.cpu_count(),
          'python': platform.python_version(),
          'jax': jax.__version__,
          'backend': jax.default_backend(),
          'devices': [str(d) for d in jax.devices()],
          'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
      },
      'authors_reported': AUTHORS,
      'results': records,
  }
  os.makedirs(os.path.dirname(_OUT.value), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump(result, f, indent=1)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
