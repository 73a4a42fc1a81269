"""Two-layer GCN item encoder trained by link prediction (co-purchase).

Each layer is PyTorch Geometric's GCNConv: X' = D~^-1/2 (A + I) D~^-1/2 X W + b
(self loops, degrees counting them, bias after aggregation). Between the two
layers: ReLU and dropout. Node input is a one-hot identity, implemented as an
embedding table (one-hot @ W1 is a row of W1, so no N x N matrix is ever
built), or given item features, or both (their projections add up, as
[one-hot, features] @ W1 would). Score of a pair: the dot product of their
embeddings, trained with BCE against sampled non-edges. Rankings and
recommendations use cosine similarity, as the GCN article does, or the dot
product (model.similarity = 'dot'), which keeps the popularity that the
embedding norms learn.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import ml_collections
import optax

from jaxrec import checks
from jaxrec import kernels
from jaxrec import ops
from jaxrec.errors import ConfigError
from jaxrec.models import spec

SIMILARITIES = ('cosine', 'dot')


class GCNConv(nn.Module):
  """PyG GCNConv: aggregate X W over the self-looped, normalised graph, add b."""

  features: int
  propagation: str = 'auto'

  @nn.compact
  def __call__(self, adj: ops.Adjacency, graph: jraph.GraphsTuple,
               h: jax.Array, transform: bool = True) -> jax.Array:
    """Applies the layer.

    Args:
      adj: the graph's Adjacency.
      graph: the graph (edges['weight'], nodes['self_weight'] from
        graphs.item_item).
      h: float [N, d_in] node inputs, or [N, features] already multiplied by
        W when transform is False (the one-hot input).
      transform: whether to apply W (glorot-initialised, no bias) first.

    Returns:
      float [N, features].
    """
    if transform:
      h = nn.Dense(self.features, use_bias=False,
                   kernel_init=nn.initializers.glorot_uniform())(h)
    out = ops.gcn_aggregate(adj, graph.edges['weight'],
                            graph.nodes['self_weight'], h, self.propagation)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return out + bias


class GCNEncoder(nn.Module):
  """Item embeddings from two GCN layers."""

  num_items: int
  hidden: int = 64
  out: int = 32
  dropout: float = 0.3
  use_ids: bool = True
  feature_names: Sequence[str] = ()
  propagation: str = 'auto'
  similarity: str = 'cosine'  # Used by eval_outputs: 'cosine' or 'dot'.

  @nn.compact
  def __call__(self, graph: jraph.GraphsTuple,
               train: bool = False) -> jax.Array:
    """Embeds every item.

    Args:
      graph: the padded item graph; item features in nodes[name].
      train: apply dropout (needs the 'dropout' rng).

    Returns:
      float [I, out] item embeddings.
    """
    n_pad = graph.nodes['in_edges'].shape[0]
    adj = ops.adjacency(graph)
    # Layer 1's X W: the id part is W's rows (one-hot input), feature parts
    # are Dense projections; the sum equals [one-hot, features] @ W.
    h = jnp.zeros((n_pad, self.hidden))
    if self.use_ids:
      table = self.param('id_weight', nn.initializers.glorot_uniform(),
                         (self.num_items, self.hidden))
      h = h + jnp.pad(table, ((0, n_pad - self.num_items), (0, 0)))
    for name in self.feature_names:
      h = h + nn.Dense(self.hidden, use_bias=False,
                       kernel_init=nn.initializers.glorot_uniform(),
                       name=f'feature_{name}')(graph.nodes[name])
    h = GCNConv(self.hidden, self.propagation, name='conv1')(
        adj, graph, h, transform=False)
    h = nn.relu(h)
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = GCNConv(self.out, self.propagation, name='conv2')(adj, graph, h)
    return h[:self.num_items]


def default_config() -> ml_collections.ConfigDict:
  """config.model of the co-purchase GCN."""
  return ml_collections.ConfigDict(dict(
      # Output width (the item embeddings) and hidden width.
      embed_dim=64,
      hidden_dim=64,
      dropout=0.3,
      # Inputs: one-hot ids and/or item feature modalities of the data.
      use_ids=True,
      features=(),
      # GCN edge weights from co-occurrence counts (else 1 per edge).
      weighted_edges=False,
      # Sampled non-edges per positive edge.
      neg_ratio=1,
      # How rankings compare items: 'cosine' (the GCN article's) or 'dot'.
      similarity='cosine',
      # Propagation kernel: 'auto', 'csr' or 'segment_sum'.
      propagation='auto',
  ))


def create(config: ml_collections.ConfigDict, data: Any) -> GCNEncoder:
  """The encoder for a config and an ItemGraph; refuses fields it cannot use."""
  m = config.model
  checks.check_fields(m, 'config.model', {
      'embed_dim': checks.POSITIVE_INT,
      'hidden_dim': checks.POSITIVE_INT,
      'dropout': checks.FRACTION,
      'neg_ratio': checks.POSITIVE_INT,
  }, default_config())
  checks.check_choices(m, 'config.model', {
      'propagation': kernels.PROPAGATIONS, 'similarity': SIMILARITIES})
  names = tuple(m.features)
  missing = [n for n in names if n not in data.item_features]
  if missing or not (m.use_ids or names):
    raise ConfigError(
        f'config.model.features={list(names)}: the data has item features '
        f'{sorted(data.item_features)}; config.model.use_ids={m.use_ids}. '
        f'Use ids, or features the data has, or both.')
  return GCNEncoder(num_items=data.num_items, hidden=m.hidden_dim,
                    out=m.embed_dim, dropout=m.dropout, use_ids=m.use_ids,
                    feature_names=names, propagation=m.propagation,
                    similarity=m.similarity)


def inputs(config: ml_collections.ConfigDict, data: Any,
           graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
  """The model's input: the training graph itself."""
  del config, data
  return graph


def loss_params(config: ml_collections.ConfigDict) -> None:
  """The loss has no hyper-parameters of its own."""
  del config


def loss(model: GCNEncoder, params, graph: jraph.GraphsTuple,
         batch: dict[str, jax.Array], hp: None,
         ctx: spec.StepContext) -> jax.Array:
  """Per-example BCE on the dot-product logits of (src, dst) pairs.

  Args:
    model: the encoder.
    params: its parameters.
    graph: the training graph.
    batch: [B] 'src', 'dst' item ids and 'label' (1 edge, 0 non-edge).
    hp: unused.
    ctx: its rng is the dropout key.

  Returns:
    float [B].
  """
  del hp
  z = model.apply({'params': params}, graph, train=True,
                  rngs={'dropout': ctx.rng})
  logits = jnp.sum(z[batch['src']] * z[batch['dst']], axis=-1)
  return optax.sigmoid_binary_cross_entropy(logits, batch['label'])


def eval_outputs(model: GCNEncoder, params, graph: jraph.GraphsTuple):
  """Item embeddings [I, d], L2-normalised for cosine similarity."""
  z = model.apply({'params': params}, graph, train=False)
  if model.similarity == 'dot':
    return z
  return z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def score(outputs, anchors: jax.Array) -> jax.Array:
  """Similarity [C, I] of anchors [C] to every item (see eval_outputs)."""
  return outputs[anchors] @ outputs.T


SPEC = spec.ModelSpec(
    name='gcn_link', task='item_item', feedback='edges',
    default_config=default_config, create=create, inputs=spec.graph_inputs,
    loss_params=loss_params, loss=loss, eval_outputs=eval_outputs,
    score=score)
