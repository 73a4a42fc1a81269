"""GRCN (Wei et al., ACM MM 2020): graph-refined GCN for multimedia recommendation.

Per modality m (visual, acoustic, textual):
  f_i = normalise(leaky_relu(W_m x_i + b_m))  item content; for a bag of
        words, the mean of learnable word embeddings (no MLP)
  p_u = normalise(P_m[u])                     user preference
  routing (num_routing times): 'official' leaves p unchanged (the authors'
        code aggregates onto item rows only); 'paper' refines
        p_u <- normalise(p_u + sum_i a_ui f_i), a_ui = softmax over u's
        items of <p_u, f_i>
  h = [p; f]; alpha_m(s->t) = softmax over the edges into t of <h_t, h_s>
  rep_m = h + sum_{s->t} alpha_m(s->t) h_s
  Only the content step differs between modalities (input widths); all
  after it runs once, vmapped over the stacked modalities
  (grcn_modality.py).
Edge weight (weight_mode): mean_m alpha_m, max_m alpha_m, or confid:
  max_m alpha_m(s->t) * c[s, m] with a learnable confidence per sender node.
Pruning: hard = relu(weight) (negative edges vanish), soft = signed weight.
Id GCN on the refined graph: x = normalise(id embedding), h1 = A_w x,
  h2 = A_w h1 (no degree normalisation), id_rep = x + h1 + h2.
Fusion: concat [id_rep, rep_m...], mean of them, or id_rep alone.
Score: <rep_u, rep_i>; BPR with L2 on the batch's raw id embeddings and
preferences (see loss_fn). Semantics follow jaxrec's notes on the authors'
code; has_v / has_a / has_t are honoured (the authors' code ignores them).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import ml_collections
import numpy as np

from jaxrec import checks
from jaxrec import kernels
from jaxrec import losses
from jaxrec import ops
from jaxrec.data.dataset import Dataset
from jaxrec.errors import ConfigError
from jaxrec.models import grcn_modality
from jaxrec.models import spec
from jaxrec.models.grcn_edges import after_training
from jaxrec.models.grcn_content import Content, MLP_INITS
from jaxrec.models.grcn_modality import normalise, pad_rows

MODALITIES = ('visual', 'acoustic', 'textual')
WEIGHT_MODES = ('mean', 'max', 'confid')
FUSION_MODES = ('concat', 'mean', 'id')
ROUTINGS = ('official', 'paper')
# The L2 term: 'official' (the official code, see loss_fn) or 'mmrec'
# (MMRec's GRCN adds the mean square of the whole visual preference table).
L2_VARIANTS = ('official', 'mmrec')


class GRCN(nn.Module):
  """User and item representations on the refined graph.

  Attributes:
    num_users, num_items: U, I.
    modalities: the enabled modalities, in MODALITIES order.
    bag_vocab: (modality, vocabulary size) pairs for bag-of-words modalities
      (a tuple, so the module stays hashable).
    embed_dim: id embedding width (dim_E).
    content_dim: modality width (dim_C).
    num_routing: routing iterations.
    routing: 'official' or 'paper'.
    weight_mode: 'mean', 'max' or 'confid'.
    fusion_mode: 'concat', 'mean' or 'id'.
    hard_pruning: relu the edge weights (is_pruning=True).
    edge_dropout: share of undirected edges dropped per training step.
    has_act: leaky_relu after each aggregation.
    has_norm: L2-normalise preferences, content and id embeddings.
    propagation: kernel, see ops.propagate.
    mlp_init: one of MLP_INITS.
  """

  num_users: int
  num_items: int
  modalities: Sequence[str]
  bag_vocab: tuple[tuple[str, int], ...] = ()
  embed_dim: int = 64
  content_dim: int = 64
  num_routing: int = 3
  routing: str = 'official'
  weight_mode: str = 'confid'
  fusion_mode: str = 'concat'
  hard_pruning: bool = False
  edge_dropout: float = 0.0
  has_act: bool = False
  has_norm: bool = True
  propagation: str = 'auto'
  mlp_init: str = 'lecun'

  def _maybe_norm(self, x):
    return normalise(x) if self.has_norm else x

  def _act(self, x):
    return nn.leaky_relu(x) if self.has_act else x

  @nn.compact
  def __call__(self, inputs: dict[str, Any],
               train: bool = False) -> dict[str, jax.Array]:
    """Refines the graph and computes the representations.

    Args:
      inputs: {'graph': the padded user-item graph, 'features': modality ->
        float [I, d_m], 'bags': modality -> int [2, n] (item, word)}.
      train: apply edge dropout (needs the 'dropout' rng).

    Returns:
      dict with 'rep' [U + I, D] final representations, 'id' [U + I, E] raw
      id embeddings, 'preference' modality -> [U, C] raw preferences,
      'weight' [E_pad] refined edge weights, 'alpha' [E_pad, M] per-modality
      affinities, 'confidence' [U + I, M] (confid mode, else zeros).
    """
    graph = inputs['graph']
    u, n = self.num_users, self.num_users + self.num_items
    n_pad = graph.nodes['in_edges'].shape[0]
    adj = ops.adjacency(graph)
    mask = ops.edge_mask(graph)
    if train and self.edge_dropout > 0:
      # One draw per undirected edge, shared by both directions.
      draw = ops.undirected_uniform(graph, self.make_rng('dropout'))
      mask = mask & (draw >= self.edge_dropout)

    # Per modality: the parameters and the content MLP (input widths differ).
    prefs, p, f = {}, [], []
    for m in self.modalities:
      prefs[m] = self.param(f'{m}_preference', nn.initializers.xavier_normal(),
                            (u, self.content_dim))
      p.append(self._maybe_norm(prefs[m]))
      f.append(self._maybe_norm(self._content(m, inputs)))
    # The graph work, once for all modalities (vmapped over the stack).
    reps, alpha = grcn_modality.all_modalities(
        self._options(), adj, mask, jnp.stack(p), jnp.stack(f))
    alpha = alpha.T  # [E_pad, M]
    weight, confidence = self._edge_weight(adj, alpha, mask, n_pad)

    raw_id = self.param('id_embedding', nn.initializers.xavier_normal(),
                        (n, self.embed_dim))
    x = pad_rows(self._maybe_norm(raw_id), n_pad)
    h1 = self._act(ops.propagate(adj, weight, x, self.propagation))
    h2 = self._act(ops.propagate(adj, weight, h1, self.propagation))
    id_rep = x + h1 + h2
    if self.fusion_mode == 'concat':
      rep = jnp.concatenate([id_rep, *reps], axis=-1)
    elif self.fusion_mode == 'mean':
      rep = jnp.mean(jnp.stack([id_rep, *reps]), axis=0)
    else:
      rep = id_rep
    return {'rep': rep[:n], 'id': raw_id, 'preference': prefs,
            'weight': weight, 'alpha': alpha, 'confidence': confidence}

  def _content(self, m: str, inputs: dict[str, Any]) -> jax.Array:
    """Modality m's item content f [I, C], before normalisation."""
    vocab = dict(self.bag_vocab).get(m, 0)
    x = inputs['bags'][m] if vocab else inputs['features'][m]
    return Content(self.num_items, self.content_dim, vocab, self.mlp_init,
                   name=m)(x)

  def _options(self) -> grcn_modality.Options:
    return grcn_modality.Options(
        num_routing=self.num_routing, routing=self.routing,
        has_act=self.has_act, has_norm=self.has_norm,
        propagation=self.propagation)

  def _edge_weight(self, adj: ops.Adjacency, alpha: jax.Array,
                   mask: jax.Array, n_pad: int):
    """Refined edge weights from the affinities (weight_mode, pruning).

    Returns:
      (weight float [E_pad], 0 on masked edges; confidence [U + I, M],
      zeros unless weight_mode='confid').
    """
    n = self.num_users + self.num_items
    confidence = jnp.zeros((n, len(self.modalities)))
    if self.weight_mode == 'mean':
      weight = alpha.mean(-1)
    elif self.weight_mode == 'max':
      weight = alpha.max(-1)
    else:
      confidence = self.param('confidence', nn.initializers.xavier_normal(),
                              (n, len(self.modalities)))
      weight = (alpha * ops.gather(adj, pad_rows(confidence, n_pad),
                                   'senders', self.propagation)).max(-1)
    if self.hard_pruning:
      weight = nn.relu(weight)
    return jnp.where(mask, weight, 0.0), confidence


