// The Performer family's oracles (spec/performer.md), written as the spec defines each quantity:
// sums in index order, exact constants (d^-1/4, m^-1/2), the stabilizing shifts as exact maxima of
// the exact quantities. Templated on the scalar; instantiated once (reference/src/
// performer_reference.cpp) for mp_real (the oracle) and double (tests).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer::reference {

// [PERF-SOFTMAX-DEF] out[b,h,i,:] = sum_j e_ij v_j / sum_j e_ij over j in J(i) (all j, or j <= i
// when causal), e_ij = exp(s_ij - m_i), s_ij = q_i . k_j / sqrt(d), m_i = max_j s_ij. The shift m_i
// cancels exactly; it only keeps the exponentials in range.
// embed-begin softmax_attention
// Row i of head (b, h): e_j = exp(s_ij - m_i) for j in J(i) (j <= last), returning sum_j e_j.
template <class Real>
Real softmax_row_weights(const AttentionProblem<double>& p, Index b, Index h, Index i, Index last, std::vector<Real>& e) {
  using std::exp, std::sqrt;
  const auto& in = p.in();
  const Real scale = Real(1) / sqrt(Real(p.dim()));
  std::vector<Real> s(static_cast<std::size_t>(last + 1));
  for (Index j = 0; j <= last; ++j) {
    Real dot(0);
    for (Index d = 0; d < p.dim(); ++d) dot += Real(in.q(b, h, i, d)) * Real(in.k(b, h, j, d));
    s[j] = dot * scale;
  }
  const Real m = *std::max_element(s.begin(), s.end());
  Real den(0);
  e.resize(static_cast<std::size_t>(last + 1));
  for (Index j = 0; j <= last; ++j) den += (e[j] = exp(s[j] - m));
  return den;
}

template <class Real>
Tensor<Real> softmax_attention(const AttentionProblem<double>& p) {
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), E = p.dim_v();
  Tensor<Real> out(Shape{B, H, L, E});
  std::vector<Real> e;
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index i = 0; i < L; ++i) {
        const Index last = p.causal() ? i : L - 1;
        const Real den = softmax_row_weights(p, b, h, i, last, e);
        std::vector<Real> num(static_cast<std::size_t>(E), Real(0));
        for (Index j = 0; j <= last; ++j)
          for (Index c = 0; c < E; ++c) num[c] += e[j] * Real(in.v(b, h, j, c));
        for (Index c = 0; c < E; ++c) out(b, h, i, c) = num[c] / den;
      }
  return out;
}
// embed-end softmax_attention

// [PERF-SOFTMAX-VJP] The exact gradients of softmax attention with cotangent g = dout:
// p_ij = e_ij / sum_l e_il, out_i = sum_j p_ij v_j, D_i = g_i . out_i,
//   dv_j = sum_i p_ij g_i,  ds_ij = p_ij (g_i . v_j - D_i),
//   dq_i = sum_j ds_ij k_j / sqrt(d),  dk_j = sum_i ds_ij q_i / sqrt(d)   (over j in J(i)).
// embed-begin softmax_attention_vjp
template <class Real>
AttentionGrads<Real> softmax_attention_vjp(const AttentionBackwardProblem<double>& bp) {
  using std::sqrt;
  const AttentionProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), E = p.dim_v();
  const Real scale = Real(1) / sqrt(Real(D));
  AttentionGrads<Real> g{Tensor<Real>(Shape{B, H, L, D}, Real(0)), Tensor<Real>(Shape{B, H, L, D}, Real(0)),
                         Tensor<Real>(Shape{B, H, L, E}, Real(0))};
  std::vector<Real> pr;
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index i = 0; i < L; ++i) {
        const Index last = p.causal() ? i : L - 1;
        const Real den = softmax_row_weights(p, b, h, i, last, pr);
        for (Index j = 0; j <= last; ++j) pr[j] /= den;
        Real Di(0);
        for (Index c = 0; c < E; ++c) {
          Real out(0);
          for (Index j = 0; j <= last; ++j) out += pr[j] * Real(in.v(b, h, j, c));
          Di += Real(bp.dout()(b, h, i, c)) * out;
        }
        for (Index j = 0; j <= last; ++j) {
          Real dp(0);
          for (Index c = 0; c < E; ++c) {
            const Real gc(bp.dout()(b, h, i, c));
            dp += gc * Real(in.v(b, h, j, c));
            g.dv(b, h, j, c) += pr[j] * gc;
          }
          const Real ds = pr[j] * (dp - Di) * scale;
          for (Index d = 0; d < D; ++d) {
            g.dq(b, h, i, d) += ds * Real(in.k(b, h, j, d));
            g.dk(b, h, j, d) += ds * Real(in.q(b, h, i, d));
          }
        }
      }
  return g;
}
// embed-end softmax_attention_vjp

