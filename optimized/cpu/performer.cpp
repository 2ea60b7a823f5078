// The Performer family on the CPU: the sequences of order/performer_order.hpp on native floats.
#include "performer.hpp"

#include <cmath>
#include <type_traits>

#include "performer_arithmetic.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer::cpu {
namespace {

template <class T>
using NativeArithmetic = PerformerArithmetic<T>;

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

// ---------------------------------------------------------------------------------------------
// The fast paths ([PERF-FAST-CPU]): the same operation sequences as the order header, element by
// element, with only the loop nesting, the memory layout and the threading changed. Every computed
// value is the same sequence of roundings as the order header's (each sum starts from 0 and adds
// its terms in the header's index order; products commute exactly), so the outputs are bit
// identical to the header run on T (tests/performer/performer_fast_test.cpp pins them), and the
// bound of the header's order stays the backend's bound. The inner loops run over features or
// values, independent elements, which the compiler vectorizes without reassociating any sum
// (-ffp-contract=off, no -ffast-math).

// out[n] += a * x[n] for n < count: count independent sums, each one more term.
template <class T>
inline void axpy(T* __restrict out, T a, const T* __restrict x, Index count) {
  for (Index n = 0; n < count; ++n) out[n] += a * x[n];
}

// NB steps of a state row in one pass: out[n] = out[n] + a[s] x[s][n], then acc[s][n] += b[s] out[n]
// (the updated value), for s = 0, 1, ... in turn and every n < count. Each element's sequence is
// that of the NB steps one after the other; the row is read and written once instead of NB times.
template <int NB, class T>
inline void axpy_then_axpy_steps(T* __restrict out, const T* a, const T* const* x, T* const* acc, const T* b,
                                 Index count) {
#pragma GCC ivdep
  for (Index n = 0; n < count; ++n) {
    T o = out[n];
    for (int s = 0; s < NB; ++s) {
      o = o + a[s] * x[s][n];
      acc[s][n] += b[s] * o;
    }
    out[n] = o;
  }
}
template <class T>
inline void axpy_then_axpy_steps(int nb, T* out, const T* a, const T* const* x, T* const* acc, const T* b, Index count) {
  switch (nb) {
    case 8: axpy_then_axpy_steps<8>(out, a, x, acc, b, count); break;
    case 7: axpy_then_axpy_steps<7>(out, a, x, acc, b, count); break;
    case 6: axpy_then_axpy_steps<6>(out, a, x, acc, b, count); break;
    case 5: axpy_then_axpy_steps<5>(out, a, x, acc, b, count); break;
    case 4: axpy_then_axpy_steps<4>(out, a, x, acc, b, count); break;
    case 3: axpy_then_axpy_steps<3>(out, a, x, acc, b, count); break;
    case 2: axpy_then_axpy_steps<2>(out, a, x, acc, b, count); break;
    default: axpy_then_axpy_steps<1>(out, a, x, acc, b, count); break;
  }
}
// Positions per pass over a state (nb <= 8): measured best at the bench shape (one thread, CPU
// time; forward 0.050 s at 4 against 0.063 s at 8, VJP 0.31 s at 4 against 0.26 s at 8).
inline constexpr int kSteps = 4;
inline constexpr int kVjpSteps = 8;
inline constexpr Index kBlock = 128;  // projections held in registers at a time
inline constexpr Index kGradBlock = 64;  // gradient sums held in registers at a time

// The order's running maximum m = a[0], m = (m < a[j] ? a[j] : m) for j = 1, 2, ... (n >= 1). Its
// result depends on the order only through NaN and through +0 against -0 (equal, other bits); so
// the maximum is taken kLanes at a time, and where it is 0 or a NaN is present the sequential loop
// gives the order's own result.
template <class T>
T running_max(const T* a, Index n) {
  auto max = [](T x, T y) { return x < y ? y : x; };
  constexpr Index kLanes = 16;
  T lanes[kLanes];
  for (Index l = 0; l < kLanes; ++l) lanes[l] = a[0];
  bool nan = false;
  Index j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (Index l = 0; l < kLanes; ++l) {
      lanes[l] = max(lanes[l], a[j + l]);
      nan |= a[j + l] != a[j + l];
    }
  T m = lanes[0];
  for (Index l = 1; l < kLanes; ++l) m = max(m, lanes[l]);
  for (; j < n; ++j) {
    m = max(m, a[j]);
    nan |= a[j] != a[j];
  }
  if (!nan && m != 0) return m;
  m = a[0];
  for (j = 1; j < n; ++j) m = max(m, a[j]);
  return m;
}

// One (batch, head) of the positive (or hyperbolic) FAVOR+ exponents, as favor_plus_exponents:
// x~ = fl(c x), diag_i = fl(sum_t x~_t^2) * 0.5, u_ij = sum_t x~_it w_jt in t order (kBlock values
// of j at a time, against the transposed projection wt (D, M)), su = u (and -u), the shifts by the
// running maximum in the header's order. Returns a row-major (L, Wd).
template <class T>
std::vector<T> fast_exponents(const T* x, const T* wt, Index L, Index D, Index M, bool is_query, bool hyperbolic) {
  const double d = static_cast<double>(D);
  const T c = static_cast<T>(1 / std::sqrt(std::sqrt(d)));
  const T half = static_cast<T>(0.5);
  const Index Wd = hyperbolic ? 2 * M : M;
  std::vector<T> xs(static_cast<std::size_t>(D)), diag(static_cast<std::size_t>(L));
  std::vector<T> su(static_cast<std::size_t>(L * Wd));
  for (Index i = 0; i < L; ++i) {
    T sq = 0;
    for (Index t = 0; t < D; ++t) {
      xs[t] = c * x[i * D + t];
      sq = sq + xs[t] * xs[t];
    }
    diag[i] = sq * half;
    T* u = &su[static_cast<std::size_t>(i * Wd)];
    // kBlock values of j at a time, each summing over t in order in a register.
    for (Index j0 = 0; j0 < M; j0 += kBlock) {
      const Index nj = std::min<Index>(kBlock, M - j0);
      T ub[kBlock] = {};
      if (nj == kBlock) {
        for (Index t = 0; t < D; ++t)
          for (Index jj = 0; jj < kBlock; ++jj) ub[jj] += xs[t] * wt[t * M + j0 + jj];
      } else {
        for (Index t = 0; t < D; ++t)
          for (Index jj = 0; jj < nj; ++jj) ub[jj] += xs[t] * wt[t * M + j0 + jj];
      }
      for (Index jj = 0; jj < nj; ++jj) u[j0 + jj] = ub[jj];
    }
    if (hyperbolic)
      for (Index j = 0; j < M; ++j) u[M + j] = -u[j];
  }
  const T key_shift = is_query ? T(0) : running_max(su.data(), L * Wd);
  for (Index i = 0; i < L; ++i) {
    T* a = &su[static_cast<std::size_t>(i * Wd)];
    const T shift = is_query ? running_max(a, Wd) : key_shift;
    const T di = diag[i];
    for (Index j = 0; j < Wd; ++j) a[j] = (a[j] - di) - shift;
  }
  return su;
}

template <class T>
std::vector<T> transposed(const Tensor<T>& w) {  // (M, D) -> (D, M)
  const Index M = w.extent(0), D = w.extent(1);
  std::vector<T> wt(static_cast<std::size_t>(M * D));
  for (Index j = 0; j < M; ++j)
    for (Index t = 0; t < D; ++t) wt[static_cast<std::size_t>(t * M + j)] = w.data()[j * D + t];
  return wt;
}

template <class T>
T native_exp(T a) {
  return NativeArithmetic<T>::exp(a);
}

template <class T>
Tensor<T> fast_features(const FeatureProblem<T>& p, int threads) {
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), M = p.features();
  const bool hyp = in.map == FeatureMap::hyperbolic;
  const Index Wd = hyp ? 2 * M : M;
  const T ratio = static_cast<T>(1 / std::sqrt(static_cast<double>(Wd)));
  const T eps = static_cast<T>(in.eps);
  const std::vector<T> wt = transposed(in.projection);
  Tensor<T> out(Shape{B, H, L, Wd});
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    std::vector<T> a = fast_exponents(in.x.data() + bh * L * D, wt.data(), L, D, M, in.is_query, hyp);
    T* o = out.data() + bh * L * Wd;
    const Index n = L * Wd;
    for (Index k = 0; k < n; ++k) o[k] = ratio * (native_exp(a[static_cast<std::size_t>(k)]) + eps);
  });
  return out;
}

