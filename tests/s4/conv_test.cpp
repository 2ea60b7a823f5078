// s4.causal_conv and s4.ssm_scan: problems and typed errors, the backends against the oracle and
// their bounds (with tightness), NaN semantics, causality, linearity, the conjugate conventions,
// and CNN = RNN (spec/s4_conv.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "../tightness.hpp"
#include "builtin.hpp"
#include "cpu/s4_conv.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/bounds/s4_conv_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor<double> uniform(Shape s, std::uint64_t seed, const char* name, double lo = -1, double hi = 1) {
  PhiloxStream rng(seed, name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
  return t;
}

ConvInputs<double> conv_inputs(Index batch, Index H, Index L, Index Lk, bool D, std::uint64_t seed) {
  ConvInputs<double> in{uniform(Shape{batch, H, L}, seed, "u"), uniform(Shape{H, Lk}, seed, "k"), std::nullopt};
  if (D) in.D = uniform(Shape{H}, seed, "D");
  return in;
}

// Stable random diagonal modes: |dA| <= 0.99.
ScanInputs<double> scan_inputs(Index batch, Index H, Index N, Index L, bool D, Conj conj, std::uint64_t seed) {
  ScanInputs<double> in;
  in.dA = uniform(Shape{H, N, 2}, seed, "dA", -0.7, 0.7);
  in.dB = uniform(Shape{H, N, 2}, seed, "dB");
  in.dC = uniform(Shape{H, N, 2}, seed, "dC");
  in.u = uniform(Shape{batch, H, L}, seed, "u");
  if (D) in.D = uniform(Shape{H}, seed, "D");
  in.conj = conj;
  return in;
}

template <class F>
std::string invalid_argument(F&& make) {
  try {
    make();
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(accepted)";
}

// Judges one backend's output against the oracle and the bound; returns the max ratio.
double judged_ratio(const Tensor<double>& computed, const Tensor<mp_real>& exact,
                    const Tensor<double>& bound, Format f, const std::string& what) {
  const ErrorSummary s = compare(what, computed, exact, &bound, f);
  EXPECT_EQ(s.outside, 0) << what << ": worst computed " << s.worst_computed << " exact "
                           << s.worst_exact << " bound " << s.worst_bound;
  return s.max_ratio;
}

double conv_ratio(const ConvProblem<double>& p, const std::string& what) {
  WorkingPrecision wp(256);
  const Tensor<mp_real> exact = reference::causal_conv<mp_real>(p);
  const double r32 = judged_ratio(cpu::causal_conv(p.cast<float>()).cast<double>(), exact,
                                  causal_conv_bound(p, Format::float32), Format::float32, what + " f32");
  const double r64 = judged_ratio(cpu::causal_conv(p), exact, causal_conv_bound(p, Format::float64),
                                  Format::float64, what + " f64");
  std::printf("%-40s ratio f32 %.3e f64 %.3e\n", what.c_str(), r32, r64);
  return std::max(r32, r64);
}

}  // namespace

