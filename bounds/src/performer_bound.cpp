// The Performer bounds: order/performer_order.hpp over tracked values (spec/performer.md
// [PERF-BOUND-CPU], [PERF-BOUND-ANY]).
#include "touchstone/bounds/performer_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/bounds/elementary_ulps.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/bounds/tracked_policy.hpp"
#include "touchstone/bounds/tracked_products.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/core/tracked.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;

using bounds::element_bound;
using bounds::slack_for;
using bounds::TV;

// The order header's policy over tracked values: the shared operations (bounds/tracked_policy.hpp)
// and Performer's own. Sequential: each accumulate is one rounded addition in the order of the
// calls ([CORE-TRACKED-ADD]); any order: [CORE-TRACKED-SUM].
class TrackedArithmetic : public bounds::TrackedPolicy {
 public:
  struct Acc {
    Tracked seq;
    bool any = false;
    TrackedSum sum;
    bool outside = false;
  };
  TrackedArithmetic(const PerformerArithmetic& m)
      : TrackedPolicy(m.compute, m.any_order),
        compute_(m.compute),
        exp_ulps_(m.exp_ulps),
        sincos_ulps_(m.sincos_ulps) {}

  V constant(double c, double rel) const {
    const double rounded = round_to_format(c, compute_);
    const double unc = rel * std::fabs(c);
    // The exact constant is within unc of c; the computed one is `rounded`.
    const Tracked t{tracked_detail::down(c - unc, std::fabs(c)), tracked_detail::up(c + unc, std::fabs(c)),
                    (std::fabs(rounded - c) + unc) * (1 + 0x1p-50) + kTiny};
    return {t, false};
  }
  V exp(const V& a) const { return checked(touchstone::exp(a.t, exp_ulps_, r_), a.outside); }
  // [PERF-TRIG-BOUND] sin and cos are 1-Lipschitz: the argument's error E_u moves them by at most
  // E_u; their image over [lo, hi] from the endpoints and any extremum inside; within sincos_ulps.
  V sin(const V& a) const { return sincos(a, 0); }
  V cos(const V& a) const { return sincos(a, 1); }
  V max(const V& a, const V& b) const { return {touchstone::max(a.t, b.t), a.outside || b.outside}; }
  // [PERF-RF-ORTHO-BOUND] IEEE's correctly rounded square root, as the orthogonal family tracks it.
  V sqrt(const V& a) const { return checked(orthogonal::tracked_sqrt(a.t, r_), a.outside); }
  Acc acc() const { return {}; }
  void accumulate(Acc& s, const V& v) const {
    s.outside = s.outside || v.outside;
    if (any_order_) {
      s.sum.add_term(v.t);
    } else {
      s.seq = s.any ? touchstone::add(s.seq, v.t, r_) : v.t;
      s.outside = s.outside || s.seq.overflows(r_);
    }
    s.any = true;
  }
  // [CORE-PRODUCT-SUMS] shared_order::product_sums a row of sums at a time: accumulate keeps the
  // order-free sum for any order, else the sequential one.
  template <class First, class Lead, class X, class Y, class Out>
  void product_sums(Index rows, Index cols, Index inner, const First& first, const Lead& lead, const X& x, const Y& y,
                    Out&& out) const {
    bounds::tracked_product_sums(*this, {any_order_, !any_order_}, rows, cols, inner, first, lead, x, y, out);
  }
  V total(const Acc& s) const {
    if (!s.any) return {Tracked::exact(0), s.outside};
    if (any_order_) return checked(s.sum.result(r_), s.outside || s.sum.may_overflow(r_));
    return {s.seq, s.outside};
  }
  // GR's guard R + 2 eps (|R| <= eps): the bound follows a branch only where the exact and the
  // computed R (and eps) take it for certain; else the element is outside the bound's domain.
  V guard_gr(const V& R, const V& eps) const {
    const double lo = R.t.lo - R.t.err, hi = R.t.hi + R.t.err;
    const double min_abs = (lo > 0) ? lo : (hi < 0 ? -hi : 0.0), max_abs = std::max(std::fabs(lo), std::fabs(hi));
    const double eps_lo = eps.t.lo - eps.t.err, eps_hi = eps.t.hi + eps.t.err;
    if (min_abs > eps_hi) return R;
    if (max_abs <= eps_lo) {
      return checked(touchstone::add(R.t, touchstone::twice(eps.t), r_), R.outside || eps.outside);
    }
    return {R.t, true};
  }
  // [PERF-GENERALIZED-BOUND] relu = max(t, 0) and abs are exact and 1-Lipschitz; sqr is a product;
  // elu1 is increasing and 1-Lipschitz (e^t <= 1 for t <= 0), continuous at 0, so a branch taken
  // differently by t^ and t costs no more than the slope: prop = E_t, plus the rounding of either
  // branch (exp within its ulps, or one addition; any order: also elu(t) + 1).
  V kernel(Kernel f, const V& t) const {
    switch (f) {
      case Kernel::relu: return max(t, input(0));
      case Kernel::abs: {
        const double lo = t.t.lo > 0 ? t.t.lo : (t.t.hi < 0 ? -t.t.hi : 0.0);
        return {{lo, std::max(std::fabs(t.t.lo), std::fabs(t.t.hi)), t.t.err}, t.outside};
      }
      case Kernel::sqr: return mul(t, t);
      case Kernel::exp: return exp(t);
      case Kernel::identity: return t;
      case Kernel::elu1: {
        const V one = input(1);
        if (t.t.lo - t.t.err > 0) return add(t, one);
        if (t.t.hi + t.t.err <= 0) {
          V y = exp(t);
          if (any_order_) {
            // [PERF-BOUND-ANY] also elu(t) + 1 with elu by exp(t) - 1 or by expm1(t) (the Linear
            // Transformer's elu(x) + 1; the cancellation costs up to u absolute).
            const V via_exp = add(sub(exp(t), one), one);
            const double lip = std::exp(std::min(t.t.hi + t.t.err, 0.0)) * (1 + 0x1p-48);
            const V em1{elementary(std::expm1(t.t.lo), std::expm1(t.t.hi), lip, t.t, exp_ulps_, r_), t.outside};
            const V via_expm1 = add(em1, one);
            y.t.err = std::max({y.t.err, via_exp.t.err, via_expm1.t.err});
            y.outside = y.outside || via_exp.outside || via_expm1.outside;
          }
          return y;
        }
        // Either branch may be taken: f is continuous and 1-Lipschitz, so |f^(t^) - f(t)| <=
        // E_t + the rounding of f at t^ by whichever branch (and form) evaluates it.
        auto elu1 = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
        Tracked y = tracked_detail::libm_image(elu1(t.t.lo), elu1(t.t.hi));
        const double M = y.mag() + t.t.err;
        double rounding = std::max(exp_ulps_ * (2 * r_.u * M + 2 * r_.eta), r_.u * M);
        if (any_order_) rounding = std::max(rounding, exp_ulps_ * (2 * r_.u + 2 * r_.eta) + r_.u + r_.u * (M + 1));
        y.err = (t.t.err + rounding) * (1 + 0x1p-50);
        return checked(y, t.outside);
      }
    }
    return t;
  }
  // [PERF-GENERALIZED-VJP-BOUND] f': the steps of relu' and abs' are followed only where the exact
  // and the computed t are certainly on one side of 0 (else outside the domain); elu1' is
  // continuous and 1-Lipschitz (e^t <= 1 on the left, constant on the right).
  V kernel_derivative(Kernel f, const V& t) const {
    const bool positive = t.t.lo - t.t.err > 0, negative = t.t.hi + t.t.err < 0,
               non_positive = t.t.hi + t.t.err <= 0;
    switch (f) {
      case Kernel::relu:
        if (positive) return input(1);
        if (non_positive) return input(0);
        return {Tracked::exact(0), true};
      case Kernel::abs:
        if (positive) return input(1);
        if (negative) return input(-1);
        return {Tracked::exact(0), true};
      case Kernel::sqr: return add(t, t);
      case Kernel::exp: return exp(t);
      case Kernel::identity: return input(1);
      case Kernel::elu1: {
        if (positive) return input(1);
        if (non_positive) return exp(t);
        Tracked y = tracked_detail::libm_image(std::exp(std::min(t.t.lo, 0.0)), 1.0);
        y.err = (t.t.err + exp_ulps_ * (2 * r_.u * (1 + t.t.err) + 2 * r_.eta)) * (1 + 0x1p-50);
        return checked(y, t.outside);
      }
    }
    return input(1);
  }

