// SLiM's layer (spec/performer.md [PERF-SLIM-DEF], [PERF-SLIM-VJP], [PERF-SLIM-CPU],
// [PERF-SLIM-BOUND]): slices against full backprop, the oracle against central differences, and
// wrong answers that `diff` must fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cmath>
#include <functional>
#include <string>

#include "../diff_verdict.hpp"
#include "builtin.hpp"
#include "common/native_arithmetic.hpp"
#include "cpu/performer_slim.hpp"
#include "touchstone/bounds/performer_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/verdict.hpp"
#include "touchstone/order/performer_order.hpp"
#include "touchstone/reference/performer_slim.hpp"

using namespace touchstone;
using namespace touchstone::performer;
using touchstone::test_support::diff_verdict;

namespace {

Tensor<double> drawn(Shape s, std::uint64_t seed, const char* name, double scale = 1) {
  PhiloxStream r(seed, std::string("performer_slim_test/") + name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(scale * r.next_normal(), Format::float32);
  return t;
}

// A layer of L positions, d_model D, d_head Dh, M features (0: no projection).
SlimLayerInputs<double> layer(Index L, Index D, Index Dh, Index M, Kernel f, std::uint64_t seed) {
  const double wd = 1 / std::sqrt(static_cast<double>(D)), wo = 1 / std::sqrt(static_cast<double>(Dh));
  std::optional<Tensor<double>> w;
  if (M > 0) w = drawn(Shape{M, Dh}, seed, "w");
  return {drawn(Shape{L, D}, seed, "x"),
          drawn(Shape{D, Dh}, seed, "w_q", wd),
          drawn(Shape{D, Dh}, seed, "w_k", wd),
          drawn(Shape{D, Dh}, seed, "w_v", wd),
          std::move(w),
          drawn(Shape{Dh, D}, seed, "w_o", wo),
          drawn(Shape{L, D}, seed, "dy"),
          f,
          round_to_format(1e-3, Format::float32)};
}

template <class T>
std::array<const Tensor<T>*, 5> parts(const SlimLayerGrads<T>& g) {
  return {&g.dx, &g.dw_q, &g.dw_k, &g.dw_v, &g.dw_o};
}
const char* const kNames[] = {"dx", "dw_q", "dw_k", "dw_v", "dw_o"};

template <class T>
void expect_same(const SlimLayerGrads<T>& a, const SlimLayerGrads<T>& b, const std::string& what) {
  const auto x = parts(a), y = parts(b);
  for (int t = 0; t < 5; ++t)
    for (Index i = 0; i < x[t]->count(); ++i)
      ASSERT_EQ((*x[t])[i], (*y[t])[i]) << what << " " << kNames[t] << " element " << i;
}

// Whether every element of `got` is within the bound of the exact gradients (and every bound
// finite): the check a backend's own-order bound must pass.
template <class T>
bool within(const SlimLayerGrads<T>& got, const SlimLayerGrads<mp_real>& exact, const SlimLayerGrads<double>& bound,
            std::string* why) {
  const auto g = parts(got);
  const auto e = parts(exact);
  const auto b = parts(bound);
  for (int t = 0; t < 5; ++t)
    for (Index i = 0; i < g[t]->count(); ++i) {
      const double err = std::fabs(to_double(mp_real(static_cast<double>((*g[t])[i])) - (*e[t])[i]));
      if (!std::isfinite((*b[t])[i]) || !(err <= (*b[t])[i])) {
        if (why) *why = std::string(kNames[t]) + " element " + std::to_string(i) + ": error " + std::to_string(err) +
                        " bound " + std::to_string((*b[t])[i]);
        return false;
      }
    }
  return true;
}

// The layer's arithmetic on double with the state of one slice stale (a SLiM implementation that
// forgets to subtract the keys of the rows [stale_lo, stale_hi] from the carried prefix state):
// the order's subtractions of those rows are skipped. Per row the order makes 1 + M (1 + Dh)
// subtractions, dR's first, then the state's, rows from the last.
struct StaleArithmetic : cpu_common::NativeArithmetic<double> {
  using V = double;
  Index L, M, Dh, stale_lo, stale_hi;
  Index calls = 0;
  static V constant(double c, double) { return c; }
  static V kernel(Kernel f, V t) { return reference::generalized_kernel_fn(f, t); }
  static V kernel_derivative(Kernel f, V t) { return reference::generalized_kernel_derivative(f, t); }
  V sub(V a, V b) {
    const Index per_row = 1 + M * (1 + Dh), row = L - 1 - calls / per_row, k = calls % per_row;
    ++calls;
    if (k > 0 && row >= stale_lo && row <= stale_hi) return a;
    return a - b;
  }
};

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
  void dx(Index i, Index d, double v) { g.dx(i, d) = v; }
  void dw_q(Index d, Index e, double v) { g.dw_q(d, e) = v; }
  void dw_k(Index d, Index e, double v) { g.dw_k(d, e) = v; }
  void dw_v(Index d, Index e, double v) { g.dw_v(d, e) = v; }
  void dw_o(Index e, Index d, double v) { g.dw_o(e, d) = v; }
};

Arrays as_arrays(const SlimLayerGrads<double>& g) {
  Arrays a;
  const auto p = parts(g);
  for (int t = 0; t < 5; ++t) {
    Tensor<double> r(p[t]->shape());
    for (Index i = 0; i < r.count(); ++i) r[i] = round_to_format((*p[t])[i], Format::float32);
    a[kNames[t]] = r;
  }
  return a;
}
SlimLayerGrads<double> to_double_grads(const SlimLayerGrads<mp_real>& g) {
  auto conv = [](const Tensor<mp_real>& t) {
    Tensor<double> r(t.shape());
    for (Index i = 0; i < t.count(); ++i) r[i] = to_double(t[i]);
    return r;
  };
  return {conv(g.dx), conv(g.dw_q), conv(g.dw_k), conv(g.dw_v), conv(g.dw_o)};
}

}  // namespace

