// The S4D kernel's backward pass (spec/s4d.md [S4D-BWD-DEF] ..): the analytic VJP oracle against
// an independent JVP (central differences of a kernel evaluated here, at 1024 bits with step
// 2^-300), through the adjoint identity <dK, J u> = <J^T dK, u>; the CPU backends against the
// oracle and their bounds; NaN; the registry entry.
#include <gtest/gtest.h>

#include "builtin.hpp"
#include "cpu/s4d.hpp"
#include "s4d_support.hpp"
#include "touchstone/bounds/s4d_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using namespace touchstone::s4::testing;

namespace {

// The inputs as exact multiprecision numbers, moved by t along u: x + t u.
struct Direction {
  Tensor<double> A, B, C, dt;
};

Direction random_direction(std::uint64_t seed, Index H, Index N) {
  return {uniform(Shape{H, N, 2}, seed, "uA", -1, 1), uniform(Shape{H, N, 2}, seed, "uB", -1, 1),
          uniform(Shape{H, N, 2}, seed, "uC", -1, 1), uniform(Shape{H}, seed, "udt", -1, 1)};
}

// K of the moved inputs, written independently of the reference: the definition with the
// discretization's formulas, at the working precision.
Tensor<mp_real> kernel_at(const S4DProblem<double>& p, const Direction& u, const mp_real& t) {
  const Index H = p.H(), N = p.N(), L = p.L();
  const mp_real s = p.in().conj == Conj::halves ? mp_real(2) : mp_real(1);
  Tensor<mp_real> K(Shape{H, L}, mp_real(0));
  auto moved = [&](double x, double dx) { return mp_real(mp_real(x) + t * mp_real(dx)); };
  for (Index h = 0; h < H; ++h) {
    const mp_real x = moved(p.in().dt[h], u.dt[h]);
    const mp_real dt = p.in().log_dt ? mp_real(exp(x)) : x;
    for (Index n = 0; n < N; ++n) {
      const mp_complex A(moved(p.A(h, n, 0), u.A(h, n, Index{0})), moved(p.A(h, n, 1), u.A(h, n, Index{1})));
      const mp_complex B = p.in().B ? mp_complex(moved(p.B(h, n, 0), u.B(h, n, Index{0})),
                                                 moved(p.B(h, n, 1), u.B(h, n, Index{1})))
                                    : mp_complex(mp_real(1), mp_real(0));
      const mp_complex C(moved(p.C(h, n, 0), u.C(h, n, Index{0})), moved(p.C(h, n, 1), u.C(h, n, Index{1})));
      const mp_complex z = mp_complex(dt) * A;
      mp_complex Abar, Bbar;
      if (p.in().disc == Discretization::zoh) {
        Abar = exp(z);
        Bbar = (Abar - mp_complex(1)) / A * B;
      } else {
        Abar = (mp_complex(2) + z) / (mp_complex(2) - z);
        Bbar = mp_complex(2) * mp_complex(dt) * B / (mp_complex(2) - z);
      }
      mp_complex w = C * Bbar;
      for (Index l = 0; l < L; ++l) {
        K(h, l) = K(h, l) + s * mp_real(real(w));
        w = w * Abar;
      }
    }
  }
  return K;
}

S4DBackwardProblem<double> random_backward(std::uint64_t seed, Index H, Index N, Index L, Discretization d,
                                           Conj c, bool B, bool log_dt) {
  auto in = random_inputs(seed, H, N, L, d, c, B, 20);
  if (log_dt) {
    in.log_dt = true;
    for (Index h = 0; h < H; ++h) in.dt[h] = static_cast<float>(std::log(in.dt[h]));
  }
  return S4DBackwardProblem<double>(S4DProblem<double>(in), uniform(Shape{H, L}, seed, "dK", -1, 1));
}

}  // namespace

