"""The training loop: one step, end to end, resume, devices, NaN, evaluate."""

import json
import os
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fake_devices
from jaxrec import checkpoint
from jaxrec import evaluate
from jaxrec import sampling
from jaxrec import tasks
from jaxrec import train
from jaxrec import train_state
from jaxrec.errors import ConfigError, TrainingDiverged

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_metrics(workdir):
  return train.MetricsLog(workdir).read()


def _restore_params(workdir, config, which='latest'):
  task = tasks.build(config)
  ckpts = checkpoint.Checkpoints(workdir, read_only=True)
  epoch = ckpts.latest_epoch() if which == 'latest' else ckpts.best_epoch()
  state, progress = ckpts.restore(epoch, train_state.abstract(task))
  return state.params, progress


def test_one_step_lowers_the_loss(smoke_config):
  task = tasks.build(smoke_config)
  state = train_state.create(task, 0)
  batches = sampling.BPRBatches(task.data.train, task.data.num_users,
                                task.data.num_items, 256, 0)
  batch = train.shard(batches.batch(0, 0), 1)
  step = train.make_step(task)
  state1, loss0 = step(state, task.inputs, batch, 0)
  _, loss1 = step(state1, task.inputs, batch, 1)
  assert np.isfinite(loss0) and np.isfinite(loss1)
  assert loss1 < loss0
  for leaf in jax.tree.leaves(state1.params):
    assert np.all(np.isfinite(leaf))
  assert not np.allclose(state1.params['embedding'], state.params['embedding'])


def test_end_to_end_beats_most_popular(smoke_config, tmp_path):
  smoke_config.num_epochs = 10
  smoke_config.eval_every_epochs = 5
  result = train.train_and_evaluate(smoke_config, str(tmp_path))
  records = _read_metrics(str(tmp_path))
  final = records[-1]
  assert final['best_epoch'] in (5, 10)
  assert final['test/recall@20'] == pytest.approx(result['test/recall@20'])
  # Planted clusters: LightGCN must clearly beat popularity.
  assert result['test/recall@20'] > final['baseline/MostPop/recall@20'] + 0.15
  losses = [r['train/loss'] for r in records if 'train/loss' in r]
  assert len(losses) == 10 and losses[-1] < losses[0]
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['num_epochs'] == 10


def test_resume_continues_exactly(smoke_config, tmp_path):
  smoke_config.num_epochs = 4
  smoke_config.eval_every_epochs = 2
  smoke_config.patience = 0
  straight = str(tmp_path / 'straight')
  train.train_and_evaluate(smoke_config, straight)

  resumed = str(tmp_path / 'resumed')
  smoke_config.num_epochs = 2
  train.train_and_evaluate(smoke_config, resumed)
  smoke_config.num_epochs = 4  # allowed to change on resume
  train.train_and_evaluate(smoke_config, resumed)

  a, pa = _restore_params(straight, smoke_config)
  b, pb = _restore_params(resumed, smoke_config)
  assert pa['epoch'] == pb['epoch'] == 4
  np.testing.assert_array_equal(a['embedding'], b['embedding'])
  strip = lambda rs: [{k: v for k, v in r.items() if 'seconds' not in k
                       and 'per_sec' not in k} for r in rs]
  assert strip(_read_metrics(straight)) == strip(_read_metrics(resumed))
  # The per-evaluation test metrics are part of what resumes exactly.
  assert [r['epoch'] for r in _read_metrics(resumed)
          if 'test/recall@20' in r and 'epoch' in r] == [2, 4]


def _evaluations(workdir):
  """The per-evaluation records of a run (not its final report)."""
  return [r for r in _read_metrics(workdir)
          if 'val/recall@20' in r and 'best_epoch' not in r]


def test_test_split_is_logged_at_every_evaluation_but_never_selects(
    smoke_config, tmp_path):
  smoke_config.num_epochs = 12
  smoke_config.eval_every_epochs = 1
  smoke_config.patience = 2
  runs = {}
  for logged in (True, False):
    smoke_config.log_test_every_eval = logged
    workdir = str(tmp_path / f'test_logged_{logged}')
    train.train_and_evaluate(smoke_config, workdir)
    runs[logged] = workdir
  with_test, without = runs[True], runs[False]

  evals = _evaluations(with_test)
  assert all('test/recall@20' in r for r in evals)
  assert not any(k.startswith('test/') for r in _evaluations(without)
                 for k in r)
  assert [r['test/recall@20'] for r in evals] != [
      r['val/recall@20'] for r in evals]
  # Same evaluations, early stop, checkpoints and final report either way.
  val_only = lambda rs: [{k: v for k, v in r.items()
                          if not k.startswith('test/')} for r in rs]
  assert val_only(evals) == _evaluations(without)
  assert evals[-1]['epoch'] < smoke_config.num_epochs  # It stopped early.
  assert (sorted(os.listdir(os.path.join(with_test, 'checkpoints'))) ==
          sorted(os.listdir(os.path.join(without, 'checkpoints'))))
  final = _read_metrics(with_test)[-1]
  strip = lambda r: {k: v for k, v in r.items() if 'seconds' not in k
                     and 'per_sec' not in k}
  assert strip(final) == strip(_read_metrics(without)[-1])
  a, _ = _restore_params(with_test, smoke_config, 'best')
  b, _ = _restore_params(without, smoke_config, 'best')
  np.testing.assert_array_equal(a['embedding'], b['embedding'])
  # Selecting on test would have picked another epoch here, so the equal
  # best epochs above show that test did not select.
  best_test = max(evals, key=lambda r: (r['test/recall@20'], -r['epoch']))
  assert best_test['epoch'] != final['best_epoch'], (
      'the smoke run no longer separates the protocols; adjust the epochs')
  # The final report's test metrics are those of the selected epoch.
  at_best = [r for r in evals if r['epoch'] == final['best_epoch']][0]
  assert final['test/recall@20'] == pytest.approx(at_best['test/recall@20'],
                                                  abs=1e-6)


