// Unit and property tests of the S4D Vandermonde kernel (spec/s4d.md): validation, the oracle's
// own precision and its independent ZOH form, the conjugate conventions, bilinear stability, the
// inits against the brief's table, the backends against the oracle and their bounds, NaN,
// determinism, the CUDA element body on the host, and the registry's file path.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>

#include "builtin.hpp"
#include "cpu/s4d.hpp"
#include "cuda/s4d_kernels.cuh"
#include "s4d_support.hpp"
#include "touchstone/bounds/s4d_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using namespace touchstone::s4::testing;

namespace {

std::string rejected(S4DInputs<double> in) {
  try {
    S4DProblem<double> p(std::move(in));
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(accepted)";
}

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  if (!(a.shape() == b.shape())) return false;
  for (Index i = 0; i < a.count(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i]) &&
        !(std::isnan(a[i]) && std::isnan(b[i])))
      return false;
  return true;
}

}  // namespace

// covers: S4D-SHAPES S4D-ZOH-ZERO S4D-BILINEAR-POLE S4D-OPTIONS
TEST(S4DProblem, InvalidInputsNameTheArgument) {
  const auto ok = random_inputs(1, 2, 3, 10, Discretization::zoh, Conj::halves, true);
  EXPECT_EQ(rejected(ok), "(accepted)");
  auto in = ok;
  in.A = Tensor<double>(Shape{2, 3});
  EXPECT_EQ(rejected(in), "A");
  in = ok;
  in.C = Tensor<double>(Shape{2, 4, 2});
  EXPECT_EQ(rejected(in), "C");
  in = ok;
  in.B = Tensor<double>(Shape{1, 3, 2});
  EXPECT_EQ(rejected(in), "B");
  in = ok;
  in.dt = Tensor<double>(Shape{3});
  EXPECT_EQ(rejected(in), "dt");
  in = ok;
  in.dt[1] = 0;
  EXPECT_EQ(rejected(in), "dt");
  in = ok;
  in.dt[0] = -1e-3;
  EXPECT_EQ(rejected(in), "dt");
  in = ok;
  in.L = 0;
  EXPECT_EQ(rejected(in), "L");
  in = ok;
  in.L = kS4DMaxL + 1;
  EXPECT_EQ(rejected(in), "L");
  // ZOH at A = 0: rejected; bilinear at A = 0 is fine.
  in = ok;
  in.A(1, 2, Index{0}) = 0;
  in.A(1, 2, Index{1}) = 0;
  EXPECT_EQ(rejected(in), "A");
  in.disc = Discretization::bilinear;
  EXPECT_EQ(rejected(in), "(accepted)");
  // Bilinear pole dt A = 2: dt = 0.25, A = 8.
  in = ok;
  in.disc = Discretization::bilinear;
  in.dt[0] = 0.25;
  in.A(0, 1, Index{0}) = 8;
  in.A(0, 1, Index{1}) = 0;
  EXPECT_EQ(rejected(in), "A");
  in.A(0, 1, Index{1}) = 1e-30;  // off the pole
  EXPECT_EQ(rejected(in), "(accepted)");
  // With log_dt the only pole is log_dt = 0, A = 2.
  in = ok;
  in.disc = Discretization::bilinear;
  in.log_dt = true;
  in.dt[0] = 0;
  in.A(0, 0, Index{0}) = 2;
  in.A(0, 0, Index{1}) = 0;
  EXPECT_EQ(rejected(in), "A");
  // Options by name.
  EXPECT_THROW(parse_discretization("euler"), InvalidInput);
  EXPECT_THROW(parse_conj("half"), InvalidInput);
  EXPECT_THROW(parse_s4d_init("diag-lin"), InvalidInput);
  EXPECT_THROW(s4d_init_A(S4DInit::lin, 7), InvalidInput);
}

// covers: S4D-ORACLE
TEST(S4DOracle, AgreesWithItselfAtTwicePrecision) {
  for (Discretization d : {Discretization::zoh, Discretization::bilinear}) {
    auto in = random_inputs(2, 2, 5, 300, d, Conj::halves, true);
    in.log_dt = true;
    for (Index h = 0; h < 2; ++h) in.dt[h] = static_cast<float>(std::log(in.dt[h]));
    const S4DProblem<double> p(in);
    Tensor<mp_real> lo, hi;
    {
      const WorkingPrecision w(256);
      lo = s4d_kernel<mp_real, mp_complex>(p);
    }
    {
      const WorkingPrecision w(512);
      hi = s4d_kernel<mp_real, mp_complex>(p);
    }
    const WorkingPrecision w(512);
    for (Index i = 0; i < lo.count(); ++i)
      EXPECT_LE(std::fabs(to_double(mp_real(lo[i] - hi[i]))), std::ldexp(1.0, -230)) << i;
  }
}

