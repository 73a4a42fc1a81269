"""GRCN's reference-mode switches: what the authors' codes compute.

benchmarks/parity/grcn.py checks these against the authors' PyTorch code
(MMRec's and the official GRCN) to 1e-5; these tests pin each switch alone.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import config as config_lib
from jaxrec import graphs
from jaxrec.data.dataset import Dataset, Interactions
from jaxrec.errors import ConfigError
from jaxrec.models import grcn
from jaxrec.models import spec

U, I, D_V, D_T = 6, 8, 300, 5


def _build(**model):
  rng = np.random.default_rng(0)
  user = np.repeat(np.arange(U), 3).astype(np.int32)
  item = rng.integers(0, I, len(user)).astype(np.int32)
  keep = np.unique(user * I + item, return_index=True)[1]
  train = Interactions(user[keep], item[keep])
  empty = Interactions.empty()
  ds = Dataset('tiny', 'test', U, I, train, empty, empty,
               np.arange(U).astype(str), np.arange(I).astype(str),
               item_features={
                   'visual': rng.random((I, D_V)).astype(np.float32),
                   'textual': rng.normal(size=(I, D_T)).astype(np.float32)})
  c = config_lib.base('grcn')
  c.model.embed_dim = c.model.content_dim = 16
  c.model.has_a = False
  c.l2_weight = 0.5
  for k, v in model.items():
    c.model[k] = v
  graph = graphs.bipartite(train.user, train.item, U, I)
  model = grcn.create(c, ds)
  inputs = grcn.inputs(c, ds, graph)
  params = model.init(jax.random.key(1), inputs)['params']
  return c, model, inputs, params


def _loss(config, model, inputs, params):
  batch = {'user': jnp.array([0, 1, 1, 4]), 'pos': jnp.array([0, 2, 3, 1]),
           'neg': jnp.array([5, 6, 7, 7])}
  return grcn.loss(model, params, inputs, batch, grcn.loss_params(config),
                   spec.single_device(jax.random.key(0)))


def test_mmrec_l2_adds_the_whole_visual_preference_table():
  c, model, inputs, params = _build()
  official = _loss(c, model, inputs, params)
  c.model.l2_variant = 'mmrec'
  mmrec = _loss(c, model, inputs, params)
  # MMRec's GRCN: reg_embedding_loss += (self.v_gcn.preference ** 2).mean(),
  # every user's row, added to every example's share.
  extra = c.l2_weight * np.mean(np.square(params['visual_preference']))
  np.testing.assert_allclose(mmrec - official, np.full(4, extra), rtol=1e-5)


def test_mlp_init_torch_matches_nn_linear_default():
  _, _, _, params = _build(mlp_init='torch')
  mlp = params['visual']['mlp']
  bound = 1 / np.sqrt(D_V)
  for x in (mlp['kernel'], mlp['bias']):
    assert np.abs(x).max() <= bound
    assert np.abs(x).max() > 0.9 * bound  # Uniform: fills the interval.
  np.testing.assert_allclose(np.std(mlp['kernel']), bound / np.sqrt(3),
                             rtol=0.05)


def test_mlp_init_xavier_is_mmrec_and_lecun_is_flax_default():
  _, _, _, params = _build(mlp_init='xavier')
  mlp = params['visual']['mlp']
  np.testing.assert_allclose(np.std(mlp['kernel']), np.sqrt(2 / (D_V + 16)),
                             rtol=0.05)
  assert np.abs(mlp['bias']).max() <= 1 / np.sqrt(D_V)
  assert np.any(mlp['bias'] != 0)
  _, _, _, params = _build()
  mlp = params['visual']['mlp']
  np.testing.assert_allclose(np.std(mlp['kernel']), 1 / np.sqrt(D_V),
                             rtol=0.1)
  assert not np.any(mlp['bias'])


@pytest.mark.parametrize('key', ['mlp_init', 'l2_variant'])
def test_unknown_switch_values_refused(key):
  with pytest.raises(ConfigError, match=key):
    _build(**{key: 'nonsense'})