// [PERF-FEATURES-DEF] phi[b,h,i,j] = m^-1/2 (exp(u_ij - |x~_i|^2 / 2 - shift) + eps) with
// x~ = d^-1/4 x, u_ij = w_j . x~_i, and shift = max_j u_ij (query) or max over i and j of u_ij in
// the (b, h) (key).
// embed-begin favor_plus_features
// The projections u_ij = w_j . x~_i (row-major (L, M)) and half the squared norms |x~_i|^2 / 2 of
// head (b, h), x~ = d^-1/4 x: what every random-feature map starts from.
template <class Real>
struct FeatureProjections {
  std::vector<Real> u, diag;
};
template <class Real>
FeatureProjections<Real> feature_projections(const FeatureProblem<double>& p, Index b, Index h) {
  using std::sqrt;
  const auto& in = p.in();
  const Index L = p.seqlen(), D = p.dim(), M = p.features();
  const Real c = Real(1) / sqrt(sqrt(Real(D)));
  FeatureProjections<Real> f{std::vector<Real>(static_cast<std::size_t>(L * M)), std::vector<Real>(static_cast<std::size_t>(L))};
  for (Index i = 0; i < L; ++i) {
    Real sq(0);
    for (Index d = 0; d < D; ++d) {
      const Real x = c * Real(in.x(b, h, i, d));
      sq += x * x;
    }
    f.diag[i] = sq / 2;
    for (Index j = 0; j < M; ++j) {
      Real dot(0);
      for (Index d = 0; d < D; ++d) dot += Real(in.projection(j, d)) * (c * Real(in.x(b, h, i, d)));
      f.u[i * M + j] = dot;
    }
  }
  return f;
}

// The exponents of head (b, h), row-major (L, outputs): a_ij = s u_ij - |x~_i|^2 / 2 - shift_i with
// s = +1 (the positive map's m exponents, and the first m of the hyperbolic map's) and s = -1 (the
// hyperbolic map's last m). The shift is the maximum of the row's exponents' s u (query) or of
// the whole (b, h)'s (key).
template <class Real>
std::vector<Real> favor_plus_exponents(const FeatureProblem<double>& p, Index b, Index h) {
  const FeatureProjections<Real> f = feature_projections<Real>(p, b, h);
  const Index L = p.seqlen(), M = p.features(), W = p.outputs();
  std::vector<Real> su(static_cast<std::size_t>(L * W));
  for (Index i = 0; i < L; ++i)
    for (Index j = 0; j < W; ++j) su[i * W + j] = j < M ? f.u[i * M + j] : -f.u[i * M + j - M];
  const Real key_shift = *std::max_element(su.begin(), su.end());
  std::vector<Real> a(su.size());
  for (Index i = 0; i < L; ++i) {
    const Real shift = p.in().is_query ? *std::max_element(su.begin() + i * W, su.begin() + (i + 1) * W) : key_shift;
    for (Index j = 0; j < W; ++j) a[i * W + j] = su[i * W + j] - f.diag[i] - shift;
  }
  return a;
}

// The trigonometric map's renormalizer of each row, s_i = exp(|x~_i|^2/2 - max_i' |x~_i'|^2/2).
template <class Real>
std::vector<Real> trig_row_scales(const FeatureProjections<Real>& f) {
  using std::exp;
  const Real top = *std::max_element(f.diag.begin(), f.diag.end());
  std::vector<Real> s;
  for (const Real& d : f.diag) s.push_back(exp(d - top));
  return s;
}

