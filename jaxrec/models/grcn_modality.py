"""GRCN's per-modality graph work, one computation vmapped over modalities.

After the content MLPs (per modality: their input widths differ) every
modality is dim_C wide, so the rest is the same function of (preference
p_m [U, C], content f_m [I, C]) for every m: routing, per-edge affinities,
segment softmax and the affinity-weighted aggregation. It runs once, under
jax.vmap over a stacked modality axis [M, ...], instead of once per modality
in a Python loop: one traced graph (compile time does not grow with M) and
batched kernels. It holds no parameters, so the parameter tree is the
model's as before (plain jax.vmap, not nn.vmap).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrec import ops


def normalise(x: jax.Array) -> jax.Array:
  """Rows scaled to unit L2 norm (zero rows stay zero), like F.normalize."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def pad_rows(x: jax.Array, n: int) -> jax.Array:
  """x [r, d] with zero rows appended up to [n, d]."""
  return jnp.pad(x, ((0, n - x.shape[0]), (0, 0)))


@dataclasses.dataclass(frozen=True)
class Options:
  """The GRCN switches the per-modality work reads (static under jit).

  Attributes:
    num_routing: routing iterations ('paper' routing only).
    routing: 'official' (no-op) or 'paper' (refine the preferences).
    has_act: leaky_relu after the aggregation.
    has_norm: L2-normalise the refined preferences.
    propagation: kernel, see ops.propagate.
  """

  num_routing: int
  routing: str
  has_act: bool
  has_norm: bool
  propagation: str


def affinity(adj: ops.Adjacency, h: jax.Array, mask: jax.Array,
             impl: str) -> jax.Array:
  """alpha(s->t) [E]: softmax over the unmasked edges into t of <h_t, h_s>."""
  logits = ops.edge_dot(adj, h, h, impl)
  return ops.segment_softmax(logits, adj.receivers, adj.num_nodes, mask)


def one_modality(opt: Options, adj: ops.Adjacency, mask: jax.Array,
                 p: jax.Array, f: jax.Array):
  """One modality's graph work, from its (normalised) preferences and content.

  Args:
    opt: the switches.
    adj: the padded graph (N_pad nodes, E_pad edges).
    mask: bool [E_pad] edges that take part (real, not dropped).
    p: float [U, C] user preferences (normalised if has_norm).
    f: float [I, C] item content (normalised if has_norm).

  Returns:
    (rep float [N_pad, C] = h + aggregation, alpha float [E_pad]).
  """
  u, n_pad = p.shape[0], adj.num_nodes
  norm = normalise if opt.has_norm else (lambda x: x)
  if opt.routing == 'paper':
    into_users = mask & (adj.receivers < u)
    for _ in range(opt.num_routing):
      h = pad_rows(jnp.concatenate([p, f]), n_pad)
      a = affinity(adj, h, into_users, opt.propagation)
      p = norm(p + ops.propagate(adj, a, h, opt.propagation)[:u])
  # 'official': the authors' routing adds zero to the preferences.
  h = pad_rows(jnp.concatenate([p, f]), n_pad)
  alpha = affinity(adj, h, mask, opt.propagation)
  agg = ops.propagate(adj, alpha, h, opt.propagation)
  return h + (nn.leaky_relu(agg) if opt.has_act else agg), alpha


def all_modalities(opt: Options, adj: ops.Adjacency, mask: jax.Array,
                   p: jax.Array, f: jax.Array):
  """one_modality vmapped over a leading modality axis.

  The graph and the edge mask (one edge-dropout draw for all modalities)
  are shared, not batched.

  Args:
    opt, adj, mask: as for one_modality.
    p: float [M, U, C] stacked preferences.
    f: float [M, I, C] stacked content (every modality dim_C wide: the
      content MLPs and word bags all map to dim_C, so no padding is needed).

  Returns:
    (rep float [M, N_pad, C], alpha float [M, E_pad]).
  """
  return jax.vmap(functools.partial(one_modality, opt, adj, mask))(p, f)
