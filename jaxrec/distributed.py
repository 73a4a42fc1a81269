"""Training across processes (hosts) with JAX's own runtime, jax.distributed.

Every process runs the same program on the same data: it builds the same
dataset, graph and batches, and feeds its local devices their rows of each
global batch (local_rows). The train step's pmap spans every device of every
process, so its psum'ed loss and gradients are those of the global batch and
the update is the one-device update, as with one process.

Who writes: process 0 alone writes the run's files (metrics.jsonl, config.json,
eval_*.json, cv.json, the fingerprint, the workdir lock); the others keep
their records in memory (run_files.MetricsLog) and log to
train.process<k>.log. Checkpoints are written and read collectively through
orbax (jaxrec.checkpoint), which needs the workdir on a filesystem every
process sees. Decisions that steer the loop (the workdir lock, the selection
value behind early stopping) are process 0's, broadcast (agree), so that
processes on different hardware never take different branches and hang.

initialize() picks the processes: explicit arguments (the tools' flags
--coordinator_address, --num_processes, --process_id), else a cluster JAX
detects (SLURM, Open MPI, Kubernetes, Cloud TPU) that runs more than one
process, else one process and no jax.distributed at all.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from absl import logging

from jaxrec.errors import ConfigError


def _detected_processes() -> int:
  """How many processes a cluster JAX recognises runs (1: no cluster).

  Asks JAX's own cluster environments (jax._src.clusters, what
  jax.distributed.initialize() auto-detects with), without initialising:
  a plain machine, or a SLURM / MPI job of one task, trains as one
  process with every local device visible. Opt-in-only methods (mpi4py)
  are skipped, as initialize() skips them.
  """
  try:
    from jax._src import clusters  # pylint: disable=g-import-not-at-top
    envs = clusters.ClusterEnv._cluster_types  # pylint: disable=protected-access
  except (ImportError, AttributeError):  # A JAX that moved them: no cluster.
    return 1
  for env in envs:
    if env.opt_in_only_method:
      continue
    try:
      if env.is_env_present():
        return int(env.get_process_count())
    except Exception as e:  # pylint: disable=broad-except
      # e.g. a Kubernetes pod that is no Job: train as one process.
      logging.warning('Cluster %s detected but unusable (%s): one process.',
                      env.__name__, e)
      return 1
  return 1


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins the processes of a multi-process run, before any JAX computation.

  Args:
    coordinator_address: 'host:port' of process 0 (it serves there).
    num_processes: how many processes train together.
    process_id: this process's index, 0 .. num_processes - 1.
    With none of them, a detected cluster of more than one process decides
    (JAX fills in all three); without one, nothing happens (one process).
    Given ones override the detected ones.

  Raises:
    ConfigError: some but not all are given, and no cluster fills the rest.
  """
  given = (coordinator_address, num_processes, process_id)
  if jax.distributed.is_initialized() or num_processes == 1:
    return
  if all(v is None for v in given) and _detected_processes() <= 1:
    return
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  except ValueError as e:  # A missing argument JAX could not detect.
    raise ConfigError(
        f'Cannot start a multi-process run ({e}): give --coordinator_address='
        f'HOST:PORT, --num_processes and --process_id on every process, or '
        f'start it under SLURM / Open MPI.') from e
  logging.info('Process %d of %d (coordinator %s): %d of %d devices local.',
               jax.process_index(), jax.process_count(),
               coordinator_address or 'detected', jax.local_device_count(),
               jax.device_count())


def process_count() -> int:
  """Processes of the run; 1 without jax.distributed (no backend started)."""
  return jax.process_count() if jax.distributed.is_initialized() else 1


def process_index() -> int:
  """This process's index; 0 without jax.distributed."""
  return jax.process_index() if jax.distributed.is_initialized() else 0


def is_primary() -> bool:
  """Whether this process writes the run's files (process 0)."""
  return process_index() == 0


def global_devices(requested: int) -> int:
  """The devices a multi-process run trains on: all of them.

  Args:
    requested: config.num_devices (0 = all).

  Raises:
    ConfigError: another count; each process's pmap spans all its local
      devices, so a run uses every device of every process.
  """
  n = jax.device_count()
  if requested not in (0, n):
    raise ConfigError(
        f'config.num_devices={requested}, but a run of {process_count()} '
        f'processes trains on all {n} of their devices; use 0 (all) or {n}.')
  return n


def local_rows(tree: Any, axis: int = 0) -> Any:
  """This process's rows of [..., D, ...] arrays whose `axis` runs over all
  D devices of all processes: rows process_index * L .. + L, for L = D /
  process_count local devices (pmap's device order: process by process).
  With one process, the arrays themselves."""
  count = process_count()
  if count == 1:
    return tree

  def rows(x):
    local = x.shape[axis] // count
    start = process_index() * local
    return np.take(x, np.arange(start, start + local), axis=axis)

  return jax.tree.map(rows, tree)


def agree(value: float) -> float:
  """Process 0's value, on every process (a collective: all must call it).

  For values that steer the loop (early stopping, a lock taken or not):
  processes on different hardware may differ in the last bits of an
  evaluation, and one stopping alone would leave the others waiting. The
  float64 travels as its bytes, so it arrives exactly.
  """
  if process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  bits = np.frombuffer(np.float64(value).tobytes(), np.int32).copy()
  bits = multihost_utils.broadcast_one_to_all(bits)
  return float(np.frombuffer(np.asarray(bits, np.int32).tobytes(),
                             np.float64)[0])


def _replicated() -> jax.sharding.NamedSharding:
  """Every device of every process holds the whole array."""
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ('processes',))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def _is_array(x: Any) -> bool:
  return isinstance(x, (jax.Array, np.ndarray, np.generic))


def to_global(tree: Any) -> Any:
  """Host-local replicated arrays (what the pmapped step returns) -> global
  arrays replicated over all processes' devices, as orbax saves them in a
  multi-process run (process 0 writes them once). Identity with one
  process."""
  if process_count() == 1:
    return tree
  sharding = _replicated()
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding,
                                                       np.asarray(x))
      if _is_array(x) else x, tree)


def restore_target(tree: Any) -> Any:
  """What orbax restores a state into: every array leaf as a global
  replicated ShapeDtypeStruct (multi-process); with one process the tree,
  its abstract leaves placed on the first local device (left without a
  placement, orbax would take the saved one, whose devices a multi-process
  run's checkpoint names and this process lacks)."""
  if process_count() == 1:
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(
        lambda x: x.update(sharding=device) if isinstance(
            x, jax.ShapeDtypeStruct) and x.sharding is None else x, tree)
  sharding = _replicated()
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)
      if _is_array(x) or isinstance(x, jax.ShapeDtypeStruct) else x, tree)


def to_host(tree: Any) -> Any:
  """Restored global replicated arrays -> numpy (each process's full copy),
  which the step and evaluation place on local devices. Identity with one
  process."""
  if process_count() == 1:
    return tree
  return jax.tree.map(lambda x: np.asarray(x) if _is_array(x) else x, tree)