// [PERF-FEATURES-DEF] and [PERF-HYPERBOLIC-DEF] (map hyperbolic: phi = (2m)^-1/2 (exp(a) + eps)
// over the 2m exponents), and [PERF-TRIG-DEF] (map trig).
template <class Real>
Tensor<Real> favor_plus_features(const FeatureProblem<double>& p) {
  using std::exp, std::sqrt, std::sin, std::cos;
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), W = p.outputs();
  Tensor<Real> phi(Shape{B, H, L, W});
  if (p.in().map == FeatureMap::trig) {
    // phi_i = m^-1/2 [cos(u_i), sin(u_i)] exp(|x~_i|^2/2 - max_i' |x~_i'|^2/2).
    const Real ratio = Real(1) / sqrt(Real(M));
    for (Index b = 0; b < B; ++b)
      for (Index h = 0; h < H; ++h) {
        const FeatureProjections<Real> f = feature_projections<Real>(p, b, h);
        const std::vector<Real> scale = trig_row_scales(f);
        for (Index i = 0; i < L; ++i)
          for (Index j = 0; j < M; ++j) {
            phi(b, h, i, j) = ratio * cos(f.u[i * M + j]) * scale[i];
            phi(b, h, i, M + j) = ratio * sin(f.u[i * M + j]) * scale[i];
          }
      }
    return phi;
  }
  const Real ratio = Real(1) / sqrt(Real(W));
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h) {
      const std::vector<Real> a = favor_plus_exponents<Real>(p, b, h);
      for (Index i = 0; i < L; ++i)
        for (Index j = 0; j < W; ++j) phi(b, h, i, j) = ratio * (exp(a[i * W + j]) + Real(p.in().eps));
    }
  return phi;
}
// embed-end favor_plus_features

// [PERF-FEATURES-VJP] dx of the FAVOR+ features with the shift held constant:
// G_ij = g_ij m^-1/2 exp(u_ij - diag_i - shift), dx_i = d^-1/4 sum_j G_ij w_j - d^-1/2 x_i sum_j G_ij;
// of the hyperbolic features ([PERF-HYPERBOLIC-VJP]) likewise over the 2m exponents, with -w_j
// for the last m and (2m)^-1/2.
// embed-begin favor_plus_features_vjp
template <class Real>
Tensor<Real> favor_plus_features_vjp(const FeatureBackwardProblem<double>& bp) {
  using std::exp, std::sqrt, std::sin, std::cos;
  const FeatureProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), M = p.features(), W = p.outputs();
  const Real c = Real(1) / sqrt(sqrt(Real(D)));
  Tensor<Real> dx(Shape{B, H, L, D});
  if (in.map == FeatureMap::trig) {
    // [PERF-TRIG-VJP] With the maximum `top` held constant, s_i = exp(|x~_i|^2/2 - top):
    // dx_i = d^-1/4 m^-1/2 s_i sum_j (gs_ij cos u_ij - gc_ij sin u_ij) w_j
    //        + d^-1/2 x_i m^-1/2 s_i sum_j (gc_ij cos u_ij + gs_ij sin u_ij).
    const Real ratio = Real(1) / sqrt(Real(M));
    for (Index b = 0; b < B; ++b)
      for (Index h = 0; h < H; ++h) {
        const FeatureProjections<Real> f = feature_projections<Real>(p, b, h);
        const std::vector<Real> scale = trig_row_scales(f);
        for (Index i = 0; i < L; ++i) {
          const Real rs = ratio * scale[i];
          std::vector<Real> s1(static_cast<std::size_t>(D), Real(0));
          Real s2(0);
          for (Index j = 0; j < M; ++j) {
            const Real gc(bp.dfeatures()(b, h, i, j)), gs(bp.dfeatures()(b, h, i, M + j));
            const Real cu = cos(f.u[i * M + j]), su = sin(f.u[i * M + j]);
            s2 += gc * cu + gs * su;
            for (Index d = 0; d < D; ++d) s1[d] += (gs * cu - gc * su) * Real(in.projection(j, d));
          }
          for (Index d = 0; d < D; ++d) dx(b, h, i, d) = rs * (c * s1[d] + c * c * Real(in.x(b, h, i, d)) * s2);
        }
      }
    return dx;
  }
  const Real ratio = Real(1) / sqrt(Real(W));
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h) {
      const std::vector<Real> a = favor_plus_exponents<Real>(p, b, h);
      for (Index i = 0; i < L; ++i) {
        std::vector<Real> s1(static_cast<std::size_t>(D), Real(0));
        Real s2(0);
        // The hyperbolic map's last m exponents carry -u: their w_j enters with a minus sign.
        for (Index j = 0; j < W; ++j) {
          const Real G = Real(bp.dfeatures()(b, h, i, j)) * ratio * exp(a[i * W + j]);
          s2 += G;
          for (Index d = 0; d < D; ++d) {
            if (j < M) s1[d] += G * Real(in.projection(j, d));
            else s1[d] -= G * Real(in.projection(j - M, d));
          }
        }
        for (Index d = 0; d < D; ++d) dx(b, h, i, d) = c * s1[d] - c * c * Real(in.x(b, h, i, d)) * s2;
      }
    }
  return dx;
}
// embed-end favor_plus_features_vjp

