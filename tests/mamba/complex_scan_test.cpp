// Unit tests of the complex selective scan: validation, the interleaved layout, the 2 Re
// convention against the real scan, the oracle's own precision, determinism, and the float32
// cos/sin and glibc's binary64 cos/sin against MPFR.
#include <gtest/gtest.h>

#include <bit>
#include <complex>
#include <cstring>

#include "../tightness.hpp"
#include "builtin.hpp"
#include "complex_test_support.hpp"
#include "cpu/mamba.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba.hpp"
#include "touchstone/bounds/mamba_bound.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {

Tensor<double> values(Shape s, std::uint64_t seed, const char* name, double lo, double hi) {
  PhiloxStream rng(seed, name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
  return t;
}

// A small valid problem (float32 values), variable B (2 groups) and constant C.
ComplexScanInputs<double> small_inputs() {
  const Index batch = 2, dim = 4, N = 3, L = 5;
  ComplexScanInputs<double> in;
  in.u = values(Shape{batch, dim, L}, 1, "u", -1, 1);
  in.delta = values(Shape{batch, dim, L}, 1, "delta", 0, 0.5);
  in.A = values(Shape{dim, N, 2}, 1, "A", -3, 3);
  for (Index i = 0; i < in.A.count(); i += 2) in.A[i] = -std::fabs(in.A[i]) / 4;
  in.B = values(Shape{batch, 2, N, L, 2}, 1, "B", -1, 1);
  in.C = values(Shape{dim, N, 2}, 1, "C", -1, 1);
  in.D = values(Shape{dim}, 1, "D", -1, 1);
  in.z = values(Shape{batch, dim, L}, 1, "z", -2, 2);
  in.delta_bias = values(Shape{dim}, 1, "delta_bias", 0, 0.5);
  in.delta_softplus = true;
  return in;
}

std::string invalid_argument(ComplexScanInputs<double> in) {
  try {
    ComplexScanProblem<double> p(std::move(in));
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(accepted)";
}

bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (!(a.shape() == b.shape())) return false;
  for (Index i = 0; i < a.count(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return false;
  }
  return true;
}

}  // namespace

// covers: MAMBA-CSCAN-SHAPES MAMBA-CSCAN-NONFINITE
TEST(ComplexScanProblem, InvalidInputNamesTheArgument) {
  EXPECT_EQ(invalid_argument(small_inputs()), "(accepted)");
  auto in = small_inputs();
  in.A = Tensor<double>(Shape{4, 3});  // real (dim, N): the problem wants (re, im) pairs
  EXPECT_EQ(invalid_argument(in), "A");
  in = small_inputs();
  in.A = Tensor<double>(Shape{4, 3, 3});
  EXPECT_EQ(invalid_argument(in), "A");
  in = small_inputs();
  in.B = Tensor<double>(Shape{2, 3, 3, 5, 2});  // 3 groups do not divide dim 4
  EXPECT_EQ(invalid_argument(in), "B");
  in = small_inputs();
  in.B = Tensor<double>(Shape{2, 3, 10});  // the peer's interleaved form must be converted first
  EXPECT_EQ(invalid_argument(in), "B");
  in = small_inputs();
  in.C = Tensor<double>(Shape{4, 3, 2, 1});
  EXPECT_EQ(invalid_argument(in), "C");
  in = small_inputs();
  in.C[5] = INFINITY;
  EXPECT_EQ(invalid_argument(in), "C");
  in = small_inputs();
  in.delta = Tensor<double>(Shape{2, 4, 6});
  EXPECT_EQ(invalid_argument(in), "delta");
  in = small_inputs();
  in.D = Tensor<double>(Shape{3});
  EXPECT_EQ(invalid_argument(in), "D");
  in = small_inputs();
  in.z = Tensor<double>(Shape{2, 4});
  EXPECT_EQ(invalid_argument(in), "z");
  in = small_inputs();
  in.delta_bias = Tensor<double>(Shape{4}, -INFINITY);
  EXPECT_EQ(invalid_argument(in), "delta_bias");
  in = small_inputs();
  in.u = Tensor<double>(Shape{2, 0, 5});
  EXPECT_EQ(invalid_argument(in), "u");
}

// covers: MAMBA-CSCAN-NAN
TEST(ComplexScanProblem, ANanPartMakesTheComplexElementNan) {
  auto in = small_inputs();
  in.B[7] = NAN;  // the imaginary part of one element
  const ComplexScanProblem<double> p(std::move(in));
  EXPECT_TRUE(std::isnan(p.in().B[6]));
  EXPECT_TRUE(std::isnan(p.in().B[7]));
  EXPECT_FALSE(std::isnan(p.in().B[5]));
}

// covers: MAMBA-CSCAN-LAYOUT-INTERLEAVED
TEST(ComplexScanLayout, InterleavedPairsAlongTheLastAxis) {
  // The peer's variable B for complex A: real (batch, N, 2L), pairs (re, im) along the last axis.
  const Index batch = 2, N = 3, L = 4;
  Tensor<double> X(Shape{batch, N, 2 * L});
  for (Index i = 0; i < X.count(); ++i) X[i] = static_cast<double>(i);
  const Tensor<double> B = complex_from_interleaved(X, "B");
  EXPECT_EQ(B.shape().str(), "(2, 1, 3, 4, 2)");
  for (Index b = 0; b < batch; ++b)
    for (Index n = 0; n < N; ++n)
      for (Index t = 0; t < L; ++t) {
        EXPECT_EQ(B(b, Index{0}, n, t, Index{0}), X(b, n, 2 * t));
        EXPECT_EQ(B(b, Index{0}, n, t, Index{1}), X(b, n, 2 * t + 1));
      }
  EXPECT_EQ(complex_from_interleaved(Tensor<double>(Shape{2, 2, 3, 8}), "C").shape().str(),
            "(2, 2, 3, 4, 2)");
  for (const Shape& bad : {Shape{2, 3, 7}, Shape{2, 3}, Shape{1, 1, 1, 1, 2}}) {
    try {
      complex_from_interleaved(Tensor<double>(bad), "B");
      ADD_FAILURE() << "accepted " << bad.str();
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.argument(), "B");
    }
  }
}