template <class T>
Tensor<T> fast_features_vjp(const FeatureBackwardProblem<T>& bp, int threads) {
  const FeatureProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), D = p.dim(), M = p.features();
  const bool hyp = in.map == FeatureMap::hyperbolic;
  const Index Wd = hyp ? 2 * M : M;
  const double d = static_cast<double>(D);
  const T c = static_cast<T>(1 / std::sqrt(std::sqrt(d))), c2 = static_cast<T>(1 / std::sqrt(d));
  const T ratio = static_cast<T>(1 / std::sqrt(static_cast<double>(Wd)));
  const std::vector<T> wt = transposed(in.projection);
  const T* w = in.projection.data();
  Tensor<T> dx(Shape{B, H, L, D});
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const T* x = in.x.data() + bh * L * D;
    const T* g = bp.dfeatures().data() + bh * L * Wd;
    std::vector<T> a = fast_exponents(x, wt.data(), L, D, M, in.is_query, hyp);
    std::vector<T> G(static_cast<std::size_t>(Wd)), s1(static_cast<std::size_t>(D));
    T* o = dx.data() + bh * L * D;
    for (Index i = 0; i < L; ++i) {
      const T* ai = &a[static_cast<std::size_t>(i * Wd)];
      const T* gi = g + i * Wd;
      for (Index j = 0; j < Wd; ++j) G[j] = (gi[j] * ratio) * native_exp(ai[j]);
      T s2 = 0;
      for (Index j = 0; j < Wd; ++j) s2 = s2 + G[j];
      for (Index j = M; j < Wd; ++j) G[j] = -G[j];  // the hyperbolic map's -u half: (-G_j) w_j
      // s1_t = sum_j G_j w_jt in j order, kGradBlock values of t at a time (held in registers).
      for (Index t0 = 0; t0 < D; t0 += kGradBlock) {
        const Index nt = std::min<Index>(kGradBlock, D - t0);
        T s1b[kGradBlock] = {};
        if (nt == kGradBlock) {
          for (Index j = 0; j < Wd; ++j) {
            const T* wj = w + (j < M ? j : j - M) * D + t0;
            for (Index tt = 0; tt < kGradBlock; ++tt) s1b[tt] += G[j] * wj[tt];
          }
        } else {
          for (Index j = 0; j < Wd; ++j) {
            const T* wj = w + (j < M ? j : j - M) * D + t0;
            for (Index tt = 0; tt < nt; ++tt) s1b[tt] += G[j] * wj[tt];
          }
        }
        for (Index tt = 0; tt < nt; ++tt) s1[t0 + tt] = s1b[tt];
      }
      for (Index t = 0; t < D; ++t) o[i * D + t] = c * s1[t] - c2 * (x[i * D + t] * s2);
    }
  });
  return dx;
}

