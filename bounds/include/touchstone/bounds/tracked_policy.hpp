// What the order headers' tracked policies share (bounds/src/performer_bound.cpp,
// bounds/src/orthogonal_bound.cpp): a tracked value with its domain flag, the rounded operations
// every order uses, and the step from a tracked output to its element bound. A family's policy
// derives from TrackedPolicy and adds its own functions and its reductions (Acc, accumulate,
// total), which differ between families.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/core/formats.hpp"
#include "touchstone/core/tracked.hpp"

namespace touchstone::bounds {

// A tracked value and whether it left the bound's domain (an overflow, a divisor whose range
// reaches 0, a branch the bound cannot decide): such an output's bound is +inf.
struct TV {
  Tracked t;
  bool outside = false;
};

// The rounded operations of an order over tracked values ([CORE-TRACKED-ADD], [CORE-ROUND-MUL],
// [CORE-TRACKED-DIV]). Any order: each division may also be a multiplication by the computed
// reciprocal (the peers multiply by it), and the bound is the larger of the two.
class TrackedPolicy {
 public:
  using V = TV;
  TrackedPolicy(Format compute, bool any_order) : r_(Rounding::of(format_info(compute))), any_order_(any_order) {}

  V input(double x) const { return {Tracked::exact(x), false}; }
  V add(const V& a, const V& b) const { return checked(touchstone::add(a.t, b.t, r_), a.outside || b.outside); }
  V sub(const V& a, const V& b) const { return checked(touchstone::sub(a.t, b.t, r_), a.outside || b.outside); }
  V mul(const V& a, const V& b) const { return checked(touchstone::mul(a.t, b.t, r_), a.outside || b.outside); }
  V div(const V& a, const V& b) const {
    const TrackedQuotient q = touchstone::div(a.t, b.t, r_);
    V out = checked(q.value, a.outside || b.outside || !q.defined);
    if (any_order_ && q.defined) {
      // fl(a * fl(1 / b)): the reciprocal's error enters the product.
      const TrackedQuotient recip = touchstone::div(Tracked::exact(1), b.t, r_);
      if (!recip.defined) return {out.t, true};
      const Tracked via_recip = touchstone::mul(a.t, recip.value, r_);
      out.t.err = std::max(out.t.err, via_recip.err);
      out.outside = out.outside || via_recip.overflows(r_);
    }
    return out;
  }
  V neg(const V& a) const { return {{-a.t.hi, -a.t.lo, a.t.err}, a.outside}; }  // exact
  const Rounding& rounding() const { return r_; }

 protected:
  V checked(const Tracked& t, bool outside) const { return {t, outside || t.overflows(r_)}; }
  Rounding r_;
  bool any_order_;
};

// The bound's own binary64 evaluation: at most `ops` operations per output, each with relative
// error 2^-52 or less on non-negative terms, so the tracked error times 1 + slack_for(ops) holds.
inline double slack_for(double ops) { return std::max(0x1p-20, ops * 0x1p-40); }

// The bound of one output element: +inf outside the domain, else the tracked error times the
// evaluation's slack.
inline double element_bound(const TV& v, double slack) {
  if (v.outside || !std::isfinite(v.t.err)) return std::numeric_limits<double>::infinity();
  return v.t.err * (1 + slack) + 4.9406564584124654e-324;
}

}  // namespace touchstone::bounds
