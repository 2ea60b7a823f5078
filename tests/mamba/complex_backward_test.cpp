// The complex selective scan's backward pass (spec/mamba_complex.md, the backward chapter): the
// adjoint-equation oracle against autodiff of the forward definition, the CPU backends against
// the oracle and their bounds, determinism, the adjoint identity, invalid cotangents.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>

#include "../tightness.hpp"
#include "backward_test_support.hpp"
#include "builtin.hpp"
#include "cpu/mamba_complex.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/mamba_complex_backward.hpp"
#include "touchstone/bounds/mamba_complex_backward_bound.hpp"

namespace touchstone::mamba::testing {
namespace {

struct Options {
  Index batch = 2, dim = 4, N = 3, L = 5;
  Index B_groups = 2, C_groups = 0;  // 0: constant
  bool D = true, z = true, bias = true, softplus = true, dlast = true;
};

// A problem with float32 values: Re A on [-1, 0), Im A on [-4, 4), delta on [-1, 1) (softplus)
// or [0, 0.5), everything else on [-1, 1) or z on [-3, 3).
ComplexScanBackwardProblem<double> make_problem(std::uint64_t seed, const Options& o) {
  auto fill = [&](const char* name, std::vector<Index> shape, double lo, double hi) {
    PhiloxStream rng(seed, std::string("complex-backward-test/") + name);
    Tensor<double> t{Shape(std::move(shape))};
    for (Index i = 0; i < t.count(); ++i)
      t[i] = static_cast<double>(static_cast<float>(rng.next_uniform(lo, hi)));
    return t;
  };
  ComplexScanInputs<double> in;
  in.u = fill("u", {o.batch, o.dim, o.L}, -1, 1);
  in.delta = o.softplus ? fill("delta", {o.batch, o.dim, o.L}, -1, 1)
                        : fill("delta", {o.batch, o.dim, o.L}, 0, 0.5);
  const Tensor<double> re = fill("A.re", {o.dim, o.N}, -1, 0), im = fill("A.im", {o.dim, o.N}, -4, 4);
  in.A = Tensor<double>(Shape{o.dim, o.N, 2});
  for (Index i = 0; i < re.count(); ++i) {
    in.A[2 * i] = re[i];
    in.A[2 * i + 1] = im[i];
  }
  auto operand = [&](const char* name, Index groups) {
    return groups ? fill(name, {o.batch, groups, o.N, o.L, 2}, -1, 1) : fill(name, {o.dim, o.N, 2}, -1, 1);
  };
  in.B = operand("B", o.B_groups);
  in.C = operand("C", o.C_groups);
  if (o.D) in.D = fill("D", {o.dim}, -1, 1);
  if (o.z) in.z = fill("z", {o.batch, o.dim, o.L}, -3, 3);
  if (o.bias) in.delta_bias = fill("delta_bias", {o.dim}, 0, 0.5);
  in.delta_softplus = o.softplus;
  std::optional<Tensor<double>> dlast;
  if (o.dlast) dlast = fill("dlast_state", {o.batch, o.dim, o.N, 2}, -1, 1);
  return ComplexScanBackwardProblem<double>(ComplexScanProblem<double>(std::move(in)),
                                            fill("dout", {o.batch, o.dim, o.L}, -1, 1), std::move(dlast));
}

// covers: MAMBA-CSCAN-BWD-BASIS MAMBA-CSCAN-BWD-JVP MAMBA-CSCAN-BWD-DEF MAMBA-CSCAN-BWD-CONVENTION
// covers: MAMBA-CSCAN-BWD-ADJOINT-STATE MAMBA-CSCAN-BWD-OUT MAMBA-CSCAN-BWD-INPUT
// covers: MAMBA-CSCAN-BWD-DISCRETIZE MAMBA-CSCAN-BWD-GATE
// Every gradient element (each part of each complex one) equals the JVP along its basis
// direction, <w, J e_i>, from autodiff of the forward definition on (re, im) pairs: the whole
// Jacobian transposed, from an oracle that derives nothing by hand. Both at 256 bits.
TEST(ComplexBackwardOracle, VjpEqualsJvpAlongEveryBasisDirection) {
  Options variable_C;
  variable_C.C_groups = 1;
  variable_C.L = 4;
  Options plain;
  plain.B_groups = 0;
  plain.D = plain.z = plain.bias = plain.softplus = plain.dlast = false;
  plain.L = 3;
  for (const auto& [seed_, o] : {std::pair<std::uint64_t, Options>{1, Options{}}, {2, variable_C}, {3, plain}}) {
    const std::uint64_t seed = seed_;  // a plain variable: clang cannot capture a structured binding
    const auto q = make_problem(seed, o);
    const WorkingPrecision precision(256);
    const auto g = reference::selective_scan_complex_vjp<mp_real, mp_complex>(q);
    Index directions = 0;
    for_each_basis_direction(q.forward(), [&](const std::string& name, Index i,
                                              const ComplexScanInputs<double>& e) {
      const mp_real wjv =
          reference::inner_product(q, reference::selective_scan_complex_jvp(q.forward(), e));
      const mp_real vjp = reference::inner_product(g, e);
      const mp_real scale = abs(wjv) + abs(vjp) + mp_real(1e-300);
      ++directions;
      EXPECT_LE(to_double(abs(wjv - vjp) / scale), std::ldexp(1.0, -200))
          << "seed " << seed << " " << name << "[" << i << "]: <w, J e> = " << to_decimal_string(wjv)
          << " J^T w = " << to_decimal_string(vjp);
    });
    EXPECT_GT(directions, 100);
  }
}

// covers: MAMBA-CSCAN-BWD-JVP
// The forward written on (re, im) pairs, which the JVP differentiates, is the MPC oracle of
// [MAMBA-CSCAN-DEF]: at 256 bits the two agree to 2^-240 relative to the output's size.
TEST(ComplexBackwardOracle, PairFormIsTheForwardDefinition) {
  const auto q = make_problem(4, Options{});
  const WorkingPrecision precision(256);
  const auto pairs = reference::selective_scan_complex_pairs(reference::exact_complex_inputs(q.forward()));
  const auto mpc = reference::selective_scan_complex<mp_real, mp_complex>(q.forward());
  for (Index i = 0; i < mpc.out.count(); ++i)
    EXPECT_LE(to_double(abs(pairs.out[i] - mpc.out[i])), std::ldexp(1.0, -240) * (1 + to_double(abs(mpc.out[i]))));
  for (Index i = 0; i < mpc.last_state.count(); ++i)
    EXPECT_LE(to_double(abs(pairs.last_state[i] - mpc.last_state[i])),
              std::ldexp(1.0, -240) * (1 + to_double(abs(mpc.last_state[i]))));
}

struct Judged {
  std::vector<std::pair<std::string, ErrorSummary>> arrays;
  bool pass() const {
    for (const auto& [n, s] : arrays)
      if (!s.pass()) return false;
    return true;
  }
  double max_ratio() const {
    double r = 0;
    for (const auto& [n, s] : arrays) r = std::max(r, s.max_ratio);
    return r;
  }
  std::string describe() const {
    std::string s;
    for (const auto& [n, e] : arrays) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "  %-12s failures %lld  max err/bound %.3g  max ulps %.3g\n",
                    n.c_str(), static_cast<long long>(e.outside), e.max_ratio, e.max_ulps);
      s += buf;
      for (const auto& f : e.first_failures)
        s += "    at " + std::to_string(f.index) + " computed " + std::to_string(f.computed) +
             " exact " + std::to_string(f.exact) + " bound " + std::to_string(f.bound) + "\n";
    }
    return s;
  }
};

