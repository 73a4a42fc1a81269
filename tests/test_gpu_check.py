"""benchmarks/gpu_check.sh: its dry run writes the JSON a GPU session reads.

The dry run of two cheap parts goes through the real path (the shell
script, a process per part, the JSON); the failure handling runs in
process with a stand-in part. The model parts run in `--dry_run` of the
script (about a minute on 2 CPU cores), not here.
"""

import json
import os
import subprocess
import sys

import jax
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))

import gpu_check  # pylint: disable=g-import-not-at-top,wrong-import-position


def _assert_report_shape(report, parts):
  assert report['schema'] == gpu_check.SCHEMA
  assert list(report['parts']) == parts
  for record in report['parts'].values():
    assert set(record) >= {'ok', 'seconds'}
    assert ('result' in record) != ('error' in record)
  assert set(report['summary']) >= {'all_ok', 'backend', 'devices', 'tests',
                                    'propagation_fastest_fwd_bwd',
                                    'peak_device_bytes'}


def test_dry_run_of_the_script_writes_the_report(tmp_path):
  out = tmp_path / 'check.json'
  parts = ['devices', 'propagation']
  proc = subprocess.run(
      ['bash', 'benchmarks/gpu_check.sh', '--dry_run',
       f'--parts={",".join(parts)}', f'--out={out}'],
      cwd=REPO, env=dict(os.environ, PYTHON=sys.executable),
      capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  report = json.loads(out.read_text())
  _assert_report_shape(report, parts)
  assert report['dry_run'] and report['install']['status'] == 'skipped'
  assert report['summary']['all_ok']
  devices = report['parts']['devices']['result']
  assert devices['backend'] == jax.default_backend()
  assert devices['versions']['jax'] == jax.__version__
  timing = report['parts']['propagation']['result']
  assert {r['impl'] for r in timing['results']} == set(
      gpu_check.DRY.propagation_impls)
  assert all(r['fwd_ms'] > 0 and r['fwd_bwd_ms'] > 0
             for r in timing['results'])
  # CPU keeps no allocator stats: null, not a made-up figure.
  memory = timing['device_memory']
  if jax.default_backend() == 'cpu':
    assert memory is None
  else:
    assert memory['peak_bytes_in_use'] > 0


def test_a_failing_part_is_recorded_and_the_rest_still_run(tmp_path,
                                                           monkeypatch):
  def boom(sizes):
    raise RuntimeError(f'no device ({sizes.signed_steps} steps)')

  monkeypatch.setitem(gpu_check.PARTS, 'boom', boom)
  monkeypatch.setitem(gpu_check.LIMITS, 'boom', 60)
  monkeypatch.setitem(gpu_check.PARTS, 'fine', lambda sizes: {'x': 1})
  monkeypatch.setitem(gpu_check.LIMITS, 'fine', 60)
  monkeypatch.setattr(gpu_check, 'device_memory', lambda: None)
  out = str(tmp_path / 'check.json')
  report = gpu_check.check(['boom', 'fine'], True, out, in_process=True)
  assert json.load(open(out)) == report
  _assert_report_shape(report, ['boom', 'fine'])
  assert 'RuntimeError: no device (2 steps)' in report['parts']['boom'][
      'error']
  assert report['parts']['fine'] == {
      'ok': True, 'seconds': report['parts']['fine']['seconds'],
      'result': {'x': 1, 'device_memory': None}}
  assert not report['summary']['all_ok']
  # No time left: parts are skipped, not started.
  report = gpu_check.check(['fine'], True, out, in_process=True, budget_s=5)
  assert 'skipped' in report['parts']['fine']['error']
  with pytest.raises(ValueError, match='nonsense'):
    gpu_check.check(['nonsense'], True, out)