def enabled_modalities(config: ml_collections.ConfigDict,
                       data: Dataset) -> tuple[str, ...]:
  """The modalities GRCN uses, checked against the data.

  config.model.modalities names them explicitly (any item feature or word
  bag of the data, e.g. MovieLens genres); when empty, has_v / has_a / has_t
  switch on 'visual' / 'acoustic' / 'textual'.
  """
  m = config.model
  if m.modalities:
    wanted = list(m.modalities)
  else:
    wanted = [name for name, on in zip(MODALITIES,
                                       (m.has_v, m.has_a, m.has_t)) if on]
  present = set(data.item_features) | set(data.item_bags)
  missing = [name for name in wanted if name not in present]
  if missing:
    raise ConfigError(
        f'GRCN modalities {", ".join(missing)} are switched on but '
        f'{data.name} has no such item features (it has {sorted(present)}). '
        f'Switch them off (--config.model.has_v/has_a/has_t=False) or name '
        f'the ones to use with --config.model.modalities.')
  if not wanted:
    raise ConfigError('GRCN needs at least one modality: set one of '
                      'config.model.has_v / has_a / has_t to True, or '
                      'config.model.modalities.')
  return tuple(wanted)


def default_config() -> ml_collections.ConfigDict:
  """config.model of GRCN; names as in the authors' command line.

  The run-level l2_weight is GRCN's weight_decay.
  """
  return ml_collections.ConfigDict(dict(
      embed_dim=64,  # dim_E (id embeddings)
      content_dim=64,  # dim_C (modality content and preferences)
      # Modalities: has_v / has_a / has_t, or explicit names of any item
      # features of the data (e.g. 'genre'), which then replace them.
      has_v=True,
      has_a=True,
      has_t=True,
      modalities=(),
      num_routing=3,
      # 'official' (the authors' code, a no-op) or 'paper' (refine p_u).
      routing='official',
      weight_mode='confid',  # mean / max / confid
      fusion_mode='concat',  # concat / mean / id
      hard_pruning=False,  # is_pruning
      edge_dropout=0.0,  # dropout
      has_act=False,
      has_norm=True,
      # Content MLP init ('lecun', 'torch' = the official code, 'xavier' =
      # MMRec) and L2 term ('official', or 'mmrec' with MMRec's extra term).
      mlp_init='lecun',
      l2_variant='official',
      # Propagation kernel: 'auto', 'csr' or 'segment_sum'.
      propagation='auto',
  ))


