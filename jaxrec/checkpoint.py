"""Checkpoints of a run: the latest state and the best on validation.

One orbax CheckpointManager in WORKDIR/checkpoints, one step per evaluation
(the step number is the number of finished epochs). Its preservation policy
keeps the newest checkpoint (to resume) and the best by the selection metric
(to report), ranked by a 'selection' value (higher is better: the
validation metric, or minus the training loss when there is no validation
split); everything else is deleted. Each checkpoint holds the train state and
a small JSON 'progress' record (epoch, early-stopping counters).

In a multi-process run (jaxrec.distributed) every process calls save and
restore, as orbax requires: the state goes to orbax as global arrays
replicated over all processes' devices, process 0 writes them, every
process reads them back (so the workdir must be on a filesystem all hosts
see), and restore hands each process a numpy copy. Either kind of run
restores the other's checkpoints (e.g. one process evaluates a run that
trained on several).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jaxrec import distributed
from jaxrec.errors import UserError

CHECKPOINT_DIR = 'checkpoints'


class CheckpointMismatch(UserError):
  """Saved parameters that do not fit the model the config and data build."""


class Checkpoints:
  """Saves and restores (state, progress) by epoch."""

  def __init__(self, workdir: str, read_only: bool = False):
    """Opens (or creates) WORKDIR/checkpoints.

    Args:
      workdir: the run's folder.
      read_only: for evaluation: never create the folder (and, since nothing
        is saved, nothing is deleted).
    """
    # Ties go to the earlier epoch, as the training loop's own bookkeeping
    # (strict improvement) does: metric values like recall repeat exactly.
    best = lambda m: m['selection'] - 1e-12 * m['epoch']
    options = ocp.CheckpointManagerOptions(
        best_fn=best,
        best_mode='max',
        preservation_policy=checkpoint_managers.AnyPreservationPolicy([
            checkpoint_managers.LatestN(n=1),
            checkpoint_managers.BestN(get_metric_fn=best, n=1),
        ]),
        # Synchronous: a checkpoint is complete when save() returns, so a
        # killed run always resumes from a whole checkpoint.
        enable_async_checkpointing=False,
        create=not read_only,
    )
    self.workdir = workdir
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    # Handlers named up front, so that item_metadata() can read the saved
    # shapes before a restore (see _check_shapes).
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'progress': ocp.JsonCheckpointHandler()})

  def latest_epoch(self) -> int | None:
    return self._manager.latest_step()

  def best_epoch(self) -> int | None:
    return self._manager.best_step()

  def save(self, epoch: int, state: Any, progress: dict[str, Any],
           selection: float) -> None:
    """Saves the state after `epoch` finished epochs (higher selection wins)."""
    self._manager.save(
        epoch,
        args=ocp.args.Composite(state=ocp.args.StandardSave(
            distributed.to_global(state)),
                                progress=ocp.args.JsonSave(progress)),
        metrics={'selection': float(selection), 'epoch': epoch})
    self._manager.wait_until_finished()

  def restore(self, epoch: int, abstract_state: Any) -> tuple[Any, dict]:
    """The (state, progress) saved at `epoch`.

    Args:
      epoch: a saved step (latest_epoch() or best_epoch()).
      abstract_state: a state pytree (or its jax.eval_shape) giving structure,
        shapes and dtypes.

    Raises:
      CheckpointMismatch: the saved parameters have other shapes (the data
        now has more or fewer users or items than the run trained on).
    """
    self._check_shapes(epoch, abstract_state)
    restored = self._manager.restore(
        epoch,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(
                distributed.restore_target(abstract_state)),
            progress=ocp.args.JsonRestore()))
    return distributed.to_host(restored['state']), restored['progress']

  def _check_shapes(self, epoch: int, abstract_state: Any) -> None:
    """Names the first parameter whose saved shape differs from the model's."""
    saved = self._manager.item_metadata(epoch)['state']
    saved = getattr(saved, 'tree', saved)
    if saved is None or not hasattr(abstract_state, 'params'):
      return
    want = jax.tree_util.tree_flatten_with_path(abstract_state.params)[0]
    have = dict(jax.tree_util.tree_flatten_with_path(saved['params'])[0])
    for path, leaf in want:
      old = getattr(have.get(path), 'shape', None)
      if old is not None and tuple(old) != tuple(leaf.shape):
        name = jax.tree_util.keystr(path, simple=True, separator='/')
        raise CheckpointMismatch(
            f'The checkpoint {self.directory}/{epoch} has parameter {name} '
            f'of shape {tuple(old)}, but the model built from the config and '
            f'the data read now needs {tuple(leaf.shape)}: the data has '
            f'other users or items than the run was trained on. Use the data '
            f'it was trained on.')

  def close(self) -> None:
    self._manager.close()
