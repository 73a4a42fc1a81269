"""What every parity harness shares: finding the reference, comparing, writing.

A harness compares jaxrec with an author's PyTorch code on identical inputs
(same initial parameters, graph and batch; dropout off). It imports the
author's modules from a checkout given by --reference, never from this
repository. Shims for APIs that changed since that code was written (old
torch_scatter / PyG names) live in shims.py and are installed in
sys.modules before the import; the author's files are not edited.

Error measure: for each compared quantity (embeddings, scores, loss, the
gradient of each parameter),
    max_rel_err = max |jaxrec - reference| / max(max |reference|, 1e-30),
a norm-wise relative error, so values near zero in a large array do not
dominate. The target in reference mode is <= 1e-5 in float32.

Results go to benchmarks/results/parity.json, one entry per harness key,
merged with the entries of the other harnesses:
  {"pane_gnn": {"reference": {...}, "modes": {"reference": {...}, ...}}}
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import Any, Iterable

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'results', 'parity.json')
TARGET = 1e-5


class Unavailable(Exception):
  """torch or the reference checkout is missing: the harness skips."""


def require_torch():
  """Imports torch, or raises Unavailable with the install line."""
  try:
    return importlib.import_module('torch')
  except ImportError as e:
    raise Unavailable(
        'torch is not installed; parity harnesses need it: '
        'pip install torch torch_geometric') from e


def require_reference(path: str | None, marker: str) -> str:
  """The absolute checkout path, after checking that `marker` is in it.

  Args:
    path: the --reference flag.
    marker: a file the checkout must hold (e.g. 'pnegnn.py').

  Raises:
    Unavailable: no path, or the checkout lacks the marker file.
  """
  if not path:
    raise Unavailable(f'no --reference given (a checkout holding {marker})')
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.exists(os.path.join(path, marker)):
    raise Unavailable(f'--reference={path} has no {marker}: point it at a '
                      f'checkout of the authors\' repository')
  return path


def import_from(path: str, *modules: str):
  """Imports modules from a checkout folder, first on sys.path.

  Returns:
    The modules, in order.
  """
  if path not in sys.path:
    sys.path.insert(0, path)
  return [importlib.import_module(m) for m in modules]


def commit_of(path: str) -> str | None:
  """The git commit of a checkout, or what its COMMIT / .commit file says."""
  for name in ('COMMIT', '.commit'):
    f = os.path.join(path, name)
    if os.path.exists(f):
      with open(f) as fh:
        return fh.read().strip()
  try:
    return subprocess.run(['git', '-C', path, 'rev-parse', 'HEAD'],
                          capture_output=True, text=True,
                          check=True).stdout.strip() or None
  except (OSError, subprocess.CalledProcessError):
    return None


def to_numpy(x) -> np.ndarray:
  """A torch tensor or JAX/numpy array as a float64 numpy array."""
  if hasattr(x, 'detach'):
    x = x.detach().cpu().numpy()
  return np.asarray(x, dtype=np.float64)


def max_rel_err(ours, theirs) -> float:
  """max |ours - theirs| / max |theirs| (see the module docstring)."""
  a, b = to_numpy(ours), to_numpy(theirs)
  if a.shape != b.shape:
    raise ValueError(f'shape mismatch: jaxrec {a.shape} vs reference '
                     f'{b.shape}')
  scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-30)
  return float(np.max(np.abs(a - b))) / scale if a.size else 0.0


def compare(pairs: Iterable[tuple[str, Any, Any]]) -> dict[str, dict]:
  """{name: {'max_rel_err': e, 'ok': e <= TARGET}} for (name, ours, theirs)."""
  out = {}
  for name, ours, theirs in pairs:
    e = max_rel_err(ours, theirs)
    out[name] = {'max_rel_err': e, 'ok': e <= TARGET}
  return out


def evaluate_outputs(task, outputs) -> dict[str, dict[str, float]]:
  """jaxrec's full-ranking evaluation of given outputs on val and test.

  Level 3 scores the authors' embeddings with it, so both sides of a run
  are measured by one evaluation.

  Args:
    task: a jaxrec user-item task (its data, config and model's score).
    outputs: what task.spec.score reads (e.g. their embeddings).
  """
  from jaxrec import metrics  # pylint: disable=g-import-not-at-top
  from jaxrec.tasks import user_item  # pylint: disable=g-import-not-at-top
  c, ds = task.config, task.data
  return {split: metrics.evaluate(
      task.spec.score, outputs, user_item.truth(ds, split),
      user_item.exclude(ds, split), ds.num_items, c.eval_ks,
      c.eval_chunk_size) for split in ('val', 'test')}


def write(key: str, entry: dict, path: str = RESULTS) -> None:
  """Merges {key: entry} into the parity JSON (other keys kept)."""
  data = {}
  if os.path.exists(path):
    with open(path) as f:
      data = json.load(f)
  data[key] = entry
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(data, f, indent=1, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def report(key: str, modes: dict[str, dict[str, dict]]) -> bool:
  """Prints one line per quantity; True when every 'reference' mode is ok."""
  ok = True
  for mode, results in modes.items():
    for name, r in results.items():
      flag = 'ok' if r['ok'] else ('over target' if mode == 'reference'
                                   else '(paper mode)')
      floor = (f' (fp32 floor {r["fp32_floor"]:.1e})' if 'fp32_floor' in r
               else '')
      print(f'{key:>10} {mode:>10} {name:<40} {r["max_rel_err"]:.2e} '
            f'{flag}{floor}')
      if mode == 'reference':
        ok &= r['ok']
  return ok


def main_guard(run) -> None:
  """Runs a harness's main; prints SKIPPED and exits 0 when unavailable."""
  try:
    run()
  except Unavailable as e:
    print(f'SKIPPED: {e}')
    sys.exit(0)