// covers: S4D-BWD-DEF S4D-BWD-ORACLE
TEST(S4DBackward, AdjointIdentityAgainstCentralDifferences) {
  std::uint64_t seed = 100;
  for (Discretization d : {Discretization::zoh, Discretization::bilinear})
    for (Conj c : {Conj::halves, Conj::full})
      for (bool log_dt : {false, true}) {
        const bool withB = log_dt;
        const auto q = random_backward(seed++, 2, 3, 70, d, c, withB, log_dt);
        const Direction u = random_direction(seed, 2, 3);
        const WorkingPrecision w(1024);
        const auto g = s4d_kernel_vjp<mp_real, mp_complex>(q);
        // <J^T dK, u>
        mp_real lhs(0);
        for (Index i = 0; i < g.dA.count(); ++i) {
          lhs += g.dA[i] * mp_real(u.A[i]) + g.dC[i] * mp_real(u.C[i]);
          if (g.dB) lhs += (*g.dB)[i] * mp_real(u.B[i]);
        }
        for (Index h = 0; h < 2; ++h) lhs += g.ddt[h] * mp_real(u.dt[h]);
        // <dK, J u> by central differences, truncation O(t^2) = 2^-600.
        const mp_real t = ldexp(mp_real(1), -300);
        const auto Kp = kernel_at(q.forward(), u, t), Km = kernel_at(q.forward(), u, mp_real(-t));
        mp_real rhs(0), scale(0);
        for (Index i = 0; i < Kp.count(); ++i) {
          rhs += mp_real(q.dK()[i]) * (Kp[i] - Km[i]) / (2 * t);
          scale += abs(mp_real(q.dK()[i]) * Kp[i]);
        }
        EXPECT_LE(to_double(mp_real(abs(lhs - rhs))), std::ldexp(1.0, -500) * (1 + to_double(scale)))
            << to_string(d) << " " << conj_name(c) << " log_dt " << log_dt << ": " << to_double(lhs) << " vs "
            << to_double(rhs);
      }
}

namespace {
double judge_grads(const S4DGrads<double>& got, const S4DGrads<mp_real>& exact, const S4DGrads<double>& bound,
                   Format f, const std::string& what) {
  double worst = 0;
  auto one = [&](const char* name, const Tensor<double>& c, const Tensor<mp_real>& e, const Tensor<double>& b) {
    const ErrorSummary s = compare(name, c, e, &b, f);
    EXPECT_TRUE(s.pass()) << what << " " << name << ": " << s.outside << " failures, worst " << s.worst
                          << " computed " << s.worst_computed << " exact " << s.worst_exact << " bound "
                          << s.worst_bound;
    EXPECT_EQ(s.unjudged, 0) << what << " " << name;
    worst = std::max(worst, s.max_ratio);
  };
  one("dA", got.dA, exact.dA, bound.dA);
  one("dC", got.dC, exact.dC, bound.dC);
  if (got.dB) one("dB", *got.dB, *exact.dB, *bound.dB);
  one("ddt", got.ddt, exact.ddt, bound.ddt);
  return worst;
}

S4DGrads<double> widen(const S4DGrads<float>& g) {
  S4DGrads<double> o{g.dA.cast<double>(), g.dC.cast<double>(), std::nullopt, g.ddt.cast<double>()};
  if (g.dB) o.dB = g.dB->cast<double>();
  return o;
}
}  // namespace

// covers: S4D-BWD-CPU S4D-BWD-BOUND S4D-BWD-BOUND-COHERENT
TEST(S4DBackward, CpuWithinBoundAndTight) {
  double worst32 = 0, worst64 = 0;
  std::uint64_t seed = 200;
  for (Discretization d : {Discretization::zoh, Discretization::bilinear})
    for (Index L : {1, 64, 65, 300})
      for (bool log_dt : {false, true}) {
        const auto q = random_backward(seed++, 2, 5, L, d, L % 2 ? Conj::full : Conj::halves, log_dt, log_dt);
        S4DGrads<mp_real> exact;
        {
          const WorkingPrecision w(256);
          exact = s4d_kernel_vjp<mp_real, mp_complex>(q);
        }
        const std::string what = std::string(to_string(d)) + " L=" + std::to_string(L) + (log_dt ? " log_dt" : "");
        worst32 = std::max(worst32, judge_grads(widen(cpu::s4d_kernel_backward(q.cast<float>())), exact,
                                                s4d_kernel_backward_bound(q, s4d_arithmetic_cpu_f32()),
                                                Format::float32, what + " f32"));
        worst64 = std::max(worst64, judge_grads(cpu::s4d_kernel_backward(q), exact,
                                                s4d_kernel_backward_bound(q, s4d_arithmetic_cpu_f64()),
                                                Format::float64, what + " f64"));
      }
  std::printf("max err/bound: cpu-f32 %.3g, cpu-f64 %.3g\n", worst32, worst64);
  EXPECT_GT(worst32, kVacuousRatio);
  EXPECT_GT(worst64, kVacuousRatio);
}