// covers: PERF-SLIM-CPU PERF-SLIM-BOUND
// Slice by slice (slice = C, state recovered by subtraction) equals the unsliced subtraction form
// bit for bit in float32 and float64, and so do the own-order and any-order bounds, for C = 1, a C
// that does not divide L, C = L and C > L. Every one of them and the stored form (full backprop)
// is within its own bound of the exact gradients, with every bound finite. The bitwise check can
// fail: the stored form differs from the subtraction form in its last bits.
TEST(PerformerSlim, SlicesEqualFullBackpropWithinBound) {
  const Index L = 37;
  for (const auto& [Dh, M, f] : {std::tuple{Index{4}, Index{6}, Kernel::exp}, std::tuple{Index{5}, Index{0}, Kernel::sqr}}) {
    SCOPED_TRACE(M > 0 ? "exp with a projection" : "sqr without a projection");
    SlimLayerInputs<double> base = layer(L, 6, Dh, M, f, 7);
    SlimLayerInputs<double> sub_in = base;
    sub_in.subtraction = true;
    const SlimLayerProblem<double> stored(base), sub(sub_in);
    const SlimLayerGrads<mp_real> exact = reference::slim_layer_vjp<mp_real>(stored);
    const auto s32 = cpu::slim_layer_vjp(sub.cast<float>());
    const auto s64 = cpu::slim_layer_vjp(sub);
    const auto b32 = slim_layer_vjp_bound(sub, performer_arithmetic_cpu(Format::float32));
    const auto b64 = slim_layer_vjp_bound(sub, performer_arithmetic_cpu(Format::float64));
    const auto ba = slim_layer_vjp_bound(sub, performer_arithmetic_any_order(Format::float32, 1.0));
    std::string why;
    EXPECT_TRUE(within(s32, exact, b32, &why)) << "float32 subtraction: " << why;
    EXPECT_TRUE(within(s64, exact, b64, &why)) << "float64 subtraction: " << why;
    EXPECT_TRUE(within(s32, exact, ba, &why)) << "float32 subtraction, any-order bound: " << why;
    for (Index C : {Index{1}, Index{7}, L, L + 5}) {
      SlimLayerInputs<double> in = sub_in;
      in.slice = C;
      const SlimLayerProblem<double> sliced(in);
      const std::string c = " C " + std::to_string(C);
      expect_same(cpu::slim_layer_vjp(sliced.cast<float>()), s32, "float32" + c);
      expect_same(cpu::slim_layer_vjp(sliced), s64, "float64" + c);
      expect_same(slim_layer_vjp_bound(sliced, performer_arithmetic_cpu(Format::float32)), b32, "bound" + c);
      expect_same(slim_layer_vjp_bound(sliced, performer_arithmetic_any_order(Format::float32, 1.0)), ba,
                  "any-order bound" + c);
    }
    const auto f32 = cpu::slim_layer_vjp(stored.cast<float>());
    EXPECT_TRUE(within(f32, exact, slim_layer_vjp_bound(stored, performer_arithmetic_cpu(Format::float32)), &why))
        << "float32 stored: " << why;
    EXPECT_TRUE(within(cpu::slim_layer_vjp(stored), exact,
                       slim_layer_vjp_bound(stored, performer_arithmetic_cpu(Format::float64)), &why))
        << "float64 stored: " << why;
    bool differs = false;
    for (Index i = 0; i < f32.dx.count(); ++i) differs = differs || f32.dx[i] != s32.dx[i];
    EXPECT_TRUE(differs) << "the bitwise comparison can tell the stored form from the subtraction form";
    // The within() check can fail: the float32 result with one element of dx twice its bound away
    // from the exact value.
    SlimLayerGrads<float> off = s32;
    off.dx[3] = static_cast<float>(to_double(exact.dx[3]) + 2 * b32.dx[3]);
    EXPECT_FALSE(within(off, exact, b32, nullptr));
    std::printf("%s: dx[3] = %.4g, float32 subtraction bound %.3g (%.2g relative), stored bound %.3g\n",
                M > 0 ? "exp" : "sqr", to_double(exact.dx[3]), b32.dx[3], b32.dx[3] / std::fabs(to_double(exact.dx[3])),
                slim_layer_vjp_bound(stored, performer_arithmetic_cpu(Format::float32)).dx[3]);
  }
}