Judged judge(const ComplexScanGrads<double>& computed, const ComplexScanGrads<mp_real>& exact,
             const ComplexScanGrads<double>& bound, Format f) {
  Judged j;
  ComplexScanGrads<double> c = computed, b = bound;
  ComplexScanGrads<mp_real> e = exact;
  for_each_grad([&](const std::string& name, const Tensor<double>& cc, const Tensor<mp_real>& ee,
                    const Tensor<double>& bb) { j.arrays.emplace_back(name, compare(name, own_domain_view(cc, ee, bb), ee, &bb, f)); },
                c, e, b);
  return j;
}

// covers: MAMBA-CSCAN-BWD-BOUND-CPU MAMBA-CSCAN-BWD-CPU MAMBA-CSCAN-BWD-BOUND-ANY
// Every gradient element of both CPU backends is within its bound, the bound is not vacuous
// (max err/bound > 1e-3), and the any-order bound of `diff` holds for them too. L = 300 crosses
// a checkpoint block (256), so the recompute from a checkpoint is exercised.
TEST(ComplexBackward, CpuWithinBound) {
  Options var_C;
  var_C.C_groups = 1;
  Options long_seq;
  long_seq.L = 300;
  long_seq.C_groups = 2;
  long_seq.dim = 4;
  Options one_step;
  one_step.L = 1;
  one_step.B_groups = 0;
  one_step.z = false;
  one_step.dlast = false;
  const std::pair<std::uint64_t, Options> cases[] = {{1, Options{}}, {2, var_C}, {3, long_seq}, {4, one_step}};
  for (const auto& [seed, o] : cases) {
    const auto q = make_problem(seed, o);
    const ComplexScanGrads<mp_real> exact = [&] {
      const WorkingPrecision precision(256);
      return reference::selective_scan_complex_vjp<mp_real, mp_complex>(q);
    }();
    const auto g64 = cpu::selective_scan_complex_backward(q);
    const auto g32 = grads_as_double(cpu::selective_scan_complex_backward(q.cast<float>()));
    const auto j64 = judge(g64, exact, selective_scan_complex_backward_bound(q, complex_backward_arithmetic_cpu_f64()),
                           Format::float64);
    const auto j32 = judge(g32, exact, selective_scan_complex_backward_bound(q, complex_backward_arithmetic_cpu_f32()),
                           Format::float32);
    const auto a32 = judge(g32, exact,
                           selective_scan_complex_backward_bound(q, complex_backward_arithmetic_any_order(Format::float32, 4)),
                           Format::float32);
    const auto a64 = judge(g64, exact,
                           selective_scan_complex_backward_bound(q, complex_backward_arithmetic_any_order(Format::float64, 4)),
                           Format::float64);
    std::printf("seed %llu L %lld: max err/bound cpu-f64 %.3g, cpu-f32 %.3g, any-order f32 %.3g, f64 %.3g\n%s%s",
                static_cast<unsigned long long>(seed), static_cast<long long>(o.L), j64.max_ratio(),
                j32.max_ratio(), a32.max_ratio(), a64.max_ratio(), ("cpu-f64\n" + j64.describe()).c_str(),
                ("cpu-f32\n" + j32.describe()).c_str());
    EXPECT_TRUE(j64.pass()) << "cpu-f64 seed " << seed << "\n" << j64.describe();
    EXPECT_TRUE(j32.pass()) << "cpu-f32 seed " << seed << "\n" << j32.describe();
    EXPECT_TRUE(a32.pass()) << a32.describe();
    EXPECT_TRUE(a64.pass()) << a64.describe();
    EXPECT_GT(j64.max_ratio(), touchstone::kVacuousRatio) << j64.describe();
    EXPECT_GT(j32.max_ratio(), touchstone::kVacuousRatio) << j32.describe();
  }
}

