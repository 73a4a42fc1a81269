"""One accelerator check in one command: devices, kernel parity, speed, memory.

benchmarks/gpu_check.sh installs jaxrec with the cuda extra and runs this;
the whole check writes one JSON file. Parts, in this order (when the time
budget runs out, the last ones are skipped):

  devices        jax's backend, devices and package versions; nvidia-smi
  tests          tests/test_kernel_parity.py and tests/test_graphs_ops.py
                 under pytest, with fp32 matmuls at 'highest' precision
                 (GPUs default to TF32, which the dense references of the
                 ops tests are not written for)
  propagation    one propagation layer A @ x, forward and forward+backward,
                 per implementation (benchmarks/propagation.py: segment_sum,
                 BCOO, BCSR, jaxrec's two kernels) on 2M and 10M edges
  pane_gnn_ml1m  PANE-GNN training steps at ML-1M scale (synthetic signed
                 data, 6,040 users, 3,952 items, ~1M ratings, fold 0 trains;
                 benchmarks/pane_gnn_speed.py); the epoch time is the median
                 step times the steps per epoch (extrapolated), and a full
                 evaluation
  grcn_tiktok    GRCN training at TikTok's size in the GRCN paper (36,656
                 users, 76,085 items, 726,065 training interactions, visual
                 128 / acoustic 128 / textual 768; random values,
                 benchmarks/grcn_epoch.py); 20 steps per epoch, scaled to
                 the epoch (extrapolated)
  lightgcn_ml1m  LightGCN as pane_gnn_ml1m (PANE-GNN's signed protocol)

Each part runs in its own process, so its peak device memory (jax's
memory_stats: null where the backend keeps none, as on CPU) is its own,
and a part that fails or runs out of time is recorded while the others
still run. The JSON is rewritten after every part.

  bash benchmarks/gpu_check.sh                    # install, then the check
  python benchmarks/gpu_check.py                  # the check only
  python benchmarks/gpu_check.py --dry_run        # tiny sizes (CPU, 1-1.5 min)
  python benchmarks/gpu_check.py --parts=devices,propagation --out=x.json
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(REPO, 'benchmarks', 'results', 'gpu_check.json')
SCHEMA = 'jaxrec-gpu-check/1'


@dataclasses.dataclass(frozen=True)
class Sizes:
  """What the parts run: the real check (FULL) or its tiny stand-in (DRY)."""

  test_files: tuple[str, ...]
  test_filter: str | None  # pytest -k: None runs every test of the files.
  propagation_edges: tuple[str, ...]  # propagation.parse_size strings.
  propagation_reps: int
  propagation_impls: tuple[str, ...] | None  # None: every candidate.
  signed_data: dict[str, Any] | None  # None: ML-1M (pane_gnn_speed).
  signed_batch: int | None  # None: the config's.
  signed_steps: int
  grcn_scale: dict[str, Any]
  grcn_steps: int


TEST_FILES = ('tests/test_kernel_parity.py', 'tests/test_graphs_ops.py')

# TikTok as the GRCN paper counts it, the features at the task's widths;
# batch 1024 as configs/grcn_tiktok.py.
TIKTOK = dict(users=36656, items=76085, edges=726065, batch=1024,
              widths={'visual': 128, 'acoustic': 128, 'textual': 768})

# Sized for about 5 minutes on one H200 after the install (an estimate, not
# yet measured; the parts' own limits are in LIMITS).
FULL = Sizes(
    test_files=TEST_FILES, test_filter=None,
    propagation_edges=('2M', '10M'), propagation_reps=5,
    propagation_impls=None,
    signed_data=None, signed_batch=None, signed_steps=20,
    grcn_scale=TIKTOK, grcn_steps=20)

# A minute on a 2-core CPU: the same code paths at toy sizes.
DRY = Sizes(
    test_files=TEST_FILES,
    test_filter='every_model_and_kernel or propagate_equals_dense',
    propagation_edges=('20K',), propagation_reps=1,
    propagation_impls=('jaxrec segment_sum (custom vjp)',
                       'jax BCOO (autodiff)', 'jax BCSR (autodiff)'),
    signed_data=dict(num_users=60, num_items=40, num_clusters=4,
                     interactions_per_user=10.0, dislikes_per_user=6.0),
    signed_batch=64, signed_steps=2,
    grcn_scale=dict(users=80, items=60, edges=600, batch=128,
                    widths={'visual': 16, 'acoustic': 8, 'textual': 24}),
    grcn_steps=2)

# Seconds a part may run (its process is killed after that).
LIMITS = {'devices': 120, 'tests': 240, 'propagation': 180,
          'lightgcn_ml1m': 120, 'pane_gnn_ml1m': 150, 'grcn_tiktok': 180}


def _import_benchmark(name: str):
  """benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
  if HERE not in sys.path:
    sys.path.insert(0, HERE)
  return __import__(name)