// covers: S4D-BWD-NONFINITE
TEST(S4DBackward, NonFiniteChannelGetsNaNGradients) {
  auto in = random_inputs(300, 2, 3, 20, Discretization::zoh, Conj::halves, true);
  (*in.B)(1, 0, Index{1}) = std::numeric_limits<double>::quiet_NaN();
  const S4DBackwardProblem<double> q(S4DProblem<double>(in), uniform(Shape{2, 20}, 1, "dK", -1, 1));
  const WorkingPrecision w(256);
  const auto e = s4d_kernel_vjp<mp_real, mp_complex>(q);
  const auto g = cpu::s4d_kernel_backward(q);
  EXPECT_TRUE(isnan(e.ddt[1]) && std::isnan(g.ddt[1]));
  EXPECT_FALSE(std::isnan(g.ddt[0]));
  for (Index i = 6; i < 12; ++i) EXPECT_TRUE(isnan(e.dA[i]) && std::isnan(g.dA[i]) && std::isnan((*g.dB)[i]));
  EXPECT_THROW(S4DBackwardProblem<double>(S4DProblem<double>(in), Tensor<double>(Shape{2, 19})), InvalidInput);
}

// The registry entry: generated problems through a numpy-style file and back, gradient names by the
// step's parametrization, errors naming dK.
// covers: S4D-BWD-SHAPES S4D-BWD-REGISTRY
TEST(S4DBackward, RegistryEntry) {
  const Algorithm& a = builtin_registry().get("s4d.kernel_backward");
  const auto h = a.generate("small", Format::float32, 4);
  NpyMap file;
  for (const auto& [name, t] : h->inputs()) {
    NpyArray arr;
    arr.values = t;
    arr.complex = t.rank() == 3 && name != "dK";
    file[name] = arr;
  }
  const auto p = a.from_arrays(file, {});
  EXPECT_EQ(p->describe(), h->describe());
  const ExactArrays e = a.reference(*p, 256);
  EXPECT_TRUE(e.count("dlog_dt") && e.count("dB") && e.count("dA") && e.count("dC"));
  for (const auto& b : a.backends()) {
    const Arrays out = b.run(*p), bounds = b.bound(*p);
    for (const auto& j : judge(out, e, &bounds, b.format)) EXPECT_TRUE(j.summary.pass()) << b.name << " " << j.output;
  }
  EXPECT_TRUE(a.reference(*a.generate("tiny", Format::float64, 1), 256).count("ddt"));
  auto bad = file;
  bad["dK"].values = Tensor<double>(Shape{3, 99});
  try {
    a.from_arrays(bad, {});
    ADD_FAILURE() << "accepted a misshapen dK";
  } catch (const InvalidInput& err) {
    EXPECT_EQ(err.argument(), "dK");
  }
}

