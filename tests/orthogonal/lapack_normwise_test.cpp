// [ORTH-LAPACK-NORMWISE] The normwise bound of the LAPACK convention's column-by-column product
// (spec/orthogonal.md): above the cpu backends' measured error against the oracle (tau = 2 / |v|^2
// and free tau: 0, projectors, tau far from 2 / |v|^2), finite at the bench size where the tracked
// bound is +inf, a FAIL under `diff` for wrong answers, and +inf (with the reason) outside its domain.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "../diff_verdict.hpp"
#include "../tightness.hpp"
#include "builtin.hpp"
#include "cpu/orthogonal.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/verdict.hpp"
#include "touchstone/reference/orthogonal.hpp"
#include "test_inputs.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;
using test_inputs::worst_ratio;
using touchstone::test_support::diff_verdict;

namespace {

const char* const kEntry = "orthogonal.householder_product_lapack";

template <class T>
Tensor<double> as_f64(const Tensor<T>& t) {
  return t.template cast<double>();
}

Tensor<double> normal(Index rows, Index cols, std::uint64_t seed, const char* name) {
  PhiloxStream r(seed, std::string("lapack_normwise_test/") + name);
  Tensor<double> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(r.next_normal(), Format::float32);
  return t;
}

// ||v_i||^2 = 1 + sum_j>i A_ji^2 (binary64; the tau below are float32 values near a multiple of its
// inverse, whatever its rounding).
double norm2(const Tensor<double>& a, Index i) {
  double s = 1;
  for (Index j = i + 1; j < a.extent(0); ++j) s += a(j, i) * a(j, i);
  return s;
}

// tau = 2 / |v|^2 (orthogonal reflections, as geqrf makes them), rounded to float32.
LapackProblem<double> householder_qr_like(Index m, Index n, std::uint64_t seed) {
  const Tensor<double> a = normal(m, n, seed, "A");
  Tensor<double> tau(Shape{n});
  for (Index i = 0; i < n; ++i) tau[i] = round_to_format(2 / norm2(a, i), Format::float32);
  return LapackProblem<double>(a, tau);
}

// Free tau, by reflection i mod 5: 0 (the reflection dropped), 1 / |v|^2 (a projector, ||H|| = 1),
// 3 / |v|^2 and -1 / |v|^2 (||H|| = 2), and a draw from [-0.5, 2.5] (||H|| up to about 2.5 |v|^2).
LapackProblem<double> free_tau(Index m, Index n, Index k, std::uint64_t seed) {
  const Tensor<double> a = normal(m, n, seed, "freeA");
  PhiloxStream r(seed, "lapack_normwise_test/tau");
  Tensor<double> tau(Shape{k});
  for (Index i = 0; i < k; ++i) {
    const double s = norm2(a, i), draw = r.next_uniform(-0.5, 2.5);
    const double pick[5] = {0.0, 1 / s, 3 / s, -1 / s, draw};
    tau[i] = round_to_format(pick[i % 5], Format::float32);
  }
  return LapackProblem<double>(a, tau);
}

// Free tau with every ||H_i|| = 1, by reflection i mod 4: 0, 1 / |v|^2 (a projector), 0.5 / |v|^2, and a
// draw from [0, 2 / |v|^2]: far from 2 / |v|^2, yet the columns stay within norm 1.
LapackProblem<double> contracting_tau(Index m, Index n, std::uint64_t seed) {
  const Tensor<double> a = normal(m, n, seed, "contractA");
  PhiloxStream r(seed, "lapack_normwise_test/contracting");
  Tensor<double> tau(Shape{n});
  for (Index i = 0; i < n; ++i) {
    const double s = norm2(a, i), draw = r.next_uniform(0.0, 2.0) / s;
    const double pick[4] = {0.0, 1 / s, 0.5 / s, draw};
    tau[i] = round_to_format(pick[i % 4], Format::float32);
  }
  return LapackProblem<double>(a, tau);
}

// The normwise bound of each column as a per-element bound.
Tensor<double> per_element(const std::vector<double>& normwise, Index m) {
  const Index n = static_cast<Index>(normwise.size());
  Tensor<double> t(Shape{m, n});
  for (Index r = 0; r < m; ++r)
    for (Index c = 0; c < n; ++c) t(r, c) = normwise[c];
  return t;
}

double largest(const Tensor<double>& t) {
  double m = 0;
  for (Index i = 0; i < t.count(); ++i) m = std::max(m, t[i]);
  return m;
}

// How many elements take the normwise bound (equal to their column's) rather than the tracked one.
Index normwise_elements(const Tensor<double>& bound, const std::vector<double>& normwise) {
  Index count = 0;
  for (Index r = 0; r < bound.extent(0); ++r)
    for (Index c = 0; c < bound.extent(1); ++c) count += bound(r, c) == normwise[c] ? 1 : 0;
  return count;
}

}  // namespace

