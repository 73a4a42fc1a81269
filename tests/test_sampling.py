"""Negative sampling and batches as a pure function of (seed, epoch, step)."""

import numpy as np

from jaxrec import sampling
from jaxrec.data.dataset import Interactions
from jaxrec.data import synthetic


def _train():
  ds = synthetic.generate(num_users=50, num_items=30, num_clusters=3,
                          interactions_per_user=12, seed=3)
  return ds.train, ds.num_users, ds.num_items


def test_negatives_never_hit_a_train_item():
  train, nu, ni = _train()
  known = sampling.Known(train.user, train.item, ni)
  users = np.repeat(np.arange(nu), 200)
  neg = sampling.negatives(users, known, np.random.default_rng(0))
  train_pairs = set(zip(train.user.tolist(), train.item.tolist()))
  assert not any((u, i) in train_pairs for u, i in zip(users, neg))
  # Uniform over the user's unseen items: every unseen item shows up.
  u0 = neg[users == 0]
  unseen = set(range(ni)) - {i for u, i in train_pairs if u == 0}
  assert set(u0.tolist()) == unseen


def test_batches_cover_the_epoch_and_depend_only_on_seed_epoch_step():
  train, nu, ni = _train()
  a = sampling.BPRBatches(train, nu, ni, batch_size=64, seed=7)
  b = sampling.BPRBatches(train, nu, ni, batch_size=64, seed=7)
  # Out-of-order access gives the same batch (no sampler state).
  late = b.batch(3, 2)
  b.batch(0, 0)
  for k, v in a.batch(3, 2).items():
    np.testing.assert_array_equal(v, late[k])
  batches = [a.batch(0, s) for s in range(a.steps_per_epoch)]
  mask = np.concatenate([x['mask'] for x in batches]).astype(bool)
  assert mask.sum() == len(train.user)
  users = np.concatenate([x['user'] for x in batches])[mask]
  pos = np.concatenate([x['pos'] for x in batches])[mask]
  got = sorted(zip(users.tolist(), pos.tolist()))
  assert got == sorted(zip(train.user.tolist(), train.item.tolist()))
  # Another epoch or seed reorders.
  assert not np.array_equal(a.batch(1, 0)['user'], a.batch(0, 0)['user'])
  c = sampling.BPRBatches(train, nu, ni, batch_size=64, seed=8)
  assert not np.array_equal(c.batch(0, 0)['user'], a.batch(0, 0)['user'])


def test_known_bit_matrix_and_binary_search_agree(monkeypatch):
  train, nu, ni = _train()
  rng = np.random.default_rng(1)
  users = rng.integers(0, nu + 3, 5000)  # includes users with no train row
  items = rng.integers(0, ni, 5000)
  dense = sampling.Known(train.user, train.item, ni)
  monkeypatch.setattr(sampling.Known, 'DENSE_BITS', 0)
  search = sampling.Known(train.user, train.item, ni)
  assert dense.bits is not None and search.bits is None
  np.testing.assert_array_equal(dense.contains(users, items),
                                search.contains(users, items))
  pairs = set(zip(train.user.tolist(), train.item.tolist()))
  want = [(u, i) in pairs for u, i in zip(users.tolist(), items.tolist())]
  np.testing.assert_array_equal(dense.contains(users, items), want)


def test_alias_table_draws_the_distribution():
  probs = np.array([0.5, 0.0, 0.125, 0.25, 0.125])
  draws = sampling.AliasTable(probs).draw(np.random.default_rng(0), 400000)
  freq = np.bincount(draws, minlength=5) / len(draws)
  np.testing.assert_allclose(freq, probs, atol=0.003)
  assert freq[1] == 0


def test_user_uniform_examples_weigh_every_user_alike():
  """'user_uniform': users uniform whatever their row counts, each user's
  rows uniform, only real (user, item) rows; 'every_row' weighs users by
  their rows."""
  rng = np.random.default_rng(0)
  # User 0 has 40 rows, users 1..4 have 2 each; user 5 has none.
  users = np.concatenate([np.zeros(40, int), np.repeat(np.arange(1, 5), 2)])
  items = np.concatenate([np.arange(40), rng.integers(0, 40, 8)])
  train = Interactions(users, items)
  draws = {'every_row': [], 'user_uniform': []}
  for examples in draws:
    b = sampling.BPRBatches(train, 6, 50, batch_size=48, seed=1,
                            examples=examples)
    for epoch in range(300):
      x = b.batch(epoch, 0)
      assert x['mask'].sum() == 48
      draws[examples].append(np.stack([x['user'], x['pos']], 1))
  real = set(zip(users.tolist(), items.tolist()))
  for examples, d in draws.items():
    d = np.concatenate(d)
    assert set(map(tuple, d.tolist())) <= real
    share = np.bincount(d[:, 0], minlength=6) / len(d)
    if examples == 'user_uniform':
      np.testing.assert_allclose(share[:5], 0.2, atol=0.01)
      # User 0's 40 rows are drawn alike.
      rows = np.bincount(d[d[:, 0] == 0, 1], minlength=40)
      assert rows.min() > 0.6 * rows.mean()
    else:
      np.testing.assert_allclose(share[0], 40 / 48, atol=1e-9)
    assert share[5] == 0