// covers: MAMBA-CSCAN-LAYOUT-INTERLEAVED MAMBA-CSCAN-SHAPES
TEST(ComplexScanLayout, RegistryReadsThePeersFileLayouts) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan_complex");
  const auto problem = a.generate("small", Format::float32, 5);
  // What `generate` writes (A and constant operands as (re, im), variable ones interleaved) reads
  // back to the same problem: the oracle agrees bit for bit.
  NpyMap files;
  for (const auto& [name, t] : problem->inputs()) files[name] = NpyArray{NpyKind::floating, 4, t};
  const auto back = a.from_arrays(files, {});
  EXPECT_EQ(back->describe(), problem->describe());
  const auto x = a.reference(*problem, 128), y = a.reference(*back, 128);
  for (const auto& [name, t] : x)
    for (Index i = 0; i < t.count(); ++i) ASSERT_EQ(t[i], y.at(name)[i]) << name;

  // A complex64 constant C (as the npz reader returns it) and a real A (zero imaginary parts).
  NpyMap m = files;
  const Index dim = 4, N = 8;
  m["C"] = NpyArray{NpyKind::floating, 4, values(Shape{dim, N, 2}, 2, "C", -1, 1), true};
  m["A"] = NpyArray{NpyKind::floating, 4, values(Shape{dim, N}, 2, "A", -1, 0)};
  EXPECT_EQ(a.from_arrays(m, {})->describe().find("C=constant") != std::string::npos, true);
  // A complex u is not a real input.
  m = files;
  m["u"].complex = true;
  try {
    a.from_arrays(m, {});
    ADD_FAILURE() << "complex u accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "u");
  }
  // Odd interleaved extent.
  m = files;
  m["B"] = NpyArray{NpyKind::floating, 4, Tensor<double>(Shape{2, 2, 8, 65})};
  try {
    a.from_arrays(m, {});
    ADD_FAILURE() << "odd interleaved B accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), "B");
  }
}

