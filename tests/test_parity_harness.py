"""The parity harnesses skip cleanly without torch or a checkout; common.py.

Runs without torch and without the authors' checkouts: each script in
benchmarks/parity/ is run as a subprocess with torch hidden (a torch.py
that raises ImportError, first on PYTHONPATH) and, separately, with an
importable stand-in torch but a missing or wrong --reference. Both must
exit 0, print a line starting with 'SKIPPED:' and write no JSON.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.join(REPO, 'benchmarks', 'parity')
LIBRARIES = ('common.py', 'shims.py')  # Helpers, not harnesses.
SCRIPTS = sorted(f for f in os.listdir(PARITY)
                 if f.endswith('.py') and f not in LIBRARIES)
# Arguments that name a missing checkout ({empty}: an existing folder that
# is no checkout, {missing}: no folder); None: the script takes none.
MISSING_REFERENCE = {
    'gcn_conv.py': None,
    'evaluation.py': ['--lightgcn_reference={empty}',
                      '--grcn_reference={missing}'],
}
DEFAULT_MISSING = ['--reference={empty}']


def _load_common():
  spec = importlib.util.spec_from_file_location(
      'parity_common', os.path.join(PARITY, 'common.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


common = _load_common()


def _fake_torch(tmp_path, importable: bool) -> str:
  """A folder whose torch.py hides the real torch (or stands in for it)."""
  folder = tmp_path / ('torch_stub' if importable else 'no_torch')
  folder.mkdir()
  (folder / 'torch.py').write_text(
      "__version__ = '0+stub'\n" if importable else
      "raise ImportError('torch hidden by tests/test_parity_harness.py')\n")
  return str(folder)


def _run(script: str, args, pythonpath: str, out: str):
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      [pythonpath] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
  env['JAXREC_NO_REEXEC'] = '1'
  return subprocess.run(
      [sys.executable, os.path.join(PARITY, script), f'--out={out}', *args],
      env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def _assert_skipped(proc, out: str) -> str:
  assert proc.returncode == 0, proc.stdout + proc.stderr
  lines = [l for l in proc.stdout.splitlines() if l.startswith('SKIPPED:')]
  assert lines, proc.stdout + proc.stderr
  assert not os.path.exists(out), 'a skipped harness wrote JSON'
  return lines[0]


def test_scripts_found():
  assert {'lightgcn.py', 'gcn_conv.py', 'evaluation.py'} <= set(SCRIPTS)


def test_hidden_torch_really_hides_it(tmp_path):
  env = dict(os.environ, PYTHONPATH=_fake_torch(tmp_path, importable=False))
  proc = subprocess.run([sys.executable, '-c', 'import torch'], env=env,
                        capture_output=True, text=True, timeout=60)
  assert proc.returncode != 0
  assert 'hidden by tests/test_parity_harness.py' in proc.stderr


@pytest.mark.parametrize('script', SCRIPTS)
def test_skips_without_torch(script, tmp_path):
  out = str(tmp_path / 'parity.json')
  args = [a.format(empty=tmp_path, missing=tmp_path / 'missing')
          for a in MISSING_REFERENCE.get(script) or []]
  line = _assert_skipped(
      _run(script, args, _fake_torch(tmp_path, importable=False), out), out)
  if MISSING_REFERENCE.get(script, DEFAULT_MISSING) is None:
    assert 'torch' in line  # Nothing else can be missing.


@pytest.mark.parametrize(
    'script', [s for s in SCRIPTS
               if MISSING_REFERENCE.get(s, DEFAULT_MISSING) is not None])
def test_skips_without_reference(script, tmp_path):
  out = str(tmp_path / 'parity.json')
  args = [a.format(empty=tmp_path, missing=tmp_path / 'missing')
          for a in MISSING_REFERENCE.get(script, DEFAULT_MISSING)]
  line = _assert_skipped(
      _run(script, args, _fake_torch(tmp_path, importable=True), out), out)
  assert 'reference' in line


def test_max_rel_err():
  assert common.max_rel_err([1.0, 2.0], [1.0, 2.0]) == 0.0
  # Norm-wise: the error is scaled by the largest reference value (2).
  assert common.max_rel_err([1.0, 2.002], [1.0, 2.0]) == pytest.approx(1e-3)
  assert common.max_rel_err([1e-3, 4.0], [0.0, 4.0]) == pytest.approx(2.5e-4)
  assert common.max_rel_err([0.0], [0.0]) == 0.0
  assert common.max_rel_err([], []) == 0.0
  with pytest.raises(ValueError, match='shape mismatch'):
    common.max_rel_err([1.0, 2.0], [[1.0, 2.0]])


def test_compare_flags_the_target():
  result = common.compare([('same', [3.0], [3.0]),
                           ('close', [1.0 + 5e-6], [1.0]),
                           ('far', [1.1], [1.0])])
  assert result['same'] == {'max_rel_err': 0.0, 'ok': True}
  assert result['close']['ok']
  assert not result['far']['ok']
  assert result['far']['max_rel_err'] == pytest.approx(0.1)


def test_report_gates_on_reference_mode_only(capsys):
  bad = {'x': {'max_rel_err': 1.0, 'ok': False}}
  good = {'x': {'max_rel_err': 0.0, 'ok': True}}
  assert common.report('k', {'reference': good, 'paper': bad})
  assert not common.report('k', {'reference': bad, 'paper': good})
  assert 'over target' in capsys.readouterr().out


def test_write_merges_by_key(tmp_path):
  path = str(tmp_path / 'results' / 'parity.json')
  common.write('a', {'v': 1}, path)
  common.write('b', {'v': 2}, path)
  common.write('a', {'v': 3}, path)
  with open(path) as f:
    assert json.load(f) == {'a': {'v': 3}, 'b': {'v': 2}}
  assert os.listdir(tmp_path / 'results') == ['parity.json']