def create(config: ml_collections.ConfigDict, data: Dataset) -> GRCN:
  """The model for a config and dataset; refuses fields it cannot use."""
  m = config.model
  checks.check_fields(m, 'config.model', {
      'embed_dim': checks.POSITIVE_INT,
      'content_dim': checks.POSITIVE_INT,
      'num_routing': checks.NON_NEGATIVE_INT,
      'edge_dropout': checks.FRACTION,
  }, default_config())
  checks.check_choices(m, 'config.model', {
      'propagation': kernels.PROPAGATIONS, 'weight_mode': WEIGHT_MODES,
      'fusion_mode': FUSION_MODES, 'routing': ROUTINGS,
      'mlp_init': MLP_INITS, 'l2_variant': L2_VARIANTS})
  if config.num_negatives != 1:
    raise ConfigError(f'GRCN trains with one negative per interaction, as '
                      f'the authors do: set config.num_negatives=1 (now '
                      f'{config.num_negatives}).')
  if m.fusion_mode == 'mean' and m.embed_dim != m.content_dim:
    raise ConfigError('fusion_mode=mean averages id and modality vectors: '
                      'config.model.embed_dim must equal content_dim.')
  modalities = enabled_modalities(config, data)
  bags = tuple((k, int(v[1].max()) + 1) for k, v in sorted(
      data.item_bags.items()) if k in modalities)
  return GRCN(num_users=data.num_users, num_items=data.num_items,
              modalities=modalities, bag_vocab=bags,
              embed_dim=m.embed_dim, content_dim=m.content_dim,
              num_routing=m.num_routing, routing=m.routing,
              weight_mode=m.weight_mode, fusion_mode=m.fusion_mode,
              hard_pruning=m.hard_pruning, edge_dropout=m.edge_dropout,
              has_act=m.has_act, has_norm=m.has_norm,
              propagation=m.propagation, mlp_init=m.mlp_init)