// covers: MAMBA-CSCAN-DEFAULTS
TEST(ComplexScanLayout, DefaultProblemsAreTheDocumentedOnes) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan_complex");
  EXPECT_EQ(a.sizes(), (std::vector<std::string>{"tiny", "small", "medium"}));
  const auto tiny = a.generate("tiny", Format::float32, 0);
  EXPECT_EQ(tiny->input_format(), Format::float32);
  const Tensor<double> A = tiny->inputs().at("A");  // S4D-Lin: -1/2 + i pi n
  ASSERT_EQ(A.shape().str(), "(3, 2, 2)");
  EXPECT_EQ(A(Index{2}, Index{1}, Index{0}), -0.5);
  EXPECT_EQ(A(Index{2}, Index{1}, Index{1}), static_cast<double>(static_cast<float>(3.14159265358979323846)));
  EXPECT_NE(a.generate("small", Format::float64, 0)->describe().find("B=variable(G=2) C=variable(G=1)"),
            std::string::npos);
  EXPECT_THROW(a.generate("huge", Format::float32, 0), InvalidInput);
}

// covers: MAMBA-CSCAN-OUT-2RE MAMBA-CSCAN-DEF
TEST(ComplexScan, RealAGivenAsComplexIsTwiceTheRealScan) {
  // With Im A = Im B = Im C = 0 every h is real and y_complex = sum h C is the real scan's y, so
  // out = 2 Re(y) is twice the real scan's out (no D: D u is added once in both). In the CPU
  // backends the 2 is exact and every other operation is the same (cos 0 = 1, sin 0 = 0), so they
  // agree bitwise. The two oracles agree within their own bounds (MPC's working precision need
  // not be MPFR's to the bit).
  for (bool gate : {false, true}) {
    SelectiveScanInputs<double> r;
    const Index batch = 2, dim = 5, N = 4, L = 9;
    r.u = values(Shape{batch, dim, L}, 3, "u", -1, 1);
    r.delta = values(Shape{batch, dim, L}, 3, "delta", -1, 1);
    r.A = values(Shape{dim, N}, 3, "A", -2, 0);
    r.B = values(Shape{batch, 1, N, L}, 3, "B", -1, 1);
    r.C = values(Shape{dim, N}, 3, "C", -1, 1);
    r.delta_bias = values(Shape{dim}, 3, "bias", 0, 1);
    if (gate) r.z = values(Shape{batch, dim, L}, 3, "z", 1, 2);
    r.delta_softplus = true;
    ComplexScanInputs<double> c;
    c.u = r.u;
    c.delta = r.delta;
    c.A = complex_from_real(r.A);
    c.B = complex_from_real(r.B);
    c.C = complex_from_real(r.C);
    c.delta_bias = r.delta_bias;
    c.z = r.z;
    c.delta_softplus = true;
    const SelectiveScanProblem<double> pr(r);
    const ComplexScanProblem<double> pc(c);

    const WorkingPrecision precision(200);
    const auto xr = reference::selective_scan<mp_real>(pr);
    const auto xc = reference::selective_scan_complex<mp_real, mp_complex>(pc);
    const auto bc = selective_scan_complex_bound(pc, complex_arithmetic_reference(200));
    const auto br = selective_scan_bound(pr, arithmetic_reference(200));
    for (Index i = 0; i < xr.out.count(); ++i)
      ASSERT_LE(mp_real(abs(xc.out[i] - 2 * xr.out[i])), mp_real(bc.out[i] + 2 * br.out[i])) << i;
    for (Index i = 0; i < xr.last_state.count(); ++i) {
      ASSERT_LE(mp_real(abs(xc.last_state[2 * i] - xr.last_state[i])),
                mp_real(bc.last_state[2 * i] + br.last_state[i]));
      ASSERT_EQ(xc.last_state[2 * i + 1], 0);
    }
    const auto r64 = cpu::selective_scan(pr, 1);
    const auto c64 = cpu::selective_scan_complex(pc, 1);
    const auto r32 = cpu::selective_scan(pr.cast<float>(), 1);
    const auto c32 = cpu::selective_scan_complex(pc.cast<float>(), 1);
    for (Index i = 0; i < r64.out.count(); ++i) {
      ASSERT_EQ(c64.out[i], 2 * r64.out[i]) << i;
      ASSERT_EQ(c32.out[i], 2 * r32.out[i]) << i;
    }
    for (Index i = 0; i < r64.last_state.count(); ++i) {
      ASSERT_EQ(c64.last_state[2 * i], r64.last_state[i]);
      ASSERT_EQ(c32.last_state[2 * i], r32.last_state[i]);
    }
  }
}