// annotated-s4's s4d test_conversion: the explicit Vandermonde product equals s4d_kernel_zoh.
// covers: S4D-ZOH-EXP S4D-DEF
TEST(S4DOracle, PowersEqualExponentials) {
  const WorkingPrecision w(256);
  for (Conj c : {Conj::halves, Conj::full}) {
    const S4DProblem<double> p(random_inputs(3, 2, 4, 200, Discretization::zoh, c, true, 30));
    const auto a = s4d_kernel<mp_real, mp_complex>(p), b = s4d_kernel_zoh_exp<mp_real, mp_complex>(p);
    for (Index i = 0; i < a.count(); ++i)
      EXPECT_LE(std::fabs(to_double(mp_real(a[i] - b[i]))), std::ldexp(1.0, -220)) << i;
  }
}

// Halves of (A, B, C) equal full of (A, conj A; B, conj B; C, conj C).
// covers: S4D-CONJ
TEST(S4DOracle, HalvesEqualsFullWithConjugatesAppended) {
  const WorkingPrecision w(256);
  for (Discretization d : {Discretization::zoh, Discretization::bilinear}) {
    const auto in = random_inputs(4, 3, 6, 150, d, Conj::halves, true);
    S4DInputs<double> full = in;
    full.conj = Conj::full;
    const Index H = 3, N = 6;
    auto doubled = [&](const Tensor<double>& X) {
      Tensor<double> Y(Shape{H, 2 * N, 2});
      for (Index h = 0; h < H; ++h)
        for (Index n = 0; n < N; ++n) {
          Y(h, n, Index{0}) = X(h, n, Index{0});
          Y(h, n, Index{1}) = X(h, n, Index{1});
          Y(h, N + n, Index{0}) = X(h, n, Index{0});
          Y(h, N + n, Index{1}) = -X(h, n, Index{1});
        }
      return Y;
    };
    full.A = doubled(in.A);
    full.B = doubled(*in.B);
    full.C = doubled(in.C);
    const auto a = s4d_kernel<mp_real, mp_complex>(S4DProblem<double>(in));
    const auto b = s4d_kernel<mp_real, mp_complex>(S4DProblem<double>(full));
    for (Index i = 0; i < a.count(); ++i)
      EXPECT_LE(std::fabs(to_double(mp_real(a[i] - b[i]))), std::ldexp(1.0, -230)) << i;
    // The backends on both layouts: each within its own bound of the same exact kernel.
    const S4DProblem<double> pf(full);
    expect_within(cpu::s4d_kernel(pf), b, s4d_kernel_bound(pf, s4d_arithmetic_cpu_f64()), Format::float64, "full f64");
  }
}

// Re A < 0 and dt > 0: the bilinear A_bar lies inside the unit disk ([S4-ID-BILINEAR-DISK]), and
// the kernel decays: |K_l| <= s sum_n |C_n B_bar_n| |A_bar_n|^l -> 0.
// covers: S4D-BILINEAR-STABLE S4D-DISC
TEST(S4DOracle, BilinearWithNegativeRealPartIsStable) {
  const WorkingPrecision w(256);
  auto in = random_inputs(5, 2, 8, 2000, Discretization::bilinear, Conj::halves, false, 100);
  // Large steps too (dt up to 10): still inside the disk.
  in.dt[1] = 10;
  const S4DProblem<double> p(in);
  for (Index h = 0; h < 2; ++h)
    for (Index n = 0; n < 8; ++n) {
      mp_complex Abar, coef;
      s4d_detail::discretize<mp_real, mp_complex>(p, h, n, Abar, coef);
      EXPECT_LT(to_double(mp_real(abs(Abar))), 1.0) << h << " " << n;
    }
  const auto K = s4d_kernel<mp_real, mp_complex>(p);
  for (Index h = 0; h < 2; ++h) {
    double first = 0, last = 0;
    for (Index l = 0; l < 100; ++l) first = std::max(first, std::fabs(to_double(K(h, l))));
    for (Index l = 1900; l < 2000; ++l) last = std::max(last, std::fabs(to_double(K(h, l))));
    EXPECT_LT(last, first) << h;
  }
}

