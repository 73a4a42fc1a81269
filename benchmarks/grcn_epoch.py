"""Seconds per GRCN training epoch and peak memory, at two real scales.

  tiktok:    9,308 users, 6,710 items, 59,541 train edges, visual and
             acoustic 128-d, batch 2048 (MMRec's TikTok; its PyTorch GRCN
             takes 18 s per epoch and 1.3 GB on a 2-core CPU).
  movielens: 55,485 users, 5,986 items, ~1M train edges, visual 2048 /
             acoustic 128 / textual 100, batch 1024 (GRCN's Movielens).

Values are synthetic (random edges with Zipf item popularity, Gaussian
features): speed depends on sizes, not on values. Each scale runs in its own
subprocess so that peak memory (ru_maxrss) is its own. An epoch is timed in
full, or, with --max_steps, over that many steps and scaled to the epoch
(marked 'extrapolated' in the JSON).

  python benchmarks/grcn_epoch.py --scales=tiktok,movielens
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import json
import os
import platform
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

if __name__ == '__main__':
  # Flags only when run as a script: benchmarks/gpu_check.py imports
  # run_one next to other benchmarks' functions (which define --out too).
  _SCALES = flags.DEFINE_list('scales', ['tiktok', 'movielens'], 'Scales.')
  _MAX_STEPS = flags.DEFINE_integer(
      'max_steps', 0, 'Time at most this many steps per epoch and scale up '
      '(0 = the whole epoch).')
  _EPOCHS = flags.DEFINE_integer('epochs', 2, 'Timed epochs (after warm-up).')
  _OUT = flags.DEFINE_string('out', 'benchmarks/results/grcn_epoch.json',
                             'Output JSON.')
  _ONE = flags.DEFINE_string('one', None,
                             'Internal: run one scale, print JSON.')

SCALES = {
    'tiktok': dict(users=9308, items=6710, edges=59541, batch=2048,
                   widths={'visual': 128, 'acoustic': 128}),
    'movielens': dict(users=55485, items=5986, edges=1_000_000, batch=1024,
                      widths={'visual': 2048, 'acoustic': 128,
                              'textual': 100}),
}


def make_dataset(scale: dict, seed: int = 0):
  """Random interactions and features of the scale's sizes."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxrec.data.dataset import Dataset, Interactions  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  u, i, e = scale['users'], scale['items'], scale['edges']
  pop = 1.0 / (1.0 + np.arange(i)) ** 0.6
  draws = int(e * 1.15)
  keys = np.unique(rng.integers(0, u, draws).astype(np.int64) * i +
                   rng.choice(i, draws, p=pop / pop.sum()))
  keys = rng.permutation(keys)[:e]
  train = Interactions((keys // i).astype(np.int32), (keys % i).astype(np.int32))
  test = Interactions(rng.integers(0, u, 1000).astype(np.int32),
                      rng.integers(0, i, 1000).astype(np.int32))
  features = {m: rng.normal(size=(i, d)).astype(np.float32)
              for m, d in scale['widths'].items()}
  return Dataset('synthetic-benchmark', 'random', u, i, train,
                 Interactions.empty(), test, np.arange(u).astype(str),
                 np.arange(i).astype(str), item_features=features)


def run_one(name: str, max_steps: int = 0, epochs: int = 2,
            scale: dict | None = None) -> dict:
  """Times GRCN epochs at one scale in this process.

  Args:
    name: a key of SCALES, or the label of `scale`.
    max_steps: time at most this many steps per epoch and scale up (0: the
      whole epoch).
    epochs: timed epochs, after the first (compiling) step.
    scale: sizes as in SCALES (default SCALES[name]).
  """
  import jax  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))
  from configs import grcn_movielens  # pylint: disable=g-import-not-at-top
  from jaxrec import models, train, train_state  # pylint: disable=g-import-not-at-top
  from jaxrec.tasks import user_item  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  scale = scale or SCALES[name]
  config = grcn_movielens.get_config()
  config.unlock()
  config.batch_size = scale['batch']
  for m, key in zip(('visual', 'acoustic', 'textual'),
                    ('has_v', 'has_a', 'has_t')):
    config.model[key] = m in scale['widths']
  t0 = time.perf_counter()
  task = user_item.UserItem().from_dataset(config, models.get('grcn'),
                                           make_dataset(scale))
  state = train_state.create(task, 0)
  batches = task.kind.batches(task, 1)
  step = train.make_step(task)
  inputs = jax.device_put(task.inputs)
  setup = time.perf_counter() - t0
  steps = batches.steps_per_epoch
  timed = min(steps, max_steps or steps)

  def epoch(e):
    t = time.perf_counter()
    losses = []
    nonlocal state
    for s in range(timed):
      state, loss = step(state, inputs, train.shard(batches.batch(e, s), 1),
                         e * steps + s)
      losses.append(loss)
    jax.block_until_ready(losses[-1])
    return (time.perf_counter() - t) * steps / timed

  t = time.perf_counter()
  state, loss = step(state, inputs, train.shard(batches.batch(0, 0), 1), 0)
  jax.block_until_ready(loss)
  compile_s = time.perf_counter() - t
  times = [epoch(e) for e in range(1, 1 + epochs)]
  t = time.perf_counter()
  task.kind.evaluate(task, state.params, 'test')
  eval_s = time.perf_counter() - t
  return {
      'scale': name, **{k: v for k, v in scale.items() if k != 'widths'},
      'widths': scale['widths'], 'steps_per_epoch': steps,
      'timed_steps_per_epoch': timed, 'extrapolated': timed < steps,
      'epoch_seconds': times, 'best_epoch_seconds': min(times),
      'first_step_seconds_incl_compile': compile_s,
      'setup_seconds': setup, 'full_evaluation_seconds': eval_s,
      'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
      'backend': jax.default_backend(),
  }


def main(argv):
  del argv
  if _ONE.value:
    print('RESULT ' + json.dumps(run_one(_ONE.value, _MAX_STEPS.value,
                                         _EPOCHS.value)))
    return
  results = []
  for name in _SCALES.value:
    cmd = [sys.executable, __file__, f'--one={name}',
           f'--max_steps={_MAX_STEPS.value}', f'--epochs={_EPOCHS.value}']
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not lines:
      raise RuntimeError(f'{name} failed:\n{proc.stderr[-3000:]}')
    r = json.loads(lines[-1][len('RESULT '):])
    results.append(r)
    print(f"{name}: {r['best_epoch_seconds']:.2f} s/epoch "
          f"({r['steps_per_epoch']} steps{', extrapolated' if r['extrapolated'] else ''}), "
          f"peak RSS {r['peak_rss_gb']:.2f} GB, full evaluation "
          f"{r['full_evaluation_seconds']:.2f} s", flush=True)
  machine = {'platform': platform.platform(), 'cpu_count': os.cpu_count(),
             'python': platform.python_version(),
             'glibc_tunables': os.environ.get('GLIBC_TUNABLES', '')}
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump({'machine': machine, 'results': results}, f, indent=2)
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
