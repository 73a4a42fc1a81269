"""The synthetic GRCN presets, and the built-in data of data.format='grcn'.

The built-in data is built in memory; it must be exactly what writing the
preset in the GRCN layout and reading it back gives (which is how it was
made before), so the round trip here tests the writer and reader too.
"""

import dataclasses
import os
import tempfile

import numpy as np
import pytest

from test_grcn_layout import pairs, tiny

from jaxrec.data import config as data_config_lib
from jaxrec.data import grcn_layout
from jaxrec.data import grcn_write
from jaxrec.data import pipeline
from jaxrec.data import synthetic_grcn


def assert_same_array(a, b, what):
  """Bit-equal arrays of the same dtype and shape, or both None."""
  assert (a is None) == (b is None), what
  if a is not None:
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes(), what


def assert_same_dataset(a, b):
  """Every field equal, arrays bit for bit, dicts in the same order.

  `source` is left out: a folder for data read from disk, the generator's
  description for data built in memory.
  """
  assert (a.name, a.num_users, a.num_items) == (b.name, b.num_users,
                                                b.num_items)
  for name in ('train', 'val', 'test'):
    for f in dataclasses.fields(getattr(a, name)):
      assert_same_array(getattr(getattr(a, name), f.name),
                        getattr(getattr(b, name), f.name), f'{name}.{f.name}')
  for name in ('user_ids', 'item_ids', 'item_names'):
    assert_same_array(getattr(a, name), getattr(b, name), name)
  for name in ('item_features', 'item_bags'):
    assert list(getattr(a, name)) == list(getattr(b, name)), name
    for m in getattr(a, name):
      assert_same_array(getattr(a, name)[m], getattr(b, name)[m],
                        f'{name}[{m}]')


# --- the built-in data -------------------------------------------------------


@pytest.mark.parametrize('preset,users,items,seed,noise', [
    ('movielens', 200, 120, 0, 0.0),
    ('tiktok', 200, 120, 0, 0.0),
    ('kwai', 200, 120, 0, 0.0),
    ('tiktok', 90, 50, 3, 0.3),
])
def test_builtin_is_the_written_then_read_preset(tmp_path, preset, users,
                                                 items, seed, noise):
  """builtin_grcn == load_grcn(write_grcn(synthetic_grcn(...))), all fields."""
  ds = synthetic_grcn.builtin_grcn(preset, users, items, seed, noise)
  # The folder the default run used to write, named as it was.
  folder = tmp_path / ds.name
  grcn_write.write_grcn(
      synthetic_grcn.synthetic_grcn(preset, users, items, seed, noise),
      folder, layout=preset)
  back = grcn_layout.load_grcn(folder)
  assert_same_dataset(ds, back)
  assert back.source == os.fspath(folder)
  assert ds.summary() == back.summary().replace(back.source, ds.source)
  assert ds.is_synthetic and 'NOT real data' in ds.source


def test_default_run_writes_nothing(tmp_path, monkeypatch):
  """data.format='grcn' with no path builds its data without any file."""
  temp, cwd = tmp_path / 'temp', tmp_path / 'cwd'
  temp.mkdir()
  cwd.mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', os.fspath(temp))
  monkeypatch.chdir(cwd)
  cfg = data_config_lib.default_config()
  cfg.format = 'grcn'
  cfg.split = 'given'
  cfg.val_ratio = 0.0
  cfg.grcn.synthetic_preset = 'tiktok'
  cfg.grcn.synthetic_users, cfg.grcn.synthetic_items = 60, 40
  ds = pipeline.load(cfg)
  assert not os.listdir(temp) and not os.listdir(cwd)
  assert_same_dataset(ds, synthetic_grcn.builtin_grcn('tiktok', 60, 40, 0,
                                                      0.0))
  assert ds.name == 'synthetic-tiktok-u60-i40-n0.0-s0'


# --- synthetic presets -------------------------------------------------------


def test_synthetic_presets_deterministic_with_real_widths():
  """Same seed, same data; the real feature widths; NOT-real-data source."""
  widths = {'movielens': {'visual': 2048, 'acoustic': 128, 'textual': 100},
            'tiktok': {'visual': 128, 'acoustic': 128},
            'kwai': {'visual': 2048}}
  for preset, dims in widths.items():
    a, b = tiny(preset), tiny(preset)
    assert a.name == f'synthetic-{preset}' and a.is_synthetic
    assert 'NOT real data' in a.source
    assert {m: x.shape[1] for m, x in a.item_features.items()} == dims
    for m, x in a.item_features.items():
      assert x.dtype == np.float32 and x.shape[0] == a.num_items
      np.testing.assert_array_equal(x, b.item_features[m])
    for name in ('train', 'val', 'test'):
      np.testing.assert_array_equal(pairs(getattr(a, name)),
                                    pairs(getattr(b, name)))
      assert len(getattr(a, name))
    assert (sorted(a.item_bags) == ['textual']) == (preset == 'tiktok')
  c = tiny('kwai', seed=1)
  assert not np.array_equal(pairs(c.train), pairs(tiny('kwai').train))


def test_synthetic_bag_of_words_shape():
  """Tiktok's bag: 10-30 words per item, ids within the 2000-word vocabulary."""
  ds = synthetic_grcn.synthetic_grcn('tiktok', num_users=200, num_items=100)
  bag = ds.item_bags['textual']
  assert bag.dtype == np.int64 and bag.shape[0] == 2
  per_item = np.bincount(bag[0], minlength=100)
  assert per_item.min() >= 10 and per_item.max() <= 30
  assert 0 <= bag[1].min() and bag[1].max() < synthetic_grcn.VOCAB_SIZE
  # Split roughly 80 / 10 / 10 per user.
  total = len(ds.train) + len(ds.val) + len(ds.test)
  assert 0.75 < len(ds.train) / total < 0.85
