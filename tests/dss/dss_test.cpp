// Tests of the DSS kernels (spec/dss.md): DSS-softmax's validation, oracle precision, the relation to
// DSS-exp (Proposition 1) and where the eps guard departs from it, the flip, the guard at a zero
// of S, the backends against the oracle and their bounds, NaN; dss.kernel_exp's names.
#include <gtest/gtest.h>

#include "../s4d/s4d_support.hpp"
#include "builtin.hpp"
#include "cpu/dss.hpp"
#include "cpu/s4d.hpp"
#include "touchstone/bounds/dss_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using namespace touchstone::s4::testing;

namespace {

// Lambda with Re on [re_lo, re_hi), Im on [-im, im); W per part on [-1, 1); log dt on
// [log 1e-3, log 1e-1]; float32 values.
DssSoftmaxInputs<double> random_dss(std::uint64_t seed, Index H, Index N, Index L, double re_lo, double re_hi,
                                    double im) {
  DssSoftmaxInputs<double> in;
  in.Lambda = uniform(Shape{H, N, 2}, seed, "Lambda", 0, 1);
  for (Index i = 0; i < in.Lambda.count(); i += 2) {
    in.Lambda[i] = static_cast<float>(re_lo + (re_hi - re_lo) * in.Lambda[i]);
    in.Lambda[i + 1] = static_cast<float>(im * (2 * in.Lambda[i + 1] - 1));
  }
  in.W = uniform(Shape{H, N, 2}, seed, "W", -1, 1);
  in.log_dt = uniform(Shape{H}, seed, "log_dt", std::log(1e-3), std::log(1e-1));
  in.L = L;
  return in;
}

std::string rejected(DssSoftmaxInputs<double> in) {
  try {
    DssSoftmaxProblem<double> p(std::move(in));
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(accepted)";
}

}  // namespace

// covers: DSS-SOFTMAX-SHAPES DSS-SOFTMAX-ZERO
TEST(DssSoftmax, InvalidInputsNameTheArgument) {
  const auto ok = random_dss(1, 2, 3, 10, -1, 0, 5);
  EXPECT_EQ(rejected(ok), "(accepted)");
  auto in = ok;
  in.Lambda(1, 1, Index{0}) = 0;
  in.Lambda(1, 1, Index{1}) = 0;
  EXPECT_EQ(rejected(in), "Lambda");
  in = ok;
  in.W = Tensor<double>(Shape{2, 2, 2});
  EXPECT_EQ(rejected(in), "W");
  in = ok;
  in.log_dt = Tensor<double>(Shape{1});
  EXPECT_EQ(rejected(in), "log_dt");
  in = ok;
  in.L = 0;
  EXPECT_EQ(rejected(in), "L");
  in = ok;
  in.Lambda = Tensor<double>(Shape{2, 3});
  EXPECT_EQ(rejected(in), "Lambda");
}

// covers: DSS-SOFTMAX-ORACLE
TEST(DssSoftmax, OracleAgreesWithItselfAtTwicePrecision) {
  const DssSoftmaxProblem<double> p(random_dss(2, 2, 5, 300, -1, 1, 20));
  Tensor<mp_real> lo, hi;
  {
    const WorkingPrecision w(256);
    lo = dss_softmax_kernel<mp_real, mp_complex>(p);
  }
  {
    const WorkingPrecision w(512);
    hi = dss_softmax_kernel<mp_real, mp_complex>(p);
  }
  const WorkingPrecision w(512);
  for (Index i = 0; i < lo.count(); ++i)
    EXPECT_LE(std::fabs(to_double(mp_real(lo[i] - hi[i]))), std::ldexp(1.0, -220)) << i;
}

// DSS's Proposition 1: DSS-exp with weights W~ equals the (unguarded) softmax kernel with
// W = W~ (e^(L dt lambda) - 1). The guarded kernel differs by at most
// sum_n |W_n / lambda_n| max_l |e_l| eps / (|S_n| (|S_n|^2 + eps)) ([DSS-SOFTMAX-EPS]); W is rounded to
// double here (relative 2^-53).
// covers: DSS-SOFTMAX-PROP1 DSS-SOFTMAX-EPS DSS-EXP-DEF DSS-SOFTMAX-DEF
TEST(DssSoftmax, Proposition1RelatesItToDssExp) {
  const Index H = 2, N = 4, L = 50;
  auto in = random_dss(3, H, N, L, -1, -0.1, 30);
  // DSS-exp: the S4D zoh kernel, full modes, B = 1, C = W~.
  S4DInputs<double> ex;
  ex.A = in.Lambda;
  ex.C = in.W;
  ex.dt = in.log_dt;
  ex.log_dt = true;
  ex.L = L;
  ex.disc = Discretization::zoh;
  ex.conj = Conj::full;
  DssSoftmaxInputs<double> sm = in;
  std::vector<double> tol(static_cast<std::size_t>(H), 0.0);
  for (Index h = 0; h < H; ++h) {
    const double dt = std::exp(in.log_dt[h]);
    for (Index n = 0; n < N; ++n) {
      const std::complex<double> lam(in.Lambda(h, n, Index{0}), in.Lambda(h, n, Index{1}));
      const std::complex<double> Wt(in.W(h, n, Index{0}), in.W(h, n, Index{1}));
      const std::complex<double> W = Wt * (std::exp(static_cast<double>(L) * dt * lam) - 1.0);
      sm.W(h, n, Index{0}) = W.real();
      sm.W(h, n, Index{1}) = W.imag();
      std::complex<double> S = 0;
      for (Index k = 0; k < L; ++k) S += std::exp(static_cast<double>(k) * dt * lam);
      const double aS = std::abs(S);
      // rounding of W (and this double evaluation of it: relative 1e-13 generously) plus the guard.
      tol[h] += std::abs(W / lam) / aS * 1e-12 + std::abs(W / lam) * kDssEps / (aS * (aS * aS + kDssEps));
    }
  }
  const WorkingPrecision w(256);
  const auto a = s4d_kernel<mp_real, mp_complex>(S4DProblem<double>(ex));
  const auto b = dss_softmax_kernel<mp_real, mp_complex>(DssSoftmaxProblem<double>(sm));
  for (Index h = 0; h < H; ++h)
    for (Index l = 0; l < L; ++l) EXPECT_LE(std::fabs(to_double(mp_real(a(h, l) - b(h, l)))), tol[h]) << h << " " << l;
}

// For Re lambda > 0 the subtracted maximum is the last entry (DSSR's P -= dt Lambda (L-1)); the value
// is the softmax of the unshifted row up to the guard, which now applies to e^(-z m) S.
// covers: DSS-SOFTMAX-FLIP
TEST(DssSoftmax, FlipIsTheSoftmaxOfTheUnshiftedRow) {
  const Index L = 40;
  auto in = random_dss(4, 1, 3, L, 0.2, 1, 10);
  in.log_dt[0] = static_cast<float>(std::log(0.05));
  const DssSoftmaxProblem<double> p(in);
  const WorkingPrecision w(256);
  const auto K = dss_softmax_kernel<mp_real, mp_complex>(p);
  const mp_real dt = exp(mp_real(in.log_dt[0]));
  for (Index l = 0; l < L; ++l) {
    mp_complex sum(0);
    double tol = 0;
    for (Index n = 0; n < 3; ++n) {
      const mp_complex lam(mp_real(in.Lambda(0, n, Index{0})), mp_real(in.Lambda(0, n, Index{1})));
      const mp_complex W(mp_real(in.W(0, n, Index{0})), mp_real(in.W(0, n, Index{1})));
      const mp_complex z = mp_complex(dt) * lam;
      mp_complex S(0);
      for (Index k = 0; k < L; ++k) S = S + exp(z * mp_complex(mp_real(static_cast<double>(k))));
      sum = sum + W / lam * exp(z * mp_complex(mp_real(static_cast<double>(l)))) / S;
      // The guard's effect on the shifted sum S' = e^(-z (L-1)) S.
      const double aS = to_double(mp_real(abs(S * exp(z * mp_complex(mp_real(-static_cast<double>(L - 1)))))));
      tol += to_double(mp_real(abs(W / lam))) * kDssEps / (aS * (aS * aS + kDssEps)) * 1.01;
    }
    EXPECT_LE(std::fabs(to_double(mp_real(K(0, l) - mp_real(real(sum))))), tol + 1e-60) << l;
  }
}

// softmax(0, i pi) has S = 0: the guard gives R = 0 (a finite kernel) where the plain softmax is
// undefined. With lambda = i pi_f (pi rounded to float), dt = 1, L = 2: |S| = |1 + e^(i pi_f)| ~ 9e-8,
// so |R| = |S| / (|S|^2 + eps) ~ 0.87 instead of 1/|S| ~ 1.1e7.
// covers: DSS-SOFTMAX-GUARD
TEST(DssSoftmax, GuardKeepsTheKernelFiniteAtAZeroOfS) {
  DssSoftmaxInputs<double> in;
  in.Lambda = Tensor<double>(Shape{1, 1, 2});
  in.Lambda[0] = 0;
  in.Lambda[1] = static_cast<float>(3.14159265358979323846);
  in.W = Tensor<double>(Shape{1, 1, 2});
  in.W[0] = 1;
  in.W[1] = 0;
  in.log_dt = Tensor<double>(Shape{1}, 0.0);
  in.L = 2;
  const DssSoftmaxProblem<double> p(in);
  const WorkingPrecision w(256);
  const auto K = dss_softmax_kernel<mp_real, mp_complex>(p);
  for (Index l = 0; l < 2; ++l) {
    EXPECT_TRUE(std::isfinite(to_double(K[l])));
    EXPECT_LT(std::fabs(to_double(K[l])), 1.0 / (2 * std::sqrt(kDssEps)) / 3.1);
  }
  const auto k64 = cpu::dss_softmax_kernel(p);
  const auto b64 = dss_softmax_kernel_bound(p, s4d_arithmetic_cpu_f64());
  for (Index l = 0; l < 2; ++l)
    if (std::isfinite(b64[l])) {
      EXPECT_LE(std::fabs(k64[l] - to_double(K[l])), b64[l]);
    }
}

// covers: DSS-SOFTMAX-CPU DSS-SOFTMAX-BOUND-CPU DSS-SOFTMAX-BOUND-S DSS-SOFTMAX-BOUND-R
TEST(DssSoftmax, BackendsWithinBoundAndTight) {
  double worst32 = 0, worst64 = 0;
  std::uint64_t seed = 20;
  for (Index L : {1, 5, 64, 65, 400})
    for (auto [re_lo, re_hi] : {std::pair{-1.0, -0.05}, std::pair{-1.0, 1.0}}) {
      const DssSoftmaxProblem<double> p(random_dss(seed++, 2, 5, L, re_lo, re_hi, 20));
      Tensor<mp_real> exact;
      {
        const WorkingPrecision w(256);
        exact = dss_softmax_kernel<mp_real, mp_complex>(p);
      }
      const std::string what = "L=" + std::to_string(L) + " re_hi=" + std::to_string(re_hi);
      worst32 = std::max(worst32, expect_within(cpu::dss_softmax_kernel(p.cast<float>()).cast<double>(), exact,
                                                dss_softmax_kernel_bound(p, s4d_arithmetic_cpu_f32()),
                                                Format::float32, what + " f32"));
      worst64 = std::max(worst64, expect_within(cpu::dss_softmax_kernel(p), exact,
                                                dss_softmax_kernel_bound(p, s4d_arithmetic_cpu_f64()),
                                                Format::float64, what + " f64"));
    }
  std::printf("max err/bound: cpu-f32 %.3g, cpu-f64 %.3g\n", worst32, worst64);
  EXPECT_GT(worst32, kVacuousRatio);
  EXPECT_GT(worst64, kVacuousRatio);
}

// covers: DSS-SOFTMAX-NONFINITE
TEST(DssSoftmax, NonFiniteInputsMakeTheirChannelNaN) {
  auto in = random_dss(5, 3, 4, 70, -1, 1, 5);
  in.W(0, 2, Index{0}) = std::numeric_limits<double>::quiet_NaN();
  in.log_dt[2] = std::numeric_limits<double>::infinity();
  const DssSoftmaxProblem<double> p(in);
  Tensor<mp_real> exact;
  {
    const WorkingPrecision w(256);
    exact = dss_softmax_kernel<mp_real, mp_complex>(p);
  }
  const auto k32 = cpu::dss_softmax_kernel(p.cast<float>());
  const auto k64 = cpu::dss_softmax_kernel(p);
  for (Index l = 0; l < 70; ++l)
    for (Index h : {0, 2}) {
      EXPECT_TRUE(isnan(exact(h, l)));
      EXPECT_TRUE(std::isnan(k32(h, l)) && std::isnan(k64(h, l)));
    }
  const ErrorSummary s = compare("K", k64, exact, nullptr, Format::float64);
  EXPECT_EQ(s.nan_expected, 140);
  EXPECT_EQ(s.outside, 0);  // no bound given: the finite channel is unjudged, the NaNs within
  EXPECT_EQ(s.within, 140);
}

// The registry: dss.kernel_exp is S4D's zoh kernel with full modes and B = 1 under DSS's names,
// a (N,) Lambda shared by every channel; dss.kernel_softmax reads the same file layout; both
// any-order bounds dominate their backends' bounds.
// covers: DSS-EXP-NAMES DSS-SOFTMAX-DEFAULTS DSS-SOFTMAX-BOUND-ANY DSS-EXP-DEFAULTS
TEST(DssRegistry, NamesFilesAndAnyOrderBounds) {
  const Registry& reg = builtin_registry();
  const Algorithm& ex = reg.get("dss.kernel_exp");
  const Algorithm& sm = reg.get("dss.kernel_softmax");
  auto complex_arr = [](Tensor<double> t) {
    NpyArray a;
    a.values = std::move(t);
    a.complex = true;
    return a;
  };
  auto real_arr = [](Tensor<double> t) {
    NpyArray a;
    a.values = std::move(t);
    return a;
  };
  const auto in = random_dss(6, 3, 4, 30, -1, -0.1, 5);
  Tensor<double> shared(Shape{4, 2});
  for (Index i = 0; i < 8; ++i) shared[i] = in.Lambda[i];
  NpyMap file{{"Lambda", complex_arr(shared)}, {"W", complex_arr(in.W)}, {"log_dt", real_arr(in.log_dt)}};
  const auto pe = ex.from_arrays(file, {{"L", "30"}});
  const auto ps = sm.from_arrays(file, {{"L", "30"}});
  // The same kernel through s4d.kernel.
  S4DInputs<double> s;
  s.A = Tensor<double>(Shape{3, 4, 2});
  for (Index h = 0; h < 3; ++h)
    for (Index i = 0; i < 8; ++i) s.A[h * 8 + i] = shared[i];
  s.C = in.W;
  s.dt = in.log_dt;
  s.log_dt = true;
  s.L = 30;
  s.conj = Conj::full;
  const WorkingPrecision w(256);
  const auto direct = s4d_kernel<mp_real, mp_complex>(S4DProblem<double>(s));
  const auto via = ex.reference(*pe, 256).at("K");
  for (Index i = 0; i < direct.count(); ++i) EXPECT_EQ(to_double(direct[i]), to_double(via[i]));
  EXPECT_EQ(sm.reference(*ps, 256).at("K").shape(), (Shape{3, 30}));
  // A zero Lambda is named by DSS's name.
  auto bad = file;
  bad["Lambda"].values[0] = 0;
  bad["Lambda"].values[1] = 0;
  EXPECT_THROW(
      {
        try {
          ex.from_arrays(bad, {{"L", "30"}});
        } catch (const InvalidInput& e) {
          EXPECT_EQ(e.argument(), "Lambda");
          throw;
        }
      },
      InvalidInput);
  for (const Algorithm* a : {&ex, &sm})
    for (const auto& size : a->sizes()) {
      const auto h = a->generate(size, Format::float32, 2);
      const Arrays any = a->any_order_bound(*h, Format::float32, 1.0);
      for (const auto& b : a->backends()) {
        if (b.format != Format::float32) continue;
        const Arrays mine = b.bound(*h);
        for (Index i = 0; i < mine.at("K").count(); ++i) ASSERT_LE(mine.at("K")[i], any.at("K")[i]) << a->name() << size;
      }
    }
}

// dss.kernel_exp_backward: S4D's backward under DSS's names; a shared Lambda is rejected.
// covers: DSS-EXP-BWD
TEST(DssRegistry, ExpBackwardNamesAndBounds) {
  const Algorithm& a = builtin_registry().get("dss.kernel_exp_backward");
  const auto h = a.generate("small", Format::float32, 5);
  const ExactArrays e = a.reference(*h, 256);
  EXPECT_TRUE(e.count("dLambda") && e.count("dW") && e.count("dlog_dt") && !e.count("dB"));
  for (const auto& b : a.backends()) {
    const Arrays out = b.run(*h), bounds = b.bound(*h);
    for (const auto& j : judge(out, e, &bounds, b.format)) EXPECT_TRUE(j.summary.pass()) << b.name << " " << j.output;
  }
  NpyMap file;
  for (const auto& [name, t] : h->inputs()) {
    NpyArray arr;
    arr.values = t;
    arr.complex = t.rank() == 3 && name != "dK";
    file[name] = arr;
  }
  EXPECT_NO_THROW(a.from_arrays(file, {}));
  Tensor<double> shared(Shape{file.at("Lambda").values.extent(1), 2});
  for (Index i = 0; i < shared.count(); ++i) shared[i] = file.at("Lambda").values[i];
  file["Lambda"].values = shared;
  try {
    a.from_arrays(file, {});
    ADD_FAILURE() << "accepted a shared Lambda";
  } catch (const InvalidInput& err) {
    EXPECT_EQ(err.argument(), "Lambda");
  }
}
