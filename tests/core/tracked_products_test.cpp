// [CORE-PRODUCT-SUMS] bounds/tracked_products.hpp against the scalar loop it replaces: for tracked
// values with every sign, signed zeros, subnormals, values past float32's range and flagged ones,
// the rows of sums formed in arrays (vectorized) must leave every sum exactly as the policy's own
// mul and accumulate do, bit for bit, in each of the families' accumulate modes, with and without
// a leading term, for rows that start or end at any column.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "touchstone/bounds/tracked_products.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/order/product_sums.hpp"

namespace touchstone::bounds {
namespace {

// What total() saw of one sum: the sequential sum, the order-free one's result and overflow, the flag.
struct Seen {
  Tracked seq, sum;
  bool may_overflow = false, outside = false, any = false;
};

// A policy with the families' Acc and accumulate (Performer's and orthogonal's, bounds/src/):
// `keep` says which sums it keeps; total() logs what it saw. No product_sums member: the order
// helper runs its scalar loop.
class ScalarPolicy : public TrackedPolicy {
 public:
  struct Acc {
    Tracked seq;
    bool any = false;
    TrackedSum sum;
    bool outside = false;
  };
  ScalarPolicy(Format f, ProductSumsKeep keep) : TrackedPolicy(f, keep.any_order_sum), keep_(keep) {}
  Acc acc() const { return {}; }
  void accumulate(Acc& s, const V& v) const {
    s.outside = s.outside || v.outside;
    if (keep_.any_order_sum) s.sum.add_term(v.t);
    if (keep_.sequential) {
      s.seq = s.any ? touchstone::add(s.seq, v.t, r_) : v.t;
      s.outside = s.outside || s.seq.overflows(r_);
    }
    s.any = true;
  }
  V total(const Acc& s) const {
    log.push_back({s.seq, s.sum.result(r_), s.sum.may_overflow(r_), s.outside, s.any});
    return {s.seq, s.outside};
  }
  mutable std::vector<Seen> log;

 protected:
  ProductSumsKeep keep_;
};

// The same policy with the array path; `kernel_keep` is what it tells the kernel (the policy's own
// keep, or a wrong one for the negative control).
class ArrayPolicy : public ScalarPolicy {
 public:
  ArrayPolicy(Format f, ProductSumsKeep keep, ProductSumsKeep kernel_keep) : ScalarPolicy(f, keep), kernel_keep_(kernel_keep) {}
  template <class First, class Lead, class X, class Y, class Out>
  void product_sums(Index rows, Index cols, Index inner, const First& first, const Lead& lead, const X& x, const Y& y,
                    Out&& out) const {
    tracked_product_sums(*this, kernel_keep_, rows, cols, inner, first, lead, x, y, out);
  }