// [PERF-GENERALIZED-DEF] phi[b,h,i,j] = f(w_j . x~_i) + kernel_eps (or f(x~_ij) + kernel_eps
// without a projection), x~ = d^-1/4 x when normalize_data.
// embed-begin generalized_features
template <class Real>
Real generalized_kernel_fn(Kernel f, const Real& t) {
  using std::exp, std::abs;
  switch (f) {
    case Kernel::relu: return t > 0 ? t : Real(0);
    case Kernel::elu1: return t > 0 ? t + 1 : exp(t);
    case Kernel::abs: return abs(t);
    case Kernel::sqr: return t * t;
    case Kernel::exp: return exp(t);
    case Kernel::identity: return t;
  }
  return t;
}

// t_ij = w_j . x~_i with a projection, x~_ij without; c = d^-1/4 or 1.
template <class Real>
Real generalized_argument(const GeneralizedFeatureProblem<double>& p, const Real& c, Index b, Index h, Index i, Index j) {
  const auto& in = p.in();
  if (!in.projection) return c * Real(in.x(b, h, i, j));
  Real t(0);
  for (Index d = 0; d < p.dim(); ++d) t += Real((*in.projection)(j, d)) * (c * Real(in.x(b, h, i, d)));
  return t;
}

template <class Real>
Tensor<Real> generalized_features(const GeneralizedFeatureProblem<double>& p) {
  using std::sqrt;
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), M = p.features();
  const Real c = in.normalize_data ? Real(1) / sqrt(sqrt(Real(D))) : Real(1);
  Tensor<Real> phi(Shape{B, H, L, M});
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index i = 0; i < L; ++i)
        for (Index j = 0; j < M; ++j)
          phi(b, h, i, j) = generalized_kernel_fn(in.kernel, generalized_argument(p, c, b, h, i, j)) + Real(in.kernel_eps);
  return phi;
}
// embed-end generalized_features

// [PERF-GENERALIZED-VJP] f' as autograd takes it at the kinks: relu'(0) = 0, abs'(0) = 0 (the
// sign), elu1'(0) = 1 (both sides agree).
template <class Real>
Real generalized_kernel_derivative(Kernel f, const Real& t) {
  using std::exp;
  switch (f) {
    case Kernel::relu: return t > 0 ? Real(1) : Real(0);
    case Kernel::elu1: return t > 0 ? Real(1) : exp(t);
    case Kernel::abs: return t > 0 ? Real(1) : (t < 0 ? Real(-1) : Real(0));
    case Kernel::sqr: return 2 * t;
    case Kernel::exp: return exp(t);
    case Kernel::identity: return Real(1);
  }
  return Real(1);
}

// dx_i = c sum_j g_ij f'(t_ij) w_j with a projection, dx_id = c g_id f'(t_id) without.
// embed-begin generalized_features_vjp
template <class Real>
Tensor<Real> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<double>& bp) {
  using std::sqrt;
  const GeneralizedFeatureProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), M = p.features();
  const Real c = in.normalize_data ? Real(1) / sqrt(sqrt(Real(D))) : Real(1);
  Tensor<Real> dx(Shape{B, H, L, D}, Real(0));
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h)
      for (Index i = 0; i < L; ++i)
        for (Index j = 0; j < M; ++j) {
          const Real t = generalized_argument(p, c, b, h, i, j);
          const Real G = Real(bp.dfeatures()(b, h, i, j)) * generalized_kernel_derivative(in.kernel, t);
          if (in.projection)
            for (Index d = 0; d < D; ++d) dx(b, h, i, d) += c * G * Real((*in.projection)(j, d));
          else
            dx(b, h, i, j) = c * G;
        }
  return dx;
}
// embed-end generalized_features_vjp