// covers: PERF-SLIM-DEF PERF-SLIM-VJP
// The oracle's gradients are the derivatives of <dy, y(x, W)>: central differences of the forward
// oracle (binary64, h = 1e-6 relative to the scale of the element) agree with every element of dx
// and of the four weight gradients within 1e-6 of the gradient's scale (truncation h^2 |f'''|/6
// ~ 1e-12, rounding ~ 2^-52 |loss| / h ~ 1e-9). A gradient 0.1% off, or dw_q given for dw_k, is
// further than that: the check can fail.
TEST(PerformerSlim, OracleMatchesCentralDifferences) {
  for (const auto& [M, f] : {std::pair{Index{5}, Kernel::exp}, std::pair{Index{0}, Kernel::sqr},
                             std::pair{Index{6}, Kernel::elu1}}) {
    SCOPED_TRACE(std::to_string(static_cast<int>(f)));
    const SlimLayerInputs<double> base = layer(9, 5, 4, M, f, 11);
    const SlimLayerGrads<mp_real> g = reference::slim_layer_vjp<mp_real>(SlimLayerProblem<double>(base));
    auto loss = [&](const SlimLayerInputs<double>& in) {
      const Tensor<double> y = reference::slim_layer<double>(SlimLayerProblem<double>(in));
      double s = 0;
      for (Index i = 0; i < y.count(); ++i) s += in.dy[i] * y[i];
      return s;
    };
    // The largest |central difference - claimed| over an array, relative to the array's largest |g|.
    auto worst = [&](Tensor<double> SlimLayerInputs<double>::*member, const Tensor<mp_real>& claimed) {
      double err = 0, scale = 0;
      for (Index i = 0; i < claimed.count(); ++i) scale = std::max(scale, std::fabs(to_double(claimed[i])));
      for (Index i = 0; i < claimed.count(); ++i) {
        SlimLayerInputs<double> plus = base, minus = base;
        const double h = 1e-6 * std::max(1.0, std::fabs((base.*member)[i]));
        (plus.*member)[i] += h;
        (minus.*member)[i] -= h;
        const double cd = (loss(plus) - loss(minus)) / (2 * h);
        err = std::max(err, std::fabs(cd - to_double(claimed[i])));
      }
      return err / scale;
    };
    constexpr double kTol = 1e-6;
    EXPECT_LT(worst(&SlimLayerInputs<double>::x, g.dx), kTol);
    EXPECT_LT(worst(&SlimLayerInputs<double>::w_q, g.dw_q), kTol);
    EXPECT_LT(worst(&SlimLayerInputs<double>::w_k, g.dw_k), kTol);
    EXPECT_LT(worst(&SlimLayerInputs<double>::w_v, g.dw_v), kTol);
    EXPECT_LT(worst(&SlimLayerInputs<double>::w_o, g.dw_o), kTol);
    Tensor<mp_real> off = g.dx;
    for (Index i = 0; i < off.count(); ++i) off[i] = off[i] * mp_real(1.001);
    EXPECT_GT(worst(&SlimLayerInputs<double>::x, off), kTol);
    EXPECT_GT(worst(&SlimLayerInputs<double>::w_k, g.dw_q), kTol);
  }
}