 private:
  ProductSumsKeep kernel_keep_;
};

// The same bits, or both NaN (which NaN an operation returns depends on its operands' order, which
// the compiler may swap in a commutative operation; a NaN bound is +inf either way: element_bound).
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }
bool same(const Tracked& a, const Tracked& b) {
  return same_bits(a.lo, b.lo) && same_bits(a.hi, b.hi) && same_bits(a.err, b.err);
}

// Tracked values of every kind: ordinary, signed zeros, subnormal, past float32's range, infinite,
// with errors from 0 to large; a few flagged outside.
std::vector<TV> values(PhiloxStream& rng, std::size_t n) {
  std::vector<TV> v;
  for (std::size_t k = 0; k < n; ++k) {
    const double kind = rng.next_uniform(0, 1);
    double lo = rng.next_uniform(-3, 3), w = rng.next_uniform(0, 0.5);
    if (kind < 0.05) lo = 0.0, w = 0;
    else if (kind < 0.10) lo = -0.0, w = 0;
    else if (kind < 0.15) lo = 1e-310 * lo;
    else if (kind < 0.20) lo = 1e37 * lo, w *= 1e37;
    else if (kind < 0.22) lo = std::numeric_limits<double>::infinity();
    const double err = rng.next_uniform(0, 1) < 0.3 ? 0.0 : rng.next_uniform(0, 1e-3) * (kind < 0.25 ? 1e40 : 1);
    v.push_back({{lo, lo + w, err}, rng.next_uniform(0, 1) < 0.03});
  }
  return v;
}

// Runs shared_order::lead_and_product_sums with both policies on the same values; returns how many sums
// differ in any bit of what total() saw or of the output, or in the order of the outputs.
// Columns of row i: every one, from i + 1 on (triangular), or the first i + 1 (causal).
enum class Columns { all, triangular, causal };

int mismatches(Format f, ProductSumsKeep keep, ProductSumsKeep kernel_keep, Index rows, Index cols, Index inner,
               Columns columns, bool with_lead, std::uint64_t seed) {
  PhiloxStream rng(seed, "tracked-products-test");
  const std::vector<TV> x = values(rng, static_cast<std::size_t>(rows * inner)),
                        y = values(rng, static_cast<std::size_t>(inner * cols)),
                        lead = values(rng, static_cast<std::size_t>(rows * cols));
  auto first = [&](Index i) {
    return shared_order::ColumnRange{columns == Columns::triangular ? i + 1 : 0,
                                     columns == Columns::causal ? std::min(i + 1, cols) : cols};
  };
  auto xf = [&](Index i, Index l) { return x[static_cast<std::size_t>(i * inner + l)]; };
  auto yf = [&](Index l, Index j) { return y[static_cast<std::size_t>(l * cols + j)]; };
  auto leadf = [&](Index i, Index j) { return lead[static_cast<std::size_t>(i * cols + j)]; };
  struct Out {
    Index i, j;
    TV v;
  };
  auto run = [&](auto& ar, std::vector<Out>& outs) {
    auto sink = [&](Index i, Index j, const TV& v) { outs.push_back({i, j, v}); };
    if (with_lead)
      shared_order::lead_and_product_sums(ar, rows, cols, inner, first, leadf, xf, yf, sink);
    else
      shared_order::product_sums(ar, rows, cols, inner, first, xf, yf, sink);
  };
  ScalarPolicy scalar(f, keep);
  ArrayPolicy arrays(f, keep, kernel_keep);
  std::vector<Out> a, b;
  run(scalar, a);
  run(arrays, b);
  if (a.size() != b.size() || scalar.log.size() != arrays.log.size()) return 1 << 20;
  int bad = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const Seen &s = scalar.log[k], &t = arrays.log[k];
    const bool equal = a[k].i == b[k].i && a[k].j == b[k].j && same(a[k].v.t, b[k].v.t) &&
                       a[k].v.outside == b[k].v.outside && same(s.seq, t.seq) && same(s.sum, t.sum) &&
                       s.may_overflow == t.may_overflow && s.outside == t.outside && s.any == t.any;
    if (!equal && getenv("TRACKED_PRODUCTS_DEBUG"))
      std::printf("(%ld,%ld) seq %a %a %a | %a %a %a ; sum %a %a %a | %a %a %a ; out %d %d ov %d %d\n", (long)a[k].i,
                  (long)a[k].j, s.seq.lo, s.seq.hi, s.seq.err, t.seq.lo, t.seq.hi, t.seq.err, s.sum.lo, s.sum.hi,
                  s.sum.err, t.sum.lo, t.sum.hi, t.sum.err, s.outside, t.outside, s.may_overflow, t.may_overflow);
    bad += !equal;
  }
  return bad;
}

constexpr ProductSumsKeep kOrthogonalAnyOrder{true, true}, kAnyOrderOnly{true, false}, kSequential{false, true};

// covers: CORE-PRODUCT-SUMS
TEST(TrackedProducts, RowsOfSumsAreTheScalarLoopBitForBit) {
  std::uint64_t seed = 1;
  int cases = 0;
  // The loop in the widest instruction set this CPU has, then in the baseline one.
  for (bool baseline : {false, true})
  for (Format f : {Format::float32, Format::float64})
    for (ProductSumsKeep keep : {kOrthogonalAnyOrder, kAnyOrderOnly, kSequential})
      for (Index inner : {0, 1, 2, 7, 33})
        for (Columns columns : {Columns::all, Columns::triangular, Columns::causal})
          for (bool with_lead : {false, true}) {
            // 11 rows: one block of 8 and a partial one; 13 columns: not a multiple of any vector width.
            vector_isa_force_baseline() = baseline;
            EXPECT_EQ(mismatches(f, keep, keep, 11, 13, inner, columns, with_lead, seed++), 0)
                << "format " << static_cast<int>(f) << " keep " << keep.any_order_sum << keep.sequential << " inner "
                << inner << " columns " << static_cast<int>(columns) << " lead " << with_lead << " baseline "
                << baseline;
            ++cases;
          }
  vector_isa_force_baseline() = false;
  EXPECT_EQ(cases, 2 * 2 * 3 * 5 * 3 * 2);
  std::printf("instruction set of the array loop on this CPU: %s\n", vector_isa_name(vector_isa()));
}

// The comparison above can fail: the kernel told to keep other sums than the policy's accumulate
// (the sequential sum dropped, the order-free one dropped) leaves sums that differ.
TEST(TrackedProducts, ComparisonDetectsAWrongAccumulateMode) {
  EXPECT_GT(mismatches(Format::float32, kOrthogonalAnyOrder, kAnyOrderOnly, 11, 13, 7, Columns::all, false, 77), 0);
  EXPECT_GT(mismatches(Format::float32, kOrthogonalAnyOrder, kSequential, 11, 13, 7, Columns::causal, true, 78), 0);
  EXPECT_GT(mismatches(Format::float64, kSequential, kOrthogonalAnyOrder, 11, 13, 7, Columns::triangular, false, 79),
            0);
}

}  // namespace
}  // namespace touchstone::bounds