def device_memory() -> dict[str, int] | None:
  """Device 0's allocator stats in bytes; None where there are none (CPU)."""
  import jax  # pylint: disable=g-import-not-at-top
  stats = jax.local_devices()[0].memory_stats()
  if not stats:
    return None
  return {k: stats[k] for k in ('peak_bytes_in_use', 'bytes_in_use',
                                'bytes_limit') if k in stats}


def _versions() -> dict[str, str | None]:
  out = {}
  for pkg in ('jax', 'jaxlib', 'jax-cuda12-plugin', 'jax-cuda12-pjrt',
              'jax-cuda13-plugin', 'flax', 'optax', 'numpy'):
    try:
      out[pkg] = importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
      out[pkg] = None
  return out


def _nvidia_smi() -> str | None:
  try:
    proc = subprocess.run(
        ['nvidia-smi', '--query-gpu=name,memory.total,driver_version',
         '--format=csv,noheader'], capture_output=True, text=True,
        timeout=30, check=False)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return proc.stdout.strip() or None


def devices_part(sizes: Sizes) -> dict[str, Any]:
  """The backend, its devices, and what the models run on it by default."""
  del sizes
  import jax  # pylint: disable=g-import-not-at-top
  from jaxrec import kernels  # pylint: disable=g-import-not-at-top
  return {
      'backend': jax.default_backend(),
      'devices': [{'id': d.id, 'platform': d.platform, 'kind': d.device_kind}
                  for d in jax.devices()],
      'default_kernel': kernels.default_impl(),
      'versions': _versions(),
      'python': platform.python_version(),
      'platform': platform.platform(),
      'cpu_count': os.cpu_count(),
      'nvidia_smi': _nvidia_smi(),
  }


def tests_part(sizes: Sizes) -> dict[str, Any]:
  """The kernel-parity and ops tests, on the default backend, by pytest."""
  cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         *sizes.test_files]
  if sizes.test_filter:
    cmd += ['-k', sizes.test_filter]
  env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION='highest')
  proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                        text=True, check=False)
  lines = proc.stdout.strip().splitlines()
  summary = lines[-1] if lines else ''
  counts = {k: int(n) for n, k in re.findall(
      r'(\d+) (passed|failed|error|errors|skipped)', summary)}
  result = {'command': ' '.join(cmd[1:]), 'returncode': proc.returncode,
            'ok': proc.returncode == 0, 'summary': summary, **counts}
  if proc.returncode:
    result['output_tail'] = (proc.stdout + proc.stderr)[-4000:]
  return result


def propagation_part(sizes: Sizes) -> dict[str, Any]:
  """Milliseconds of one propagation layer per implementation and size."""
  propagation = _import_benchmark('propagation')
  records, fastest = [], {}
  for size in sizes.propagation_edges:
    g = propagation.random_graph(propagation.parse_size(size))
    times = propagation.time_jax(g, 64, sizes.propagation_reps,
                                 sizes.propagation_impls)
    for impl, t in times.items():
      records.append({'size': size, 'edges': int(g.n_edge[0]),
                      'nodes': int(g.n_node[0]), 'width': 64, 'impl': impl,
                      **t})
    fastest[size] = min(times, key=lambda k: times[k]['fwd_bwd_ms'])
  return {'results': records, 'fastest_fwd_bwd': fastest,
          'reps': sizes.propagation_reps}