def inputs(config: ml_collections.ConfigDict, data: Dataset,
           graph: jraph.GraphsTuple) -> dict[str, Any]:
  """The graph plus the enabled modalities' features and word bags."""
  modalities = enabled_modalities(config, data)
  return {
      'graph': graph,
      'features': {m: np.asarray(data.item_features[m], np.float32)
                   for m in modalities if m in data.item_features},
      'bags': {m: np.asarray(data.item_bags[m], np.int32)
               for m in modalities if m in data.item_bags},
  }


@dataclasses.dataclass(frozen=True)
class LossParams:
  """The loss's hyper-parameters."""

  l2_weight: float  # GRCN's weight_decay.
  l2_variant: str  # One of L2_VARIANTS.


def loss_params(config: ml_collections.ConfigDict) -> LossParams:
  return LossParams(l2_weight=config.l2_weight,
                    l2_variant=config.model.l2_variant)


def loss(model: GRCN, params, inputs: dict[str, Any],
         batch: dict[str, jax.Array], hp: LossParams,
         ctx: spec.StepContext) -> jax.Array:
  """Per-example BPR plus GRCN's L2 term.

  The authors' regulariser, reg_weight * (mean of squared raw id embeddings
  of the batch's users and items + mean of squared raw preferences of the
  batch's users), is per example (1/E)(|e_u|^2 + |e_pos|^2 / 2 +
  |e_neg|^2 / 2) + sum_m (1/C)|P_m[u]|^2, so its batch mean equals theirs.
  hp.l2_variant='mmrec' adds what MMRec's GRCN adds: the mean
  square of the WHOLE visual preference table (every user, every step), the
  same for every example.

  Args:
    model: the module.
    params: its parameters.
    inputs: see GRCN.__call__.
    batch: [B] 'user', 'pos', 'neg'.
    hp: the L2 weight and variant.
    ctx: its rng is the edge-dropout key.

  Returns:
    float [B].
  """
  out = model.apply({'params': params}, inputs, train=True,
                    rngs={'dropout': ctx.rng})
  rep, raw_id = out['rep'], out['id']
  user = batch['user']
  pos, neg = batch['pos'] + model.num_users, batch['neg'] + model.num_users
  s_pos = jnp.sum(rep[user] * rep[pos], axis=-1)
  s_neg = jnp.sum(rep[user] * rep[neg], axis=-1)
  reg = (2 * losses.l2(raw_id[user]) + losses.l2(raw_id[pos]) +
         losses.l2(raw_id[neg])) / model.embed_dim
  for p in out['preference'].values():
    reg = reg + 2 * losses.l2(p[user]) / model.content_dim
  if hp.l2_variant == 'mmrec' and 'visual' in out['preference']:
    reg = reg + jnp.mean(jnp.square(out['preference']['visual']))
  return losses.bpr(s_pos, s_neg) + hp.l2_weight * reg


def eval_outputs(model: GRCN, params, inputs: dict[str, Any]):
  """(user reps [U, D], item reps [I, D]) from a clean forward (no dropout)."""
  rep = model.apply({'params': params}, inputs)['rep']
  return rep[:model.num_users], rep[model.num_users:]


SPEC = spec.ModelSpec(
    name='grcn', task='user_item', feedback='implicit',
    default_config=default_config, create=create, inputs=inputs,
    loss_params=loss_params, loss=loss, eval_outputs=eval_outputs,
    score=spec.embedding_dot_scores, after_training=after_training)