// The key sums of one (batch, head): S = sum_j k_j (M) and P = sum_j k_j v_j^T (M x E), key by key.
template <class Real>
struct KeySums {
  std::vector<Real> S, P;
  KeySums(Index M, Index E) : S(static_cast<std::size_t>(M), Real(0)), P(static_cast<std::size_t>(M * E), Real(0)) {}
  void add(const LinearProblem<double>& p, Index b, Index h, Index j) {
    const auto& in = p.in();
    for (Index f = 0; f < p.features(); ++f) {
      const Real kf(in.k(b, h, j, f));
      S[f] += kf;
      for (Index c = 0; c < p.dim_v(); ++c) P[f * p.dim_v() + c] += kf * Real(in.v(b, h, j, c));
    }
  }
};

// [PERF-LINEAR-GUARD] R_i = q_i . S~ with S~ = S (+ eps 1 for lr, causal), then GR's guard.
template <class Real>
Real renormalizer(const LinearProblem<double>& p, Index b, Index h, Index i, const Real* S) {
  using std::abs;
  const auto& in = p.in();
  const Real eps(in.guard_eps);
  const bool lr = in.guard == Guard::lr && p.causal();
  Real R(0);
  for (Index f = 0; f < p.features(); ++f) R += Real(in.q(b, h, i, f)) * (lr ? S[f] + eps : S[f]);
  if (in.guard == Guard::gr && abs(R) <= eps) R += 2 * eps;
  return R;
}

// W_ic = q_i . P_:c.
template <class Real>
Real numerator(const LinearProblem<double>& p, Index b, Index h, Index i, const Real* P, Index c) {
  Real W(0);
  for (Index f = 0; f < p.features(); ++f) W += Real(p.in().q(b, h, i, f)) * P[f * p.dim_v() + c];
  return W;
}

// [PERF-LINEAR-DEF], [PERF-LINEAR-GUARD] out_i = W_i / R_i, W_i = sum_j (q_i . k_j) v_j,
// R_i = q_i . sum_j k_j over j in J(i); guard lr adds eps to every entry of the causal key sum,
// guard gr adds 2 eps where |R_i| <= eps.
// embed-begin linear_attention
template <class Real>
Tensor<Real> linear_attention(const LinearProblem<double>& p) {
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), E = p.dim_v();
  Tensor<Real> out(Shape{B, H, L, E});
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h) {
      // The key sums over the keys seen so far (causal) or all of them.
      KeySums<Real> sums(p.features(), E);
      if (!p.causal())
        for (Index j = 0; j < L; ++j) sums.add(p, b, h, j);
      for (Index i = 0; i < L; ++i) {
        if (p.causal()) sums.add(p, b, h, i);
        const Real R = renormalizer(p, b, h, i, sums.S.data());
        for (Index c = 0; c < E; ++c) out(b, h, i, c) = numerator(p, b, h, i, sums.P.data(), c) / R;
      }
    }
  return out;
}
// embed-end linear_attention

