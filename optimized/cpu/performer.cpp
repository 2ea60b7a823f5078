// The Performer family on the CPU: the sequences of order/performer_order.hpp on native floats.
#include "performer.hpp"

#include <cmath>
#include <type_traits>

#include "common/native_arithmetic.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer::cpu {
namespace {

// The order's arithmetic policy on T: every operation one IEEE rounding (-ffp-contract=off).
template <class T>
struct NativeArithmetic : cpu_common::NativeArithmetic<T> {
  using V = T;
  using cpu_common::NativeArithmetic<T>::exp;
  static V constant(double c, double) { return static_cast<T>(c); }
  // sin and cos: glibc's binary64 functions (assumed within 1 ulp, [CORE-ASSUME-LIBM-F64]); in
  // float32 their result rounded once more (within 0.50001 ulps of float32, as the complex scan's).
  static V sin(V a) { return static_cast<T>(std::sin(static_cast<double>(a))); }
  static V cos(V a) { return static_cast<T>(std::cos(static_cast<double>(a))); }
  static V guard_gr(V R, V eps) { return std::fabs(R) <= eps ? R + (eps + eps) : R; }
  static V kernel(Kernel f, V t) {
    switch (f) {
      case Kernel::relu: return t > 0 ? t : V(0);
      case Kernel::elu1: return t > 0 ? t + V(1) : exp(t);
      case Kernel::abs: return std::fabs(t);
      case Kernel::sqr: return t * t;
      case Kernel::exp: return exp(t);
      case Kernel::identity: return t;
    }
    return t;
  }
  static V kernel_derivative(Kernel f, V t) {
    switch (f) {
      case Kernel::relu: return t > 0 ? V(1) : V(0);
      case Kernel::elu1: return t > 0 ? V(1) : exp(t);
      case Kernel::abs: return t > 0 ? V(1) : (t < 0 ? V(-1) : V(0));
      case Kernel::sqr: return t + t;
      case Kernel::exp: return exp(t);
      case Kernel::identity: return V(1);
    }
    return V(1);
  }
};

// Runs `head(ar, b, h, sink)` for every (batch, head) in parallel, writing (b, h, i, c) of out.
template <class T, class Head>
Tensor<T> per_head(Index B, Index H, Index L, Index C, int threads, const Head& head) {
  Tensor<T> out(Shape{B, H, L, C});
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    NativeArithmetic<T> ar;
    head(ar, b, h, [&](Index i, Index c, T value) { out(b, h, i, c) = value; });
  });
  return out;
}

template <class T>
Tensor<T> softmax_attention_t(const AttentionProblem<T>& p, int threads) {
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.dim_v(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    order::softmax_attention_head(
        ar, [&](Index i, Index d) { return static_cast<double>(in.q(b, h, i, d)); },
        [&](Index i, Index d) { return static_cast<double>(in.k(b, h, i, d)); },
        [&](Index i, Index d) { return static_cast<double>(in.v(b, h, i, d)); }, p.seqlen(), p.dim(), p.dim_v(),
        p.causal(), order::SoftmaxPlacement{}, sink);
  });
}

template <class T>
Tensor<T> favor_plus_features_t(const FeatureProblem<T>& p, int threads) {
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.outputs(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    auto x = [&](Index i, Index d) { return static_cast<double>(in.x(b, h, i, d)); };
    auto w = [&](Index j, Index d) { return static_cast<double>(in.projection(j, d)); };
    if (in.map == FeatureMap::trig)
      order::trig_features_head(ar, x, w, p.seqlen(), p.dim(), p.features(), false, false, sink);
    else
      order::favor_plus_features_head(ar, x, w, p.seqlen(), p.dim(), p.features(), in.is_query, in.eps, false, sink,
                                      in.map == FeatureMap::hyperbolic);
  });
}

template <class T>
Tensor<T> favor_plus_features_vjp_t(const FeatureBackwardProblem<T>& bp, int threads) {
  const FeatureProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.dim(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    auto x = [&](Index i, Index d) { return static_cast<double>(in.x(b, h, i, d)); };
    auto w = [&](Index j, Index d) { return static_cast<double>(in.projection(j, d)); };
    auto g = [&](Index i, Index j) { return static_cast<double>(bp.dfeatures()(b, h, i, j)); };
    if (in.map == FeatureMap::trig)
      order::trig_features_vjp_head(ar, x, w, g, p.seqlen(), p.dim(), p.features(), false, sink);
    else
      order::favor_plus_features_vjp_head(ar, x, w, g, p.seqlen(), p.dim(), p.features(), in.is_query, false, sink,
                                          in.map == FeatureMap::hyperbolic);
  });
}

template <class T>
Tensor<T> generalized_features_t(const GeneralizedFeatureProblem<T>& p, int threads) {
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.features(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    order::generalized_features_head(
        ar, [&](Index i, Index d) { return static_cast<double>(in.x(b, h, i, d)); },
        [&](Index j, Index d) { return static_cast<double>((*in.projection)(j, d)); }, in.projection.has_value(),
        p.seqlen(), p.dim(), p.features(), in.kernel, in.normalize_data, in.kernel_eps, sink);
  });
}

template <class T>
Tensor<T> generalized_features_vjp_t(const GeneralizedFeatureBackwardProblem<T>& bp, int threads) {
  const GeneralizedFeatureProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.dim(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    order::generalized_features_vjp_head(
        ar, [&](Index i, Index d) { return static_cast<double>(in.x(b, h, i, d)); },
        [&](Index j, Index d) { return static_cast<double>((*in.projection)(j, d)); },
        [&](Index i, Index j) { return static_cast<double>(bp.dfeatures()(b, h, i, j)); }, in.projection.has_value(),
        p.seqlen(), p.dim(), p.features(), in.kernel, in.normalize_data, sink);
  });
}

