// SLiM's layer (spec/performer.md [PERF-SLIM-DEF], [PERF-SLIM-VJP]): one causal Performer attention
// layer, x -> q, k, v = x W_q, x W_k, x W_v -> generalized kernel features q' = f(c q W^T) + eps,
// k' likewise (c = d_head^-1/4; without a projection, f(c q) itself) -> causal linear attention
// o_i = (q'_i^T P_i) / (q'_i . S_i) over the prefix sums S_i = sum_{j<=i} k'_j,
// P_i = sum_{j<=i} k'_j v_j^T -> y = o W_o, and the loss <dy, y> (linear in y: its gradient is the
// VJP of the layer with the cotangent dy). The backward problem and its exact oracle, written from
// the masked quadratic form A_ij = q'_i . k'_j (j <= i), independently of the prefix-sum orders
// the backends and bounds run (order/performer_order.hpp, slim_layer_vjp).
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/performer.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer {

// [PERF-SLIM-DEF] x (seqlen, d_model); w_q, w_k, w_v (d_model, d_head); the projection
// (nb_features, d_head) or none (f applied to c q itself: nb_features = d_head, SLiM's default
// g(x) = x^2); w_o (d_head, d_model); dy (seqlen, d_model). slice > 0: the backward pass goes
// slice by slice from the last, keeping only the final prefix state and recovering each slice's
// start state by subtraction ([PERF-SLIM-CPU]); slice 0 with subtraction: the same subtraction
// over the whole sequence; slice 0 stored: every prefix state kept (full backprop).
namespace slim_detail {
// The layer's arrays and kernel_eps (the forward's inputs), validated: InvalidInput names the array.
template <class In>
void validate_layer(const In& in) {
  using problem_detail::require_finite;
  auto matrix = [](const auto& a, const char* name, Index rows, Index cols, const char* what) {
    if (a.rank() != 2 || (rows > 0 && a.extent(0) != rows) || (cols > 0 && a.extent(1) != cols) || a.extent(0) < 1 ||
        a.extent(1) < 1 || a.extent(0) > kMaxExtent || a.extent(1) > kMaxExtent)
      throw InvalidInput(name, std::string("expected ") + what + ", got shape " + a.shape().str());
    require_finite(a, name);
  };
  matrix(in.x, "x", 0, 0, "(seqlen, d_model), extents in [1, 2^20]");
  if (in.x.count() > kMaxElements) throw InvalidInput("x", "more than 2^31 elements: " + in.x.shape().str());
  const Index D = in.x.extent(1);
  matrix(in.w_q, "w_q", D, 0, "(d_model, d_head) with d_model the last extent of x");
  const Index Dh = in.w_q.extent(1);
  matrix(in.w_k, "w_k", D, Dh, "the shape of w_q");
  matrix(in.w_v, "w_v", D, Dh, "the shape of w_q");
  if (in.projection) matrix(*in.projection, "projection_matrix", 0, Dh, "(nb_features, d_head)");
  matrix(in.w_o, "w_o", Dh, D, "(d_head, d_model)");
  if (!std::isfinite(in.kernel_eps))
    throw InvalidInput("kernel_eps", "expected a finite kernel_eps, got " + std::to_string(in.kernel_eps));
}
}  // namespace slim_detail

// [PERF-SLIM-DEF] The forward problem: y = o W_o of the layer (`performer.slim_layer`).
template <class T>
struct SlimLayerForwardInputs {
  Tensor<T> x, w_q, w_k, w_v;
  std::optional<Tensor<T>> projection;
  Tensor<T> w_o;
  Kernel kernel = Kernel::sqr;
  double kernel_eps = 1e-3;
};

template <class T>
class SlimLayerForwardProblem {
 public:
  explicit SlimLayerForwardProblem(SlimLayerForwardInputs<T> in) : in_(std::move(in)) { slim_detail::validate_layer(in_); }
  const SlimLayerForwardInputs<T>& in() const { return in_; }
  Index seqlen() const { return in_.x.extent(0); }
  Index d_model() const { return in_.x.extent(1); }
  Index d_head() const { return in_.w_q.extent(1); }
  Index features() const { return in_.projection ? in_.projection->extent(0) : d_head(); }
  bool projected() const { return in_.projection.has_value(); }
  template <class U>
  SlimLayerForwardProblem<U> cast() const {
    std::optional<Tensor<U>> w;
    if (in_.projection) w = in_.projection->template cast<U>();
    return SlimLayerForwardProblem<U>({in_.x.template cast<U>(), in_.w_q.template cast<U>(), in_.w_k.template cast<U>(),
                                       in_.w_v.template cast<U>(), std::move(w), in_.w_o.template cast<U>(), in_.kernel,
                                       in_.kernel_eps});
  }

 private:
  SlimLayerForwardInputs<T> in_;
};

template <class T>
struct SlimLayerInputs {
  Tensor<T> x, w_q, w_k, w_v;
  std::optional<Tensor<T>> projection;
  Tensor<T> w_o, dy;
  Kernel kernel = Kernel::sqr;
  double kernel_eps = 1e-3;
  Index slice = 0;
  bool subtraction = false;
};

template <class T>
class SlimLayerProblem {
 public:
  explicit SlimLayerProblem(SlimLayerInputs<T> in) : in_(std::move(in)) {
    slim_detail::validate_layer(in_);
    if (!(in_.dy.shape() == in_.x.shape()))
      throw InvalidInput("dy", "expected the shape of x " + in_.x.shape().str() + ", got " + in_.dy.shape().str());
    problem_detail::require_finite(in_.dy, "dy");
    if (in_.slice < 0 || in_.slice > kMaxExtent)
      throw InvalidInput("slice", "expected 0 (no slices) or a slice size in [1, 2^20], got " + std::to_string(in_.slice));
    if (in_.slice > 0 && !in_.subtraction)
      throw InvalidInput("state", "slices keep only the final prefix state and recover the others by subtraction "
                                  "(state=subtraction); state=stored keeps every state and takes no slice");
  }
  const SlimLayerInputs<T>& in() const { return in_; }
  Index seqlen() const { return in_.x.extent(0); }
  Index d_model() const { return in_.x.extent(1); }
  Index d_head() const { return in_.w_q.extent(1); }
  Index features() const { return in_.projection ? in_.projection->extent(0) : d_head(); }
  bool projected() const { return in_.projection.has_value(); }
  Index slice() const { return in_.slice; }
  bool subtraction() const { return in_.subtraction; }
  template <class U>
  SlimLayerProblem<U> cast() const {
    std::optional<Tensor<U>> w;
    if (in_.projection) w = in_.projection->template cast<U>();
    return SlimLayerProblem<U>({in_.x.template cast<U>(), in_.w_q.template cast<U>(), in_.w_k.template cast<U>(),
                                in_.w_v.template cast<U>(), std::move(w), in_.w_o.template cast<U>(),
                                in_.dy.template cast<U>(), in_.kernel, in_.kernel_eps, in_.slice, in_.subtraction});
  }

 private:
  SlimLayerInputs<T> in_;
};

// [PERF-SLIM-VJP] The gradients of <dy, y> with respect to x and the four weights.
template <class T>
struct SlimLayerGrads {
  Tensor<T> dx, dw_q, dw_k, dw_v, dw_o;
};

namespace reference {

// The layer's exact intermediates: q, k, v (L, d_head), the kernel arguments t and features of
// queries and keys (L, nb_features), A_ij = q'_i . k'_j (j <= i, row-major L x L), R_i, o (L, d_head).
template <class Real>
struct SlimLayerForward {
  Index L, D, Dh, M;
  Real c;
  std::vector<Real> q, k, v, tq, tk, qf, kf, A, R, o;
};

template <class Real, class P>
SlimLayerForward<Real> slim_layer_forward(const P& p) {
  using std::sqrt;
  const auto& in = p.in();
  SlimLayerForward<Real> F{p.seqlen(), p.d_model(), p.d_head(), p.features(), Real(1) / sqrt(sqrt(Real(p.d_head()))),
                           {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  const Index L = F.L, D = F.D, Dh = F.Dh, M = F.M;
  auto project = [&](const Tensor<double>& W, std::vector<Real>& out) {
    out.assign(static_cast<std::size_t>(L * Dh), Real(0));
    for (Index i = 0; i < L; ++i)
      for (Index e = 0; e < Dh; ++e)
        for (Index d = 0; d < D; ++d) out[i * Dh + e] += Real(in.x(i, d)) * Real(W(d, e));
  };
  project(in.w_q, F.q);
  project(in.w_k, F.k);
  project(in.w_v, F.v);
  auto features = [&](const std::vector<Real>& a, std::vector<Real>& t, std::vector<Real>& phi) {
    t.assign(static_cast<std::size_t>(L * M), Real(0));
    phi.assign(static_cast<std::size_t>(L * M), Real(0));
    for (Index i = 0; i < L; ++i)
      for (Index j = 0; j < M; ++j) {
        if (in.projection)
          for (Index e = 0; e < Dh; ++e) t[i * M + j] += Real((*in.projection)(j, e)) * (F.c * a[i * Dh + e]);
        else
          t[i * M + j] = F.c * a[i * Dh + j];
        phi[i * M + j] = generalized_kernel_fn(in.kernel, t[i * M + j]) + Real(in.kernel_eps);
      }
  };
  features(F.q, F.tq, F.qf);
  features(F.k, F.tk, F.kf);
  F.A.assign(static_cast<std::size_t>(L * L), Real(0));
  F.R.assign(static_cast<std::size_t>(L), Real(0));
  F.o.assign(static_cast<std::size_t>(L * Dh), Real(0));
  for (Index i = 0; i < L; ++i) {
    for (Index j = 0; j <= i; ++j) {
      Real a(0);
      for (Index f = 0; f < M; ++f) a += F.qf[i * M + f] * F.kf[j * M + f];
      F.A[i * L + j] = a;
      F.R[i] += a;
      for (Index e = 0; e < Dh; ++e) F.o[i * Dh + e] += a * F.v[j * Dh + e];
    }
    for (Index e = 0; e < Dh; ++e) F.o[i * Dh + e] /= F.R[i];
  }
  return F;
}

// [PERF-SLIM-DEF] y = o W_o (seqlen, d_model), of the forward or the backward problem.
// embed-begin slim_layer_oracle
template <class Real, class P>
Tensor<Real> slim_layer(const P& p) {
  const SlimLayerForward<Real> F = slim_layer_forward<Real>(p);
  Tensor<Real> y(Shape{F.L, F.D}, Real(0));
  for (Index i = 0; i < F.L; ++i)
    for (Index d = 0; d < F.D; ++d)
      for (Index e = 0; e < F.Dh; ++e) y(i, d) += F.o[i * F.Dh + e] * Real(p.in().w_o(e, d));
  return y;
}
// embed-end slim_layer_oracle

// [PERF-SLIM-VJP] With do_i = W_o dy_i and dA_ij = (do_i . v_j - do_i . o_i) / R_i (j <= i):
//   dW_o = o^T dy;  dq'_i = sum_{j<=i} dA_ij k'_j;  dk'_j = sum_{i>=j} dA_ij q'_i;
//   dv_j = sum_{i>=j} (A_ij / R_i) do_i;  dq_i = c sum_f dq'_if f'(tq_if) w_f (c dq'_i f'(tq_i)
//   without a projection), dk_i likewise;  dx = dq W_q^T + dk W_k^T + dv W_v^T;
//   dW_q = x^T dq, dW_k = x^T dk, dW_v = x^T dv.
// The gradients and the cotangents dq, dk, dv (L, d_head) of the projections on the way.
template <class Real>
struct SlimLayerVjpParts {
  SlimLayerGrads<Real> g;
  std::vector<Real> dq, dk, dv;
};

// embed-begin slim_layer_vjp_oracle
template <class Real>
SlimLayerVjpParts<Real> slim_layer_vjp_parts(const SlimLayerProblem<double>& p) {
  const auto& in = p.in();
  const SlimLayerForward<Real> F = slim_layer_forward<Real>(p);
  const Index L = F.L, D = F.D, Dh = F.Dh, M = F.M;
  SlimLayerVjpParts<Real> parts;
  SlimLayerGrads<Real>& g = parts.g;
  g = {Tensor<Real>(Shape{L, D}, Real(0)), Tensor<Real>(Shape{D, Dh}, Real(0)),
                         Tensor<Real>(Shape{D, Dh}, Real(0)), Tensor<Real>(Shape{D, Dh}, Real(0)),
                         Tensor<Real>(Shape{Dh, D}, Real(0))};
  std::vector<Real> dout(static_cast<std::size_t>(L * Dh), Real(0));
  for (Index i = 0; i < L; ++i)
    for (Index e = 0; e < Dh; ++e)
      for (Index d = 0; d < D; ++d) {
        dout[i * Dh + e] += Real(in.w_o(e, d)) * Real(in.dy(i, d));
        g.dw_o(e, d) += F.o[i * Dh + e] * Real(in.dy(i, d));
      }
  std::vector<Real> dqf(static_cast<std::size_t>(L * M), Real(0)), dkf(static_cast<std::size_t>(L * M), Real(0));
  std::vector<Real>& dv = parts.dv;
  dv.assign(static_cast<std::size_t>(L * Dh), Real(0));
  for (Index i = 0; i < L; ++i) {
    Real d_o(0);
    for (Index e = 0; e < Dh; ++e) d_o += dout[i * Dh + e] * F.o[i * Dh + e];
    for (Index j = 0; j <= i; ++j) {
      Real d_v(0);
      for (Index e = 0; e < Dh; ++e) d_v += dout[i * Dh + e] * F.v[j * Dh + e];
      const Real dA = (d_v - d_o) / F.R[i], a = F.A[i * L + j] / F.R[i];
      for (Index f = 0; f < M; ++f) {
        dqf[i * M + f] += dA * F.kf[j * M + f];
        dkf[j * M + f] += dA * F.qf[i * M + f];
      }
      for (Index e = 0; e < Dh; ++e) dv[j * Dh + e] += a * dout[i * Dh + e];
    }
  }
  auto feature_vjp = [&](const std::vector<Real>& t, const std::vector<Real>& dphi, std::vector<Real>& da) {
    da.assign(static_cast<std::size_t>(L * Dh), Real(0));
    for (Index i = 0; i < L; ++i)
      for (Index j = 0; j < M; ++j) {
        const Real G = dphi[i * M + j] * generalized_kernel_derivative(in.kernel, t[i * M + j]);
        if (in.projection)
          for (Index e = 0; e < Dh; ++e) da[i * Dh + e] += F.c * G * Real((*in.projection)(j, e));
        else
          da[i * Dh + j] = F.c * G;
      }
  };
  std::vector<Real>&dq = parts.dq, &dk = parts.dk;
  feature_vjp(F.tq, dqf, dq);
  feature_vjp(F.tk, dkf, dk);
  for (Index i = 0; i < L; ++i)
    for (Index d = 0; d < D; ++d) {
      const Real xd(in.x(i, d));
      for (Index e = 0; e < Dh; ++e) {
        g.dx(i, d) += dq[i * Dh + e] * Real(in.w_q(d, e)) + dk[i * Dh + e] * Real(in.w_k(d, e)) +
                      dv[i * Dh + e] * Real(in.w_v(d, e));
        g.dw_q(d, e) += xd * dq[i * Dh + e];
        g.dw_k(d, e) += xd * dk[i * Dh + e];
        g.dw_v(d, e) += xd * dv[i * Dh + e];
      }
    }
  return parts;
}
// embed-end slim_layer_vjp_oracle

template <class Real>
SlimLayerGrads<Real> slim_layer_vjp(const SlimLayerProblem<double>& p) {
  return slim_layer_vjp_parts<Real>(p).g;
}

extern template Tensor<mp_real> slim_layer<mp_real>(const SlimLayerForwardProblem<double>&);
extern template Tensor<double> slim_layer<double>(const SlimLayerForwardProblem<double>&);
extern template SlimLayerGrads<mp_real> slim_layer_vjp<mp_real>(const SlimLayerProblem<double>&);
extern template SlimLayerGrads<double> slim_layer_vjp<double>(const SlimLayerProblem<double>&);

}  // namespace reference
}  // namespace touchstone::performer