// covers: S4D-CPU S4D-CPU-ORDER S4D-BOUND-CPU S4D-BOUND-MODEL S4D-BOUND-SETUP S4D-BOUND-POWERS S4D-BOUND-SUM
TEST(S4DBackends, WithinBoundAndTight) {
  double worst32 = 0, worst64 = 0;
  std::uint64_t seed = 10;
  for (Discretization d : {Discretization::zoh, Discretization::bilinear})
    for (Conj c : {Conj::halves, Conj::full})
      for (Index L : {1, 63, 64, 65, 500}) {
        auto in = random_inputs(seed++, 2, 7, L, d, c, (L % 2) == 1, 20);
        if (L == 500) {
          in.log_dt = true;
          for (Index h = 0; h < 2; ++h) in.dt[h] = static_cast<float>(std::log(in.dt[h]));
        }
        const S4DProblem<double> p(in);
        Tensor<mp_real> exact;
        {
          const WorkingPrecision w(256);
          exact = s4d_kernel<mp_real, mp_complex>(p);
        }
        const std::string what = std::string(to_string(d)) + " " + conj_name(c) + " L=" + std::to_string(L);
        worst32 = std::max(worst32, expect_within(cpu::s4d_kernel(p.cast<float>()).cast<double>(), exact,
                                                  s4d_kernel_bound(p, s4d_arithmetic_cpu_f32()),
                                                  Format::float32, what + " f32"));
        worst64 = std::max(worst64, expect_within(cpu::s4d_kernel(p), exact,
                                                  s4d_kernel_bound(p, s4d_arithmetic_cpu_f64()),
                                                  Format::float64, what + " f64"));
      }
  std::printf("max err/bound: cpu-f32 %.3g, cpu-f64 %.3g\n", worst32, worst64);
  EXPECT_GT(worst32, kVacuousRatio);
  EXPECT_GT(worst64, kVacuousRatio);
}

// An unstable mode (Re A > 0) in float32 overflows at long L: the bound says +inf there
// (outside its domain), finite before.
// covers: S4D-BOUND-OVERFLOW
TEST(S4DBackends, OverflowIsOutsideTheBoundsDomain) {
  auto in = random_inputs(20, 1, 2, 4000, Discretization::zoh, Conj::halves, false);
  in.A(0, 0, Index{0}) = 5;
  in.dt[0] = 0.1f;
  const S4DProblem<double> p(in);
  const auto b = s4d_kernel_bound(p, s4d_arithmetic_cpu_f32());
  EXPECT_TRUE(std::isfinite(b(0, Index{10})));
  EXPECT_TRUE(std::isinf(b(0, Index{3999})));
}

// The exp(l x) model reuses its libm values (exp_of_re) for consecutive modes with the same real
// part x only: with modes whose real parts differ, the any-order bound does not depend on the
// modes' order beyond the sums' rounding, as it would if one mode's values served another's.
// covers: S4D-BOUND-ANY
TEST(S4DBounds, AnyOrderExpModelSharesOnlyEqualRealParts) {
  auto in = random_inputs(31, 2, 3, 300, Discretization::zoh, Conj::halves, false);
  const double modes[3][2] = {{-0.5, 1}, {-0.5, 7}, {-0.02, 3}};  // the first two share Re A
  for (Index h = 0; h < 2; ++h) {
    in.dt[h] = h == 0 ? 0.1 : 0.05;
    for (Index n = 0; n < 3; ++n)
      for (Index part = 0; part < 2; ++part) in.A(h, n, part) = modes[n][part];
  }
  // The same modes in the order 2, 0, 1.
  S4DInputs<double> moved = in;
  for (Index h = 0; h < 2; ++h)
    for (Index n = 0; n < 3; ++n)
      for (Index part = 0; part < 2; ++part) {
        moved.A(h, n, part) = in.A(h, (n + 2) % 3, part);
        moved.C(h, n, part) = in.C(h, (n + 2) % 3, part);
      }
  for (Format f : {Format::float32, Format::float64}) {
    const auto a = s4d_kernel_bound(S4DProblem<double>(in), s4d_arithmetic_any_order(f, 4));
    const auto b = s4d_kernel_bound(S4DProblem<double>(moved), s4d_arithmetic_any_order(f, 4));
    double worst = 0;
    for (Index i = 0; i < a.count(); ++i) {
      ASSERT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << i;
      worst = std::max(worst, std::fabs(a[i] - b[i]) / a[i]);
    }
    EXPECT_LT(worst, 1e-12) << format_name(f);
  }
}