// covers: S4CONV-CONV-SHAPES
TEST(ConvProblem, InvalidInputNamesTheArgument) {
  EXPECT_EQ(invalid_argument([] { ConvProblem<double> p(conv_inputs(2, 3, 5, 4, true, 1)); }), "(accepted)");
  EXPECT_EQ(invalid_argument([] {
              auto in = conv_inputs(2, 3, 5, 4, true, 1);
              in.u = Tensor<double>(Shape{3, 5});
              ConvProblem<double> p(in);
            }),
            "u");
  EXPECT_EQ(invalid_argument([] {
              auto in = conv_inputs(2, 3, 5, 4, true, 1);
              in.k = Tensor<double>(Shape{2, 4});
              ConvProblem<double> p(in);
            }),
            "k");
  EXPECT_EQ(invalid_argument([] {
              auto in = conv_inputs(2, 3, 5, 4, true, 1);
              in.k = Tensor<double>(Shape{3, 0});
              ConvProblem<double> p(in);
            }),
            "k");
  EXPECT_EQ(invalid_argument([] {
              auto in = conv_inputs(2, 3, 5, 4, true, 1);
              in.D = Tensor<double>(Shape{2});
              ConvProblem<double> p(in);
            }),
            "D");
  EXPECT_EQ(invalid_argument([] {
              auto in = conv_inputs(1, 1, 1, 1, false, 1);
              in.u = Tensor<double>(Shape{1, 1, 0});
              ConvProblem<double> p(in);
            }),
            "u");
  // The registry's reader names the array too.
  const Algorithm& a = builtin_registry().get("s4.causal_conv");
  NpyMap arrays;
  arrays["u"].values = Tensor<double>(Shape{1, 2, 3});
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {}); }), "k");
  arrays["k"].values = Tensor<double>(Shape{2, 3});
  arrays["bogus"].values = Tensor<double>(Shape{1});
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {}); }), "bogus");
  arrays.erase("bogus");
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {{"L", "3"}}); }), "L");
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {}); }), "(accepted)");
}

// covers: S4CONV-CONV-DEF S4CONV-CONV-FFT S4CONV-CONV-BOUND
TEST(CausalConv, BackendsWithinBoundOnRaggedShapes) {
  double worst = 0;
  // L = 1; kernels shorter and longer than L; padded lengths 1 .. 128.
  const Index shapes[][4] = {{1, 1, 1, 1}, {1, 2, 1, 3}, {2, 3, 5, 2}, {1, 2, 16, 16},
                             {2, 2, 17, 40}, {1, 3, 33, 7}, {1, 1, 64, 64}};
  for (const auto& s : shapes)
    for (const bool D : {false, true}) {
      const ConvProblem<double> p(conv_inputs(s[0], s[1], s[2], s[3], D, static_cast<std::uint64_t>(s[2] * 10 + D)));
      worst = std::max(worst, conv_ratio(p, "random " + p.in().u.shape().str() + " Lk=" +
                                                std::to_string(s[3]) + (D ? " D" : "")));
    }
  EXPECT_GT(worst, kVacuousRatio);
}

// covers: S4CONV-CONV-BOUND
TEST(CausalConv, AlignedInputsAreTheTightCase) {
  // Positive u and k: every term of every output has the same sign, so y_t grows like t and the
  // FFT's intermediate errors are largest relative to the norms.
  double worst = 0;
  for (const Index L : {4, 16, 100}) {
    ConvInputs<double> in = conv_inputs(1, 2, L, L, false, 5);
    for (auto* t : {&in.u, &in.k})
      for (Index i = 0; i < t->count(); ++i) (*t)[i] = std::fabs((*t)[i]) + 0.5f;
    worst = std::max(worst, conv_ratio(ConvProblem<double>(in), "aligned L=" + std::to_string(L)));
  }
  EXPECT_GT(worst, kVacuousRatio);
}