// covers: MAMBA-CSCAN-DEF MAMBA-CSCAN-DISCRETIZE
TEST(ComplexScan, OracleIsThePeersDefinition) {
  // The peer's selective_scan_ref, written out directly in long double complex arithmetic:
  // deltaA = exp(dt A), deltaB_u = dt B u, x = deltaA x + deltaB_u, y = 2 Re(sum_n x C), then
  // + D u and * silu(z). The oracle must agree to long double's accuracy.
  const ComplexScanProblem<double> p(small_inputs());
  const auto x = complex_oracle(p);
  const auto& in = p.in();
  using C = std::complex<long double>;
  for (Index b = 0; b < p.batch(); ++b)
    for (Index d = 0; d < p.dim(); ++d) {
      std::vector<C> h(static_cast<std::size_t>(p.dstate()));
      for (Index t = 0; t < p.seqlen(); ++t) {
        long double dt = in.delta(b, d, t) + (long double)(*in.delta_bias)[d];
        dt = dt > 20 ? dt : std::log1p(std::exp(dt));
        C y = 0;
        for (Index n = 0; n < p.dstate(); ++n) {
          const C A(p.A_at(d, n, 0), p.A_at(d, n, 1));
          const C B(p.B_at(b, d, n, t, 0), p.B_at(b, d, n, t, 1));
          const C Cc(p.C_at(b, d, n, t, 0), p.C_at(b, d, n, t, 1));
          h[n] = std::exp(dt * A) * h[n] + dt * B * (long double)in.u(b, d, t);
          y += h[n] * Cc;  // no conjugation
        }
        long double out = 2 * y.real() + (long double)(*in.D)[d] * in.u(b, d, t);
        const long double z = (*in.z)(b, d, t);
        out *= z / (1 + std::exp(-z));
        EXPECT_NEAR(static_cast<double>(out), to_double(x.out(b, d, t)), 1e-15);
      }
      for (Index n = 0; n < p.dstate(); ++n) {
        EXPECT_NEAR(static_cast<double>(h[n].real()), to_double(x.last_state(b, d, n, Index{0})), 1e-15);
        EXPECT_NEAR(static_cast<double>(h[n].imag()), to_double(x.last_state(b, d, n, Index{1})), 1e-15);
      }
    }
}

// covers: MAMBA-CSCAN-BOUND-ORACLE
TEST(ComplexScan, OracleAtTwoPrecisionsAgreesWithinItsBound) {
  const ComplexScanProblem<double> p(small_inputs());
  for (unsigned bits : {64u, 256u}) {
    const auto lo = complex_oracle(p, bits), hi = complex_oracle(p, 2 * bits);
    const auto bound = selective_scan_complex_bound(p, complex_arithmetic_reference(bits));
    const WorkingPrecision precision(2 * bits + 64);
    for (Index i = 0; i < lo.out.count(); ++i)
      ASSERT_LE(mp_real(abs(lo.out[i] - hi.out[i])), mp_real(bound.out[i])) << bits << " out " << i;
    for (Index i = 0; i < lo.last_state.count(); ++i)
      ASSERT_LE(mp_real(abs(lo.last_state[i] - hi.last_state[i])), mp_real(bound.last_state[i]))
          << bits << " last_state " << i;
  }
}

// covers: MAMBA-CSCAN-CPU MAMBA-CSCAN-BOUND-CPU-F32 MAMBA-CSCAN-BOUND-CPU-F64
TEST(ComplexScan, CpuWithinBoundOnAHandMadeProblem) {
  const ComplexScanProblem<double> p(small_inputs());
  const auto exact = complex_oracle(p);
  const auto j32 = judge_complex(complex_as_double(cpu::selective_scan_complex(p.cast<float>())),
                                 exact, selective_scan_complex_bound(p, complex_arithmetic_cpu_f32()),
                                 Format::float32);
  EXPECT_TRUE(j32.pass()) << j32.describe();
  EXPECT_GT(j32.max_ratio(), touchstone::kVacuousRatio) << j32.describe();
  const auto j64 = judge_complex(complex_as_double(cpu::selective_scan_complex(p)), exact,
                                 selective_scan_complex_bound(p, complex_arithmetic_cpu_f64()),
                                 Format::float64);
  EXPECT_TRUE(j64.pass()) << j64.describe();
  EXPECT_GT(j64.max_ratio(), touchstone::kVacuousRatio) << j64.describe();
}