// covers: ORTH-LAPACK-NORMWISE
// cpu-f32 and cpu-f64 against the oracle, within the bound (the smaller of the tracked and the
// normwise one per element) for their own order and within the any-order bound, which is at least
// theirs; and within the normwise bound alone, in both formats and in any order (the same bound):
// tau = 2 / |v|^2 at 48 x 40 and 96 x 96, tau far from it with every ||H_i|| = 1 at 96 x 96 (at these
// sizes the tracked bound grows past the normwise one, which is taken on most elements), and tau
// with ||H_i|| up to 2.5 |v_i|^2 at 40 x 32 (k = 32) and 24 x 16 (k = 10), where the columns grow to
// 10 and 448 and the tracked bound is the smaller (the normwise one multiplies the norms' bounds).
// Printed for spec/orthogonal.md.
TEST(OrthogonalLapackNormwise, AboveTheMeasuredErrorOfBothBackends) {
  const WorkingPrecision precision(256);
  struct Case {
    const char* what;
    LapackProblem<double> p;
  };
  const Case cases[] = {{"2/|v|^2 48 x 40", householder_qr_like(48, 40, 1)},
                        {"2/|v|^2 96 x 96", householder_qr_like(96, 96, 2)},
                        {"tau <= 2/|v|^2 96 x 96", contracting_tau(96, 96, 7)},
                        {"free tau 40 x 32, k 32", free_tau(40, 32, 32, 3)},
                        {"free tau 24 x 16, k 10", free_tau(24, 16, 10, 4)}};
  for (const Case& c : cases) {
    const Tensor<mp_real> q = reference::householder_product_lapack<mp_real>(c.p);
    const Tensor<double> b32 = householder_product_lapack_bound(c.p, {Format::float32, false});
    const Tensor<double> b64 = householder_product_lapack_bound(c.p, {Format::float64, false});
    const Tensor<double> any32 = householder_product_lapack_bound(c.p, {Format::float32, true});
    const Tensor<double> any64 = householder_product_lapack_bound(c.p, {Format::float64, true});
    for (Index i = 0; i < b32.count(); ++i) {
      EXPECT_LE(b32[i], any32[i]) << c.what << " element " << i;
      EXPECT_LE(b64[i], any64[i]) << c.what << " element " << i;
    }
    const Tensor<double> f32 = as_f64(cpu::householder_product_lapack(c.p.cast<float>()));
    const Tensor<double> f64 = cpu::householder_product_lapack(c.p);
    const double r32 = worst_ratio(f32, q, b32, std::string(c.what) + " f32");
    const double r64 = worst_ratio(f64, q, b64, std::string(c.what) + " f64");
    worst_ratio(f32, q, any32, std::string(c.what) + " f32 any order");
    worst_ratio(f64, q, any64, std::string(c.what) + " f64 any order");
    const std::vector<double> n32 = householder_product_lapack_normwise(c.p, Format::float32);
    const std::vector<double> n64 = householder_product_lapack_normwise(c.p, Format::float64);
    const double w32 = worst_ratio(f32, q, per_element(n32, c.p.m()), std::string(c.what) + " f32 normwise");
    const double w64 = worst_ratio(f64, q, per_element(n64, c.p.m()), std::string(c.what) + " f64 normwise");
    const Index taken = normwise_elements(b32, n32);
    std::printf("%-24s err/bound f32 %.3g f64 %.3g (normwise alone %.3g, %.3g); largest bound f32 %.3g f64 %.3g "
                "(normwise %.3g, %.3g); largest |Q| %.3g; normwise taken on %d of %d (f32)\n",
                c.what, r32, r64, w32, w64, largest(b32), largest(b64), *std::max_element(n32.begin(), n32.end()),
                *std::max_element(n64.begin(), n64.end()), largest(f64), static_cast<int>(taken),
                static_cast<int>(b32.count()));
  }
}

