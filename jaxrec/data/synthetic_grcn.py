"""Synthetic stand-ins for the GRCN / MMGCN datasets, and GRCN's default data.

`synthetic_grcn` dresses the planted-cluster data of synthetic.py as the
real data sets: their feature widths, Tiktok's bag of words, an 80 / 10 / 10
split. `builtin_grcn` is what data.format='grcn' reads when data.path is
empty, built in memory exactly as the GRCN layout would hold it.
"""

from __future__ import annotations

import numpy as np

from jaxrec.data import grcn_files
from jaxrec.data import splits
from jaxrec.data import synthetic
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.errors import ConfigError

# Feature widths of the real data sets; Tiktok's text is a bag of words.
PRESETS = {
    'movielens': {'visual': 2048, 'acoustic': 128, 'textual': 100},
    'tiktok': {'visual': 128, 'acoustic': 128},
    'kwai': {'visual': 2048},
}
BAG_PRESETS = ('tiktok',)
VOCAB_SIZE = 2000
WORDS_PER_ITEM = (10, 30)
IN_CLUSTER_WORDS = 0.8
NUM_CLUSTERS = 10


def _bag_of_words(item_cluster: np.ndarray, num_clusters: int,
                  rng: np.random.Generator) -> np.ndarray:
  """A bag of words whose words come mostly from the item's cluster's slice.

  Args:
    item_cluster: int [I] cluster of each item.
    num_clusters: C; the vocabulary is cut into C slices.
    rng: numpy Generator.

  Returns:
    int64 [2, n]: row 0 the item of each token, row 1 its word id.
  """
  num_items = len(item_cluster)
  low, high = WORDS_PER_ITEM
  item = np.repeat(np.arange(num_items), rng.integers(low, high + 1,
                                                      num_items))
  width = VOCAB_SIZE // num_clusters
  own = rng.random(len(item)) < IN_CLUSTER_WORDS
  word = np.where(own,
                  item_cluster[item] * width + rng.integers(0, width,
                                                            len(item)),
                  rng.integers(0, VOCAB_SIZE, len(item)))
  return np.stack([item, word]).astype(np.int64)


def synthetic_grcn(preset: str = 'movielens',
                   num_users: int = 3000,
                   num_items: int = 1500,
                   seed: int = 0,
                   noise: float = 0.0) -> Dataset:
  """A scaled-down synthetic multimodal data set with real feature widths.

  Built on `synthetic.generate` (planted clusters, so features are
  informative), ~20 interactions per user, split per user 80 / 10 / 10 into
  train / val / test.

  Args:
    preset: 'movielens' (visual 2048, acoustic 128, textual 100), 'tiktok'
      (visual 128, acoustic 128, textual a bag of words over 2000 words) or
      'kwai' (visual 2048).
    num_users: U.
    num_items: I.
    seed: everything is deterministic in it.
    noise: false-positive interactions, as a share of the true ones.

  Returns:
    A Dataset named 'synthetic-<preset>' with float32 item_features and, for
    'tiktok', item_bags['textual'] (int64 [2, n]); no ratings or timestamps.
  """
  if preset not in PRESETS:
    raise ConfigError(f'synthetic GRCN preset {preset!r} is not one of '
                      f'{list(PRESETS)}.')
  num_clusters = max(1, min(NUM_CLUSTERS, num_items // 2))
  ds, planted = synthetic.generate_planted(
      num_users=num_users, num_items=num_items, num_clusters=num_clusters,
      interactions_per_user=20.0, noise=noise,
      feature_dims=PRESETS[preset], seed=seed)
  bags = {}
  if preset in BAG_PRESETS:
    bags['textual'] = _bag_of_words(planted.item_cluster, num_clusters,
                                    np.random.default_rng([seed, 1]))
  # The GRCN layout has no ratings or timestamps.
  everything = Interactions(ds.train.user, ds.train.item)
  rest, test = splits.ratio_split(everything, 0.1, seed)
  ds = ds.replace(train=rest, val=Interactions.empty(like=rest), test=test)
  # 1/9 of the remaining 90% is 10% of the whole.
  ds = splits.carve_validation(ds, 1 / 9, seed)
  args = (f'preset={preset!r}, num_users={num_users}, num_items={num_items}, '
          f'seed={seed}, noise={noise}')
  return ds.replace(
      name=f'synthetic-{preset}',
      source=(f'jaxrec.data.synthetic_grcn.synthetic_grcn({args}); NOT real '
              f'data: planted clusters with the real {preset} feature '
              f'widths'),
      item_bags=bags)


def builtin_grcn(preset: str, num_users: int, num_items: int, seed: int,
                 noise: float) -> Dataset:
  """The built-in data of data.format='grcn' (empty data.path), in memory.

  Exactly what grcn_layout.load_grcn reads back from a folder that
  grcn_write.write_grcn wrote synthetic_grcn(...) into, named as that
  folder was (tests/test_grcn_builtin.py compares them array for array),
  without writing anything.

  Args:
    preset, num_users, num_items, seed, noise: see synthetic_grcn
      (config.data.grcn.synthetic_*).

  Returns:
    A Dataset named 'synthetic-<preset>-u<U>-i<I>-n<noise>-s<seed>': int32
    ids, no ratings, timestamps or item names, val and test rows ordered by
    user (the layout stores them as per-user lists), item_features in the
    reader's modality order (visual, acoustic, textual).
  """
  ds = synthetic_grcn(preset, num_users, num_items, seed, noise)
  by_user = lambda x: x.select(np.argsort(x.user, kind='stable'))
  return ds.replace(
      name=(f'synthetic-{preset}-u{num_users}-i{num_items}-n{noise}-'
            f's{seed}'),
      val=by_user(ds.val), test=by_user(ds.test), item_names=None,
      item_features={m: ds.item_features[m] for m in grcn_files.MODALITIES
                     if m in ds.item_features})