template <class T>
T guard_gr(T R, T eps) {
  return NativeArithmetic<T>::guard_gr(R, eps);
}

template <class T>
Tensor<T> fast_linear(const LinearProblem<T>& p, int threads) {
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), E = p.dim_v();
  const bool causal = p.causal(), lr = in.guard == Guard::lr && causal;
  const T eps = static_cast<T>(in.guard_eps);
  Tensor<T> out(Shape{B, H, L, E});
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const T* q = in.q.data() + bh * L * M;
    const T* k = in.k.data() + bh * L * M;
    const T* v = in.v.data() + bh * L * E;
    T* o = out.data() + bh * L * E;
    std::vector<T> S(static_cast<std::size_t>(M), T(0)), P(static_cast<std::size_t>(M * E), T(0)),
        w(static_cast<std::size_t>(E));
    auto add_key = [&](Index j) {
      for (Index f = 0; f < M; ++f) {
        const T kf = k[j * M + f];
        S[f] = S[f] + kf;
        axpy(&P[static_cast<std::size_t>(f * E)], kf, v + j * E, E);
      }
    };
    if (!causal)
      for (Index j = 0; j < L; ++j) add_key(j);
    if (causal) {
      // kSteps positions per pass over P: key i enters S (R_i read from it), then P in the pass
      // that reads W_i from it, as one position at a time.
      std::vector<T> wb(static_cast<std::size_t>(kSteps * E));
      for (Index i0 = 0; i0 < L; i0 += kSteps) {
        const int nb = static_cast<int>(std::min<Index>(kSteps, L - i0));
        T Rb[kSteps], a[kSteps], bc[kSteps];
        const T* xs[kSteps];
        T* accs[kSteps];
        for (int s_ = 0; s_ < nb; ++s_) {
          const Index i = i0 + s_;
          const T* qi = q + i * M;
          const T* ki = k + i * M;
          T R = 0;
          for (Index f = 0; f < M; ++f) {
            S[f] = S[f] + ki[f];
            R = R + qi[f] * (lr ? S[f] + eps : S[f]);
          }
          if (in.guard == Guard::gr) R = guard_gr(R, eps);
          Rb[s_] = R;
          xs[s_] = v + i * E;
          accs[s_] = &wb[static_cast<std::size_t>(s_ * E)];
        }
        std::fill(wb.begin(), wb.end(), T(0));
        for (Index f = 0; f < M; ++f) {
          for (int s_ = 0; s_ < nb; ++s_) a[s_] = k[(i0 + s_) * M + f], bc[s_] = q[(i0 + s_) * M + f];
          axpy_then_axpy_steps(nb, &P[static_cast<std::size_t>(f * E)], a, xs, accs, bc, E);
        }
        for (int s_ = 0; s_ < nb; ++s_)
          for (Index c_ = 0; c_ < E; ++c_) o[(i0 + s_) * E + c_] = wb[static_cast<std::size_t>(s_ * E + c_)] / Rb[s_];
      }
      return;
    }
    for (Index i = 0; i < L; ++i) {
      const T* qi = q + i * M;
      for (Index c_ = 0; c_ < E; ++c_) w[c_] = 0;
      for (Index f = 0; f < M; ++f) axpy(w.data(), qi[f], &P[static_cast<std::size_t>(f * E)], E);
      T R = 0;
      for (Index f = 0; f < M; ++f) R = R + qi[f] * S[f];
      if (in.guard == Guard::gr) R = guard_gr(R, eps);
      for (Index c_ = 0; c_ < E; ++c_) o[i * E + c_] = w[c_] / R;
    }
  });
  return out;
}