// covers: PERF-SLIM-VJP
// `touchstone diff` on the entry: the exact gradients stored in float32 and the cpu-f32 backend's
// (sliced) pass; wrong answers fail: the gradients of the layer with w_q transposed (d_model =
// d_head), dx without the key path's term dk W_k^T (a dropped term), the gradients with one slice's
// prefix state stale (its keys never subtracted from the carried state), and one element NaN.
TEST(PerformerSlim, DiffFailsWrongAnswers) {
  const Index L = 24, D = 6, Dh = 6, M = 8, C = 5;
  const SlimLayerInputs<double> base = layer(L, D, Dh, M, Kernel::elu1, 5);
  const SlimLayerProblem<double> problem(base);
  Arrays inputs{{"x", base.x},       {"w_q", base.w_q}, {"w_k", base.w_k},
                {"w_v", base.w_v},   {"w_o", base.w_o}, {"dy", base.dy},
                {"projection_matrix", *base.projection}};
  const OptionMap options{{"kernel", "elu1"}, {"kernel_eps", "0.0010000000474974513"}, {"slice", std::to_string(C)}};
  const SlimLayerGrads<double> exact = to_double_grads(reference::slim_layer_vjp<mp_real>(problem));
  const std::string entry = "performer.slim_layer_backward";
  EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(exact), options), Verdict::pass);
  SlimLayerInputs<double> sliced = base;
  sliced.slice = C;
  sliced.subtraction = true;
  const SlimLayerGrads<float> f32 = cpu::slim_layer_vjp(SlimLayerProblem<double>(sliced).cast<float>());
  SlimLayerGrads<double> ours{as_double(f32.dx), as_double(f32.dw_q), as_double(f32.dw_k), as_double(f32.dw_v),
                              as_double(f32.dw_o)};
  EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(ours), options), Verdict::pass);

  // w_q transposed.
  SlimLayerInputs<double> transposed = base;
  for (Index d = 0; d < D; ++d)
    for (Index e = 0; e < Dh; ++e) transposed.w_q(d, e) = base.w_q(e, d);
  EXPECT_EQ(diff_verdict(entry, inputs,
                         as_arrays(to_double_grads(reference::slim_layer_vjp<mp_real>(SlimLayerProblem<double>(transposed)))),
                         options),
            Verdict::fail);
  // dx without its key term dk W_k^T (a dropped term), dk from the oracle's parts.
  {
    const auto parts = reference::slim_layer_vjp_parts<double>(problem);
    SlimLayerGrads<double> g = exact;
    for (Index i = 0; i < L; ++i)
      for (Index d = 0; d < D; ++d)
        for (Index e = 0; e < Dh; ++e) g.dx(i, d) -= parts.dk[i * Dh + e] * base.w_k(d, e);
    EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(g), options), Verdict::fail);
  }
  // One slice's state stale: rows [10, 14] never subtracted from the carried state.
  {
    StaleArithmetic ar;
    ar.L = L, ar.M = M, ar.Dh = Dh, ar.stale_lo = 10, ar.stale_hi = 14;
    SlimLayerGrads<double> g{Tensor<double>(Shape{L, D}), Tensor<double>(Shape{D, Dh}), Tensor<double>(Shape{D, Dh}),
                             Tensor<double>(Shape{D, Dh}), Tensor<double>(Shape{Dh, D})};
    Writer out{g};
    order::slim_layer_vjp(ar, Reader{base}, order::SlimLayerShape{L, D, Dh, M, true, base.kernel, base.kernel_eps, C, true},
                          out);
    EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(g), options), Verdict::fail);
    // The same policy with nothing stale passes: the failure is the stale state.
    StaleArithmetic fresh = ar;
    fresh.calls = 0;
    fresh.stale_lo = fresh.stale_hi = -1;
    order::slim_layer_vjp(fresh, Reader{base},
                          order::SlimLayerShape{L, D, Dh, M, true, base.kernel, base.kernel_eps, C, true}, out);
    EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(g), options), Verdict::pass);
  }
  SlimLayerGrads<double> nan = exact;
  nan.dw_v[3] = std::nan("");
  EXPECT_EQ(diff_verdict(entry, inputs, as_arrays(nan), options), Verdict::fail);
}