// covers: MAMBA-CSCAN-BWD-DETERMINISTIC
// The gradients are the same bits for 1, 2 and 3 threads and run after run, on a problem with
// several tiles and slabs per group (dim 40: 3 float32 tiles, 5 float64 tiles per batch row).
TEST(ComplexBackward, DeterministicAcrossThreads) {
  Options o;
  o.dim = 40;
  o.B_groups = 1;
  o.C_groups = 1;
  o.L = 260;
  o.N = 2;
  const auto q = make_problem(5, o);
  const auto q32 = q.cast<float>();
  const auto ref32 = grads_as_double(cpu::selective_scan_complex_backward(q32, 1));
  const auto ref64 = cpu::selective_scan_complex_backward(q, 1);
  for (int threads : {1, 2, 3}) {
    for (int run = 0; run < 2; ++run) {
      auto g32 = grads_as_double(cpu::selective_scan_complex_backward(q32, threads));
      auto g64 = cpu::selective_scan_complex_backward(q, threads);
      auto r32 = ref32;
      auto r64 = ref64;
      for_each_grad([&](const std::string& name, const Tensor<double>& a, const Tensor<double>& b,
                        const Tensor<double>& c, const Tensor<double>& d) {
        EXPECT_EQ(0, std::memcmp(a.values().data(), b.values().data(), sizeof(double) * a.count()))
            << name << " (float32) differs with " << threads << " threads";
        EXPECT_EQ(0, std::memcmp(c.values().data(), d.values().data(), sizeof(double) * c.count()))
            << name << " (float64) differs with " << threads << " threads";
      }, r32, g32, r64, g64);
    }
  }
}

