"""The synthetic generator and the config -> Dataset pipeline."""

import numpy as np
import pytest

from jaxrec.data import config as data_config_lib
from jaxrec.data import pipeline
from jaxrec.data import synthetic
from jaxrec.data.dataset import DataError


def test_synthetic_is_deterministic_and_labelled():
  a = synthetic.generate(seed=1)
  b = synthetic.generate(seed=1)
  c = synthetic.generate(seed=2)
  np.testing.assert_array_equal(a.train.item, b.train.item)
  assert not np.array_equal(a.train.item[:100], c.train.item[:100])
  assert a.is_synthetic and 'NOT real data' in a.source
  keys = a.train.user.astype(np.int64) * a.num_items + a.train.item
  assert len(np.unique(keys)) == len(keys)  # no duplicate pairs


def test_synthetic_planted_clusters_features_noise_and_dislikes():
  ds = synthetic.generate(num_users=300, num_items=120, num_clusters=4,
                          in_cluster=0.9, noise=0.25, dislikes_per_user=4,
                          feature_dims={'visual': 6}, feature_noise=0.1,
                          seed=0)
  cluster = np.array([int(n.split('cluster ')[1].rstrip(')'))
                      for n in ds.item_names])
  likes = ds.train.rating >= 4
  # Users concentrate on one cluster: their top cluster holds most likes.
  counts = np.zeros((ds.num_users, 4))
  np.add.at(counts, (ds.train.user[likes], cluster[ds.train.item[likes]]), 1)
  top_share = counts.max(1).sum() / counts.sum()
  assert 0.6 < top_share < 0.9  # 0.9 in-cluster, diluted by 25% noise
  # Dislikes exist and sit on another cluster than the user's favourite.
  dis = ~likes
  assert dis.sum() > 500
  fav = counts.argmax(1)
  assert np.mean(cluster[ds.train.item[dis]] != fav[ds.train.user[dis]]) > 0.9
  # Features are close to their cluster's centroid.
  f = ds.item_features['visual']
  assert f.shape == (120, 6)
  centroids = np.stack([f[cluster == c].mean(0) for c in range(4)])
  nearest = np.argmin(((f[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
  assert np.mean(nearest == cluster) > 0.95


def _data_config(**changes):
  cfg = data_config_lib.default_config()
  cfg.synthetic.num_users = 100
  cfg.synthetic.num_items = 60
  for k, v in changes.items():
    setattr(cfg, k, v)
  return cfg


def test_pipeline_ratio_split_with_validation():
  ds = pipeline.load(_data_config(test_ratio=0.2, val_ratio=0.1))
  total = len(ds.train) + len(ds.val) + len(ds.test)
  assert abs(len(ds.test) / total - 0.2) < 0.03
  assert len(ds.val) > 0
  parts = [set(zip(p.user.tolist(), p.item.tolist()))
           for p in (ds.train, ds.val, ds.test)]
  assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_pipeline_kfold_and_positive_rule():
  a = pipeline.load(_data_config(split='kfold', fold=0, val_ratio=0.0))
  b = pipeline.load(_data_config(split='kfold', fold=1, val_ratio=0.0))
  pairs = lambda p: set(zip(p.user.tolist(), p.item.tolist()))
  assert not pairs(a.test) & pairs(b.test)
  cfg = _data_config(positive='rating', min_rating=5.0)
  ds = pipeline.load(cfg)
  assert np.all(ds.train.rating == 5.0) and np.all(ds.test.rating == 5.0)


def test_pipeline_missing_path_says_how_to_get_the_data():
  cfg = _data_config(format='auto', path='/nonexistent/ml-100k',
                     download_hint='Get it from grouplens.org.')
  with pytest.raises(DataError, match='grouplens.org') as e:
    pipeline.load(cfg)
  assert '/nonexistent/ml-100k' in str(e.value)


def test_pipeline_unknown_format_and_undetectable_folder(tmp_path):
  with pytest.raises(DataError, match='format'):
    pipeline.load(_data_config(format='parquet', path=str(tmp_path)))
  (tmp_path / 'stuff.txt').write_text('1 2 3\n')
  with pytest.raises(DataError, match='cannot tell its format'):
    pipeline.load(_data_config(format='auto', path=str(tmp_path)))


def test_pipeline_given_split_needs_a_test_file():
  with pytest.raises(DataError, match='no test'):
    pipeline.load(_data_config(split='given'))