// covers: PERF-SLIM-DEF
// Bad input is InvalidInput naming the argument.
TEST(PerformerSlim, InvalidInputNamesTheArgument) {
  auto argument = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const InvalidInput& e) {
      return e.argument();
    }
    return std::string("(nothing thrown)");
  };
  const SlimLayerInputs<double> ok = layer(6, 4, 3, 5, Kernel::exp, 1);
  auto with = [&](auto change) {
    return argument([&] {
      SlimLayerInputs<double> in = ok;
      change(in);
      SlimLayerProblem<double>{in};
    });
  };
  EXPECT_EQ(with([](auto&) {}), "(nothing thrown)");
  EXPECT_EQ(with([](auto& in) { in.w_k = Tensor<double>(Shape{4, 4}, 0.0); }), "w_k");
  EXPECT_EQ(with([](auto& in) { in.w_o = Tensor<double>(Shape{4, 3}, 0.0); }), "w_o");
  EXPECT_EQ(with([](auto& in) { in.projection = Tensor<double>(Shape{5, 4}, 0.0); }), "projection_matrix");
  EXPECT_EQ(with([](auto& in) { in.dy = Tensor<double>(Shape{5, 4}, 0.0); }), "dy");
  EXPECT_EQ(with([](auto& in) { in.x[2] = std::nan(""); }), "x");
  EXPECT_EQ(with([](auto& in) { in.slice = 3; }), "state");
  EXPECT_EQ(with([](auto& in) { in.slice = -1; }), "slice");
  EXPECT_EQ(with([](auto& in) { in.kernel_eps = INFINITY; }), "kernel_eps");
}

namespace {
// A policy whose values count themselves: the peak number of live values (computed numbers held by
// the order: rows, states, accumulators) over a run, what the order holds beyond its inputs and
// outputs. The arithmetic is double's.
struct Counted {
  static inline long live = 0, peak = 0;
  double x = 0;
  Counted(double v = 0) : x(v) { note(); }
  Counted(const Counted& o) : x(o.x) { note(); }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --live; }
  static void note() { peak = std::max(peak, ++live); }
};
struct CountingArithmetic {
  using V = Counted;
  using Acc = Counted;
  static V input(double x) { return x; }
  static V constant(double c, double) { return c; }
  static V add(const V& a, const V& b) { return a.x + b.x; }
  static V sub(const V& a, const V& b) { return a.x - b.x; }
  static V mul(const V& a, const V& b) { return a.x * b.x; }
  static V div(const V& a, const V& b) { return a.x / b.x; }
  static V kernel(Kernel f, const V& t) { return reference::generalized_kernel_fn(f, t.x); }
  static V kernel_derivative(Kernel f, const V& t) { return reference::generalized_kernel_derivative(f, t.x); }
  static Acc acc() { return 0.0; }
  static void accumulate(Acc& s, const V& v) { s.x += v.x; }
  static V total(const Acc& s) { return s; }
};
struct NullWriter {
  void dx(Index, Index, const Counted&) {}
  void dw_q(Index, Index, const Counted&) {}
  void dw_k(Index, Index, const Counted&) {}
  void dw_v(Index, Index, const Counted&) {}
  void dw_o(Index, Index, const Counted&) {}
};
long peak_values(Index L, Index C) {
  const SlimLayerInputs<double> in = layer(L, 4, 3, 5, Kernel::exp, 2);
  CountingArithmetic ar;
  NullWriter out;
  Counted::live = Counted::peak = 0;
  order::slim_layer_vjp(ar, Reader{in}, order::SlimLayerShape{L, 4, 3, 5, true, in.kernel, in.kernel_eps, C, C > 0}, out);
  return Counted::peak;
}
}  // namespace

// covers: PERF-SLIM-MEMORY
// What the order holds, counted: the peak number of live values of [PERF-SLIM-CPU]'s sequence
// (rows, states, cotangents, accumulators; the inputs are read, the outputs written) does not
// depend on L with slices of C (O(C) beyond the inputs: the same count at L = 16, 64 and 256), and
// grows with C; with every prefix state stored (full backprop) it grows with L, so the same
// independence check fails on it. The bench ([PERF-SLIM-MEMORY]'s table) measures the process.
TEST(PerformerSlim, SlicesHoldMemoryIndependentOfL) {
  for (Index C : {Index{1}, Index{4}, Index{16}}) {
    const long at16 = peak_values(16, C);
    EXPECT_EQ(peak_values(64, C), at16) << "C " << C;
    EXPECT_EQ(peak_values(256, C), at16) << "C " << C;
  }
  EXPECT_LT(peak_values(64, 1), peak_values(64, 4));
  EXPECT_LT(peak_values(64, 4), peak_values(64, 16));
  const long full16 = peak_values(16, 0), full64 = peak_values(64, 0), full256 = peak_values(256, 0);
  EXPECT_NE(full64, full16) << "the check can fail: full backprop holds every state";
  EXPECT_GT(full256, 3 * full64);
}