// covers: S4CONV-CONV-NONFINITE S4CONV-CONV-BOUND-DIRECT
TEST(CausalConv, NonFiniteRowsTakeTheDirectSum) {
  ConvInputs<double> in = conv_inputs(2, 2, 12, 5, true, 9);
  in.u(0, 0, 4) = kNaN;   // row (0,0): y_t NaN for 4 <= t < 4 + Lk = 9, finite elsewhere
  in.u(1, 1, 7) = kInf;   // row (1,1): Inf from 7 (or NaN where terms of both signs meet)
  const ConvProblem<double> p(in);
  WorkingPrecision wp(256);
  const Tensor<mp_real> exact = reference::causal_conv<mp_real>(p);
  for (const Format f : {Format::float32, Format::float64}) {
    const Tensor<double> y = f == Format::float32 ? cpu::causal_conv(p.cast<float>()).cast<double>()
                                                  : cpu::causal_conv(p);
    const Tensor<double> b = causal_conv_bound(p, f);
    const ErrorSummary s = compare("y", y, exact, &b, f);
    EXPECT_EQ(s.outside, 0);
    for (Index t = 0; t < 4; ++t) {
      EXPECT_TRUE(std::isfinite(y(0, 0, t)));
      EXPECT_TRUE(std::isfinite(b(Index{0}, Index{0}, t)));
    }
    for (Index t = 4; t < 9; ++t) EXPECT_TRUE(std::isnan(y(0, 0, t)));
    for (Index t = 9; t < 12; ++t) EXPECT_TRUE(std::isfinite(y(0, 0, t)));
    for (Index t = 7; t < 12; ++t) EXPECT_FALSE(std::isfinite(y(1, 1, t)));
    // The rows without non-finite inputs are untouched (FFT path, finite).
    for (Index t = 0; t < 12; ++t) EXPECT_TRUE(std::isfinite(y(0, 1, t)));
  }
  // A NaN D makes every output of its channel NaN (D u_t is in every output).
  in = conv_inputs(1, 2, 6, 6, true, 3);
  in.D->values()[1] = kNaN;
  const Tensor<double> y = cpu::causal_conv(ConvProblem<double>(in));
  for (Index t = 0; t < 6; ++t) {
    EXPECT_TRUE(std::isnan(y(0, 1, t)));
    EXPECT_TRUE(std::isfinite(y(0, 0, t)));
  }
}

// covers: S4CONV-CONV-CAUSAL
TEST(CausalConv, CausalityAndLinearity) {
  // Changing u after t0 leaves y before t0 bit-identical in the direct path and within the bound
  // of the same exact values in the FFT path (whose rounding mixes all positions); here we check
  // the exact statement on the oracle and the backends' outputs against the unchanged oracle.
  ConvInputs<double> in = conv_inputs(1, 2, 20, 20, true, 4);
  const ConvProblem<double> p(in);
  for (Index t = 10; t < 20; ++t) in.u(0, 1, t) = 0.5f * in.u(0, 1, t) + 0.25f;
  const ConvProblem<double> q(in);
  WorkingPrecision wp(256);
  const Tensor<mp_real> ep = reference::causal_conv<mp_real>(p), eq = reference::causal_conv<mp_real>(q);
  for (Index h = 0; h < 2; ++h)
    for (Index t = 0; t < 10; ++t) EXPECT_TRUE(ep(Index{0}, h, t) == eq(Index{0}, h, t));
  // The backend on q, judged against p's oracle on t < 10 with q's bound: the prefix does not
  // see the change.
  const Tensor<double> yq = cpu::causal_conv(q), bq = causal_conv_bound(q, Format::float64);
  for (Index t = 0; t < 10; ++t)
    EXPECT_LE(to_double(abs(mp_real(yq(0, 1, t)) - ep(Index{0}, Index{1}, t))), bq(Index{0}, Index{1}, t));
  // Linearity in u (exact): conv(2u + v) = 2 conv(u) + conv(v) without D.
  ConvInputs<double> a = conv_inputs(1, 1, 9, 4, false, 6), b = conv_inputs(1, 1, 9, 4, false, 7);
  b.k = a.k;
  ConvInputs<double> c = a;
  for (Index i = 0; i < c.u.count(); ++i) c.u[i] = 2 * a.u[i] + b.u[i];
  const auto ya = reference::causal_conv<mp_real>(ConvProblem<double>(a));
  const auto yb = reference::causal_conv<mp_real>(ConvProblem<double>(b));
  const auto yc = reference::causal_conv<mp_real>(ConvProblem<double>(c));
  for (Index i = 0; i < yc.count(); ++i) EXPECT_TRUE(yc[i] == 2 * ya[i] + yb[i]);
}