 private:
  // sin (phase 0) or cos (phase 1 = sin(x + pi/2)) of a tracked argument. The extrema of sin lie
  // at pi/2 + k pi; one may lie in [lo, hi] when some k has pi/2 + k pi within it (decided with a
  // margin, so an extremum near an endpoint is included).
  V sincos(const V& a, int phase) const {
    const double lo = a.t.lo, hi = a.t.hi;
    if (!std::isfinite(lo) || !std::isfinite(hi)) return {Tracked::exact(0), true};
    auto f = [&](double x) { return phase == 0 ? std::sin(x) : std::cos(x); };
    double flo = std::min(f(lo), f(hi)), fhi = std::max(f(lo), f(hi));
    constexpr double kPi = 3.141592653589793;
    const double shift = phase == 0 ? kPi / 2 : 0.0;  // sin's extrema at pi/2 + k pi, cos's at k pi
    const double margin = 1e-12 * (1 + std::max(std::fabs(lo), std::fabs(hi)));
    const double k_lo = std::ceil((lo - shift - margin) / kPi), k_hi = std::floor((hi - shift + margin) / kPi);
    if (hi - lo >= 2 * kPi || k_hi - k_lo >= 1) {
      flo = -1;
      fhi = 1;
    } else if (k_lo == k_hi) {
      // One extremum: +1 where k is even for sin (pi/2 + 2j pi) and cos (2j pi), else -1.
      const bool even = std::fmod(std::fabs(k_lo), 2.0) == 0;
      (even ? fhi : flo) = even ? 1.0 : -1.0;
    }
    return checked(elementary(std::max(flo, -1.0), std::min(fhi, 1.0), 1.0, a.t, sincos_ulps_, r_), a.outside);
  }
  Format compute_;
  double exp_ulps_;
  double sincos_ulps_;
};

