"""What a run prints: one line per epoch, an honest ETA, in-epoch progress."""

import logging
import math

import ml_collections
import numpy as np
import pytest

from jaxrec import progress
from jaxrec import train
from jaxrec.tasks import base


def _epoch_lines(caplog):
  return [r.getMessage() for r in caplog.records
          if r.getMessage().startswith('epoch ')]


def _timeless(records):
  """metrics.jsonl records without the wall-clock fields."""
  return [{k: v for k, v in r.items() if 'seconds' not in k
           and 'per_sec' not in k} for r in records]


def test_one_short_line_per_epoch_and_the_full_table_at_the_end(
    smoke_config, tmp_path, caplog, monkeypatch):
  caplog.set_level(logging.INFO)
  monkeypatch.setattr(progress, 'INTERVAL_S', math.inf)  # No step lines.
  smoke_config.num_epochs = 3
  smoke_config.eval_every_epochs = 1
  smoke_config.log_test_every_eval = True
  train.train_and_evaluate(smoke_config, str(tmp_path))
  lines = _epoch_lines(caplog)
  # Before: a training line, a validation line and a test line per epoch.
  assert [l.split()[1] for l in lines] == ['1/3', '2/3', '3/3']
  for line in lines:
    assert 'loss' in line and 'val recall@20' in line and 'test ' in line
    # The per-K lists are cut to the selection metric and a few.
    assert 'precision@' not in line and '@10' not in line
  final = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('Best checkpoint')]
  assert 'precision@10' in final[0] and 'hit@20' in final[0]


class _Stop(Exception):
  pass


def test_eta_counts_to_the_early_stop_as_well_as_to_num_epochs(
    smoke_config, tmp_path, caplog, monkeypatch):
  caplog.set_level(logging.INFO)
  smoke_config.num_epochs = 1000
  smoke_config.eval_every_epochs = 1
  smoke_config.patience = 2
  real = progress.Console.note_eval

  def first_line_only(self, *args, **kwargs):
    real(self, *args, **kwargs)
    raise _Stop  # Only the first epoch's line matters here.

  monkeypatch.setattr(progress.Console, 'note_eval', first_line_only)
  with pytest.raises(_Stop):
    train.train_and_evaluate(smoke_config, str(tmp_path))
  line = _epoch_lines(caplog)[0]
  # Best at epoch 1, patience 2, one evaluation per epoch: epoch 3 at the
  # earliest, 1000 at most. Before: only 'ETA <time to epoch 1000>'.
  assert line.startswith('epoch 1/1000  loss')
  assert 'epoch 3 without a new best, 1000 at most' in line
  assert 's/epoch' in line


def _config(**kw):
  c = ml_collections.ConfigDict(dict(
      num_epochs=100, patience=3, eval_every_epochs=5,
      selection_metric='recall@20'))
  c.update(kw)
  return c


def test_console_rate_leaves_out_warm_up_and_tracks_the_best():
  con = progress.Console(_config(), start_epoch=0)
  # Epoch 1 holds 30 s of compilation, epoch 2 some more; then 2 s each.
  for epoch, elapsed in [(1, 31), (2, 35), (3, 37), (4, 39), (5, 41)]:
    con.note_train(epoch, 0.5, 1000.0, elapsed, evaluated=False, shown=False)
  assert con.seconds_per_epoch() == pytest.approx(2.0)
  con.note_eval(5, {'val': {'recall@20': 0.3}}, 0.3)
  assert con.best == (0.3, 5)
  # Best at 5, 3 evaluations every 5 epochs: ends at 20 unless it improves.
  assert '30s-3m10s (epoch 20 without a new best, 100 at most)' in con.eta(5)
  con.note_eval(10, {'val': {'recall@20': 0.3}}, 0.3)  # A tie: not better.
  assert con.best == (0.3, 5)


def test_resumed_console_reads_the_best_from_the_log():
  con = progress.Console(_config(), start_epoch=10)
  history = [{'epoch': 5, 'val/recall@20': 0.4},
             {'epoch': 10, 'val/recall@20': 0.2}]
  con.note_train(11, 0.5, 1000.0, 3.0, evaluated=False, shown=False)
  assert 'ETA ≤' in con.eta(11)  # Best unknown before an evaluation.
  con.note_eval(15, {'val': {'recall@20': 0.3}}, 0.3, lambda: history)
  assert con.best == (0.4, 5)


