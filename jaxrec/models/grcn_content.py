"""GRCN's item content per modality: a dense layer, or a bag of words.

The authors' codes initialise the content MLP differently and the paper is
silent, so the init is a switch (config.model.mlp_init).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# How the content MLP starts (the authors' codes differ; the paper is
# silent): 'lecun' (flax's Dense: LeCun-normal kernel, zero bias), 'torch'
# (the official code's nn.Linear default: kernel and bias U(+-1/sqrt(d_in)))
# or 'xavier' (MMRec: Xavier-normal kernel, the nn.Linear bias).
MLP_INITS = ('lecun', 'torch', 'xavier')


def _torch_uniform(fan_in: int):
  """nn.Linear's default init for a layer with fan_in inputs: U(+-1/sqrt)."""
  bound = 1.0 / np.sqrt(max(fan_in, 1))
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


def _dense(dim: int, fan_in: int, init: str) -> nn.Dense:
  """The content MLP layer with the initialisation named by `init`."""
  if init == 'lecun':
    return nn.Dense(dim, name='mlp')
  kernel = (_torch_uniform(fan_in) if init == 'torch'
            else nn.initializers.xavier_normal())
  return nn.Dense(dim, kernel_init=kernel, bias_init=_torch_uniform(fan_in),
                  name='mlp')


class Content(nn.Module):
  """Item content f [I, C] of one modality, before normalisation.

  Dense features: leaky_relu(W x + b). A bag of words (vocab > 0): the mean
  of learnable word embeddings of the item's words (no MLP).
  """

  num_items: int
  dim: int
  vocab: int = 0
  init: str = 'lecun'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: float [I, d] features, or int [2, n] (item, word) pairs if vocab."""
    if not self.vocab:
      return nn.leaky_relu(_dense(self.dim, x.shape[-1], self.init)(x))
    words = self.param('words', nn.initializers.xavier_normal(),
                       (self.vocab, self.dim))
    total = jax.ops.segment_sum(words[x[1]], x[0], self.num_items)
    count = jax.ops.segment_sum(jnp.ones(x.shape[1]), x[0], self.num_items)
    return total / jnp.maximum(count, 1.0)[:, None]