// [PERF-LINEAR-VJP] The exact gradients of a loss with cotangent g = dout through linear attention:
// with S~_i = S_i (+ eps 1 for lr), R_i (guarded), out_i = W_i / R_i,
//   dW_i = g_i / R_i,  dR_i = -(g_i . out_i) / R_i   (GR's guard has derivative 1 where it fires)
//   dq_i = P_i dW_i + dR_i S~_i
//   dk_j = C_j v_j + D_j,  dv_j = C_j^T k_j,  C_j = sum_{i: j in J(i)} q_i dW_i^T,
//   D_j = sum_{i: j in J(i)} dR_i q_i
// (suffix sums over i >= j when causal, totals when bidirectional). In exact arithmetic the form
// of the prefix states (stored or recovered) does not matter, so the oracle has one.
// embed-begin linear_attention_vjp
template <class Real>
AttentionGrads<Real> linear_attention_vjp(const LinearBackwardProblem<double>& bp) {
  const LinearProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), E = p.dim_v();
  const Real eps(in.guard_eps);
  const bool lr = in.guard == Guard::lr && p.causal();
  AttentionGrads<Real> g{Tensor<Real>(Shape{B, H, L, M}), Tensor<Real>(Shape{B, H, L, M}), Tensor<Real>(Shape{B, H, L, E})};
  for (Index b = 0; b < B; ++b)
    for (Index h = 0; h < H; ++h) {
      // Prefix (or total) states S_i, P_i for every i.
      std::vector<Real> S(static_cast<std::size_t>(L * M), Real(0)), P(static_cast<std::size_t>(L * M * E), Real(0));
      KeySums<Real> sums(M, E);
      if (!p.causal())
        for (Index j = 0; j < L; ++j) sums.add(p, b, h, j);
      for (Index i = 0; i < L; ++i) {
        if (p.causal()) sums.add(p, b, h, i);
        std::copy(sums.S.begin(), sums.S.end(), S.begin() + i * M);
        std::copy(sums.P.begin(), sums.P.end(), P.begin() + i * M * E);
      }
      // dW_i, dR_i and dq_i.
      std::vector<Real> dW(static_cast<std::size_t>(L * E)), dR(static_cast<std::size_t>(L));
      for (Index i = 0; i < L; ++i) {
        const Real R = renormalizer(p, b, h, i, &S[static_cast<std::size_t>(i * M)]);
        Real g_out(0);
        for (Index c = 0; c < E; ++c) {
          const Real W = numerator(p, b, h, i, &P[static_cast<std::size_t>(i * M * E)], c);
          const Real gc(bp.dout()(b, h, i, c));
          dW[i * E + c] = gc / R;
          g_out += gc * (W / R);
        }
        dR[i] = -g_out / R;
        for (Index f = 0; f < M; ++f) {
          Real d = dR[i] * (lr ? S[i * M + f] + eps : S[i * M + f]);
          for (Index c = 0; c < E; ++c) d += P[(i * M + f) * E + c] * dW[i * E + c];
          g.dq(b, h, i, f) = d;
        }
      }
      // C_j, D_j: suffix sums over the queries that see key j (all of them when bidirectional).
      std::vector<Real> C(static_cast<std::size_t>(M * E), Real(0)), D(static_cast<std::size_t>(M), Real(0));
      auto add_query = [&](Index i) {
        for (Index f = 0; f < M; ++f) {
          const Real qf(in.q(b, h, i, f));
          D[f] += dR[i] * qf;
          for (Index c = 0; c < E; ++c) C[f * E + c] += qf * dW[i * E + c];
        }
      };
      if (!p.causal())
        for (Index i = 0; i < L; ++i) add_query(i);
      for (Index j = L - 1; j >= 0; --j) {
        if (p.causal()) add_query(j);
        for (Index f = 0; f < M; ++f) {
          Real d = D[f];
          for (Index c = 0; c < E; ++c) d += C[f * E + c] * Real(in.v(b, h, j, c));
          g.dk(b, h, j, f) = d;
        }
        for (Index c = 0; c < E; ++c) {
          Real d(0);
          for (Index f = 0; f < M; ++f) d += C[f * E + c] * Real(in.k(b, h, j, f));
          g.dv(b, h, j, c) = d;
        }
      }
    }
  return g;
}
// embed-end linear_attention_vjp

extern template Tensor<mp_real> softmax_attention<mp_real>(const AttentionProblem<double>&);
extern template Tensor<double> softmax_attention<double>(const AttentionProblem<double>&);
extern template AttentionGrads<mp_real> softmax_attention_vjp<mp_real>(const AttentionBackwardProblem<double>&);
extern template AttentionGrads<double> softmax_attention_vjp<double>(const AttentionBackwardProblem<double>&);
extern template Tensor<mp_real> favor_plus_features<mp_real>(const FeatureProblem<double>&);
extern template Tensor<double> favor_plus_features<double>(const FeatureProblem<double>&);
extern template Tensor<mp_real> favor_plus_features_vjp<mp_real>(const FeatureBackwardProblem<double>&);
extern template Tensor<double> favor_plus_features_vjp<double>(const FeatureBackwardProblem<double>&);
extern template Tensor<mp_real> generalized_features<mp_real>(const GeneralizedFeatureProblem<double>&);
extern template Tensor<double> generalized_features<double>(const GeneralizedFeatureProblem<double>&);
extern template Tensor<mp_real> generalized_features_vjp<mp_real>(const GeneralizedFeatureBackwardProblem<double>&);
extern template Tensor<double> generalized_features_vjp<double>(const GeneralizedFeatureBackwardProblem<double>&);
extern template Tensor<mp_real> linear_attention<mp_real>(const LinearProblem<double>&);
extern template Tensor<double> linear_attention<double>(const LinearProblem<double>&);
extern template AttentionGrads<mp_real> linear_attention_vjp<mp_real>(const LinearBackwardProblem<double>&);
extern template AttentionGrads<double> linear_attention_vjp<double>(const LinearBackwardProblem<double>&);

}  // namespace touchstone::performer::reference