// covers: S4CONV-CONV-DEFAULTS S4CONV-SCAN-DEFAULTS S4CONV-CONV-BOUND-ANY S4CONV-CONV-BOUND-EVAL
TEST(S4ConvRegistry, DefaultProblemsPassEveryBackend) {
  for (const char* name : {"s4.causal_conv", "s4.ssm_scan"}) {
    const Algorithm& a = builtin_registry().get(name);
    double worst = 0;
    for (const std::string& size : a.sizes()) {
      const auto h = a.generate(size, Format::float32, 1);
      const ExactArrays exact = a.reference(*h, 256);
      for (const BackendSpec& b : a.backends()) {
        if (!b.unavailable_reason().empty()) continue;
        const Arrays out = b.run(*h), bound = b.bound(*h);
        for (const auto& j : judge(out, exact, &bound, b.format)) {
          EXPECT_EQ(j.summary.outside, 0) << name << " " << size << " " << b.name << " " << j.output;
          worst = std::max(worst, j.summary.max_ratio);
          std::printf("%-16s %-7s %-8s %-11s ratio %.3e\n", name, size.c_str(), b.name.c_str(),
                      j.output.c_str(), j.summary.max_ratio);
        }
      }
      // any_order_bound covers the backends too (they are one of the orders it allows).
      const Arrays any = a.any_order_bound(*h, Format::float32, 1);
      const Arrays out = a.backends()[0].run(*h);
      for (const auto& j : judge(out, exact, &any, Format::float32)) EXPECT_EQ(j.summary.outside, 0) << name;
    }
    EXPECT_GT(worst, kVacuousRatio) << name;
  }
}

// covers: S4CONV-SCAN-SHAPES S4CONV-SCAN-CONJ
TEST(ScanProblem, InvalidInputNamesTheArgument) {
  EXPECT_EQ(invalid_argument([] { ScanProblem<double> p(scan_inputs(1, 2, 3, 4, true, Conj::full, 1)); }), "(accepted)");
  EXPECT_EQ(invalid_argument([] {
              auto in = scan_inputs(1, 2, 3, 4, true, Conj::full, 1);
              in.dA = Tensor<double>(Shape{2, 3});
              ScanProblem<double> p(in);
            }),
            "dA");
  EXPECT_EQ(invalid_argument([] {
              auto in = scan_inputs(1, 2, 3, 4, true, Conj::full, 1);
              in.dB = Tensor<double>(Shape{2, 2, 2});
              ScanProblem<double> p(in);
            }),
            "dB");
  EXPECT_EQ(invalid_argument([] {
              auto in = scan_inputs(1, 2, 3, 4, true, Conj::full, 1);
              in.dC = Tensor<double>(Shape{3, 3, 2});
              ScanProblem<double> p(in);
            }),
            "dC");
  EXPECT_EQ(invalid_argument([] {
              auto in = scan_inputs(1, 2, 3, 4, true, Conj::full, 1);
              in.D = Tensor<double>(Shape{3});
              ScanProblem<double> p(in);
            }),
            "D");
  EXPECT_EQ(invalid_argument([] { parse_conj("half"); }), "conj");
  const Algorithm& a = builtin_registry().get("s4.ssm_scan");
  const auto h = a.generate("small", Format::float32, 1);
  NpyMap arrays;
  for (const auto& [name, t] : h->inputs()) arrays[name].values = t;
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {{"conj", "both"}}); }), "conj");
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {{"conj", "full"}}); }), "(accepted)");
  arrays.erase("dC");
  EXPECT_EQ(invalid_argument([&] { a.from_arrays(arrays, {}); }), "dC");
}

