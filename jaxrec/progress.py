"""What a training run prints: one line per epoch, and steps inside long epochs.

Console (one per run) writes an epoch's line: the loss, on evaluated epochs
the validation selection metric and a few others (the full table comes at
the end of the run), the epoch rate and an ETA between two bounds: the
epoch where early stopping ends the run if validation does not improve
again (from config.patience), and config.num_epochs (the most it can
train). The rate leaves out the first epochs, whose time is compilation.

StepMeter prints steps/s and the epoch's ETA every INTERVAL_S seconds inside
an epoch (only long epochs print any). It reads the host clock between
steps and blocks on the device only when it prints, so training is not
slowed by a sync per step.

Only console and train.log lines come from here; metrics.jsonl is written
by jaxrec/train.py.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
from absl import logging

# Seconds between in-epoch progress lines.
INTERVAL_S = 10.0
# Steps left out of the in-epoch rate (see StepMeter).
WARMUP_STEPS = 2
# Epochs left out of the epoch rate: the first compiles the train step, the
# second pays for compiling the evaluation that followed the first.
WARMUP_EPOCHS = 2


def format_duration(seconds: float) -> str:
  """'42s', '3m05s', '2h10m'."""
  s = int(round(seconds))
  if s < 60:
    return f'{max(seconds, 0):.0f}s' if s else f'{max(seconds, 0):.1f}s'
  if s < 3600:
    return f'{s // 60}m{s % 60:02d}s'
  return f'{s // 3600}h{s % 3600 // 60:02d}m'


def line_metrics(names: Sequence[str], selection: str) -> list[str]:
  """The few metrics an epoch's line shows, out of the `names` evaluated.

  The selection metric first, then 'auc' and recall / nDCG at the
  selection metric's K (or the largest K when it has none).
  """
  at = selection.partition('@')[2]
  ks = [n.partition('@')[2] for n in names if '@' in n]
  k = at or max(ks, key=int, default='')
  wanted = [selection, 'auc', f'recall@{k}', f'ndcg@{k}']
  return [n for i, n in enumerate(wanted)
          if n in names and n not in wanted[:i]]


def stop_epoch(best_epoch: int, patience: int, eval_every: int,
               num_epochs: int) -> int:
  """The epoch a run ends at if its selection value does not improve again.

  Early stopping ends a run after `patience` evaluations without a new
  best; evaluations come every `eval_every` epochs (and at num_epochs).
  With patience 0 (never stop early) the run ends at num_epochs.
  """
  if not patience:
    return num_epochs
  return min(num_epochs, best_epoch + patience * eval_every)


class StepMeter:
  """In-epoch progress of one epoch: steps/s and the epoch's ETA.

  Call tick() after dispatching each step. It compares the host clock with
  the last line's time and, only when a line is due, blocks on that step's
  output (so the count is of finished steps) and logs. The clock starts
  after the second step: in a run's first epoch the first compiles, and the
  second would too for a state placed otherwise than train.replicate places
  it.
  """

  def __init__(self, epoch: int, steps: int, interval: float | None = None,
               clock: Callable[[], float] = time.monotonic,
               block: Callable[[Any], Any] = jax.block_until_ready,
               emit: Callable[..., None] = logging.info):
    """epoch: 1-based, as the epoch lines show it; steps: steps per epoch;
    interval: seconds between lines (default INTERVAL_S)."""
    self.epoch, self.steps = epoch, steps
    self.interval = INTERVAL_S if interval is None else interval
    self._clock, self._block, self._emit = clock, block, emit
    self._t0 = self._last = None

  def tick(self, step: int, loss: Any, live: Any = None) -> None:
    """After step number `step` (1-based) was dispatched; `loss` is its
    output: a scalar, or stacked runs' [R] losses, whose mean over the runs
    that trained the step (bool [R] live; a masked run's loss is 0 / 0) is
    shown."""
    now = self._clock()
    if step <= WARMUP_STEPS:
      self._t0 = self._last = now
      return
    if now - self._last < self.interval or step >= self.steps:
      return
    self._block(loss)
    now = self._last = self._clock()
    rate = (step - WARMUP_STEPS) / max(now - self._t0, 1e-9)
    shown = np.asarray(loss) if live is None else np.asarray(loss)[live]
    self._emit('epoch %d  step %d/%d  %.2f steps/s  batch loss %.5f  '
               'epoch ETA %s', self.epoch, step, self.steps, rate,
               float(np.mean(shown)),
               format_duration((self.steps - step) / rate))


class Console:
  """The epoch lines of one run (one train_and_evaluate call).

  note_train() gets each epoch's training figures; note_eval() the
  evaluation of an evaluated epoch, which joins the same line.
  """

  def __init__(self, config, start_epoch: int, label: str = ''):
    self.config = config
    self.label = label  # Prefix of every line (stacked runs: the run's).
    self.start_epoch = start_epoch
    self._times: list[tuple[int, float]] = []  # (epoch, elapsed) per epoch.
    self._pending: tuple[int, str] | None = None
    self.best: tuple[float, int] | None = None  # (selection, epoch).
    self.best_known = start_epoch == 0

  def seconds_per_epoch(self) -> float:
    """Wall time per epoch (training, evaluation, checkpoint), after warm-up."""
    (e0, t0), (e1, t1) = self._times[0], self._times[-1]
    if len(self._times) > WARMUP_EPOCHS:
      e0, t0 = self._times[WARMUP_EPOCHS - 1]
    elif len(self._times) > 1:
      e0, t0 = self._times[-2]
    else:
      return t1 / max(e1 - self.start_epoch, 1)
    return (t1 - t0) / (e1 - e0)

  def eta(self, epoch: int) -> str:
    """'0.31s/epoch  ETA 13s-2m03s (epoch 55 without a new best, 400 at most)'.

    The lower bound is where early stopping ends the run if the selection
    value does not improve again; the upper is config.num_epochs. Before
    the best is known (no evaluation yet, or a resumed run without
    validation) only the upper bound is given, as '≤'.
    """
    c, per = self.config, self.seconds_per_epoch()
    last, text = c.num_epochs, f'{per:.2f}s/epoch'
    if len(self._times) <= WARMUP_EPOCHS:
      text += ' (with compilation)'
    if epoch >= last:
      return text
    at_most = format_duration((last - epoch) * per)
    if c.patience and not (self.best_known and self.best):
      return f'{text}  ETA ≤ {at_most} (epoch {last})'
    stop = last
    if c.patience:
      stop = stop_epoch(self.best[1], c.patience, c.eval_every_epochs, last)
    if stop <= epoch:
      return f'{text}  stopping: no new best in {c.patience} evaluations'
    if stop >= last:
      return f'{text}  ETA {at_most} (epoch {last})'
    return (f'{text}  ETA {format_duration((stop - epoch) * per)}-{at_most} '
            f'(epoch {stop} without a new best, {last} at most)')

  def note_train(self, epoch: int, loss: float, examples_per_sec: float,
                 elapsed: float, evaluated: bool, shown: bool) -> None:
    """An epoch's training; logged now, or with its evaluation (evaluated)."""
    self.flush()  # An evaluation that never came (e.g. a changed loop).
    self._times.append((epoch, elapsed))
    text = (f'{self.label}epoch {epoch}/{self.config.num_epochs}  '
            f'loss {loss:.5f}  '
            f'{examples_per_sec:.0f} ex/s  elapsed '
            f'{format_duration(elapsed)}')
    if evaluated:
      self._pending = (epoch, text)
    elif shown:
      logging.info('%s  %s', text, self.eta(epoch))

  def note_eval(self, epoch: int, results: Mapping[str, Mapping[str, float]],
                selection: float,
                history: Callable[[], Sequence[Mapping[str, Any]]] = tuple
                ) -> None:
    """An evaluated epoch: the line with its training figures.

    Args:
      epoch: the epoch.
      results: split -> metrics ('val' and, if logged, 'test').
      selection: the value the run selects on (higher is better).
      history: () -> the run's metrics.jsonl records; called once, at a
        resumed run's first evaluation, for the best so far.
    """
    if not self.best_known and 'val' in results:
      key = f'val/{self.config.selection_metric}'
      for r in history():
        if key in r and 'best_epoch' not in r and r['epoch'] < epoch:
          self._improve(r[key], r['epoch'])
      self.best_known = True
    self._improve(selection, epoch)
    pending = self._pending
    self._pending = None
    text = (pending[1] if pending and pending[0] == epoch else
            f'{self.label}epoch {epoch}')
    parts = [text, self._metrics(results)]
    if self._times:
      parts.append(self.eta(epoch))
    logging.info('%s', '  '.join(p for p in parts if p))

  def flush(self) -> None:
    """Logs a training line still waiting for its evaluation."""
    if self._pending:
      logging.info('%s  %s', self._pending[1], self.eta(self._pending[0]))
      self._pending = None

  def _improve(self, value: float, epoch: int) -> None:
    """Tracks the best selection value as the checkpoints do (ties: earlier)."""
    if self.best is None or value > self.best[0]:
      self.best = (value, epoch)

  def _metrics(self, results: Mapping[str, Mapping[str, float]]) -> str:
    """'val recall@20 0.1923 ndcg@20 0.1071 (best 0.1975 @25)  test ...'."""
    parts = []
    for split, m in results.items():
      shown = line_metrics(list(m), self.config.selection_metric)
      text = f'{split} ' + ' '.join(f'{n} {m[n]:.4f}' for n in shown)
      if split == 'val' and self.best_known and self.best:
        text += f' (best {self.best[0]:.4f} @{self.best[1]})'
      parts.append(text)
    if 'val' not in results and self.best_known and self.best:
      parts.append(f'best loss {-self.best[0]:.5f} @{self.best[1]}')
    return '  '.join(parts)


# One Console per run: keyed by the run's MetricsLog, which both of
# train.py's logging functions receive, and gone with it.