// [PERF-BOUND-EVAL] element_bound and slack_for: bounds/tracked_policy.hpp.

// Runs head(ar, b, h, sink) over every (batch, head) and keeps, per element, the largest bound of
// `variants` runs (the placements of the any-order bound).
template <class Head>
Tensor<double> per_head_bound(const PerformerArithmetic& m, Index B, Index H, Index L, Index C, double slack,
                              int variants, const Head& head) {
  Tensor<double> out(Shape{B, H, L, C}, 0.0);
  parallel_for(B * H, 0, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    TrackedArithmetic ar(m);
    for (int variant = 0; variant < variants; ++variant)
      head(ar, b, h, variant, [&](Index i, Index c, const TV& v) {
        double& e = out(b, h, i, c);
        e = std::max(e, element_bound(v, slack));
      });
  });
  return out;
}

}  // namespace

PerformerArithmetic performer_arithmetic_cpu(Format compute) {
  const bool f32 = compute == Format::float32;
  return {f32 ? "cpu-f32" : "cpu-f64", compute, f32 ? kExpF32Ulps : kExpF64Ulps, false,
          f32 ? kSinCosF32Ulps : kSinCosF64Ulps};
}

PerformerArithmetic performer_arithmetic_any_order(Format compute, double exp_ulps) {
  return {"any order", compute, exp_ulps, true, exp_ulps};
}

Tensor<double> softmax_attention_bound(const AttentionProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.seqlen()) * static_cast<double>(p.dim() + p.dim_v() + 8));
  // Any order: the four placements of the scale and the normalization ([PERF-BOUND-ANY]).
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.dim_v(), slack, m.any_order ? 4 : 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int variant, auto&& sink) {
                          order::softmax_attention_head(
                              ar, [&](Index i, Index d) { return in.q(b, h, i, d); },
                              [&](Index i, Index d) { return in.k(b, h, i, d); },
                              [&](Index i, Index d) { return in.v(b, h, i, d); }, p.seqlen(), p.dim(), p.dim_v(),
                              p.causal(), order::SoftmaxPlacement{(variant & 1) != 0, (variant & 2) != 0}, sink);
                        });
}