// The problem restricted to its first `steps` time steps.
ComplexScanProblem<double> prefix(const ComplexScanProblem<double>& p, Index steps) {
  const auto& in = p.in();
  auto cut = [&](const Tensor<double>& X, int time_axis) {
    std::vector<Index> shape = X.shape().extents();
    const Index L = shape[static_cast<std::size_t>(time_axis)];
    shape[static_cast<std::size_t>(time_axis)] = steps;
    Tensor<double> Y{Shape(shape)};
    Index inner = 1;
    for (std::size_t k = static_cast<std::size_t>(time_axis) + 1; k < shape.size(); ++k) inner *= shape[k];
    const Index outer = X.count() / (L * inner);
    for (Index a = 0; a < outer; ++a)
      for (Index t = 0; t < steps; ++t)
        for (Index i = 0; i < inner; ++i) Y[(a * steps + t) * inner + i] = X[(a * L + t) * inner + i];
    return Y;
  };
  ComplexScanInputs<double> out = in;
  out.u = cut(in.u, 2);
  out.delta = cut(in.delta, 2);
  if (p.B_layout().variable) out.B = cut(in.B, 3);
  if (p.C_layout().variable) out.C = cut(in.C, 3);
  if (in.z) out.z = cut(*in.z, 2);
  return ComplexScanProblem<double>(std::move(out));
}

// covers: MAMBA-CSCAN-BWD-CPU
// The backward's recomputed states are the forward's bit for bit, across a checkpoint boundary:
// with one channel per C group, no gate and dout = 1/2, dC at step t is (h_t.re, -h_t.im)
// exactly (2 g = 1), and the forward on the first t + 1 steps returns h_t as last_state.
TEST(ComplexBackward, RecomputedStatesAreTheForwardStates) {
  Options o;
  o.dim = 3;
  o.C_groups = 3;
  o.B_groups = 0;
  o.z = false;
  o.L = 300;
  const auto base = make_problem(6, o);
  const ComplexScanBackwardProblem<double> q(base.forward(), Tensor<double>(base.dout().shape(), 0.5),
                                             base.dlast_state());
  for (const bool f32 : {false, true}) {
    const auto g = f32 ? grads_as_double(cpu::selective_scan_complex_backward(q.cast<float>(), 2))
                       : cpu::selective_scan_complex_backward(q, 2);
    for (const Index t : {Index{0}, Index{255}, Index{256}, Index{299}}) {
      const auto pre = prefix(q.forward(), t + 1);
      const auto fwd = f32 ? ComplexScanResult<double>{cpu::selective_scan_complex(pre.cast<float>()).out.cast<double>(),
                                                       cpu::selective_scan_complex(pre.cast<float>()).last_state.cast<double>()}
                           : cpu::selective_scan_complex(pre);
      for (Index b = 0; b < o.batch; ++b)
        for (Index d = 0; d < o.dim; ++d)
          for (Index n = 0; n < o.N; ++n) {
            EXPECT_EQ(g.dC(b, d, n, t, Index{0}), fwd.last_state(b, d, n, Index{0})) << "t " << t << " f32 " << f32;
            EXPECT_EQ(-g.dC(b, d, n, t, Index{1}), fwd.last_state(b, d, n, Index{1})) << "t " << t << " f32 " << f32;
          }
    }
  }
}