def test_patience_zero_gives_the_exact_end():
  con = progress.Console(_config(patience=0), start_epoch=0)
  con.note_train(1, 0.5, 1000.0, 2.0, evaluated=False, shown=False)
  assert con.eta(1).endswith('ETA 3m18s (epoch 100)')


@pytest.mark.parametrize('names,selection,shown', [
    (['recall@10', 'ndcg@10', 'precision@10', 'hit@10', 'recall@20',
      'ndcg@20', 'precision@20', 'hit@20'], 'recall@20',
     ['recall@20', 'ndcg@20']),
    (['auc', 'recall@10', 'ndcg@10', 'hit@10'], 'auc',
     ['auc', 'recall@10', 'ndcg@10']),
    (['recall@5', 'ndcg@5', 'hit@5'], 'hit@5', ['hit@5', 'recall@5',
                                                  'ndcg@5']),
])
def test_line_metrics(names, selection, shown):
  assert progress.line_metrics(names, selection) == shown


class _FakeClock:

  def __init__(self):
    self.t = 0.0

  def __call__(self):
    return self.t


def test_step_meter_blocks_only_when_it_prints():
  clock, blocked, lines = _FakeClock(), [], []
  meter = progress.StepMeter(7, 20, interval=10.0, clock=clock,
                             block=blocked.append,
                             emit=lambda fmt, *a: lines.append(fmt % a))
  for step in range(1, 21):
    meter.tick(step, 0.25)
    clock.t += 3.0  # Each step takes 3 s of host time.
  # The clock starts after step 2 (the first two steps may compile); lines
  # after steps 6, 10, 14, 18 (every >= 10 s), none for the last step (the
  # epoch line follows).
  assert len(lines) == len(blocked) == 4
  assert lines[0].startswith('epoch 7  step 6/20  0.33 steps/s')
  assert 'epoch ETA 42s' in lines[0]


def test_stacked_losses_show_the_mean_of_the_runs_that_trained():
  clock, lines = _FakeClock(), []
  meter = progress.StepMeter(1, 20, interval=0.0, clock=clock,
                             block=lambda x: None,
                             emit=lambda fmt, *a: lines.append(fmt % a))
  for step in range(1, 4):  # A stopped run's loss is 0 / 0, masked out.
    meter.tick(step, np.array([0.5, np.nan, 0.25]),
               np.array([True, False, True]))
    clock.t += 1.0
  assert 'batch loss 0.37500' in lines[-1]


def test_short_epochs_never_block():
  clock, blocked = _FakeClock(), []
  meter = progress.StepMeter(1, 1000, interval=10.0, clock=clock,
                             block=blocked.append, emit=print)
  for step in range(1, 1001):
    meter.tick(step, 0.0)
    clock.t += 0.001
  assert not blocked


def test_progress_lines_leave_metrics_bit_identical(smoke_config, tmp_path,
                                                    caplog, monkeypatch):
  caplog.set_level(logging.INFO)
  smoke_config.num_epochs = 2
  quiet, chatty = str(tmp_path / 'quiet'), str(tmp_path / 'chatty')
  monkeypatch.setattr(progress, 'INTERVAL_S', math.inf)
  train.train_and_evaluate(smoke_config, quiet)
  assert not [l for l in _epoch_lines(caplog) if 'steps/s' in l]
  monkeypatch.setattr(progress, 'INTERVAL_S', 0.0)  # A line after each step.
  train.train_and_evaluate(smoke_config, chatty)
  assert [l for l in _epoch_lines(caplog) if 'steps/s' in l]
  assert (_timeless(train.MetricsLog(quiet).read()) ==
          _timeless(train.MetricsLog(chatty).read()))


def test_synthetic_data_warning_does_not_claim_training(caplog):
  # evaluate.py and recommend.py build the task too, and print this.
  caplog.set_level(logging.INFO)
  base.log_data('toy', synthetic=True)
  assert 'SYNTHETIC' in caplog.text and 'NOT real data' in caplog.text
  assert 'Training on' not in caplog.text