// covers: S4D-NONFINITE
TEST(S4DBackends, NonFiniteInputsMakeTheirChannelNaN) {
  auto in = random_inputs(6, 3, 4, 70, Discretization::zoh, Conj::halves, true);
  in.C(1, 2, Index{1}) = std::numeric_limits<double>::quiet_NaN();
  in.A(2, 0, Index{0}) = -std::numeric_limits<double>::infinity();
  const S4DProblem<double> p(in);
  Tensor<mp_real> exact;
  {
    const WorkingPrecision w(256);
    exact = s4d_kernel<mp_real, mp_complex>(p);
  }
  for (Index l = 0; l < 70; ++l) {
    EXPECT_TRUE(isnan(exact(Index{1}, l)));
    EXPECT_TRUE(isnan(exact(Index{2}, l)));
    EXPECT_FALSE(isnan(exact(Index{0}, l)));
  }
  const auto k32 = cpu::s4d_kernel(p.cast<float>());
  const auto k64 = cpu::s4d_kernel(p);
  for (Index l = 0; l < 70; ++l) {
    EXPECT_TRUE(std::isnan(k32(Index{1}, l)) && std::isnan(k32(Index{2}, l)));
    EXPECT_TRUE(std::isnan(k64(Index{1}, l)) && std::isnan(k64(Index{2}, l)));
  }
  // The finite channel is judged as usual (compare: NaN exactly where the oracle has NaN).
  const ErrorSummary s = compare("K", k64, exact, nullptr, Format::float64);
  EXPECT_EQ(s.nan_expected, 140);
  EXPECT_EQ(s.outside, 0);  // no bound given: the finite channel is unjudged, the NaNs within
  EXPECT_EQ(s.within, 140);
  auto dt_nan = in;
  dt_nan.dt[0] = std::numeric_limits<double>::quiet_NaN();
  const auto k = cpu::s4d_kernel(S4DProblem<double>(dt_nan));
  EXPECT_TRUE(std::isnan(k(Index{0}, Index{0})));
}

// covers: S4D-CPU-DETERMINISTIC
TEST(S4DBackends, BitsDoNotDependOnThreads) {
  const S4DProblem<float> p =
      S4DProblem<double>(random_inputs(7, 5, 9, 333, Discretization::bilinear, Conj::halves, true)).cast<float>();
  EXPECT_TRUE(same_bits(cpu::s4d_kernel(p, 1), cpu::s4d_kernel(p, 4)));
}

// The cuda-f32 element body, run on the host over every element, is cpu-f32 bitwise.
// covers: S4D-CUDA
TEST(S4DCudaEmulation, ElementBodyIsCpuF32Bitwise) {
  for (Index L : {5, 64, 300}) {
    auto in = random_inputs(8, 3, 6, L, L == 300 ? Discretization::bilinear : Discretization::zoh,
                            L == 64 ? Conj::full : Conj::halves, true);
    in.C(2, 1, Index{0}) = std::numeric_limits<double>::quiet_NaN();
    const S4DProblem<float> p = S4DProblem<double>(in).cast<float>();
    const auto s = cpu::s4d_setup(p);
    Tensor<float> emu(Shape{s.H, s.L});
    for (Index h = 0; h < s.H; ++h)
      for (Index l = 0; l < s.L; ++l)
        emu(h, l) = cuda::s4d_element(s.w.data(), s.tab.data(), s.N, s.J, s.T, h, l, s.scale);
    EXPECT_TRUE(same_bits(emu, cpu::s4d_kernel(p))) << L;
  }
}