// covers: S4CONV-SCAN-DEF S4CONV-SCAN-CPU S4CONV-SCAN-BOUND S4CONV-SCAN-BOUND-ANY
TEST(SsmScan, BackendsWithinBound) {
  double worst = 0;
  for (const Conj conj : {Conj::halves, Conj::full})
    for (const Index L : {1, 7, 64}) {
      const ScanProblem<double> p(scan_inputs(2, 2, 5, L, L != 7, conj, static_cast<std::uint64_t>(L)));
      WorkingPrecision wp(256);
      const ScanResult<mp_real> e = reference::ssm_scan<mp_real>(p);
      const auto r32 = cpu::ssm_scan(p.cast<float>());
      const auto r64 = cpu::ssm_scan(p);
      const auto b32 = ssm_scan_bound(p, Format::float32), b64 = ssm_scan_bound(p, Format::float64);
      const auto a32 = ssm_scan_any_order_bound(p, Format::float32);
      const double ry = judged_ratio(r32.y.cast<double>(), e.y, b32.y, Format::float32, "y f32");
      const double rs = judged_ratio(r32.last_state.cast<double>(), e.last_state, b32.last_state, Format::float32, "state f32");
      const double ry64 = judged_ratio(r64.y, e.y, b64.y, Format::float64, "y f64");
      judged_ratio(r64.last_state, e.last_state, b64.last_state, Format::float64, "state f64");
      judged_ratio(r32.y.cast<double>(), e.y, a32.y, Format::float32, "y f32 any order");
      judged_ratio(r32.last_state.cast<double>(), e.last_state, a32.last_state, Format::float32, "state any");
      std::printf("scan %s L=%lld: ratio y f32 %.3e state f32 %.3e y f64 %.3e\n", conj_name(conj),
                  static_cast<long long>(L), ry, rs, ry64);
      worst = std::max({worst, ry, rs, ry64});
    }
  EXPECT_GT(worst, kVacuousRatio);
}

// covers: S4CONV-SCAN-NONFINITE
TEST(SsmScan, NonFiniteInputsPropagateFromTheirStep) {
  auto in = scan_inputs(1, 2, 3, 10, true, Conj::halves, 2);
  in.u(0, 0, 6) = kNaN;
  in.dA(1, 2, 0) = kNaN;
  const ScanProblem<double> p(in);
  WorkingPrecision wp(256);
  const auto e = reference::ssm_scan<mp_real>(p);
  for (const Format f : {Format::float32, Format::float64}) {
    const auto r = f == Format::float32 ? [&] {
      auto x = cpu::ssm_scan(p.cast<float>());
      return ScanResult<double>{x.y.cast<double>(), x.last_state.cast<double>()};
    }()
                                        : cpu::ssm_scan(p);
    const auto b = ssm_scan_bound(p, f);
    EXPECT_EQ(compare("y", r.y, e.y, &b.y, f).outside, 0);
    EXPECT_EQ(compare("last_state", r.last_state, e.last_state, &b.last_state, f).outside, 0);
    for (Index t = 0; t < 6; ++t) EXPECT_TRUE(std::isfinite(r.y(0, 0, t)));
    for (Index t = 6; t < 10; ++t) EXPECT_TRUE(std::isnan(r.y(0, 0, t)));
    // A NaN dA: NaN * 0 is NaN, so channel 1 is NaN from t = 0 on.
    for (Index t = 0; t < 10; ++t) EXPECT_TRUE(std::isnan(r.y(0, 1, t)));
  }
  // Infinities are rejected, naming the array.
  for (const char* name : {"dA", "dB", "dC", "u", "D"}) {
    auto bad = scan_inputs(1, 2, 3, 10, true, Conj::halves, 2);
    Tensor<double>& t = std::string(name) == "dA" ? bad.dA : std::string(name) == "dB" ? bad.dB
                        : std::string(name) == "dC" ? bad.dC : std::string(name) == "u" ? bad.u : *bad.D;
    t[1] = -kInf;
    EXPECT_EQ(invalid_argument([&] { ScanProblem<double> q(bad); }), name);
  }
}