Tensor<double> favor_plus_features_bound(const FeatureProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.dim()) * 4 + 16);
  // Any order: the two forms of the squared norm (bit 0) and, for the trigonometric map, the two
  // associations of the three factors (bit 1).
  const bool trig = in.map == FeatureMap::trig;
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.outputs(), slack, m.any_order ? (trig ? 4 : 2) : 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int variant, auto&& sink) {
                          auto x = [&](Index i, Index d) { return in.x(b, h, i, d); };
                          auto w = [&](Index j, Index d) { return in.projection(j, d); };
                          if (trig)
                            order::trig_features_head(ar, x, w, p.seqlen(), p.dim(), p.features(), (variant & 1) != 0,
                                                      (variant & 2) != 0, sink);
                          else
                            order::favor_plus_features_head(ar, x, w, p.seqlen(), p.dim(), p.features(), in.is_query,
                                                            in.eps, variant == 1, sink,
                                                            in.map == FeatureMap::hyperbolic);
                        });
}

Tensor<double> favor_plus_features_vjp_bound(const FeatureBackwardProblem<double>& bp, const PerformerArithmetic& m) {
  const FeatureProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.dim() + p.features()) * 4 + 16);
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.dim(), slack, m.any_order ? 2 : 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int variant, auto&& sink) {
                          auto x = [&](Index i, Index d) { return in.x(b, h, i, d); };
                          auto w = [&](Index j, Index d) { return in.projection(j, d); };
                          auto g = [&](Index i, Index j) { return bp.dfeatures()(b, h, i, j); };
                          if (in.map == FeatureMap::trig)
                            order::trig_features_vjp_head(ar, x, w, g, p.seqlen(), p.dim(), p.features(),
                                                          variant == 1, sink);
                          else
                            order::favor_plus_features_vjp_head(ar, x, w, g, p.seqlen(), p.dim(), p.features(),
                                                                in.is_query, variant == 1, sink,
                                                                in.map == FeatureMap::hyperbolic);
                        });
}

Tensor<double> generalized_features_bound(const GeneralizedFeatureProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.dim()) * 2 + 16);
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.features(), slack, 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int, auto&& sink) {
                          order::generalized_features_head(
                              ar, [&](Index i, Index d) { return in.x(b, h, i, d); },
                              [&](Index j, Index d) { return (*in.projection)(j, d); }, in.projection.has_value(),
                              p.seqlen(), p.dim(), p.features(), in.kernel, in.normalize_data, in.kernel_eps, sink);
                        });
}

Tensor<double> generalized_features_vjp_bound(const GeneralizedFeatureBackwardProblem<double>& bp,
                                              const PerformerArithmetic& m) {
  const GeneralizedFeatureProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.dim() + p.features()) * 2 + 16);
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.dim(), slack, 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int, auto&& sink) {
                          order::generalized_features_vjp_head(
                              ar, [&](Index i, Index d) { return in.x(b, h, i, d); },
                              [&](Index j, Index d) { return (*in.projection)(j, d); },
                              [&](Index i, Index j) { return bp.dfeatures()(b, h, i, j); }, in.projection.has_value(),
                              p.seqlen(), p.dim(), p.features(), in.kernel, in.normalize_data, sink);
                        });
}

Tensor<double> linear_attention_bound(const LinearProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const double slack = slack_for(static_cast<double>(p.seqlen() + p.features()) * 4 + 16);
  // Any order: the division last, or the queries scaled by 1/R first ([PERF-BOUND-ANY]).
  return per_head_bound(m, p.batch(), p.heads(), p.seqlen(), p.dim_v(), slack, m.any_order ? 2 : 1,
                        [&](TrackedArithmetic& ar, Index b, Index h, int variant, auto&& sink) {
                          order::linear_attention_head(
                              ar, [&](Index i, Index f) { return in.q(b, h, i, f); },
                              [&](Index i, Index f) { return in.k(b, h, i, f); },
                              [&](Index i, Index c) { return in.v(b, h, i, c); }, p.seqlen(), p.features(),
                              p.dim_v(), p.causal(), in.guard, in.guard_eps, variant == 1, sink);
                        });
}