def signed_part(model: str, sizes: Sizes) -> dict[str, Any]:
  """Training steps (and evaluation) at ML-1M scale, pane_gnn_speed's."""
  speed = _import_benchmark('pane_gnn_speed')
  config = speed.ml1m_scale_config(model)
  if sizes.signed_data:
    config.data.synthetic.update(sizes.signed_data)
    config.num_negatives = min(config.num_negatives, 4)
  if sizes.signed_batch:
    config.batch_size = sizes.signed_batch
  record = speed.time_model(model, sizes.signed_steps, False, config)
  record['data'] = config.data.synthetic.to_dict()
  record['epoch_extrapolated'] = True  # epoch_s_from_steps, see the docstring
  return record


def grcn_part(sizes: Sizes) -> dict[str, Any]:
  """GRCN epochs at TikTok scale, by grcn_epoch.run_one."""
  grcn_epoch = _import_benchmark('grcn_epoch')
  # Two timed epochs, the best kept: the train step compiles again on its
  # second call (the state it returns is typed and placed differently from
  # a fresh one), which lands in the first.
  return grcn_epoch.run_one('tiktok_grcn_paper', sizes.grcn_steps, 2,
                            sizes.grcn_scale)


# In the order they run: if the time budget runs out, the last go first.
PARTS: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    'devices': devices_part,
    'tests': tests_part,
    'propagation': propagation_part,
    'pane_gnn_ml1m': functools.partial(signed_part, 'pane_gnn'),
    'grcn_tiktok': grcn_part,
    'lightgcn_ml1m': functools.partial(signed_part, 'lightgcn'),
}


def run_part(name: str, dry_run: bool) -> dict[str, Any]:
  """One part in this process, with the peak device memory it reached."""
  result = PARTS[name](DRY if dry_run else FULL)
  # The tests run in pytest's own process: this one holds no figure of it.
  result['device_memory'] = None if name == 'tests' else device_memory()
  return result


def _part_in_subprocess(name: str, dry_run: bool,
                        timeout: float) -> dict[str, Any]:
  cmd = [sys.executable, os.path.abspath(__file__), f'--part={name}']
  if dry_run:
    cmd.append('--dry_run')
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                        timeout=timeout, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  if proc.returncode or not lines:
    raise RuntimeError(f'exit status {proc.returncode}:\n'
                       f'{(proc.stdout + proc.stderr)[-4000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def _attempt(name: str, dry_run: bool, in_process: bool,
             timeout: float) -> dict[str, Any]:
  """{'ok', 'seconds', 'result' or 'error'} of one part."""
  start = time.perf_counter()
  try:
    if in_process:
      result = run_part(name, dry_run)
    else:
      result = _part_in_subprocess(name, dry_run, timeout)
    ok, record = result.get('ok', True), {'result': result}
  except subprocess.TimeoutExpired:
    ok, record = False, {'error': f'timed out after {timeout:.0f} s'}
  except Exception as e:  # pylint: disable=broad-except
    ok, record = False, {'error': f'{type(e).__name__}: {e}'[-4000:]}
  return {'ok': ok, 'seconds': round(time.perf_counter() - start, 2),
          **record}