// covers: S4CONV-SCAN-CONJ
TEST(SsmScan, HalvesEqualsFullWithConjugates) {
  // halves of (dA, dB, dC) == full of ([dA, conj dA], [dB, conj dB], [dC, conj dC]), exactly.
  const auto h = scan_inputs(2, 3, 4, 17, true, Conj::halves, 11);
  ScanInputs<double> f = h;
  f.conj = Conj::full;
  for (const auto& pair : {std::make_pair(&h.dA, &f.dA), std::make_pair(&h.dB, &f.dB), std::make_pair(&h.dC, &f.dC)}) {
    Tensor<double> t(Shape{3, 8, 2});
    for (Index c = 0; c < 3; ++c)
      for (Index n = 0; n < 4; ++n) {
        t(c, n, Index{0}) = t(c, n + 4, Index{0}) = (*pair.first)(c, n, Index{0});
        t(c, n, Index{1}) = (*pair.first)(c, n, Index{1});
        t(c, n + 4, Index{1}) = -(*pair.first)(c, n, Index{1});
      }
    *pair.second = t;
  }
  WorkingPrecision wp(256);
  const auto eh = reference::ssm_scan<mp_real>(ScanProblem<double>(h));
  const auto ef = reference::ssm_scan<mp_real>(ScanProblem<double>(f));
  for (Index i = 0; i < eh.y.count(); ++i)
    EXPECT_LT(to_double(abs(eh.y[i] - ef.y[i])), 0x1p-200 * (1 + to_double(abs(eh.y[i]))));
}

// covers: S4CONV-CNN-RNN
TEST(CnnIsRnn, ExactlyAndWithinTheBackendsBounds) {
  for (const Conj conj : {Conj::halves, Conj::full}) {
    const ScanProblem<double> sp(scan_inputs(2, 3, 6, 40, true, conj, 21));
    WorkingPrecision wp(256);
    const auto rnn = reference::ssm_scan<mp_real>(sp);
    const Tensor<mp_real> K = reference::scan_kernel<mp_real>(sp, sp.length());
    std::optional<Tensor<mp_real>> D = sp.in().D->cast<mp_real>();
    const Tensor<mp_real> cnn = reference::causal_conv<mp_real>(sp.in().u.cast<mp_real>(), K, D);
    for (Index i = 0; i < cnn.count(); ++i)
      EXPECT_LT(to_double(abs(cnn[i] - rnn.y[i])), 0x1p-200) << i;
    // Backends: the FFT convolution of K rounded to the format, held to the scan's exact output
    // with its bound plus the kernel's rounding (u sum_s |K_s| |u_{t-s}|); and the scan backend
    // within its own bound of the same exact output.
    for (const Format f : {Format::float32, Format::float64}) {
      ConvInputs<double> ci{sp.in().u, Tensor<double>(K.shape()), sp.in().D};
      for (Index i = 0; i < K.count(); ++i) ci.k[i] = round_to_format(to_double(K[i]), f);
      const ConvProblem<double> cp(ci);
      const Tensor<double> y = f == Format::float32 ? cpu::causal_conv(cp.cast<float>()).cast<double>()
                                                    : cpu::causal_conv(cp);
      Tensor<double> bound = causal_conv_bound(cp, f);
      const double u = format_info(f).u;
      for (Index b = 0; b < 2; ++b)
        for (Index h = 0; h < 3; ++h)
          for (Index t = 0; t < 40; ++t) {
            double s = 0;
            for (Index j = 0; j <= t; ++j) s += std::fabs(ci.k(h, j) * ci.u(b, h, t - j));
            bound(b, h, t) += u * s * (1 + 1e-10);
          }
      EXPECT_EQ(compare("cnn", y, rnn.y, &bound, f).outside, 0) << conj_name(conj);
      const auto scan = f == Format::float32 ? cpu::ssm_scan(sp.cast<float>()).y.cast<double>()
                                             : cpu::ssm_scan(sp).y;
      const auto sb = ssm_scan_bound(sp, f);
      EXPECT_EQ(compare("rnn", scan, rnn.y, &sb.y, f).outside, 0) << conj_name(conj);
    }
  }
}