// covers: PERF-SLIM-DEF PERF-SLIM-BOUND
// The forward entry performer.slim_layer: the CPU backends are within their own bounds of the
// oracle (finite bounds), and `diff` passes the exact output and cpu-f32's, and fails y without
// kernel_eps, y with W_o transposed (d_model = d_head), y one position late (row i gets row i - 1's
// output, a causal off-by-one), and the backward problem's forward is the same y.
TEST(PerformerSlim, ForwardWithinBoundAndDiffFailsWrongAnswers) {
  const Index L = 20, D = 6, Dh = 6, M = 7;
  const SlimLayerInputs<double> full = layer(L, D, Dh, M, Kernel::elu1, 3);
  const SlimLayerForwardInputs<double> in{full.x, full.w_q, full.w_k, full.w_v, full.projection, full.w_o, full.kernel,
                                          full.kernel_eps};
  const SlimLayerForwardProblem<double> p(in);
  const Tensor<mp_real> exact = reference::slim_layer<mp_real>(p);
  for (Format f : {Format::float32, Format::float64}) {
    const Tensor<double> got = f == Format::float32 ? as_double(cpu::slim_layer(p.cast<float>())) : cpu::slim_layer(p);
    const Tensor<double> bound = slim_layer_bound(p, performer_arithmetic_cpu(f));
    for (Index i = 0; i < got.count(); ++i) {
      ASSERT_TRUE(std::isfinite(bound[i]));
      EXPECT_LE(std::fabs(to_double(mp_real(got[i]) - exact[i])), bound[i]) << format_name(f) << " element " << i;
    }
  }
  const Tensor<double> y_back = reference::slim_layer<double>(SlimLayerProblem<double>(full)),
                       y_fwd = reference::slim_layer<double>(p);
  for (Index i = 0; i < y_back.count(); ++i) EXPECT_EQ(y_back[i], y_fwd[i]) << i;

  const Arrays inputs{{"x", in.x},     {"w_q", in.w_q}, {"w_k", in.w_k},
                      {"w_v", in.w_v}, {"w_o", in.w_o}, {"projection_matrix", *in.projection}};
  const OptionMap options{{"kernel", "elu1"}, {"kernel_eps", "0.0010000000474974513"}};
  auto stored = [](const Tensor<double>& t) {
    Tensor<double> r(t.shape());
    for (Index i = 0; i < t.count(); ++i) r[i] = round_to_format(t[i], Format::float32);
    return Arrays{{"y", r}};
  };
  auto exact_of = [](const SlimLayerForwardInputs<double>& i) {
    return reference::slim_layer<double>(SlimLayerForwardProblem<double>(i));
  };
  const std::string entry = "performer.slim_layer";
  EXPECT_EQ(diff_verdict(entry, inputs, stored(exact_of(in)), options), Verdict::pass);
  EXPECT_EQ(diff_verdict(entry, inputs, stored(as_double(cpu::slim_layer(p.cast<float>()))), options), Verdict::pass);
  SlimLayerForwardInputs<double> no_eps = in;
  no_eps.kernel_eps = 0;
  EXPECT_EQ(diff_verdict(entry, inputs, stored(exact_of(no_eps)), options), Verdict::fail);
  SlimLayerForwardInputs<double> transposed = in;
  for (Index e = 0; e < Dh; ++e)
    for (Index d = 0; d < D; ++d) transposed.w_o(e, d) = in.w_o(d, e);
  EXPECT_EQ(diff_verdict(entry, inputs, stored(exact_of(transposed)), options), Verdict::fail);
  Tensor<double> late = exact_of(in);
  for (Index i = L - 1; i > 0; --i)
    for (Index d = 0; d < D; ++d) late(i, d) = late(i - 1, d);
  EXPECT_EQ(diff_verdict(entry, inputs, stored(late), options), Verdict::fail);
}
