"""The records a training run keeps in its workdir, besides checkpoints.

  config.json     the full config (evaluation rebuilds the run from it), as
                  of the last call that trained: a resume with nothing left
                  to train leaves it as it was, so it never claims settings
                  no epoch ran with
  metrics.jsonl   one JSON object per line (see jaxrec.train)
  resumes.jsonl   one line per resume that trained: the epoch it resumed
                  at and the RESUMABLE_KEYS it changed, {key: [old, new]},
                  so that config.json's values can be dated
  data_fingerprint.json  the data trained on (jaxrec.fingerprint)

In a multi-process run (jaxrec.distributed) process 0 alone writes them;
the others keep their metrics records in memory.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import ml_collections
from absl import logging

from jaxrec import config as config_lib
from jaxrec import distributed
from jaxrec import files
from jaxrec import fingerprint
from jaxrec.errors import ConfigError

# Keys that may change when a run is resumed (e.g. to train longer).
RESUMABLE_KEYS = ('num_epochs', 'patience', 'num_devices', 'eval_chunk_size',
                  'log_every_epochs', 'log_test_every_eval', 'shard_graph',
                  'shard_tables')


class MetricsLog:
  """WORKDIR/metrics.jsonl: one JSON object per line, appended and flushed.

  Processes other than 0 of a multi-process run hold their records (the
  same ones) in memory instead: one writer per file on a shared disk.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self._memory = None if distributed.is_primary() else []

  def write(self, record: dict[str, Any]) -> None:
    if self._memory is not None:
      self._memory.append(record)
      return
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')

  def read(self) -> list[dict[str, Any]]:
    if self._memory is not None:
      return list(self._memory)
    if not os.path.exists(self.path):
      return []
    with open(self.path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def truncate_after(self, epoch: int) -> None:
    """Drops records of epochs after `epoch` (they will be redone on resume)."""
    kept = [r for r in self.read() if r.get('epoch', 0) <= epoch
            and 'best_epoch' not in r]
    if self._memory is not None:
      self._memory[:] = kept
      return
    with open(self.path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in kept)


def saved_config(workdir: str) -> dict[str, Any] | None:
  """WORKDIR/config.json as a dict (fields added since count as defaults)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.loads(config_lib.from_saved(json.load(f)).to_json())


def check_config_matches(config: ml_collections.ConfigDict,
                         workdir: str) -> None:
  """Refuses to resume a workdir whose saved config differs (but for RESUMABLE_KEYS).

  Fields added to jaxrec since the run was saved count as their defaults
  (config_lib.from_saved), which is what the saved run did.
  """
  old = saved_config(workdir)
  if old is None:
    return
  changed = [k for k in _diff(old, json.loads(config.to_json()))
             if k not in RESUMABLE_KEYS]
  if changed:
    raise ConfigError(
        f'{workdir} holds a run with a different config (changed: '
        f'{", ".join(changed)}). Resume it with the same config, or pass a '
        f'new --workdir.')


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes WORKDIR/config.json (launch/evaluate.py rebuilds the run from it),
  whole: other processes of a multi-process run read it meanwhile."""
  files.write_json(os.path.join(workdir, 'config.json'),
                   json.loads(config.to_json()))


def record_settings(config: ml_collections.ConfigDict, workdir: str,
                    data: dict[str, Any], epoch: int) -> None:
  """Records what a call that trains uses, just before it trains.

  Args:
    config: the config it trains with (config.json).
    workdir: the run's folder.
    data: fingerprint.of_data() of its data (data_fingerprint.json).
    epoch: the epoch it starts from; above 0 (a resume) a resumes.jsonl
      line records the RESUMABLE_KEYS that differ from config.json's.
  """
  if not distributed.is_primary():
    return
  old = saved_config(workdir)
  if epoch and old is not None:
    new = json.loads(config.to_json())
    changed = {k: [old.get(k), new[k]] for k in RESUMABLE_KEYS
               if old.get(k) != new[k]}
    for key, (was, now) in changed.items():
      logging.info('Resuming with %s=%s (was %s).', key, now, was)
    with open(os.path.join(workdir, 'resumes.jsonl'), 'a') as f:
      f.write(json.dumps({'epoch': epoch,
                          'time': time.strftime('%Y-%m-%dT%H:%M:%S'),
                          'changed': changed}) + '\n')
  save_config(config, workdir)
  fingerprint.save(workdir, data)


def _diff(a: Any, b: Any, prefix: str = '') -> list[str]:
  """Dotted keys whose values differ between two nested dicts."""
  if isinstance(a, dict) and isinstance(b, dict):
    keys = sorted(set(a) | set(b))
    return [d for k in keys
            for d in _diff(a.get(k), b.get(k), f'{prefix}{k}.')]
  return [] if a == b else [prefix[:-1]]
