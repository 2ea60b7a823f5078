// [ORTH-CWY-SOLVE-COLUMNS] The CWY family's bounds form their products, their substitutions with S
// (many right-hand sides at once) and cwy_vjp's du in arrays, a row of sums at a time
// ([CORE-PRODUCT-SUMS]). The tracked values they compute must be those of the order header's loops,
// bit for bit: CWY, T-CWY, the apply (both directions) and the backward, for float32 and float64,
// sequential and any order, on vectors with signed zeros, subnormals, overflowing and mixed scales and
// on right-hand sides / gradients with zeros, huge and infinite values (so that some outputs leave
// the bound's domain and some do not). A control that keeps the wrong sums in the row sums must be
// caught by the same comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

Tensor<double> normal(Index rows, Index cols, const std::string& name) {
  PhiloxStream r(11, "cwy_arrays_test/" + name);
  Tensor<double> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = r.next_normal();
  return t;
}

// Reflectors: plain normal ones, or (edge) with signed zeros, a row of subnormals, an entry past
// float32's range and a row of mixed scales.
Tensor<double> vectors(Index L, Index N, bool edge) {
  Tensor<double> v = normal(L, N, "v/" + std::to_string(L) + "x" + std::to_string(N) + (edge ? "e" : ""));
  if (!edge) return v;
  for (Index i = 0; i < L; ++i) v[i * N + (i % N)] = -0.0;
  if (L > 2)
    for (Index k = 0; k < N; ++k) v[1 * N + k] = (k % 2 ? -1 : 1) * 1e-310;
  if (L > 3) v[2 * N] = 1e39;
  if (L > 4)
    for (Index k = 0; k < N; ++k) v[3 * N + k] *= std::ldexp(1.0, static_cast<int>(k % 7) * 20 - 60);
  return v;
}

// A right-hand side or gradient: normal, or (edge) with signed zeros, a huge, an infinite entry.
Tensor<double> second(Index rows, Index cols, bool edge, const std::string& name) {
  Tensor<double> t = normal(rows, cols, name);
  if (!edge) return t;
  for (Index i = 0; i < t.count(); i += 3) t[i] = i % 2 ? -0.0 : 0.0;
  t[1] = 1e300;
  if (t.count() > 4) t[t.count() - 2] = std::numeric_limits<double>::infinity();
  return t;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }
bool same(const bounds::TV& a, const bounds::TV& b) {
  return a.outside == b.outside && same_bits(a.t.lo, b.t.lo) && same_bits(a.t.hi, b.t.hi) && same_bits(a.t.err, b.t.err);
}

// Index of the first element that differs, or -1.
long first_difference(const std::vector<bounds::TV>& a, const std::vector<bounds::TV>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return static_cast<long>(i);
  return -1;
}

struct Case {
  CwyRun run;
  Index L, N, C;  // C: columns (columns, vjp) or the apply's B
  bool transpose;
};
constexpr Case kCases[] = {
    {CwyRun::columns, 1, 1, 1, false},  {CwyRun::columns, 5, 7, 7, false},  {CwyRun::columns, 6, 9, 6, false},
    {CwyRun::columns, 9, 6, 6, false},  {CwyRun::columns, 13, 13, 4, false}, {CwyRun::apply, 5, 7, 3, false},
    {CwyRun::apply, 6, 9, 4, true},     {CwyRun::apply, 9, 6, 1, true},      {CwyRun::vjp, 1, 3, 3, false},
    {CwyRun::vjp, 5, 7, 7, false},      {CwyRun::vjp, 6, 9, 6, false},       {CwyRun::vjp, 9, 6, 6, false},
};

// covers: ORTH-CWY-SOLVE-COLUMNS
TEST(OrthogonalCwyArrays, TheArrayPathsGiveTheLoopsBits) {
  int outside = 0, inside = 0;
  for (const Case& c : kCases)
    for (bool edge : {false, true})
      for (Format f : {Format::float32, Format::float64})
        for (bool any : {false, true}) {
          const std::string what = std::to_string(static_cast<int>(c.run)) + " L=" + std::to_string(c.L) +
                                   " N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) +
                                   (c.transpose ? " T" : "") + (edge ? " edge" : "") +
                                   (f == Format::float32 ? " f32" : " f64") + (any ? " any" : " seq");
          SCOPED_TRACE(what);
          const Tensor<double> v = vectors(c.L, c.N, edge);
          const Tensor<double> s = c.run == CwyRun::apply ? second(c.C, c.N, edge, "h" + what)
                                   : c.run == CwyRun::vjp ? second(c.N, c.C, edge, "g" + what)
                                                          : Tensor<double>(Shape{1, 1}, 0.0);
          const OrthArithmetic m{f, any, 0};
          const auto loops = cwy_tracked_outputs(c.run, CwyPaths::loops, m, v, s, c.C, c.transpose);
          const auto arrays = cwy_tracked_outputs(c.run, CwyPaths::arrays, m, v, s, c.C, c.transpose);
          ASSERT_FALSE(loops.empty());
          EXPECT_EQ(first_difference(loops, arrays), -1);
          for (const bounds::TV& x : loops) (x.outside ? outside : inside) += 1;
        }
  // Both kinds of element were compared (the edge inputs take some outside the domain).
  EXPECT_GT(outside, 100);
  EXPECT_GT(inside, 1000);
}

// The comparison catches a row sum that keeps the wrong sums: on plain inputs, for every run that
// solves with S (every one here), the control differs from the loops.
// covers: ORTH-CWY-SOLVE-COLUMNS
TEST(OrthogonalCwyArrays, TheComparisonCatchesWrongRowSums) {
  for (const Case& c : kCases) {
    if (c.L < 2) continue;  // one reflector: no substitution term, nothing for the control to drop
    for (bool any : {false, true}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(c.run)) + " L=" + std::to_string(c.L) + (any ? " any" : " seq"));
      const Tensor<double> v = vectors(c.L, c.N, false);
      const Tensor<double> s = c.run == CwyRun::apply ? second(c.C, c.N, false, "hc")
                               : c.run == CwyRun::vjp ? second(c.N, c.C, false, "gc")
                                                      : Tensor<double>(Shape{1, 1}, 0.0);
      const OrthArithmetic m{Format::float32, any, 0};
      const auto loops = cwy_tracked_outputs(c.run, CwyPaths::loops, m, v, s, c.C, c.transpose);
      const auto wrong = cwy_tracked_outputs(c.run, CwyPaths::wrong_row_sums, m, v, s, c.C, c.transpose);
      EXPECT_NE(first_difference(loops, wrong), -1);
    }
  }
}

}  // namespace