// The inits against the table of ../shared/briefs/s4_dss.md section 6 (A = -re - i im) and, for
// LegS, against the HiPPO numbers of section 1 (Im Lambda spans +-19.857 at N = 8 and +-1303.3 at
// N = 64; max |B~| = 5.156 at N = 8 and 40.75 at N = 64).
// covers: S4D-INIT-LIN S4D-INIT-INV S4D-INIT-REAL S4D-INIT-LEGS
TEST(S4DInit, MatchesTheTable) {
  const double pi = 3.14159265358979323846;
  const Index N = 64;
  const auto lin = s4d_init_A(S4DInit::lin, N), inv = s4d_init_A(S4DInit::inv, N),
             real = s4d_init_A(S4DInit::real, N);
  ASSERT_EQ(lin.size(), 32u);
  for (Index n = 0; n < N / 2; ++n) {
    const long double nl = n, Nl = N, pil = 3.14159265358979323846264338327950288L;
    EXPECT_EQ(lin[n].real(), -0.5);
    EXPECT_LE(std::fabs(lin[n].imag() + static_cast<double>(pil * nl)), 0x1p-52 * pi * n) << n;
    EXPECT_NEAR(lin[n].imag(), -pi * static_cast<double>(n), 1e-13 * (1 + n));
    EXPECT_EQ(inv[n].real(), -0.5);
    const double inv_ref = static_cast<double>((Nl / pil) * (Nl / (2 * nl + 1) - 1));
    EXPECT_LE(std::fabs(inv[n].imag() + inv_ref), 0x1p-52 * std::fabs(inv_ref)) << n;
    EXPECT_EQ(real[n], std::complex<double>(-(static_cast<double>(n) + 1), 0.0));
  }
  for (auto [n, span, bmax, tol] : {std::tuple{Index{8}, 19.857, 5.156, 5e-4}, std::tuple{Index{64}, 1303.3, 40.75, 0.05}}) {
    const auto legs = s4d_init_A(S4DInit::legs, n);
    const auto B = s4d_init_B(S4DInit::legs, n);
    double most_negative = 0, bm = 0;
    for (std::size_t i = 0; i < legs.size(); ++i) {
      EXPECT_NEAR(legs[i].real(), -0.5, 1e-12);
      EXPECT_LT(legs[i].imag(), 0.0);
      if (i > 0) {
        EXPECT_GT(legs[i].imag(), legs[i - 1].imag());  // most negative first
      }
      most_negative = std::min(most_negative, legs[i].imag());
      bm = std::max(bm, std::abs(B[i]));
    }
    EXPECT_NEAR(-most_negative, span, tol) << n;
    EXPECT_NEAR(bm, bmax, 0.005) << n;
  }
  for (Index n = 0; n < 4; ++n) EXPECT_EQ(s4d_init_B(S4DInit::lin, 8)[n], std::complex<double>(1, 0));
}

// The registry entry: defaults in float32/float64 within bound, any-order bound dominating the
// backends', a numpy-style file (complex A and C, 0-d L, options) read through from_arrays.
// covers: S4D-DEFAULTS S4D-REGISTRY S4D-BOUND-ANY
TEST(S4DRegistry, DefaultsFilesAndAnyOrderBound) {
  const Algorithm& a = builtin_registry().get("s4d.kernel");
  for (const auto& size : a.sizes()) {
    const auto h = a.generate(size, Format::float32, 1);
    const Arrays any = a.any_order_bound(*h, Format::float32, 1.0);
    for (const auto& b : a.backends()) {
      if (b.format != Format::float32 || !b.unavailable_reason().empty()) continue;
      const Arrays mine = b.bound(*h);
      for (Index i = 0; i < mine.at("K").count(); ++i) ASSERT_LE(mine.at("K")[i], any.at("K")[i]) << size;
    }
  }
  // A file as numpy writes it: complex (H, N) arrays, 0-d L; disc and conj by --option.
  const auto h = a.generate("small", Format::float32, 2);
  const Arrays in = h->inputs();
  NpyMap file;
  for (const auto& [name, t] : in) {
    if (name == "disc" || name == "conj") continue;
    NpyArray arr;
    arr.values = t;
    arr.item_bytes = 4;
    arr.complex = t.rank() == 3;
    file[name] = arr;
  }
  const auto p = a.from_arrays(file, {{"disc", "bilinear"}});
  EXPECT_EQ(p->describe(), h->describe());
  const ExactArrays e1 = a.reference(*p, 256), e2 = a.reference(*h, 256);
  for (Index i = 0; i < e1.at("K").count(); ++i) EXPECT_EQ(to_double(e1.at("K")[i]), to_double(e2.at("K")[i]));
  // Errors name the argument.
  auto error_of = [&](NpyMap f, OptionMap o) {
    try {
      a.from_arrays(f, o);
    } catch (const InvalidInput& e) {
      return e.argument();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error_of(file, {{"disc", "euler"}}), "disc");
  EXPECT_EQ(error_of(file, {{"disc", "zoh"}, {"L", "7"}}), "L");  // disagrees with the file's L
  EXPECT_EQ(error_of(file, {{"disc", "bilinear"}, {"foo", "1"}}), "foo");
  auto no_L = file;
  no_L.erase("L");
  EXPECT_EQ(error_of(no_L, {}), "L");
  auto both_dt = file;
  both_dt["dt"] = file.at("log_dt");
  EXPECT_EQ(error_of(both_dt, {}), "dt");
  auto bad_C = file;
  bad_C["C"].values = Tensor<double>(Shape{3, 7, 2});
  EXPECT_EQ(error_of(bad_C, {}), "C");
}