// covers: ORTH-LAPACK-NORMWISE
// Drawn problems, the normwise bound alone against both backends: 400 shapes m = 1..14, n <= m,
// k <= n; each column of A scaled by 2^e, e in [-70, 70] (squares and products underflow in float32,
// s = |v|^2 spans 2^-140 .. 2^140 beside the unit entry); tau 2 / s, 0, or a signed log-uniform
// multiple of 1 / s in [2^-20, 2^6], all float32 values. Wherever a column's bound is finite, every
// element of both backends' answers is within it (so finite); and it is finite on most columns (on
// all 1719, measured; the largest err/bound, 0.92 in float32, is one rounding of a value near 1).
TEST(OrthogonalLapackNormwise, HoldsOnDrawnProblems) {
  const WorkingPrecision precision(256);
  PhiloxStream r(11, "lapack_normwise_test/drawn");
  Index columns = 0, finite32 = 0, finite64 = 0;
  double worst32 = 0, worst64 = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const Index m = 1 + static_cast<Index>(r.next_below(14));
    const Index n = 1 + static_cast<Index>(r.next_below(static_cast<std::uint64_t>(m)));
    const Index k = 1 + static_cast<Index>(r.next_below(static_cast<std::uint64_t>(n)));
    Tensor<double> a(Shape{m, n});
    for (Index c = 0; c < n; ++c) {
      const double scale = std::ldexp(1.0, static_cast<int>(r.next_below(141)) - 70);
      for (Index j = 0; j < m; ++j) a(j, c) = round_to_format(r.next_normal() * scale, Format::float32);
    }
    Tensor<double> tau(Shape{k});
    for (Index i = 0; i < k; ++i) {
      const double s = norm2(a, i);
      const std::uint64_t mode = r.next_below(3);
      const double t = mode == 0 ? 2 / s : mode == 1 ? 0.0 : r.next_log_uniform(-20, 6, true) / s;
      tau[i] = round_to_format(t, Format::float32);
    }
    const LapackProblem<double> p(a, tau);
    const Tensor<mp_real> q = reference::householder_product_lapack<mp_real>(p);
    const Tensor<double> f32 = as_f64(cpu::householder_product_lapack(p.cast<float>()));
    const Tensor<double> f64 = cpu::householder_product_lapack(p);
    const std::vector<double> n32 = householder_product_lapack_normwise(p, Format::float32);
    const std::vector<double> n64 = householder_product_lapack_normwise(p, Format::float64);
    for (Index c = 0; c < n; ++c) {
      ++columns;
      finite32 += std::isfinite(n32[c]) ? 1 : 0;
      finite64 += std::isfinite(n64[c]) ? 1 : 0;
      for (Index j = 0; j < m; ++j) {
        const double e32 = std::fabs(to_double(mp_real(f32(j, c)) - q(j, c)));
        const double e64 = std::fabs(to_double(mp_real(f64(j, c)) - q(j, c)));
        if (std::isfinite(n32[c])) {
          EXPECT_LE(e32, n32[c]) << "trial " << trial << " f32 (" << j << ", " << c << ")";
          worst32 = std::max(worst32, e32 / n32[c]);
        }
        if (std::isfinite(n64[c])) {
          EXPECT_LE(e64, n64[c]) << "trial " << trial << " f64 (" << j << ", " << c << ")";
          worst64 = std::max(worst64, e64 / n64[c]);
        }
      }
    }
  }
  std::printf("drawn: %d columns, normwise finite on %d (f32) and %d (f64); largest err/bound f32 %.3g f64 %.3g\n",
              static_cast<int>(columns), static_cast<int>(finite32), static_cast<int>(finite64), worst32, worst64);
  EXPECT_GT(finite32, columns / 2);
  EXPECT_GT(finite64, columns / 2);
}