def test_resume_accepts_a_run_saved_before_a_field_existed(smoke_config,
                                                           tmp_path):
  smoke_config.num_epochs = 1
  train.train_and_evaluate(smoke_config, str(tmp_path))
  path = tmp_path / 'config.json'
  saved = json.loads(path.read_text())
  del saved['num_negatives']  # As if saved by an older jaxrec.
  path.write_text(json.dumps(saved))
  smoke_config.num_epochs = 2
  train.train_and_evaluate(smoke_config, str(tmp_path))
  assert _read_metrics(str(tmp_path))[-1]['best_epoch'] in (1, 2)


def test_resume_refuses_a_different_config(smoke_config, tmp_path):
  train.train_and_evaluate(smoke_config, str(tmp_path))
  smoke_config.learning_rate = 0.5
  with pytest.raises(ConfigError, match='learning_rate'):
    train.train_and_evaluate(smoke_config, str(tmp_path))


def test_evaluate_reproduces_logged_validation(smoke_config, tmp_path):
  smoke_config.num_epochs = 6
  smoke_config.eval_every_epochs = 2
  smoke_config.patience = 0
  train.train_and_evaluate(smoke_config, str(tmp_path))
  result = evaluate.evaluate_workdir(str(tmp_path), 'val', 'best')
  logged = [r for r in _read_metrics(str(tmp_path))
            if r.get('epoch') == result['epoch'] and 'val/recall@20' in r][0]
  for k in ('recall@20', 'ndcg@20', 'precision@10', 'hit@10'):
    assert result[k] == pytest.approx(logged[f'val/{k}'], abs=1e-6)
  with open(tmp_path / 'eval_val.json') as f:
    assert json.load(f)['recall@20'] == pytest.approx(result['recall@20'])


def test_nan_loss_stops_with_a_message(smoke_config, tmp_path):
  smoke_config.learning_rate = 1e30
  smoke_config.model.embed_dim = 4
  with pytest.raises(TrainingDiverged, match='learning_rate'):
    train.train_and_evaluate(smoke_config, str(tmp_path))


def test_config_mistakes_fail_before_training(smoke_config, tmp_path):
  smoke_config.selection_metric = 'recall@50'
  with pytest.raises(ConfigError, match='selection_metric'):
    train.train_and_evaluate(smoke_config, str(tmp_path / 'a'))
  smoke_config.selection_metric = 'recall@20'
  smoke_config.batch_size = 255
  smoke_config.num_devices = 1
  smoke_config.model.name = 'lightgnc'
  with pytest.raises(ConfigError, match='lightgcn'):
    train.train_and_evaluate(smoke_config, str(tmp_path / 'b'))


_TWO_DEVICES = textwrap.dedent('''
    import sys
    import jax
    # Fake CPU devices even on a host with one GPU.
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', 2)
    import numpy as np
    sys.path.insert(0, {repo!r})
    from configs import lightgcn_synthetic
    from jaxrec import checkpoint, tasks, train, train_state

    assert jax.local_device_count() == 2
    params = []
    for n in (1, 2):
      config = lightgcn_synthetic.get_config('smoke')
      config.unlock()
      config.num_devices = n
      config.num_epochs = 2
      workdir = {tmp!r} + f'/dev{{n}}'
      result = train.train_and_evaluate(config, workdir)
      task = tasks.build(config)
      ckpts = checkpoint.Checkpoints(workdir, read_only=True)
      state, _ = ckpts.restore(ckpts.latest_epoch(), train_state.abstract(task))
      params.append(np.asarray(state.params['embedding']))
    print('MAXDIFF', float(np.abs(params[0] - params[1]).max()))
''')


def test_two_devices_match_one_device(tmp_path):
  """Same global batch on 1 and 2 (fake CPU) devices -> same parameters.

  Runs in a subprocess: XLA:CPU collectives on these 2-core machines
  occasionally deadlock and abort the process (exit 134); such an abort is
  retried rather than taking the whole test session down.
  """
  proc = fake_devices.run_python(
      _TWO_DEVICES.format(repo=REPO, tmp=str(tmp_path)))
  assert proc.returncode == 0, proc.stderr[-3000:]
  diff = float(proc.stdout.split('MAXDIFF')[-1])
  assert diff < 1e-5