// The VJP in two sweeps, each value computed as the order computes it. The quantities of step i
// that read the prefix state (R, W, dW = g / R, dR, dq) depend on no suffix sum, so they are
// computed where the state is at hand: in the stored form right after key i enters the running
// sums of the forward sweep (no state is kept: the state of step i is the running sum then, the
// stored form's value); for the subtraction form descending from the totals; bidirectional from the
// totals. The second sweep, descending, accumulates the suffix sums C, D from dW and dR and reads
// dk, dv from them, in the order's order. P (M, E) and its transpose PT (E, M) accumulate the same
// products in the same order (equal values), so that W_c = q . P_:c and dq_f = P_f: . dW both run
// as passes over contiguous rows; likewise C and CT.
template <class T>
AttentionGrads<T> fast_linear_vjp(const LinearBackwardProblem<T>& bp, int threads) {
  const LinearProblem<T>& p = bp.fwd();
  const auto& in = p.in();
  const Index B = p.batch(), H = p.heads(), L = p.seqlen(), M = p.features(), E = p.dim_v();
  const bool causal = p.causal(), lr = in.guard == Guard::lr && causal, subtraction = bp.subtraction();
  const bool stored = causal && !subtraction;
  const T eps = static_cast<T>(in.guard_eps), zero = 0;
  const std::size_t ME = static_cast<std::size_t>(M * E), Ms = static_cast<std::size_t>(M), Es = static_cast<std::size_t>(E);
  AttentionGrads<T> grads{Tensor<T>(Shape{B, H, L, M}), Tensor<T>(Shape{B, H, L, M}), Tensor<T>(Shape{B, H, L, E})};
  parallel_for(B * H, threads, [&](std::int64_t bh) {
    const T* q = in.q.data() + bh * L * M;
    const T* k = in.k.data() + bh * L * M;
    const T* v = in.v.data() + bh * L * E;
    const T* g = bp.dout().data() + bh * L * E;
    T* dq = grads.dq.data() + bh * L * M;
    T* dk = grads.dk.data() + bh * L * M;
    T* dv = grads.dv.data() + bh * L * E;
    std::vector<T> S(Ms, zero), P(ME, zero), PT(ME, zero), St(Ms), w(Es), acc(Ms), accE(Es);
    std::vector<T> dW(static_cast<std::size_t>(L) * Es), dR(static_cast<std::size_t>(L));
    // Step i's R, dW, W, dR and dq from the state (S, P, PT) as it is (subtraction, bidirectional).
    auto state_step = [&](Index i) {
      const T* qi = q + i * M;
      const T* gi = g + i * E;
      T R = 0;
      for (Index f = 0; f < M; ++f) {
        St[f] = lr ? S[f] + eps : S[f];
        R = R + qi[f] * St[f];
      }
      if (in.guard == Guard::gr) R = guard_gr(R, eps);
      T* dWi = &dW[static_cast<std::size_t>(i) * Es];
      for (Index c = 0; c < E; ++c) dWi[c] = gi[c] / R;
      std::fill(w.begin(), w.end(), zero);
      std::fill(acc.begin(), acc.end(), zero);
      for (Index f = 0; f < M; ++f) axpy(w.data(), qi[f], &P[static_cast<std::size_t>(f * E)], E);
      for (Index c = 0; c < E; ++c) axpy(acc.data(), dWi[c], &PT[static_cast<std::size_t>(c * M)], M);
      T g_out = 0;
      for (Index c = 0; c < E; ++c) g_out = g_out + gi[c] * (w[c] / R);
      const T dRi = zero - g_out / R;
      dR[static_cast<std::size_t>(i)] = dRi;
      for (Index f = 0; f < M; ++f) dq[i * M + f] = acc[f] + dRi * St[f];
    };
    if (stored) {
      // kVjpSteps positions per pass over P and PT: key i enters S, P and PT, and step i reads R, W
      // and dq from them, as one position at a time.
      std::vector<T> Stb(static_cast<std::size_t>(kVjpSteps) * Ms), wb(static_cast<std::size_t>(kVjpSteps) * Es),
          accb(static_cast<std::size_t>(kVjpSteps) * Ms);
      for (Index i0 = 0; i0 < L; i0 += kVjpSteps) {
        const int nb = static_cast<int>(std::min<Index>(kVjpSteps, L - i0));
        T Rb[kVjpSteps], a[kVjpSteps], bc[kVjpSteps];
        const T* xs[kVjpSteps];
        T* accs[kVjpSteps];
        for (int s_ = 0; s_ < nb; ++s_) {
          const Index i = i0 + s_;
          const T* qi = q + i * M;
          const T* ki = k + i * M;
          T* St_ = &Stb[static_cast<std::size_t>(s_) * Ms];
          T R = 0;
          for (Index f = 0; f < M; ++f) {
            S[f] = S[f] + ki[f];
            St_[f] = lr ? S[f] + eps : S[f];
            R = R + qi[f] * St_[f];
          }
          if (in.guard == Guard::gr) R = guard_gr(R, eps);
          Rb[s_] = R;
          T* dWi = &dW[static_cast<std::size_t>(i) * Es];
          for (Index c = 0; c < E; ++c) dWi[c] = g[i * E + c] / R;
        }
        std::fill(wb.begin(), wb.end(), zero);
        std::fill(accb.begin(), accb.end(), zero);
        for (int s_ = 0; s_ < nb; ++s_) {
          xs[s_] = v + (i0 + s_) * E;
          accs[s_] = &wb[static_cast<std::size_t>(s_) * Es];
        }
        for (Index f = 0; f < M; ++f) {
          for (int s_ = 0; s_ < nb; ++s_) a[s_] = k[(i0 + s_) * M + f], bc[s_] = q[(i0 + s_) * M + f];
          axpy_then_axpy_steps(nb, &P[static_cast<std::size_t>(f * E)], a, xs, accs, bc, E);
        }
        for (int s_ = 0; s_ < nb; ++s_) {
          xs[s_] = k + (i0 + s_) * M;
          accs[s_] = &accb[static_cast<std::size_t>(s_) * Ms];
        }
        for (Index c = 0; c < E; ++c) {
          for (int s_ = 0; s_ < nb; ++s_) a[s_] = v[(i0 + s_) * E + c], bc[s_] = dW[static_cast<std::size_t>(i0 + s_) * Es + c];
          axpy_then_axpy_steps(nb, &PT[static_cast<std::size_t>(c * M)], a, xs, accs, bc, M);
        }
        for (int s_ = 0; s_ < nb; ++s_) {
          const Index i = i0 + s_;
          const T R = Rb[s_];
          const T* w_ = &wb[static_cast<std::size_t>(s_) * Es];
          const T* acc_ = &accb[static_cast<std::size_t>(s_) * Ms];
          const T* St_ = &Stb[static_cast<std::size_t>(s_) * Ms];
          T g_out = 0;
          for (Index c = 0; c < E; ++c) g_out = g_out + g[i * E + c] * (w_[c] / R);
          const T dRi = zero - g_out / R;
          dR[static_cast<std::size_t>(i)] = dRi;
          for (Index f = 0; f < M; ++f) dq[i * M + f] = acc_[f] + dRi * St_[f];
        }
      }
    } else {
      for (Index j = 0; j < L; ++j) {
        const T* kj = k + j * M;
        const T* vj = v + j * E;
        for (Index f = 0; f < M; ++f) {
          S[f] = S[f] + kj[f];
          axpy(&P[static_cast<std::size_t>(f * E)], kj[f], vj, E);
        }
        for (Index c = 0; c < E; ++c) axpy(&PT[static_cast<std::size_t>(c * M)], vj[c], kj, M);
      }
      for (Index i = L - 1; i >= 0; --i) {
        state_step(i);
        if (causal) {  // subtraction: the state of step i - 1
          const T* ki = k + i * M;
          const T* vi = v + i * E;
          for (Index f = 0; f < M; ++f) {
            S[f] = S[f] - ki[f];
            for (Index c = 0; c < E; ++c) P[static_cast<std::size_t>(f * E + c)] -= ki[f] * vi[c];
          }
          for (Index c = 0; c < E; ++c)
            for (Index f = 0; f < M; ++f) PT[static_cast<std::size_t>(c * M + f)] -= ki[f] * vi[c];
        }
      }
    }
    // The suffix sums, descending: C += q_i dW_i^T, D += dR_i q_i, then (causal) dk_i, dv_i.
    std::vector<T> C(ME, zero), CT(ME, zero), D(Ms, zero);
    // Bidirectional: dk_j, dv_j from the complete suffix sums.
    auto key_grads = [&](Index j) {
      const T* vj = v + j * E;
      const T* kj = k + j * M;
      std::fill(acc.begin(), acc.end(), zero);
      std::fill(accE.begin(), accE.end(), zero);
      for (Index f = 0; f < M; ++f) axpy(accE.data(), kj[f], &C[static_cast<std::size_t>(f * E)], E);
      for (Index c = 0; c < E; ++c) axpy(acc.data(), vj[c], &CT[static_cast<std::size_t>(c * M)], M);
      for (Index f = 0; f < M; ++f) dk[j * M + f] = acc[f] + D[f];
      for (Index c = 0; c < E; ++c) dv[j * E + c] = accE[c];
    };
    if (causal) {
      // kVjpSteps positions (descending) per pass over C and CT, as one position at a time: D
      // after each step is kept for that step's dk.
      std::vector<T> Db(static_cast<std::size_t>(kVjpSteps) * Ms), accb(static_cast<std::size_t>(kVjpSteps) * Ms),
          accEb(static_cast<std::size_t>(kVjpSteps) * Es);
      for (Index i0 = L - 1; i0 >= 0; i0 -= kVjpSteps) {
        const int nb = static_cast<int>(std::min<Index>(kVjpSteps, i0 + 1));
        T a[kVjpSteps], bc[kVjpSteps];
        const T* xs[kVjpSteps];
        T* accs[kVjpSteps];
        for (int s_ = 0; s_ < nb; ++s_) {
          const Index i = i0 - s_;
          const T dRi = dR[static_cast<std::size_t>(i)];
          for (Index f = 0; f < M; ++f) D[f] = D[f] + dRi * q[i * M + f];
          std::copy(D.begin(), D.end(), Db.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(s_) * Ms));
        }
        std::fill(accb.begin(), accb.end(), zero);
        std::fill(accEb.begin(), accEb.end(), zero);
        for (int s_ = 0; s_ < nb; ++s_) {
          xs[s_] = &dW[static_cast<std::size_t>(i0 - s_) * Es];
          accs[s_] = &accEb[static_cast<std::size_t>(s_) * Es];
        }
        for (Index f = 0; f < M; ++f) {
          for (int s_ = 0; s_ < nb; ++s_) a[s_] = q[(i0 - s_) * M + f], bc[s_] = k[(i0 - s_) * M + f];
          axpy_then_axpy_steps(nb, &C[static_cast<std::size_t>(f * E)], a, xs, accs, bc, E);
        }
        for (int s_ = 0; s_ < nb; ++s_) {
          xs[s_] = q + (i0 - s_) * M;
          accs[s_] = &accb[static_cast<std::size_t>(s_) * Ms];
        }
        for (Index c = 0; c < E; ++c) {
          for (int s_ = 0; s_ < nb; ++s_) a[s_] = dW[static_cast<std::size_t>(i0 - s_) * Es + c], bc[s_] = v[(i0 - s_) * E + c];
          axpy_then_axpy_steps(nb, &CT[static_cast<std::size_t>(c * M)], a, xs, accs, bc, M);
        }
        for (int s_ = 0; s_ < nb; ++s_) {
          const Index i = i0 - s_;
          for (Index f = 0; f < M; ++f)
            dk[i * M + f] = accb[static_cast<std::size_t>(s_) * Ms + f] + Db[static_cast<std::size_t>(s_) * Ms + f];
          for (Index c = 0; c < E; ++c) dv[i * E + c] = accEb[static_cast<std::size_t>(s_) * Es + c];
        }
      }
    } else {
      for (Index i = L - 1; i >= 0; --i) {
        const T* qi = q + i * M;
        const T* dWi = &dW[static_cast<std::size_t>(i) * Es];
        const T dRi = dR[static_cast<std::size_t>(i)];
        for (Index f = 0; f < M; ++f) {
          D[f] = D[f] + dRi * qi[f];
          axpy(&C[static_cast<std::size_t>(f * E)], qi[f], dWi, E);
        }
        for (Index c = 0; c < E; ++c) axpy(&CT[static_cast<std::size_t>(c * M)], dWi[c], qi, M);
      }
      for (Index j = 0; j < L; ++j) key_grads(j);
    }
  });
  return grads;
}