// covers: MAMBA-CSCAN-BWD-ADJOINT
// <w, J v> (autodiff over MPFR) against <J^T w, v> from each backend, for random tangents v:
// the difference is within sum_i |v_i| E_i, E the backend's per-element bound.
TEST(ComplexBackward, AdjointIdentityAgainstAutodiff) {
  for (const std::uint64_t seed : {11u, 12u, 13u}) {
    Options o;
    o.L = 7;
    o.C_groups = seed % 2;
    o.dlast = seed % 2;
    const auto q = make_problem(seed, o);
    const auto& in = q.forward().in();
    auto random_like = [&](const Tensor<double>& t, const char* name) {
      PhiloxStream rng(seed, std::string("tangent/") + name);
      Tensor<double> r(t.shape());
      for (Index i = 0; i < r.count(); ++i) r[i] = rng.next_uniform(-1, 1);
      return r;
    };
    const ComplexScanInputs<double> v{random_like(in.u, "u"), random_like(in.delta, "delta"),
                                      random_like(in.A, "A"), random_like(in.B, "B"),
                                      random_like(in.C, "C"), random_like(*in.D, "D"),
                                      random_like(*in.z, "z"), random_like(*in.delta_bias, "bias"), true};
    auto abs_of = [](Tensor<double> t) {
      for (Index i = 0; i < t.count(); ++i) t[i] = std::fabs(t[i]);
      return t;
    };
    const ComplexScanInputs<double> absv{abs_of(v.u), abs_of(v.delta), abs_of(v.A), abs_of(v.B),
                                         abs_of(v.C), abs_of(*v.D), abs_of(*v.z),
                                         abs_of(*v.delta_bias), true};
    const WorkingPrecision precision(256);
    const mp_real wjv = reference::inner_product(q, reference::selective_scan_complex_jvp(q.forward(), v));
    for (const bool f32 : {false, true}) {
      const auto g = f32 ? grads_as_double(cpu::selective_scan_complex_backward(q.cast<float>()))
                         : cpu::selective_scan_complex_backward(q);
      const auto bound = selective_scan_complex_backward_bound(
          q, f32 ? complex_backward_arithmetic_cpu_f32() : complex_backward_arithmetic_cpu_f64());
      const mp_real allowed = reference::inner_product(bound, absv);
      const mp_real gap = abs(reference::inner_product(g, v) - wjv);
      EXPECT_LE(gap, allowed) << (f32 ? "cpu-f32" : "cpu-f64") << " seed " << seed
                              << ": |<g,v> - <w,Jv>| = " << to_double(gap) << " > " << to_double(allowed);
      EXPECT_GT(to_double(gap), 0.0);
      std::printf("seed %llu %s: |<g,v> - <w,Jv>| / allowed = %.3g\n",
                  static_cast<unsigned long long>(seed), f32 ? "cpu-f32" : "cpu-f64",
                  to_double(gap / allowed));
    }
  }
}

void expect_invalid(const std::function<void()>& f, const std::string& argument) {
  try {
    f();
    ADD_FAILURE() << "no InvalidInput for " << argument;
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.argument(), argument) << e.what();
  }
}