def test_checkpoints_keep_latest_and_best_with_ties_to_the_earlier(tmp_path):
  ckpts = checkpoint.Checkpoints(str(tmp_path))
  state = {'w': jnp.zeros(2)}
  for epoch, selection in [(1, 0.5), (2, 0.7), (3, 0.7), (4, 0.6)]:
    ckpts.save(epoch, {'w': state['w'] + epoch}, {'epoch': epoch}, selection)
  assert ckpts.best_epoch() == 2 and ckpts.latest_epoch() == 4
  restored, progress = ckpts.restore(2, state)
  np.testing.assert_array_equal(restored['w'], [2.0, 2.0])
  assert progress == {'epoch': 2}
  assert sorted(os.listdir(ckpts.directory)) == ['2', '4']


def _timeless(records):
  return [{k: v for k, v in r.items() if 'seconds' not in k
           and 'per_sec' not in k} for r in records]


def _resumes(workdir):
  path = os.path.join(workdir, 'resumes.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [{k: v for k, v in json.loads(line).items() if k != 'time'}
            for line in f]


def test_early_stopped_run_resumes_under_a_new_budget(smoke_config, tmp_path):
  smoke_config.num_epochs = 12
  smoke_config.eval_every_epochs = 1
  smoke_config.patience = 3
  straight = str(tmp_path / 'straight')
  train.train_and_evaluate(smoke_config, straight)

  stopped = str(tmp_path / 'stopped')
  smoke_config.patience = 1
  train.train_and_evaluate(smoke_config, stopped)
  stop_epoch = _read_metrics(stopped)[-2]['epoch']
  assert stop_epoch < smoke_config.num_epochs  # It stopped early.
  config_json = (tmp_path / 'stopped' / 'config.json').read_text()

  # More epochs do not lift an early stop that still holds: nothing trains,
  # and config.json does not claim a num_epochs that no epoch ran with.
  smoke_config.num_epochs = 30
  train.train_and_evaluate(smoke_config, stopped)
  assert (tmp_path / 'stopped' / 'config.json').read_text() == config_json
  assert _resumes(stopped) == []
  assert max(r.get('epoch', 0) for r in _read_metrics(stopped)) == stop_epoch

  # A larger patience lifts it: the run continues exactly as the
  # uninterrupted run with that patience.
  smoke_config.num_epochs = 12
  smoke_config.patience = 3
  train.train_and_evaluate(smoke_config, stopped)
  assert _timeless(_read_metrics(stopped)) == _timeless(
      _read_metrics(straight))
  assert max(r.get('epoch', 0) for r in _read_metrics(stopped)) > stop_epoch
  a, _ = _restore_params(straight, smoke_config, 'best')
  b, _ = _restore_params(stopped, smoke_config, 'best')
  np.testing.assert_array_equal(a['embedding'], b['embedding'])
  with open(tmp_path / 'stopped' / 'config.json') as f:
    assert json.load(f)['patience'] == 3
  assert _resumes(stopped) == [{'epoch': stop_epoch,
                                'changed': {'patience': [1, 3]}}]


def test_raised_num_epochs_continues_and_is_recorded(smoke_config, tmp_path):
  smoke_config.num_epochs = 2
  smoke_config.patience = 0
  train.train_and_evaluate(smoke_config, str(tmp_path))
  smoke_config.num_epochs = 3
  train.train_and_evaluate(smoke_config, str(tmp_path))
  assert _read_metrics(str(tmp_path))[-1]['best_epoch'] in (1, 2, 3)
  assert checkpoint.Checkpoints(str(tmp_path), True).latest_epoch() == 3
  assert _resumes(str(tmp_path)) == [{'epoch': 2,
                                      'changed': {'num_epochs': [2, 3]}}]


def test_nan_before_the_first_checkpoint_says_there_is_none(smoke_config,
                                                            tmp_path):
  smoke_config.learning_rate = 1e30
  smoke_config.model.embed_dim = 4
  smoke_config.eval_every_epochs = 5
  with pytest.raises(TrainingDiverged) as err:
    train.train_and_evaluate(smoke_config, str(tmp_path))
  message = str(err.value)
  assert 'None' not in message and '\n' not in message
  assert 'before the first checkpoint' in message
  assert 'epoch 3' in message  # num_epochs: the first evaluation.
  assert 'learning_rate' in message and 'new --workdir' in message


def test_a_restart_before_the_first_checkpoint_drops_the_old_records(
    smoke_config, tmp_path):
  smoke_config.num_epochs = 1
  # As a run killed in its first epochs leaves it: records, no checkpoint.
  train.MetricsLog(str(tmp_path)).write({'epoch': 1, 'train/loss': 9.0})
  train.train_and_evaluate(smoke_config, str(tmp_path))
  losses = [r['train/loss'] for r in _read_metrics(str(tmp_path))
            if 'train/loss' in r]
  assert len(losses) == 1 and losses[0] != 9.0