// covers: MAMBA-CSCAN-CPU-DETERMINISTIC
TEST(ComplexScan, CpuBitsDoNotDependOnTheThreadCount) {
  auto in = small_inputs();
  const ComplexScanProblem<double> p(std::move(in));
  const auto f32 = p.cast<float>();
  const auto ref32 = complex_as_double(cpu::selective_scan_complex(f32, 1));
  const auto ref64 = cpu::selective_scan_complex(p, 1);
  for (int threads : {2, 3, 8}) {
    const auto r32 = complex_as_double(cpu::selective_scan_complex(f32, threads));
    const auto r64 = cpu::selective_scan_complex(p, threads);
    EXPECT_TRUE(same_bits(r32.out, ref32.out) && same_bits(r32.last_state, ref32.last_state)) << threads;
    EXPECT_TRUE(same_bits(r64.out, ref64.out) && same_bits(r64.last_state, ref64.last_state)) << threads;
  }
}

// covers: MAMBA-CSCAN-ELEMENTARY
TEST(ComplexElementary, CosSinF32WithinTheirMeasuredBound) {
  // Every 65537th float32 bit pattern (65536 inputs over every binade, both signs) plus the
  // backends' usual range |x| < 64 densely, against MPFR at 160 bits (enough for the argument
  // reduction of any float32).
  const WorkingPrecision precision(160);
  double worst = 0;
  float worst_x = 0;
  auto check = [&](float x) {
    if (!std::isfinite(x)) return;
    const mp_real X(static_cast<double>(x));
    const mp_real c = cos(X), s = sin(X);
    const double ec = std::fabs(to_double(mp_real(mp_real(static_cast<double>(cpu::cos_f32(x))) - c))) /
                      ulp_in(c, Format::float32);
    const double es = std::fabs(to_double(mp_real(mp_real(static_cast<double>(cpu::sin_f32(x))) - s))) /
                      ulp_in(s, Format::float32);
    if (ec > worst) worst = ec, worst_x = x;
    if (es > worst) worst = es, worst_x = x;
  };
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << 32); bits += 65537)
    check(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
  PhiloxStream rng(7, "sincos");
  for (int i = 0; i < 100000; ++i) check(static_cast<float>(rng.next_uniform(-64, 64)));
  EXPECT_LE(worst + 0x1p-20, kSinCosF32Ulps) << "at " << worst_x;
  std::printf("cos_f32/sin_f32: max error %.9f ulp (at %a)\n", worst, static_cast<double>(worst_x));
}

// covers: MAMBA-CSCAN-ASSUME-LIBM-SINCOS
TEST(ComplexElementary, LibmF64CosSinWithinTheAssumedUlp) {
  const WorkingPrecision precision(192);
  PhiloxStream rng(2025, "libm-sincos");
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    // |x| up to 2^20 (dt Im A), log-uniform, both signs.
    const double x = std::ldexp(rng.next_uniform(1, 2), static_cast<int>(rng.next_uniform(-30, 20))) *
                     (i % 2 ? 1 : -1);
    const mp_real X(x);
    const mp_real c = cos(X), s = sin(X);
    worst = std::max(worst, std::fabs(to_double(mp_real(mp_real(std::cos(x)) - c))) / ulp_in(c, Format::float64));
    worst = std::max(worst, std::fabs(to_double(mp_real(mp_real(std::sin(x)) - s))) / ulp_in(s, Format::float64));
  }
  EXPECT_LE(worst, kSinCosF64Ulps);
  std::printf("glibc cos/sin (binary64): max error %.6f ulp over 200000 samples\n", worst);
}