// covers: MAMBA-CSCAN-BWD-SHAPES MAMBA-CSCAN-BWD-NONFINITE
// Misshapen or infinite cotangents, and misshapen tangents, are InvalidInput naming the array.
TEST(ComplexBackwardProblem, RejectsMisshapenAndInfiniteCotangents) {
  const auto q = make_problem(1, Options{});
  const auto& p = q.forward();
  expect_invalid([&] { ComplexScanBackwardProblem<double>(p, Tensor<double>(Shape{2, 4, 4})); }, "dout");
  // A real (batch, dim, dstate) last-state cotangent lacks the (re, im) axis.
  expect_invalid([&] { ComplexScanBackwardProblem<double>(p, q.dout(), Tensor<double>(Shape{2, 4, 3})); },
                 "dlast_state");
  expect_invalid([&] { ComplexScanBackwardProblem<double>(p, q.dout(), Tensor<double>(Shape{2, 4, 3, 3})); },
                 "dlast_state");
  Tensor<double> inf_dout = q.dout();
  inf_dout[3] = std::numeric_limits<double>::infinity();
  expect_invalid([&] { ComplexScanBackwardProblem<double>(p, inf_dout); }, "dout");
  Tensor<double> inf_dlast = *q.dlast_state();
  inf_dlast[5] = -std::numeric_limits<double>::infinity();
  expect_invalid([&] { ComplexScanBackwardProblem<double>(p, q.dout(), inf_dlast); }, "dlast_state");
  ComplexScanInputs<double> tangent = p.in();
  tangent.B = Tensor<double>(Shape{4, 3, 2});
  expect_invalid([&] {
    const WorkingPrecision precision(64);
    reference::selective_scan_complex_jvp(p, tangent);
  }, "tangent.B");
}

// covers: MAMBA-CSCAN-BWD-NONFINITE
// A NaN cotangent element (in dout, or one part of dlast_state) makes exactly the gradients that
// depend on it NaN, in the oracle and both backends alike.
TEST(ComplexBackwardProblem, NanCotangentPropagatesLikeTheOracle) {
  for (const bool in_dlast : {false, true}) {
    Options o;
    o.L = 6;
    o.C_groups = 1;
    const auto base = make_problem(8, o);
    Tensor<double> dout = base.dout();
    std::optional<Tensor<double>> dlast = base.dlast_state();
    if (in_dlast) (*dlast)(1, 2, 1, Index{1}) = std::numeric_limits<double>::quiet_NaN();
    else dout(1, 2, 3) = std::numeric_limits<double>::quiet_NaN();
    const ComplexScanBackwardProblem<double> q(base.forward(), dout, dlast);
    const WorkingPrecision precision(256);
    auto exact = reference::selective_scan_complex_vjp<mp_real, mp_complex>(q);
    auto g64 = cpu::selective_scan_complex_backward(q);
    auto g32 = grads_as_double(cpu::selective_scan_complex_backward(q.cast<float>()));
    Index nans = 0;
    for_each_grad([&](const std::string& name, const Tensor<mp_real>& e, const Tensor<double>& a,
                      const Tensor<double>& b) {
      for (Index i = 0; i < e.count(); ++i) {
        const bool en = isnan(e[i]);
        nans += en;
        EXPECT_EQ(en, std::isnan(a[i])) << name << "[" << i << "] cpu-f64, NaN in " << (in_dlast ? "dlast_state" : "dout");
        EXPECT_EQ(en, std::isnan(b[i])) << name << "[" << i << "] cpu-f32, NaN in " << (in_dlast ? "dlast_state" : "dout");
      }
    }, exact, g64, g32);
    EXPECT_GT(nans, 0);
  }
}

// covers: MAMBA-CSCAN-BWD-DEFAULTS MAMBA-CSCAN-BWD-BOUND-CPU
// The registry entry's default problems (what `touchstone check` runs), seeds 0 and 1: every
// backend within its bound, with the largest err/bound per size printed (the spec's table).
TEST(ComplexBackwardRegistry, DefaultProblemsWithinBound) {
  const Algorithm& a = builtin_registry().get("mamba.selective_scan_complex_backward");
  for (const auto& size : a.sizes())
    for (const auto& b : a.backends())
      for (const std::uint64_t seed : {0u, 1u}) {
        const auto problem = a.generate(size, b.format, seed);
        const ExactArrays exact = a.reference(*problem, 256);
        const Arrays out = b.run(*problem), bounds = b.bound(*problem);
        double ratio = 0;
        for (const auto& j : judge(out, exact, &bounds, b.format)) {
          EXPECT_TRUE(j.summary.pass()) << b.name << " " << size << " " << j.output;
          EXPECT_EQ(j.summary.unjudged, 0) << b.name << " " << size << " " << j.output;
          ratio = std::max(ratio, j.summary.max_ratio);
        }
        std::printf("%s %s seed %llu: max err/bound %.3g\n", size.c_str(), b.name.c_str(),
                    static_cast<unsigned long long>(seed), ratio);
        EXPECT_GT(ratio, touchstone::kVacuousRatio) << b.name << " " << size;
      }
}