template <class T>
Tensor<T> features_dispatch(const FeatureProblem<T>& p, int threads) {
  return p.in().map == FeatureMap::trig ? favor_plus_features_t(p, threads) : fast_features(p, threads);
}
template <class T>
Tensor<T> features_vjp_dispatch(const FeatureBackwardProblem<T>& p, int threads) {
  return p.fwd().in().map == FeatureMap::trig ? favor_plus_features_vjp_t(p, threads) : fast_features_vjp(p, threads);
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
Tensor<float> favor_plus_features(const FeatureProblem<float>& p, int threads) { return features_dispatch(p, threads); }
Tensor<double> favor_plus_features(const FeatureProblem<double>& p, int threads) { return features_dispatch(p, threads); }
Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p, int threads) {
  return features_vjp_dispatch(p, threads);
}
Tensor<double> favor_plus_features_vjp(const FeatureBackwardProblem<double>& p, int threads) {
  return features_vjp_dispatch(p, threads);
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
Tensor<float> linear_attention(const LinearProblem<float>& p, int threads) { return fast_linear(p, threads); }
Tensor<double> linear_attention(const LinearProblem<double>& p, int threads) { return fast_linear(p, threads); }
AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p, int threads) {
  return fast_linear_vjp(p, threads);
}
AttentionGrads<double> linear_attention_vjp(const LinearBackwardProblem<double>& p, int threads) {
  return fast_linear_vjp(p, threads);
}

namespace generic {
Tensor<float> favor_plus_features(const FeatureProblem<float>& p, int threads) { return favor_plus_features_t(p, threads); }
Tensor<double> favor_plus_features(const FeatureProblem<double>& p, int threads) { return favor_plus_features_t(p, threads); }
Tensor<float> favor_plus_features_vjp(const FeatureBackwardProblem<float>& p, int threads) {
  return favor_plus_features_vjp_t(p, threads);
}
Tensor<double> favor_plus_features_vjp(const FeatureBackwardProblem<double>& p, int threads) {
  return favor_plus_features_vjp_t(p, threads);
}
Tensor<float> linear_attention(const LinearProblem<float>& p, int threads) { return linear_attention_t(p, threads); }
Tensor<double> linear_attention(const LinearProblem<double>& p, int threads) { return linear_attention_t(p, threads); }
AttentionGrads<float> linear_attention_vjp(const LinearBackwardProblem<float>& p, int threads) {
  return linear_attention_vjp_t(p, threads);
}
AttentionGrads<double> linear_attention_vjp(const LinearBackwardProblem<double>& p, int threads) {
  return linear_attention_vjp_t(p, threads);
}
}  // namespace generic

}  // namespace touchstone::performer::cpu