AttentionGrads<double> linear_attention_vjp_bound(const LinearBackwardProblem<double>& bp, const PerformerArithmetic& m) {
  const LinearProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), E = p.dim_v();
  const double slack = slack_for(static_cast<double>(L) * static_cast<double>(M + E) * 4 + 64);
  AttentionGrads<double> g{Tensor<double>(Shape{B, H, L, M}), Tensor<double>(Shape{B, H, L, M}),
                        Tensor<double>(Shape{B, H, L, E})};
  parallel_for(B * H, 0, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    TrackedArithmetic ar(m);
    auto into = [&](Tensor<double>& t) {
      return [&t, b, h, slack](Index i, Index c, const TV& v) { t(b, h, i, c) = element_bound(v, slack); };
    };
    order::linear_attention_vjp_head(
        ar, [&](Index i, Index f) { return in.q(b, h, i, f); }, [&](Index i, Index f) { return in.k(b, h, i, f); },
        [&](Index i, Index c) { return in.v(b, h, i, c); }, [&](Index i, Index c) { return bp.dout()(b, h, i, c); }, L,
        M, E, p.causal(), in.guard, in.guard_eps, bp.subtraction(), into(g.dq), into(g.dk), into(g.dv), bp.slice());
  });
  return g;
}

AttentionGrads<double> softmax_attention_vjp_bound(const AttentionBackwardProblem<double>& bp, const PerformerArithmetic& m) {
  const AttentionProblem<double>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), E = p.dim_v();
  const double slack = slack_for(static_cast<double>(L) * static_cast<double>(D + E) * 4 + 64);
  AttentionGrads<double> g{Tensor<double>(Shape{B, H, L, D}, 0.0), Tensor<double>(Shape{B, H, L, D}, 0.0),
                           Tensor<double>(Shape{B, H, L, E}, 0.0)};
  parallel_for(B * H, 0, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    TrackedArithmetic ar(m);
    auto into = [&](Tensor<double>& t) {
      return [&t, b, h, slack](Index i, Index c, const TV& v) {
        double& e = t(b, h, i, c);
        e = std::max(e, element_bound(v, slack));
      };
    };
    for (int variant = 0; variant < (m.any_order ? 4 : 1); ++variant)
      order::softmax_attention_vjp_head(
          ar, [&](Index i, Index d) { return in.q(b, h, i, d); }, [&](Index i, Index d) { return in.k(b, h, i, d); },
          [&](Index i, Index c) { return in.v(b, h, i, c); }, [&](Index i, Index c) { return bp.dout()(b, h, i, c); },
          L, D, E, p.causal(), order::SoftmaxPlacement{(variant & 1) != 0, (variant & 2) != 0}, into(g.dq), into(g.dk),
          into(g.dv));
  });
  return g;
}

// [PERF-SLIM-BOUND] SLiM's layer: order::slim_layer_vjp over tracked values, the problem's state
// form and slice size (the slice size does not change the bound: the sequence is the same).
SlimLayerGrads<double> slim_layer_vjp_bound(const SlimLayerProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const Index L = p.seqlen(), D = p.d_model(), Dh = p.d_head(), M = p.features();
  const double slack =
      slack_for(static_cast<double>(L) * static_cast<double>(D * Dh * 8 + M * (Dh + 4) * 8) + 64);
  SlimLayerGrads<double> g{Tensor<double>(Shape{L, D}), Tensor<double>(Shape{D, Dh}), Tensor<double>(Shape{D, Dh}),
                           Tensor<double>(Shape{D, Dh}), Tensor<double>(Shape{Dh, D})};
  struct Reader {
    const SlimLayerInputs<double>& in;
    double x(Index i, Index d) const { return in.x(i, d); }
    double w_q(Index d, Index e) const { return in.w_q(d, e); }
    double w_k(Index d, Index e) const { return in.w_k(d, e); }
    double w_v(Index d, Index e) const { return in.w_v(d, e); }
    double w(Index j, Index e) const { return (*in.projection)(j, e); }
    double w_o(Index e, Index d) const { return in.w_o(e, d); }
    double dy(Index i, Index d) const { return in.dy(i, d); }
  };
  struct Writer {
    SlimLayerGrads<double>& g;
    double slack;
    void dx(Index i, Index d, const TV& v) { g.dx(i, d) = element_bound(v, slack); }
    void dw_q(Index d, Index e, const TV& v) { g.dw_q(d, e) = element_bound(v, slack); }
    void dw_k(Index d, Index e, const TV& v) { g.dw_k(d, e) = element_bound(v, slack); }
    void dw_v(Index d, Index e, const TV& v) { g.dw_v(d, e) = element_bound(v, slack); }
    void dw_o(Index e, Index d, const TV& v) { g.dw_o(e, d) = element_bound(v, slack); }
  };
  TrackedArithmetic ar(m);
  Writer out{g, slack};
  const order::SlimLayerShape shape{L, D, Dh, M, p.projected(), in.kernel, in.kernel_eps, p.slice(), p.subtraction()};
  order::slim_layer_vjp(ar, Reader{in}, shape, out);
  return g;
}