// Regression tests for two s4_fuzz findings (fuzz/corpus/registry_fuzz/regression_*_backward_*): the
// problems rebuilt from the fuzzer's dump (every array in hex floats, as the fuzzer wrote them, a
// float32 file), run through the registry entry like the fuzzer does. Before the fix cpu-f32
// returned -inf (s4d) and NaN (dss) at an element whose bound was finite (7.4e32 and 3.8e32).
namespace {

struct DumpedArray {
  const char* name;
  Shape shape;  // with the trailing (re, im) axis for a complex array
  bool complex;
  const char* values;  // hex floats separated by spaces
};

NpyMap dumped_file(const std::vector<DumpedArray>& arrays) {
  NpyMap file;
  for (const DumpedArray& d : arrays) {
    NpyArray arr;
    arr.item_bytes = 4;
    arr.complex = d.complex;
    arr.values = Tensor<double>(d.shape);
    const char* p = d.values;
    for (Index i = 0; i < arr.values.count(); ++i) {
      char* end = nullptr;
      arr.values[i] = std::strtod(p, &end);
      EXPECT_NE(end, p) << d.name << " element " << i;
      p = end;
    }
    file[d.name] = arr;
  }
  return file;
}

// Judges every backend of the entry on the problem against the oracle with its bound, like
// fuzz/s4_fuzz.cpp; returns cpu-f32's bound of `output`.
Tensor<double> judge_all_backends(const Algorithm& a, const ProblemHandle& h, const std::string& output) {
  const ExactArrays exact = a.reference(h, 192);
  Tensor<double> bound32;
  for (const BackendSpec& b : a.backends()) {
    if (!b.unavailable_reason().empty()) continue;
    const Arrays out = b.run(h), bound = b.bound(h);
    // Outside the bound's domain (+inf) these fuzz finds are unjudged, and NaN/Inf there is the
    // family's documented behaviour ([CORE-OWN-DOMAIN]): none may be outside.
    for (const OutputJudgement& j : judge_own_backend(out, exact, bound, b.format))
      EXPECT_EQ(j.summary.outside, 0) << a.name() << " " << b.name << " " << j.output;
    if (b.name == "cpu-f32") bound32 = bound.at(output);
  }
  return bound32;
}

}  // namespace

// s4d.kernel_backward, cpu-f32: dK[1, 0] = -3.0e38, so F ~ -3e38 and dC = conj(2 q F) is -3.6e38
// exactly, beyond float32; the bound checked q F but not the final doubling by s = 2.
// covers: S4D-BWD-BOUND-OVERFLOW
TEST(S4DBackwardRegression, FuzzScaledOutputOverflowIsUnbounded) {
  const NpyMap file = dumped_file({
      {"A", Shape{2, 3, 2}, true,
       "0x1.a4dd3p-2 -0x1.581062p-5 -0x1p-149 0x1.8dd2f2p-1 0x1.49ba5ep-2 -0x1.47ae14p-3 0x1.90624ep-1 "
       "-0x1.a24dd2p-1 -0x1.33b646p-1 -0x1.b126eap-2 -0x1.27ef9ep-2 0x1.f9581p-1"},
      {"C", Shape{2, 3, 2}, true,
       "-0x1.9db22ep-1 -0x1.4ed916p-1 0x1.f3b646p-2 -0x1.f3b646p-3 -0x1.38d4fep-1 -0x1.ab020cp-2 -0x1.449ba6p-1 "
       "-0x1.189374p-2 -0x1.03126ep-2 0x1.ab851ep-1 0x1.322d0ep-2 -0x1.d70a3ep-1"},
      {"L", Shape{}, false, "0x1.cp+2"},
      {"conj", Shape{}, false, "0x0p+0"},
      {"dK", Shape{2, 7}, false,
       "0x1.d89374p-1 -0x1.8p-2 -0x1.9a9fbep-2 -0x1.3126eap-1 0x1.cac084p-2 -0x1.978d5p-2 -0x1.c28f5cp-2 "
       "-0x1.c363ccp+127 0x1.ad9168p-1 -0x1.6f1aap-1 0x1.560418p-2 0x1.f8d4fep-2 0x1.322d0ep-2 -0x1.d70a3ep-1"},
      {"disc", Shape{}, false, "0x0p+0"},
      {"log_dt", Shape{2}, false, "0x1.2f1aap-5 -0x1.189374p-2"},
  });
  const Algorithm& a = builtin_registry().get("s4d.kernel_backward");
  const auto h = a.from_arrays(file, {});
  EXPECT_EQ(h->describe(), "H=2 N'=3 L=7 disc=zoh conj=halves log_dt dK");
  const Tensor<double> dC = judge_all_backends(a, *h, "dC");
  ASSERT_EQ(dC.count(), 12);
  EXPECT_TRUE(std::isinf(dC[8]));  // h = 1, n = 1, real part: exact -3.6e38
  // Channel 0 has an ordinary dK: its bounds stay finite.
  for (Index i = 0; i < 6; ++i) EXPECT_TRUE(std::isfinite(dC[i])) << i;
}