// covers: ORTH-LAPACK-NORMWISE
// The bench size (Q of a 256 x 256 QR, all 256 reflectors, the registry's bench problem): the
// tracked any-order float32 bound alone is +inf there (spec/orthogonal.md [ORTH-BENCH-SIZES]); the
// bound is finite on every element in both formats, within the growth [ORTH-LAPACK-NORMWISE] states
// for tau = 2/|v|^2 (2 u sum_i (m - i) <= 2 m n u for every column), and above cpu-f32's and cpu-f64's
// measured error.
TEST(OrthogonalLapackNormwise, FiniteAtTheBenchSize) {
  const WorkingPrecision precision(256);
  const Arrays in = builtin_registry().get(kEntry).generate("bench", Format::float32, 0)->inputs();
  const LapackProblem<double> p(in.at("A"), in.at("tau"));
  ASSERT_EQ(p.m(), 256);
  ASSERT_EQ(p.k(), 256);
  const Tensor<mp_real> q = reference::householder_product_lapack<mp_real>(p);
  const Tensor<double> any32 = householder_product_lapack_bound(p, {Format::float32, true});
  const Tensor<double> b64 = householder_product_lapack_bound(p, {Format::float64, false});
  const double r32 = worst_ratio(as_f64(cpu::householder_product_lapack(p.cast<float>())), q, any32, "bench f32");
  const double r64 = worst_ratio(cpu::householder_product_lapack(p), q, b64, "bench f64");
  std::printf("bench 256 x 256: err/bound f32 (any order) %.3g f64 %.3g; largest bound f32 %.3g f64 %.3g\n", r32, r64,
              largest(any32), largest(b64));
  const double growth = 2.0 * static_cast<double>(p.m()) * static_cast<double>(p.n());  // times u
  EXPECT_LE(largest(any32), growth * format_info(Format::float32).u);
  EXPECT_LE(largest(b64), growth * format_info(Format::float64).u);
}

// covers: ORTH-LAPACK-NORMWISE
// At 64 x 64 (tau = 2 / |v|^2, where the tracked bound alone reads up to about 1e15), cpu-f32's
// answer PASSES `diff` and wrong answers FAIL: one element of the last column moved by twice its
// bound, the answer scaled by 1 + 2^-8, a reflection dropped (tau_32 = 0), the product in the
// other order (H_k ... H_1: H_1 applied first), and the tau paired with the reflectors in reverse.
TEST(OrthogonalLapackNormwise, DiffFailsWrongAnswers) {
  const WorkingPrecision precision(256);
  const LapackProblem<double> p = householder_qr_like(64, 64, 5);
  const Index m = p.m(), n = p.n(), k = p.k();
  const Arrays in = {{"A", p.a()}, {"tau", p.tau()}};
  const Tensor<double> right = as_f64(cpu::householder_product_lapack(p.cast<float>()));
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", right}}), Verdict::pass);

  const Tensor<double> any32 = householder_product_lapack_bound(p, {Format::float32, true});
  const std::vector<double> n32 = householder_product_lapack_normwise(p, Format::float32);
  const Index r = m / 2, c = n - 1;
  EXPECT_EQ(any32(r, c), n32[c]) << "the normwise bound is the one judged";
  Tensor<double> moved = right;
  moved(r, c) = round_to_format(right(r, c) + 2 * any32(r, c), Format::float32);
  EXPECT_GE(moved(r, c) - right(r, c), 1.9 * any32(r, c));
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", moved}}), Verdict::fail);

  Tensor<double> scaled = right;
  for (Index i = 0; i < scaled.count(); ++i) scaled[i] = round_to_format(right[i] * (1 + 0x1p-8), Format::float32);
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", scaled}}), Verdict::fail);

  Tensor<double> dropped_tau = p.tau();
  dropped_tau[32] = 0;
  const Tensor<double> dropped =
      as_f64(cpu::householder_product_lapack(LapackProblem<double>(p.a(), dropped_tau).cast<float>()));
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", dropped}}), Verdict::fail);

  // H_k ... H_1 in float32: the rows of Q^T's first n columns, i.e. the product's transpose where
  // n = m (each H_i is symmetric).
  Tensor<double> other_order(Shape{m, n});
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) other_order(i, j) = right(j, i);
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", other_order}}), Verdict::fail);

  Tensor<double> reversed_tau(Shape{k});
  for (Index i = 0; i < k; ++i) reversed_tau[i] = p.tau()[k - 1 - i];
  const Tensor<double> mispaired =
      as_f64(cpu::householder_product_lapack(LapackProblem<double>(p.a(), reversed_tau).cast<float>()));
  EXPECT_EQ(diff_verdict(kEntry, in, {{"Q", mispaired}}), Verdict::fail);
}