// covers: MAMBA-CSCAN-BWD-BOUND-CPU MAMBA-CSCAN-BWD-BOUND-ANY
// An intermediate that overflows while the result is small leaves the bound's domain. At t = 1
// the CPU forms conj(h_0) lambda_1 = 1e30 * 2e34 (inf in float32), then multiplies by
// conj(A_bar_1) = e^-200 (0 in float32): ddelta and dA are NaN although their exact values
// (~1e-22) are tiny. The bound tracks the exact value as a disc, so it once stayed finite here
// (CI's registry properties found it, seed 865325522761238900, in the sanitizer build); now every
// rounded intermediate's magnitude is checked, the bound there is +inf, and float64, where
// nothing overflows, keeps a finite bound that holds.
TEST(ComplexBackwardRegression, OverflowingIntermediateUnderASmallResult) {
  ComplexScanInputs<double> in;
  in.u = Tensor<double>(Shape{1, 1, 3}, 0.0);
  in.u(0, 0, 0) = 1;
  in.delta = Tensor<double>(Shape{1, 1, 3}, 0.0);
  in.delta(0, 0, 0) = 1;
  in.delta(0, 0, 1) = 200;  // A_bar_1 = e^-200
  in.delta(0, 0, 2) = -80;  // A_bar_2 = e^80: lambda_1 ~ 2 e^80
  in.A = Tensor<double>(Shape{1, 1, 2}, 0.0);
  in.A[0] = -1;
  in.B = Tensor<double>(Shape{1, 1, 1, 3, 2}, 0.0);
  in.B(0, 0, 0, 0, 0) = 1e30;  // h_0 = 1e30
  in.C = Tensor<double>(Shape{1, 1, 2}, 0.0);
  in.C[0] = 1;
  const ComplexScanBackwardProblem<double> q(ComplexScanProblem<double>(std::move(in)),
                                             Tensor<double>(Shape{1, 1, 3}, 1.0));
  const ComplexScanGrads<mp_real> exact = [&] {
    const WorkingPrecision precision(256);
    return reference::selective_scan_complex_vjp<mp_real, mp_complex>(q);
  }();
  const auto g32 = grads_as_double(cpu::selective_scan_complex_backward(q.cast<float>()));
  const auto g64 = cpu::selective_scan_complex_backward(q);
  // The case is what it claims: a NaN in float32 where the exact value is finite and small.
  ASSERT_TRUE(std::isnan(g32.ddelta[1]));
  ASSERT_TRUE(std::isfinite(to_double(exact.ddelta[1])));
  EXPECT_LT(std::fabs(to_double(exact.ddelta[1])), 1e-15);
  for (const auto& m : {complex_backward_arithmetic_cpu_f32(), complex_backward_arithmetic_any_order(Format::float32, 4)}) {
    const auto bound = selective_scan_complex_backward_bound(q, m);
    EXPECT_EQ(bound.ddelta[1], std::numeric_limits<double>::infinity()) << m.name;
    const auto j = judge(g32, exact, bound, Format::float32);
    for (const auto& [name, s] : j.arrays) EXPECT_EQ(s.outside, 0) << m.name << " " << name << "\n" << j.describe();
  }
  const auto j64 = judge(g64, exact, selective_scan_complex_backward_bound(q, complex_backward_arithmetic_cpu_f64()),
                         Format::float64);
  EXPECT_TRUE(j64.pass()) << j64.describe();
}

}  // namespace
}  // namespace touchstone::mamba::testing