template <class T>
Tensor<T> linear_attention_t(const LinearProblem<T>& p, int threads) {
  const auto& in = p.in();
  return per_head<T>(p.batch(), p.heads(), p.seqlen(), p.dim_v(), threads, [&](auto& ar, Index b, Index h, auto&& sink) {
    order::linear_attention_head(
        ar, [&](Index i, Index f) { return static_cast<double>(in.q(b, h, i, f)); },
        [&](Index i, Index f) { return static_cast<double>(in.k(b, h, i, f)); },
        [&](Index i, Index c) { return static_cast<double>(in.v(b, h, i, c)); }, p.seqlen(), p.features(), p.dim_v(),
        p.causal(), in.guard, in.guard_eps, false, sink);
  });
}

template <class T>
AttentionGrads<T> softmax_attention_vjp_t(const AttentionBackwardProblem<T>& bp, int threads) {
  const AttentionProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), E = p.dim_v();
  AttentionGrads<T> g{Tensor<T>(Shape{B, H, L, D}), Tensor<T>(Shape{B, H, L, D}), Tensor<T>(Shape{B, H, L, E})};
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    NativeArithmetic<T> ar;
    order::softmax_attention_vjp_head(
        ar, [&](Index i, Index d) { return static_cast<double>(in.q(b, h, i, d)); },
        [&](Index i, Index d) { return static_cast<double>(in.k(b, h, i, d)); },
        [&](Index i, Index c) { return static_cast<double>(in.v(b, h, i, c)); },
        [&](Index i, Index c) { return static_cast<double>(bp.dout()(b, h, i, c)); }, L, D, E, p.causal(),
        order::SoftmaxPlacement{}, [&](Index i, Index d, T x) { g.dq(b, h, i, d) = x; },
        [&](Index i, Index d, T x) { g.dk(b, h, i, d) = x; }, [&](Index i, Index c, T x) { g.dv(b, h, i, c) = x; });
  });
  return g;
}

template <class T>
AttentionGrads<T> linear_attention_vjp_t(const LinearBackwardProblem<T>& bp, int threads) {
  const LinearProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), E = p.dim_v();
  AttentionGrads<T> g{Tensor<T>(Shape{B, H, L, M}), Tensor<T>(Shape{B, H, L, M}), Tensor<T>(Shape{B, H, L, E})};
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const Index b = bh / H, h = bh % H;
    NativeArithmetic<T> ar;
    order::linear_attention_vjp_head(
        ar, [&](Index i, Index f) { return static_cast<double>(in.q(b, h, i, f)); },
        [&](Index i, Index f) { return static_cast<double>(in.k(b, h, i, f)); },
        [&](Index i, Index c) { return static_cast<double>(in.v(b, h, i, c)); },
        [&](Index i, Index c) { return static_cast<double>(bp.dout()(b, h, i, c)); }, L, M, E, p.causal(), in.guard,
        in.guard_eps, bp.subtraction(), [&](Index i, Index f, T x) { g.dq(b, h, i, f) = x; },
        [&](Index i, Index f, T x) { g.dk(b, h, i, f) = x; }, [&](Index i, Index c, T x) { g.dv(b, h, i, c) = x; },
        bp.slice());
  });
  return g;
}

}  // namespace

Tensor<float> softmax_attention(const AttentionProblem<float>& p, int threads) { return softmax_attention_t(p, threads); }
Tensor<double> softmax_attention(const AttentionProblem<double>& p, int threads) { return softmax_attention_t(p, threads); }
AttentionGrads<float> softmax_attention_vjp(const AttentionBackwardProblem<float>& p, int threads) {
  return softmax_attention_vjp_t(p, threads);
}
AttentionGrads<double> softmax_attention_vjp(const AttentionBackwardProblem<double>& p, int threads) {
  return softmax_attention_vjp_t(p, threads);
}
Tensor<float> favor_plus_features(const FeatureProblem<float>& p, int threads) { return favor_plus_features_t(p, threads); }
Tensor<double> favor_plus_features(const FeatureProblem<double>& p, int threads) { return favor_plus_features_t(p, threads); }
Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p, int threads) {
  return favor_plus_features_vjp_t(p, threads);
}
Tensor<double> favor_plus_features_vjp(const FeatureBackwardProblem<double>& p, int threads) {
  return favor_plus_features_vjp_t(p, threads);
}
Tensor<float> generalized_features(const GeneralizedFeatureProblem<float>& p, int threads) {
  return generalized_features_t(p, threads);
}
Tensor<double> generalized_features(const GeneralizedFeatureProblem<double>& p, int threads) {
  return generalized_features_t(p, threads);
}
Tensor<float> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<float>& p, int threads) {
  return generalized_features_vjp_t(p, threads);
}
Tensor<double> generalized_features_vjp(const GeneralizedFeatureBackwardProblem<double>& p, int threads) {
  return generalized_features_vjp_t(p, threads);
}
Tensor<float> linear_attention(const LinearProblem<float>& p, int threads) { return linear_attention_t(p, threads); }
Tensor<double> linear_attention(const LinearProblem<double>& p, int threads) { return linear_attention_t(p, threads); }
AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p, int threads) {
  return linear_attention_vjp_t(p, threads);
}
AttentionGrads<double> linear_attention_vjp(const LinearBackwardProblem<double>& p, int threads) {
  return linear_attention_vjp_t(p, threads);
}

}  // namespace touchstone::performer::cpu