// covers: ORTH-LAPACK-NORMWISE
// Outside its domain the bound is +inf: tau = 1000 on every reflection at 16 x 16 makes ||H_i|| about
// 1000 |v_i|^2, and the exact columns grow past float32's range from column 11 on (0-based; cpu-f32's
// answer overflows there). The normwise bound is finite on the first column and +inf from column 10
// on (9 measured: its magnitudes' bounds reach the range first), the tracked one from column 11; in
// float64 the normwise bound is finite everywhere. An answer that saturates at float32's largest value where
// cpu-f32's overflowed is INCONCLUSIVE under `diff`, naming the elements with no finite bound.
TEST(OrthogonalLapackNormwise, InfiniteOutsideItsDomain) {
  const WorkingPrecision precision(256);
  const Index m = 16;
  const Tensor<double> a = normal(m, m, 6, "domainA");
  const LapackProblem<double> p(a, Tensor<double>(Shape{m}, 1000.0));
  const std::vector<double> n32 = householder_product_lapack_normwise(p, Format::float32);
  const std::vector<double> n64 = householder_product_lapack_normwise(p, Format::float64);
  EXPECT_TRUE(std::isfinite(n32[0]));
  for (Index c = 10; c < m; ++c) EXPECT_TRUE(std::isinf(n32[c])) << c;
  for (double e : n64) EXPECT_TRUE(std::isfinite(e));
  const Tensor<double> any32 = householder_product_lapack_bound(p, {Format::float32, true});
  for (Index c = 11; c < m; ++c) EXPECT_TRUE(std::isinf(any32(0, c))) << c;
  const Tensor<mp_real> q = reference::householder_product_lapack<mp_real>(p);
  Tensor<double> saturated = as_f64(cpu::householder_product_lapack(p.cast<float>()));
  Index overflowed = 0;
  for (Index i = 0; i < saturated.count(); ++i)
    if (!std::isfinite(saturated[i])) {
      saturated[i] = std::copysign(static_cast<double>(std::numeric_limits<float>::max()), to_double(q[i]));
      ++overflowed;
    }
  EXPECT_GT(overflowed, 0);
  const Algorithm& entry = builtin_registry().get(kEntry);
  NpyMap files;
  files["A"] = test_support::npy(a);
  files["tau"] = test_support::npy(p.tau());
  const auto handle = entry.from_arrays(files, {});
  DiffRequest request;
  request.elementary_ulps = 1.0;
  const Arrays theirs = {{"Q", saturated}};
  const DiffReport report = run_diff(entry, *handle, theirs, request);
  EXPECT_EQ(report.verdict, Verdict::inconclusive);
  ASSERT_FALSE(report.outputs.empty());
  const std::string reason = verdict_reason(report.outputs.front());
  std::printf("%s\n", reason.c_str());
  EXPECT_NE(reason.find("no finite bound"), std::string::npos) << reason;
}