// dss.kernel_exp_backward, cpu-f32: dK[0, 2] = -3.0e38, so the coefficient 2 dK_2 of F1 is -inf in
// float32 and the computed dLambda is NaN (inf - inf), while the exact one is 6.3e37; the bound
// modelled (k+1) dK_(k+1) in binary64 and checked only the outputs, not F1 and the products on
// the way.
// covers: S4D-BWD-BOUND-OVERFLOW
TEST(S4DBackwardRegression, FuzzDssCoefficientOverflowIsUnbounded) {
  const NpyMap file = dumped_file({
      {"L", Shape{}, false, "0x1.4p+3"},
      {"Lambda", Shape{3, 3, 2}, true,
       "0x1.1fbe76p-1 0x1.1cac08p-1 -0x1.883126p-1 0x1.1d2f1ap-1 0x1.f851ecp-1 -0x1.516872p-1 0x1.91eb86p-1 "
       "-0x1.224dd2p-1 -0x1p+0 -0x1.89ba5ep-1 -0x1.3020c4p-1 -0x1.049ba6p-1 0x1.0dd2f2p-1 -0x1.45a1cap-1 "
       "0x1.676c8cp-1 0x1.8p-1 -0x1.26e978p-6 0x1.f126eap-1"},
      {"W", Shape{3, 3, 2}, true,
       "0x1.a0c49cp-2 0x1.e24dd2p-1 0x1.21cacp-1 0x1.10624ep-1 0x1.a7ef9ep-2 0x1.958106p-4 0x1.ad0e56p-2 "
       "0x1.418938p-2 0x1.5cac08p-1 0x1.03126ep-1 0x1.b126eap-2 0x1.54fdf4p-2 0x1.89374cp-3 0x1.6c0832p-1 "
       "0x1.958106p-2 0x1.03126ep-1 0x1.7f7ceep-1 0x1.4ed916p-1"},
      {"dK", Shape{3, 10}, false,
       "0x1.49ba5ep-2 -0x1.5fbe76p-1 -0x1.c363ccp+127 0x1p+0 -0x1.820c4ap-1 -0x1.79581p-1 0x1.8e5604p-2 "
       "-0x1.d0e56p-1 -0x1.7f7ceep-1 0x1.12f1aap-1 -0x1.b2b02p-1 -0x1.6a7efap-3 0x1.4ed916p-2 -0x1.19999ap-2 "
       "-0x1.f3b646p-4 0x1.e76c8cp-4 -0x1.f7cedap-4 0x1.ab020cp-2 -0x1.90e56p-1 0x1.16c2p-133 0x1.dc28f6p-2 "
       "0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0"},
      {"log_dt", Shape{3}, false, "0x1.189374p-1 0x1.ba5e36p-5 -0x1.808312p-1"},
  });
  const Algorithm& a = builtin_registry().get("dss.kernel_exp_backward");
  const auto h = a.from_arrays(file, {});
  EXPECT_EQ(h->describe(), "H=3 N'=3 L=10 disc=zoh conj=full log_dt dK");
  const Tensor<double> dLambda = judge_all_backends(a, *h, "dLambda");
  ASSERT_EQ(dLambda.count(), 18);
  EXPECT_TRUE(std::isinf(dLambda[2]));  // h = 0, n = 1, real part: computed NaN, exact 6.3e37
  // Channels 1 and 2 have ordinary dK: their bounds stay finite.
  for (Index i = 6; i < 18; ++i) EXPECT_TRUE(std::isfinite(dLambda[i])) << i;
}