// [PERF-SLIM-BOUND] The layer's forward: order::slim_layer_forward over tracked values.
Tensor<double> slim_layer_bound(const SlimLayerForwardProblem<double>& p, const PerformerArithmetic& m) {
  const auto& in = p.in();
  const Index L = p.seqlen(), D = p.d_model(), Dh = p.d_head(), M = p.features();
  const double slack = slack_for(static_cast<double>(L) * static_cast<double>(D * Dh * 4 + M * Dh * 4) + 64);
  Tensor<double> y(Shape{L, D});
  struct Reader {
    const SlimLayerForwardInputs<double>& in;
    double x(Index i, Index d) const { return in.x(i, d); }
    double w_q(Index d, Index e) const { return in.w_q(d, e); }
    double w_k(Index d, Index e) const { return in.w_k(d, e); }
    double w_v(Index d, Index e) const { return in.w_v(d, e); }
    double w(Index j, Index e) const { return (*in.projection)(j, e); }
    double w_o(Index e, Index d) const { return in.w_o(e, d); }
  };
  struct Writer {
    Tensor<double>* t;
    double slack;
    void y(Index i, Index d, const TV& v) { (*t)(i, d) = element_bound(v, slack); }
  } out{&y, slack};
  TrackedArithmetic ar(m);
  const order::SlimLayerShape shape{L, D, Dh, M, p.projected(), in.kernel, in.kernel_eps, 0, false};
  order::slim_layer_forward(ar, Reader{in}, shape, out);
  return y;
}

// [PERF-RF-ORTHO-BOUND] Each block's Q tracked by orthogonal.qf's own bound (the same order, the
// same any-order rule: orthogonal::qf_tracked), then the scaling's roundings of
// [PERF-RF-ORTHO-CPU] over tracked values.
Tensor<double> gaussian_orthogonal_bound(const GaussianOrthogonalProblem<double>& p, const PerformerArithmetic& m) {
  const Index rows = p.nb_rows(), d = p.dim();
  Tensor<double> w(Shape{rows, d}, 0.0);
  TrackedArithmetic ar(m);
  const orthogonal::OrthArithmetic om{m.compute, m.any_order};
  const double slack = slack_for(8.0 * static_cast<double>((d + 2) * (d + 2)) + 4.0 * static_cast<double>(d) + 8);
  auto qblock = [&](Index k) { return orthogonal::qf_tracked(p.block_problem(k), om); };
  auto g = [&](Index j, Index t) { return (*p.gaussians())(j, t); };
  order::gaussian_orthogonal_rows(ar, rows, d, p.scaling(), qblock, g,
                                  [&](Index j, Index t, const TV& x) { w(j, t) = element_bound(x, slack); });
  return w;
}

Tensor<double> iid_projection_bound(const IidProjectionProblem<double>& p, const PerformerArithmetic& m) {
  const Index rows = p.nb_features(), d = p.dim();
  Tensor<double> w(Shape{rows, d}, 0.0);
  TrackedArithmetic ar(m);
  const double slack = slack_for(4.0 * static_cast<double>(d) + 8);
  order::iid_projection_rows(ar, rows, d, [&](Index j, Index t) { return p.g()(j, t); },
                             [&](Index j, Index t, const TV& x) { w(j, t) = element_bound(x, slack); });
  return w;
}

}  // namespace touchstone::performer