def summarize(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """The figures a reader looks for, from the parts' records."""
  get = lambda name: (parts.get(name) or {}).get('result') or {}
  out = {'all_ok': all(p['ok'] for p in parts.values()),
         'backend': get('devices').get('backend'),
         'devices': [d['kind'] for d in get('devices').get('devices', [])],
         'tests': get('tests').get('summary'),
         'propagation_fastest_fwd_bwd': get('propagation').get(
             'fastest_fwd_bwd')}
  for name in ('lightgcn_ml1m', 'pane_gnn_ml1m'):
    r = get(name)
    out[name] = {k: r.get(k) for k in ('step_ms', 'epoch_s_from_steps',
                                       'eval_s')} if r else None
  r = get('grcn_tiktok')
  out['grcn_tiktok'] = {k: r.get(k) for k in (
      'best_epoch_seconds', 'extrapolated', 'steps_per_epoch')} if r else None
  out['peak_device_bytes'] = {
      name: ((get(name).get('device_memory') or {}).get('peak_bytes_in_use'))
      for name in parts}
  return out


def _skip_reason(report: dict[str, Any], left: float,
                 allow_cpu: bool) -> str | None:
  """Why the next part should not start, or None."""
  if left < 10:
    return 'skipped: the time budget is spent'
  devices = report['parts'].get('devices', {}).get('result') or {}
  if (not report['dry_run'] and not allow_cpu and
      devices.get('backend') == 'cpu'):
    return ('skipped: no accelerator (jax backend cpu); --allow_cpu runs '
            'the full sizes anyway')
  return None


def check(parts: list[str], dry_run: bool, out: str,
          in_process: bool = False, budget_s: float = 420.0,
          install: dict[str, Any] | None = None,
          allow_cpu: bool = False) -> dict[str, Any]:
  """Runs the parts in order and writes the JSON (after each part).

  A part starts only while budget_s is not spent, and may use what is
  left of it (at most its LIMITS); the others are recorded as skipped, as
  are all after 'devices' when a full check finds no accelerator.
  """
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    raise ValueError(f'Unknown parts {unknown}; choose from {list(PARTS)}.')
  start = time.perf_counter()
  report = {'schema': SCHEMA, 'dry_run': dry_run,
            'started': datetime.datetime.now().isoformat(timespec='seconds'),
            'install': install or {'status': 'not run by gpu_check.sh'},
            'in_process': in_process, 'budget_s': budget_s, 'parts': {}}
  for name in parts:
    left = budget_s - (time.perf_counter() - start)
    reason = _skip_reason(report, left, allow_cpu)
    if reason:
      record = {'ok': False, 'seconds': 0.0, 'error': reason}
    else:
      print(f'[gpu_check] {name} ...', flush=True)
      record = _attempt(name, dry_run, in_process, min(LIMITS[name], left))
      print(f"[gpu_check] {name}: {'ok' if record['ok'] else 'FAILED'} "
            f"({record['seconds']} s)", flush=True)
    report['parts'][name] = record
    report['wall_seconds'] = round(time.perf_counter() - start, 2)
    report['summary'] = summarize(report['parts'])
    _write(report, out)
  return report


def _write(report: dict[str, Any], out: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  tmp = out + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(report, f, indent=1)
  os.replace(tmp, out)


def main(argv):
  del argv
  if _PART.value:
    print('RESULT ' + json.dumps(run_part(_PART.value, _DRY_RUN.value)),
          flush=True)
    return
  install = {'status': _INSTALL.value, 'seconds': _INSTALL_SECONDS.value}
  report = check(_PARTS.value, _DRY_RUN.value, _OUT.value, _IN_PROCESS.value,
                 _BUDGET_S.value, install, _ALLOW_CPU.value)
  print(json.dumps(report['summary'], indent=1))
  print(f'Wrote {_OUT.value}')
  if not report['summary']['all_ok']:
    sys.exit(1)


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top

  # Flags only when run as a script (tests import this module).
  _DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Tiny sizes (CPU check).')
  _OUT = flags.DEFINE_string('out', DEFAULT_OUT, 'Where to write the JSON.')
  _PARTS = flags.DEFINE_list('parts', list(PARTS), 'Parts to run, in order.')
  _BUDGET_S = flags.DEFINE_float(
      'budget_s', 420.0, 'Seconds for all parts; parts that would start '
      'later are skipped.')
  _IN_PROCESS = flags.DEFINE_bool(
      'in_process', False, 'Run the parts in this process (no per-part '
      'memory figures, no time limit per part).')
  _ALLOW_CPU = flags.DEFINE_bool(
      'allow_cpu', False, 'Run the full sizes even without an accelerator.')
  _INSTALL = flags.DEFINE_string('install', 'not run by gpu_check.sh',
                                 'Set by gpu_check.sh: ok, failed, skipped.')
  _INSTALL_SECONDS = flags.DEFINE_float('install_seconds', None,
                                        'Set by gpu_check.sh.')
  _PART = flags.DEFINE_string('part', None, 'Internal: run one part, print '
                              'its JSON record.')
  app.run(main)