// dss.kernel_softmax, cpu-f32 (fuzz/corpus/registry_fuzz/regression_dss_softmax_weight_overflow):
// W[0] = -3.0e38 over |lambda| = 0.24 overflows W / lambda in float32, and inf times the small R
// gave NaN in K, while the exact K is -6.7e36 and the bound checked only v = (W / lambda) R.
// covers: DSS-SOFTMAX-BOUND-OVERFLOW
TEST(S4DBackwardRegression, FuzzDssSoftmaxWeightOverflowIsUnbounded) {
  const NpyMap file = dumped_file({
      {"L", Shape{}, false, "0x1.2p+3"},
      {"Lambda", Shape{2, 1, 2}, true, "0x1.70a3d8p-4 0x1.be76c8p-3 0x1.70a3d8p-4 0x1.be76c8p-3"},
      {"W", Shape{2, 1, 2}, true, "-0x1.c363ccp+127 0x1.da1cacp-1 -0x1.f0a3d8p-2 0x1.0cccccp-1"},
      {"log_dt", Shape{2}, false, "-0x1p+0 -0x1.2d9168p-1"},
  });
  const Algorithm& a = builtin_registry().get("dss.kernel_softmax");
  const auto h = a.from_arrays(file, {});
  const Tensor<double> K = judge_all_backends(a, *h, "K");
  ASSERT_EQ(K.count(), 18);
  for (Index l = 0; l < 9; ++l) EXPECT_TRUE(std::isinf(K[l])) << l;    // channel 0: W / lambda overflows
  for (Index l = 9; l < 18; ++l) EXPECT_TRUE(std::isfinite(K[l])) << l;  // channel 1: ordinary
}

// A third s4_fuzz finding (fuzz/corpus/registry_fuzz/regression_dss_exp_backward_infinite_dK): a channel
// whose dK row was (-0, -inf, -inf, -inf) with finite A, C, dt; the oracle's MPFR arithmetic gave
// NaN for an element of dW where cpu-f64 gave -inf. A non-finite dK now makes the channel's
// gradients NaN in the CPU backends, with bound +inf (the exact values there are NaN or infinite).
// covers: S4D-BWD-NONFINITE
TEST(S4DBackwardRegression, FuzzNonFiniteCotangentMakesTheChannelNaN) {
  for (const char* name : {"s4d.kernel_backward", "dss.kernel_exp_backward"}) {
    const Algorithm& a = builtin_registry().get(name);
    const auto h0 = a.generate("tiny", Format::float32, 7);
    NpyMap file;
    for (const auto& [n, t] : h0->inputs()) {
      NpyArray arr;
      arr.values = t;
      arr.complex = t.rank() == 3 && n != "dK";
      file[n] = arr;
    }
    Tensor<double>& dK = file.at("dK").values;
    ASSERT_EQ(dK.shape().rank(), 2u);
    const Index H = dK.shape()[0], L = dK.shape()[1];
    ASSERT_GE(H, 3);
    const double inf = std::numeric_limits<double>::infinity();
    dK(1, Index{0}) = -0.0;
    for (Index l = 1; l < L; ++l) dK(1, l) = -inf;  // the fuzzer's row
    dK(2, L - 1) = std::numeric_limits<double>::quiet_NaN();
    const auto h = a.from_arrays(file, {});
    const ExactArrays exact = a.reference(*h, 192);
    for (const BackendSpec& b : a.backends()) {
      if (!b.unavailable_reason().empty()) continue;
      const Arrays out = b.run(*h), bound = b.bound(*h);
      // The NaN channels lie outside the bound's domain (+inf), where [S4D-BWD-NONFINITE] lets a
      // backend return NaN whatever the oracle's value (an exact -inf there): [CORE-OWN-DOMAIN].
      for (const OutputJudgement& j : judge_own_backend(out, exact, bound, b.format))
        EXPECT_EQ(j.summary.outside, 0) << name << " " << b.name << " " << j.output;
      for (const auto& [o, t] : out) {
        const Index per = t.count() / H;  // elements per channel
        for (Index i = 0; i < t.count(); ++i) {
          const Index ch = i / per;
          if (ch == 0) {
            EXPECT_TRUE(std::isfinite(t[i]) && std::isfinite(bound.at(o)[i])) << name << " " << o << " " << i;
          } else if (ch <= 2) {
            EXPECT_TRUE(std::isnan(t[i]) && std::isinf(bound.at(o)[i])) << name << " " << b.name << " " << o << " " << i;
          }
        }
      }
    }
  }
}
