// The bilevel bounds: order/bilevel_order.hpp over tracked values (spec/bilevel.md
// [BILEVEL-BOUND-CPU], [BILEVEL-BOUND-ANY]).
#include "touchstone/bounds/bilevel_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/bounds/elementary_ulps.hpp"
#include "touchstone/bounds/mamba_backward_bound.hpp"  // kSigmoidF32Ulps, kSigmoidF64Ulps
#include "touchstone/core/tracked.hpp"

namespace touchstone::bilevel {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;

// [BILEVEL-BOUND-AFFINE] A tracked value in two forms at once:
//  - `t`: core's Tracked (core/tracked.hpp): the exact value's range [lo, hi] and the error bound
//    that propagates absolute values (|x| E_y + E_x |y| + ...); on a linear iteration such as
//    phi - alpha A (phi - c) it grows like (1 + |alpha| |A|)^r whatever the signs;
//  - an affine form: computed - exact = sum_k c_k eps_k + p eps_new exactly, each eps_k in
//    [-1, 1] an unknown rounding error created once (a "symbol"), c_k signed. Errors then cancel
//    where the arithmetic cancels them: through phi - alpha A phi the coefficients are multiplied
//    by I - alpha A, not by I + alpha |A|. `pending` (p) is the rounding of a product not yet given
//    a symbol: a sum adds the pendings of its terms into its own rounding's symbol (treating
//    roundings as independent is always sound; it only forgoes cancellation).
// The coefficients are computed in long double; each is within gamma_depth (long double) of the
// same expression in absolute values, which the Tracked error bounds, so
//   |computed - exact| <= min(t.err, sum_k |c_k| + p + gamma_depth t.err)
// (`deviation`), with depth the longest chain of operations behind the value.
// The coefficients c_k of an affine form, stored sparsely: the symbols k whose coefficient may be
// nonzero, increasing, with their values, and `size`, one past the largest symbol the form has
// met (a coefficient below it and not stored is 0). A form's symbols are those of the roundings
// behind it, a small part of all symbols on most problems (a dot product of inputs has one), so
// the arithmetic costs the stored coefficients rather than every symbol so far. Each stored value
// is the same long double expression, in the same order, as in a dense vector of `size`
// coefficients (a 0 added or skipped changes no value but the sign of a zero, and |c_k| is all
// that is read); a scaling by a non-finite factor, which a dense vector would turn into NaN at
// its zeros, marks the form `nonfinite`, read as a NaN sum as the dense sum would be.
struct Coefficients {
  std::vector<std::size_t> k;
  std::vector<long double> c;
  std::size_t size = 0;
  bool nonfinite = false;
  bool empty() const { return size == 0; }
};

struct TV {
  Tracked t;
  Coefficients c;
  double pending = 0;
  double depth = 0;
  bool outside = false;
  bool affine = true;  // false: only `t` (the affine form was not kept: a problem too large for it)
  double c_sum = 0;    // coefficient_sum(c), kept up to date by the arithmetic
};

constexpr long double kLongU = std::numeric_limits<long double>::epsilon() / 2;

double coefficient_sum(const Coefficients& c) {
  long double s = c.nonfinite ? std::numeric_limits<long double>::quiet_NaN() : 0.0L;
  for (long double x : c.c) s += x < 0 ? -x : x;
  // The sum's own rounding (non-negative terms, at most size of them) and the conversion.
  return static_cast<double>(s * (1 + kLongU * static_cast<long double>(c.size + 2))) * (1 + 0x1p-52);
}

// into += s c, coefficient by coefficient in long double (into's size the larger of the two).
void add_scaled(Coefficients& into, const Coefficients& c, long double s) {
  if (c.empty()) return;
  into.nonfinite = into.nonfinite || c.nonfinite || !std::isfinite(s);
  into.size = std::max(into.size, c.size);
  if (into.k.empty()) {
    into.k = c.k;
    into.c.resize(c.c.size());
    for (std::size_t j = 0; j < c.c.size(); ++j) into.c[j] = s * c.c[j];
    return;
  }
  if (into.k == c.k) {  // the same symbols (a common case: values of one iteration)
    for (std::size_t j = 0; j < c.c.size(); ++j) into.c[j] += s * c.c[j];
    return;
  }
  std::vector<std::size_t> k;
  std::vector<long double> v;
  k.reserve(into.k.size() + c.k.size());
  v.reserve(into.k.size() + c.k.size());
  std::size_t a = 0, b = 0;
  while (a < into.k.size() || b < c.k.size()) {
    if (b == c.k.size() || (a < into.k.size() && into.k[a] < c.k[b])) {
      k.push_back(into.k[a]);
      v.push_back(into.c[a++]);
    } else if (a == into.k.size() || c.k[b] < into.k[a]) {
      k.push_back(c.k[b]);
      v.push_back(s * c.c[b++]);
    } else {
      k.push_back(into.k[a]);
      v.push_back(into.c[a++] + s * c.c[b++]);
    }
  }
  into.k = std::move(k);
  into.c = std::move(v);
}

// sum_k |a_k - b_k|, in increasing k as over dense vectors (NaN where either is nonfinite).
long double coefficient_distance(const Coefficients& a, const Coefficients& b) {
  long double d = a.nonfinite || b.nonfinite ? std::numeric_limits<long double>::quiet_NaN() : 0.0L;
  std::size_t i = 0, j = 0;
  while (i < a.k.size() || j < b.k.size()) {
    long double x = 0, y = 0;
    if (j == b.k.size() || (i < a.k.size() && a.k[i] < b.k[j])) {
      x = a.c[i++];
    } else if (i == a.k.size() || b.k[j] < a.k[i]) {
      y = b.c[j++];
    } else {
      x = a.c[i++];
      y = b.c[j++];
    }
    d += x > y ? x - y : y - x;
  }
  return d;
}

// A bound on |computed - exact| of v.
double deviation(const TV& v) {
  if (!v.affine || !std::isfinite(v.t.err)) return v.t.err;
  const double gamma = static_cast<double>(kLongU * static_cast<long double>(2 * v.depth + 4));
  const double affine = (v.c_sum + v.pending + gamma * v.t.err) * (1 + 0x1p-50);
  return std::min(v.t.err, affine);
}

// The order header's policy over tracked values. Sequential: each accumulate is one rounded
// addition in call order ([CORE-TRACKED-ADD]); any order: the sum as [CORE-TRACKED-SUM].
class TrackedArithmetic {
 public:
  using V = TV;
  struct Acc {
    Tracked seq;
    TrackedSum sum;
    bool any = false, outside = false;
    // The terms' coefficients summed densely (index = symbol; a sum meets many symbols once each).
    std::vector<long double> c;
    std::size_t c_size = 0;
    bool c_nonfinite = false;
    double pending = 0;       // the terms' pendings
    double rounding = 0;      // sequential: sum of u |partial sum| bounds
    double size = 0;          // sum of |term| bounds (any order)
    double dev = 0;           // sum of the terms' deviations
    double depth = 0;
    long long count = 0;
  };
  TrackedArithmetic(const BilevelArithmetic& m, bool affine)
      : r_(Rounding::of(format_info(m.compute))),
        any_order_(m.any_order),
        affine_(affine),
        exp_ulps_(m.exp_ulps),
        sigmoid_ulps_(m.sigmoid_ulps) {}

  // [BILEVEL-LOGISTIC-BOUND] sigmoid within sigmoid_ulps, linearized at the midpoint mid of the
  // exact argument's range: with e = z^ - z (|e| <= dev),
  //   s(z^) - s(z) = s'(mid) e + (s'(z) - s'(mid)) e + s''(xi) e^2 / 2,
  // |s''| <= 1/(6 sqrt 3) < 0.0963 = K, so the last two terms are at most K radius dev + K dev^2 / 2;
  // the coefficients are a's scaled by the binary64 s'(mid) = s(mid)(1 - s(mid)) (within 2^-48 of
  // the real one, absolute, as s' <= 1/4: one more 2^-48 dev); the pending part of a enters times
  // 1/4 (the slope bound); the evaluation's own error as [CORE-TRACKED-ELEMENTARY].
  V sigmoid(const V& a) const {
    constexpr double K = 0.0963;
    V z;
    z.affine = affine_;
    z.t = touchstone::sigmoid(a.t, sigmoid_ulps_, r_);
    z.outside = a.outside || !std::isfinite(z.t.err);
    z.depth = a.depth + 1;
    if (z.outside) return z;
    const double mid = midpoint(a.t), dev = deviation(a);
    const double s = sigmoid_value(mid), slope = s * (1 - s);
    combine(z.c, a.c, slope);
    const double rad = radius(a.t, mid);
    const double prop_abs = 0.25 * dev;  // |s(z^) - s(z)|
    z.pending = (0.25 * a.pending + K * rad * dev + K * dev * dev / 2 + 0x1p-48 * dev +
                 sigmoid_ulps_ * (2 * r_.u * (z.t.mag() + prop_abs) + 2 * r_.eta)) *
                (1 + 0x1p-50);
    fresh(z);
    return z;
  }

  // exp within exp_ulps ([CORE-TRACKED-ELEMENTARY]): its whole error in one fresh symbol (the
  // argument's own error, if any, enters through Tracked's propagation, not linearly).
  V exp(const V& a) const {
    V z;
    z.affine = affine_;
    z.t = touchstone::exp(a.t, exp_ulps_, r_);
    z.outside = a.outside || !std::isfinite(z.t.err) || !std::isfinite(z.t.mag());
    z.depth = a.depth + 1;
    if (z.outside) return z;
    z.pending = z.t.err;
    fresh(z);
    z.outside = overflows(z);
    return z;
  }

  // [BILEVEL-MAML-RELU] [a > 0] as an exact 0 or 1, the same for the computed and the exact a
  // only where a's sign is certain: a > 0 (lo > deviation), a < 0 (hi < -deviation), or a exactly 0
  // computed exactly; otherwise the mask (and all that depends on it) is outside the bound's domain.
  V relu_mask(const V& a) const {
    const double dev = deviation(a);
    const bool pos = a.t.lo > dev, neg = a.t.hi < -dev, zero = a.t.lo == 0 && a.t.hi == 0 && dev == 0;
    V m = input(pos ? 1.0 : 0.0);
    m.outside = a.outside || !(pos || neg || zero) || !std::isfinite(dev);
    return m;
  }
  V masked(const V& m, const V& a) const {
    V z = m.t.lo == 1 ? a : input(0.0);
    z.outside = z.outside || m.outside || a.outside;
    return z;
  }

  // [BILEVEL-UFOM-ADAPTIVE-BOUND] The scalar operations of adaptive UFOM's state update, each with
  // core's Tracked only (a fresh symbol for the whole error; no cancellation is claimed).
  // sqrt, correctly rounded, of a value whose exact range [lo, hi] and computed value are >= 0
  // (lo - E >= 0; otherwise outside): |sqrt(x^) - sqrt(x)| = |x^ - x| / (sqrt(x^) + sqrt(x)) is at
  // most min(sqrt(E), E / sqrt(lo)), plus the rounding u (M + prop) (no underflow: the square root
  // of a non-negative float is never subnormal unless its argument is 0 or subnormal: eta kept).
  V sqrt(const V& a) const {
    V z;
    z.affine = affine_;
    z.depth = a.depth + 1;
    const double e = deviation(a);
    z.outside = a.outside || !(a.t.lo - e >= 0) || !std::isfinite(e);
    if (z.outside) return z;
    const double lo = std::sqrt(a.t.lo) * (1 - 0x1p-50), hi = std::sqrt(a.t.hi) * (1 + 0x1p-50) + kTiny;
    double prop = std::sqrt(e) * (1 + 0x1p-50);
    if (lo > 0) prop = std::min(prop, e / lo * (1 + 0x1p-50));
    z.t = {lo, hi, 0};
    z.t.err = (prop + r_.u * (z.t.mag() + prop) + r_.eta) * (1 + 0x1p-50);
    z.pending = z.t.err;
    fresh(z);
    return z;
  }
  // [CORE-TRACKED-MAX] max and min are 1-Lipschitz in each argument: |max(a^, b^) - max(a, b)| <=
  // max(E_a, E_b), exact (no rounding).
  V max(const V& a, const V& b) const { return extremum(a, b, true); }
  V min(const V& a, const V& b) const { return extremum(a, b, false); }
  // a >= b decided for the computed and the exact values alike only where the intervals that hold
  // both (the exact range widened by the deviation) do not overlap; otherwise the comparison can
  // flip under rounding, and the result is outside the bound's domain (unjudged, never passed).
  template <class Then, class Otherwise>
  V at_least(const V& a, const V& b, const Then& then, const Otherwise& otherwise) const {
    const double ea = deviation(a), eb = deviation(b);
    const bool yes = a.t.lo - ea >= b.t.hi + eb, no = a.t.hi + ea < b.t.lo - eb;
    V z = yes ? then() : otherwise();
    z.outside = z.outside || a.outside || b.outside || !(yes || no) || !std::isfinite(ea) || !std::isfinite(eb);
    return z;
  }
  V input(double x) const { return {Tracked::exact(x), {}, 0, 0, false, affine_, 0}; }
  V add(const V& a, const V& b) const { return add_signed(a, b, 1); }
  V sub(const V& a, const V& b) const { return add_signed(a, b, -1); }
  V mul(const V& a, const V& b) const {
    V z;
    z.affine = affine_;
    z.t = touchstone::mul(a.t, b.t, r_);
    z.outside = a.outside || b.outside;
    z.depth = std::max(a.depth, b.depth) + 1;
    // a^ b^ - a b = mb (a^ - a) + ma (b^ - b) + (a - ma)(b^ - b) + (b - mb)(a^ - a) + (a^ - a)(b^ - b)
    // with ma, mb the midpoints of the exact ranges (the exact value itself for an input).
    const double ma = midpoint(a.t), mb = midpoint(b.t);
    const double da = deviation(a), db = deviation(b);
    combine(z.c, a.c, mb);
    combine(z.c, b.c, ma);
    const double remainder = radius(a.t, ma) * db + radius(b.t, mb) * da + da * db +
                             std::fabs(mb) * a.pending + std::fabs(ma) * b.pending;
    z.pending = (remainder + r_.u * (z.t.mag() + da * b.t.mag() + db * a.t.mag() + da * db) + r_.eta) * (1 + 0x1p-50);
    // Sum |c_k| of the stored coefficients: with one operand's coefficients only (a product by an
    // input), |m| times its sum (each coefficient one long double rounding of m c_k).
    if (a.c.empty() || b.c.empty())
      z.c_sum = std::fabs(a.c.empty() ? ma : mb) * (a.c.empty() ? b.c_sum : a.c_sum) * (1 + 0x1p-50);
    else
      z.c_sum = coefficient_sum(z.c);
    z.outside = z.outside || overflows(z);
    return z;
  }
  V div(const V& a, const V& b) const {
    V z = divide(a, b);
    if (!any_order_ || z.outside) return z;
    // Any order: also a * fl(1 / b). Keep the division's form and add one symbol covering the
    // other route: (via - exact) - sum c_z eps = sum (c_via - c_z) eps + via's pending, bounded by
    // sum |c_via - c_z| + pending + the coefficients' own evaluation error (gamma, both Tracked).
    V via = mul(a, divide(input(1.0), b));
    if (via.outside) return via;
    via.depth = std::max(via.depth, z.depth);
    fresh(via);  // via's rounding as a symbol of its own, so that the comparison below sees it
    const long double diff = coefficient_distance(via.c, z.c);
    const std::size_t n = std::max(via.c.size, z.c.size);
    const double gamma = static_cast<double>(kLongU * static_cast<long double>(2 * z.depth + 8));
    const double extra = affine_ ? static_cast<double>(diff * (1 + kLongU * static_cast<long double>(n + 2))) +
                                       gamma * (via.t.err + z.t.err)
                                 : 0.0;
    z.t.err = std::max(z.t.err, via.t.err);
    z.pending = extra * (1 + 0x1p-50);
    fresh(z);
    z.outside = overflows(z);
    return z;
  }
  V divide(const V& a, const V& b) const {
    V z;
    z.affine = affine_;
    const TrackedQuotient q = touchstone::div(a.t, b.t, r_);
    z.t = q.value;
    z.outside = a.outside || b.outside || !q.defined || !std::isfinite(z.t.mag());
    z.depth = std::max(a.depth, b.depth) + 1;
    if (z.outside) return z;
    if (b.t.lo == b.t.hi && b.c.empty() && b.pending == 0 && b.t.err == 0) {
      // An exact divisor: a^ / b - a / b = (a^ - a) / b, coefficients divided by b.
      combine(z.c, a.c, 1.0L / static_cast<long double>(b.t.lo));  // one long double rounding
      const double da = deviation(a);
      z.pending = (a.pending / std::fabs(b.t.lo) + r_.u * (z.t.mag() + da / std::fabs(b.t.lo)) + r_.eta) * (1 + 0x1p-50);
      fresh(z);
      z.outside = overflows(z);
      return z;
    }
    // Otherwise only the Tracked bound (a fresh symbol for all of it).
    z.pending = z.t.err;
    fresh(z);
    z.outside = overflows(z);
    return z;
  }
  Acc acc() const { return {}; }
  void accumulate(Acc& s, const V& v) const {
    s.outside = s.outside || v.outside;
    if (affine_ && !v.c.empty()) {
      // As combine(s.c, v.c, 1) over dense vectors: each stored coefficient added at its symbol.
      s.c_nonfinite = s.c_nonfinite || v.c.nonfinite;
      s.c_size = std::max(s.c_size, v.c.size);
      if (!v.c.k.empty() && s.c.size() <= v.c.k.back()) s.c.resize(v.c.k.back() + 1, 0.0L);
      for (std::size_t j = 0; j < v.c.k.size(); ++j) s.c[v.c.k[j]] += v.c.c[j];
    }
    s.pending += v.pending;
    s.dev += deviation(v);
    s.size += v.t.mag() + deviation(v);
    s.depth = std::max(s.depth, v.depth);
    ++s.count;
    if (any_order_) {
      s.sum.add_term(v.t);
    } else {
      s.seq = s.any ? touchstone::add(s.seq, v.t, r_) : v.t;
      // The partial sum's rounding: u |computed partial sum| <= u (|exact| + deviations).
      if (s.any) s.rounding += r_.u * (s.seq.mag() + s.dev + s.rounding);
      s.outside = s.outside || !(s.seq.mag() + s.dev + s.rounding <= r_.max_finite);
    }
    s.any = true;
  }
  V total(const Acc& s) const {
    if (!s.any) return {Tracked::exact(0), {}, 0, 0, s.outside, affine_, 0};
    V z;
    z.affine = affine_;
    z.depth = s.depth + static_cast<double>(s.count);
    z.c.size = s.c_size;
    z.c.nonfinite = s.c_nonfinite;
    for (std::size_t k = 0; k < s.c.size(); ++k)
      if (s.c[k] != 0 || std::isnan(s.c[k])) {
        z.c.k.push_back(k);
        z.c.c.push_back(s.c[k]);
      }
    if (any_order_) {
      z.t = s.sum.result(r_);
      const double gamma = s.count > 1 ? gamma_k(r_.u, static_cast<double>(s.count - 1)) : 0.0;
      // Every partial sum, in any order, is at most sum |computed term| (1 + gamma).
      z.outside = s.outside || !(s.size * (1 + gamma) <= r_.max_finite);
      z.pending = (s.pending + gamma * s.size) * (1 + 0x1p-50);
    } else {
      z.t = s.seq;
      z.outside = s.outside;
      z.pending = (s.pending + s.rounding) * (1 + 0x1p-50);
    }
    fresh(z);
    z.outside = z.outside || overflows(z);
    return z;
  }

 private:
  // The computed value may exceed the format's range: |computed| <= |exact| + deviation.
  V extremum(const V& a, const V& b, bool larger) const {
    V z;
    z.affine = affine_;
    z.depth = std::max(a.depth, b.depth) + 1;
    z.outside = a.outside || b.outside;
    z.t = larger ? Tracked{std::max(a.t.lo, b.t.lo), std::max(a.t.hi, b.t.hi), 0}
                 : Tracked{std::min(a.t.lo, b.t.lo), std::min(a.t.hi, b.t.hi), 0};
    z.t.err = std::max(deviation(a), deviation(b));
    z.pending = z.t.err;
    fresh(z);
    return z;
  }
  bool overflows(const V& v) const { return !(v.t.mag() + deviation(v) <= r_.max_finite); }
  static double midpoint(const Tracked& t) { return t.lo == t.hi ? t.lo : t.lo / 2 + t.hi / 2; }
  // max |x - m| over x in [lo, hi], rounded up.
  static double radius(const Tracked& t, double m) {
    if (t.lo == t.hi && t.lo == m) return 0;
    return std::max(t.hi - m, m - t.lo) * (1 + 0x1p-50) + 4.9406564584124654e-324;
  }
  void combine(Coefficients& into, const Coefficients& c, long double s) const {
    if (affine_) add_scaled(into, c, s);
  }
  // Gives v's pending its own symbol.
  void fresh(V& v) const {
    if (affine_ && v.pending != 0) {
      // next_ is past every symbol so far: appended, the symbols stay increasing.
      v.c.k.push_back(next_);
      v.c.c.push_back(v.pending);
      v.c.size = next_ + 1;
      ++next_;
      v.pending = 0;
    }
    v.c_sum = coefficient_sum(v.c);
  }
  V add_signed(const V& a, const V& b, double sign) const {
    V z;
    z.affine = affine_;
    z.t = sign > 0 ? touchstone::add(a.t, b.t, r_) : touchstone::sub(a.t, b.t, r_);
    z.outside = a.outside || b.outside;
    z.depth = std::max(a.depth, b.depth) + 1;
    combine(z.c, a.c, 1);
    combine(z.c, b.c, sign);
    z.pending = (a.pending + b.pending + r_.u * (z.t.mag() + deviation(a) + deviation(b))) * (1 + 0x1p-50);
    fresh(z);
    z.outside = z.outside || overflows(z);
    return z;
  }

  Rounding r_;
  bool any_order_, affine_;
  double exp_ulps_, sigmoid_ulps_;
  mutable std::size_t next_ = 0;  // the next symbol
};

// [BILEVEL-BOUND-EVAL] The bound's own binary64 evaluation: every error is a sum of products of
// non-negative terms, each operation relative 2^-52 at most; `ops` bounds the operations behind
// one output, and the result is multiplied by 1 + max(2^-20, ops 2^-40).
double element_bound(const TV& v, double ops) {
  if (v.outside || !std::isfinite(v.t.err)) return kInf;
  return deviation(v) * (1 + std::max(0x1p-20, ops * 0x1p-40)) + kTiny;
}

// The operations behind one output of an r-step run on dimension d, generously: (2r + 2) products
// with A (each at most 2 d^2 + 2 d operations, d of them per tangent step in forward mode), the
// recomputation's r(r + 1)/2 steps, and the final combination.
double operations(const QuadraticProblem<double>& p) {
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  return (2 * r + 2 + r * (r + 1) / 2) * (2 * d * d + 2 * d) * (d + 1) + 8 * d + 16;
}

// Every element's bound already +inf: a further run cannot change any, as each element keeps the
// largest over the runs (std::max(+inf, b) is +inf for every b, NaN included), so the runs left are
// skipped: an any-order bound past the affine form's budget is +inf everywhere after its first run
// ([BILEVEL-BOUND-AFFINE]), and the verdict needs nothing more of it.
bool all_infinite(const Tensor<double>& out) {
  for (Index i = 0; i < out.count(); ++i)
    if (!(out[i] == kInf)) return false;
  return out.count() > 0;
}

// Runs `body(ar, cls, theta)` for each Form (one, plain, for the backends' own bounds; all three
// for the any-order bound) and keeps the largest bound per element.
// `forward`: the runs include forward mode (dim tangents: dim times the products and symbols).
// `keep` returns whether some element is still finite (else the body and the forms stop: all_infinite),
// unless `every_run` (a body that computes more than the elements, as adaptive UFOM's state).
template <class Body>
Tensor<double> bound_over_forms(const QuadraticProblem<double>& p, const BilevelArithmetic& m, bool forward,
                                const Body& body, bool every_run = false) {
  const auto& in = p.in();
  const double ops = operations(p);
  Tensor<double> out(Shape{p.dim()}, 0.0);
  const std::vector<order::Form> forms =
      m.any_order ? std::vector<order::Form>{order::Form::plain, order::Form::prescaled, order::Form::symmetric}
                  : std::vector<order::Form>{order::Form::plain};
  // The affine form costs (symbols x products): kept where that is below about 4 10^9 long double
  // operations (seconds), else only the Tracked bound ([BILEVEL-BOUND-AFFINE]).
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  const double symbols = (2 * r + 2) * (4 * d) + (forward ? (r + 1) * 3 * d * d : 0);
  const double products = (2 * r + 2) * d * d + (forward ? r * d * d * d : 0);
  const bool affine = symbols * products < 4e9;
  for (order::Form form : forms) {
    if (!every_run && all_infinite(out)) break;
    TrackedArithmetic ar(m, affine);
    order::Quadratic<TrackedArithmetic> cls(
        ar, p.dim(), [&](Index i, Index k) { return in.A(i, k); }, [&](Index i) { return in.c[i]; }, in.alpha, form);
    const std::vector<TV> theta = order::initial(ar, p.dim(), [&](Index i) { return in.theta[i]; });
    body(ar, cls, theta, [&](const std::vector<TV>& g) {
      for (Index i = 0; i < p.dim(); ++i) {
        const TV& v = g[static_cast<std::size_t>(i)];
        double b = element_bound(v, ops);
        // Without the affine form (a problem past its budget) the Tracked bound grows like
        // (1 + |alpha| |A|)^(2r+1); where it reaches the element's own magnitude it cannot tell the
        // answer from 0, and the element is declared outside the bound's domain (unjudged) rather
        // than judged by a vacuous bound ([BILEVEL-BOUND-AFFINE]).
        if (!affine && !(b < v.t.mag())) b = kInf;
        out[i] = std::max(out[i], b);
      }
      return every_run || !all_infinite(out);
    });
  }
  return out;
}

}  // namespace

BilevelArithmetic bilevel_arithmetic_cpu(Format compute) {
  const bool f32 = compute == Format::float32;
  return {f32 ? "cpu-f32" : "cpu-f64", compute, false, f32 ? kExpF32Ulps : kExpF64Ulps,
          f32 ? mamba::kSigmoidF32Ulps : mamba::kSigmoidF64Ulps};
}

BilevelArithmetic bilevel_arithmetic_any_order(Format compute, double exp_ulps) {
  return {"any order", compute, true, exp_ulps, exp_ulps};
}

Tensor<double> exact_hypergradient_bound(const QuadraticProblem<double>& p, order::Method method,
                                         const BilevelArithmetic& m) {
  static_assert(!order::Quadratic<TrackedArithmetic>::hvp_reads_phi);  // recompute = stored below
  // Any order: reverse accumulation (stored and recomputed run the same operations on this class)
  // and forward accumulation, whichever method the entry names; each run with its own budget.
  Tensor<double> out(Shape{p.dim()}, 0.0);
  if (m.any_order || method != order::Method::forward)
    out = bound_over_forms(p, m, false, [&](TrackedArithmetic&, auto& cls, const std::vector<TV>& theta, auto&& keep) {
      keep(order::exact_stored(cls, theta, p.steps()));
    });
  if ((m.any_order || method == order::Method::forward) && !all_infinite(out)) {
    const Tensor<double> f =
        bound_over_forms(p, m, true, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
          keep(order::exact_forward(ar, cls, theta, p.steps()));
        });
    for (Index i = 0; i < p.dim(); ++i) out[i] = std::max(out[i], f[i]);
  }
  return out;
}

Tensor<double> fom_bound(const QuadraticProblem<double>& p, const BilevelArithmetic& m) {
  return bound_over_forms(p, m, false, [&](TrackedArithmetic&, auto& cls, const std::vector<TV>& theta, auto&& keep) {
    keep(order::fom(cls, theta, p.steps()));
  });
}

// The backends' UFOM computes E by recomputation from lambda_r = F; the quadratic class's HVP does
// not read phi_j, so the bound runs the same backward pass from F without recomputing (the same
// operations on the same values; bilevel_test checks recomputation against storage bit for bit).
Tensor<double> ufom_bound(const UfomProblem<double>& u, const BilevelArithmetic& m) {
  static_assert(!order::Quadratic<TrackedArithmetic>::hvp_reads_phi);
  const Index r = u.quad().steps();
  const double q = u.q();
  Tensor<double> out = bound_over_forms(
      u.quad(), m, false, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
        if (keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::stored)) && m.any_order && u.xi() == 1)
          keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::stored, true));
      });
  if (!m.any_order || u.xi() == 0 || all_infinite(out)) return out;
  const Tensor<double> f = bound_over_forms(
      u.quad(), m, true, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
        if (keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::forward, false)))
          keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::forward, true));
      });
  for (Index i = 0; i < out.count(); ++i) out[i] = std::max(out[i], f[i]);
  return out;
}

// [BILEVEL-UFOM-ADAPTIVE-BOUND] The estimate as ufom_bound (stored = recompute on this class); the
// state's scalars after it, each the largest over the same runs. With xi = 0 q and the EMAs are the
// inputs returned as they are (bound 0); V2 and D2 are the inputs' bias-corrected values.
AdaptiveUfomBound ufom_adaptive_bound(const AdaptiveUfomProblem<double>& a, const BilevelArithmetic& m) {
  static_assert(!order::Quadratic<TrackedArithmetic>::hvp_reads_phi);
  const UfomProblem<double>& u = a.ufom();
  const Index r = u.quad().steps();
  const double q = u.q();
  AdaptiveUfomBound out;
  out.grad = Tensor<double>(Shape{u.quad().dim()}, 0.0);
  auto run = [&](bool forward, order::Method method, bool reciprocal) {
    const double ops = operations(u.quad()) + 4 * static_cast<double>(u.quad().dim()) +
                       static_cast<double>(a.exact_steps()) + 64;
    const Tensor<double> g = bound_over_forms(
        u.quad(), m, forward, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
          const auto est = order::ufom_adaptive_estimate(ar, cls, theta, r, q, u.xi(), method, reciprocal);
          keep(est.grad);
          if (u.xi() == 0) {
            if (a.exact_steps() == 0) return;
            const TV c = order::bias_correction(ar, a.exact_steps());
            out.v2 = std::max(out.v2, element_bound(ar.div(ar.input(a.ema_v2()), c), ops));
            out.d2 = std::max(out.d2, element_bound(ar.div(ar.input(a.ema_d2()), c), ops));
            return;
          }
          const auto s = order::adaptive_state(ar, est.v2_sample, est.d2_sample, a.ema_v2(), a.ema_d2(),
                                               a.exact_steps(), r);
          out.q_next = std::max(out.q_next, element_bound(s.q_next, ops));
          out.ema_v2_next = std::max(out.ema_v2_next, element_bound(s.ema_v2, ops));
          out.ema_d2_next = std::max(out.ema_d2_next, element_bound(s.ema_d2, ops));
          out.v2 = std::max(out.v2, element_bound(s.v2, ops));
          out.d2 = std::max(out.d2, element_bound(s.d2, ops));
        },
        true);
    for (Index i = 0; i < g.count(); ++i) out.grad[i] = std::max(out.grad[i], g[i]);
  };
  run(false, order::Method::stored, false);
  if (m.any_order && u.xi() == 1) {
    run(false, order::Method::stored, true);
    run(true, order::Method::forward, false);
    run(true, order::Method::forward, true);
  }
  return out;
}

Tensor<double> hvp_bound(const HvpProblem<QuadraticProblem<double>>& h, const BilevelArithmetic& m) {
  return bound_over_forms(h.problem(), m, false, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>&, auto&& keep) {
    keep(cls.hessian_product(order::initial(ar, h.problem().dim(), [&](Index i) { return h.v()[i]; })));
  });
}

Tensor<double> hvp_bound(const HvpProblem<RidgeProblem<double>>& h, const BilevelArithmetic& m) {
  const RidgeProblem<double>& p = h.problem();
  TrackedArithmetic ar(m, true);
  order::Ridge<TrackedArithmetic> cls(ar, p);
  const std::vector<TV> g = cls.hessian_product(order::initial(ar, p.dim(), [&](Index i) { return h.v()[i]; }));
  const double ops = 4 * static_cast<double>(p.samples() * p.dim() + p.dim()) + 16;
  Tensor<double> out(Shape{p.dim()});
  for (Index i = 0; i < p.dim(); ++i) out[i] = element_bound(g[static_cast<std::size_t>(i)], ops);
  return out;
}

// [BILEVEL-RIDGE-CPU] The ridge class: the order header's ridge_exact over tracked values. Stored
// and recomputed iterates are the same values (the recomputation repeats the same operations), so
// the recomputation's bound runs the stored form.
Tensor<double> ridge_hypergradient_bound(const RidgeProblem<double>& p, order::Method method, const BilevelArithmetic& m) {
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  const double n = static_cast<double>(p.samples() + p.val_samples());
  const double ops = (2 * r + 2 + r * (r + 1) / 2) * (4 * n * d + 8 * d) * (d + 1) + 16 * d + 16;
  Tensor<double> out(Shape{p.dim()}, 0.0);
  auto run = [&](order::Method meth) {
    const bool forward = meth == order::Method::forward;
    const double symbols = (2 * r + 2) * (2 * n + 6 * d) * (forward ? d + 1 : 1);
    const double products = (2 * r + 2) * 2 * n * d * (forward ? d + 1 : 1);
    TrackedArithmetic ar(m, symbols * products < 4e9);
    order::Ridge<TrackedArithmetic> cls(ar, p);
    const std::vector<TV> w0 = order::initial(ar, p.dim(), [&](Index i) { return p.in().w0[i]; });
    const std::vector<TV> g = order::ridge_exact(ar, cls, w0, p.steps(), forward ? meth : order::Method::stored);
    for (Index i = 0; i < p.dim(); ++i) {
      const TV& v = g[static_cast<std::size_t>(i)];
      double b = element_bound(v, ops);
      if (!v.affine && !(b < v.t.mag())) b = kInf;  // as bound_over_forms: no vacuous bound
      out[i] = std::max(out[i], b);
    }
  };
  if (m.any_order || method != order::Method::forward) run(order::Method::stored);
  if ((m.any_order || method == order::Method::forward) && !all_infinite(out)) run(order::Method::forward);
  return out;
}

// ---- the logistic class ([BILEVEL-LOGISTIC-BOUND]) ----
namespace {
// The operations behind one output (generously, as for the ridge class, with the sigmoids and the
// Hessian's extra products), and whether the affine form fits its budget.
double logistic_ops(const RidgeProblem<double>& p) {
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  const double n = static_cast<double>(p.samples() + p.val_samples());
  return (2 * r + 2 + r * (r + 1) / 2) * (8 * n * d + 12 * n + 8 * d) * (d + 1) + 16 * d + 16;
}
bool logistic_affine(const RidgeProblem<double>& p, bool forward) {
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  const double n = static_cast<double>(p.samples() + p.val_samples());
  const double symbols = (2 * r + 2) * (6 * n + 6 * d) * (forward ? d + 1 : 1);
  const double products = (2 * r + 2) * 4 * n * d * (forward ? d + 1 : 1);
  return symbols * products < 4e9;
}
// Runs body(ar, cls, w0) -> outputs over tracked values and folds its per-element bounds into out.
template <class Body>
void logistic_run(const LogisticProblem<double>& p, const BilevelArithmetic& m, bool forward, Tensor<double>& out,
                  const Body& body) {
  const bool affine = logistic_affine(p, forward);
  TrackedArithmetic ar(m, affine);
  order::Logistic<TrackedArithmetic> cls(ar, p);
  const std::vector<TV> w0 = order::initial(ar, p.dim(), [&](Index i) { return p.in().w0[i]; });
  const std::vector<TV> g = body(ar, cls, w0);
  const double ops = logistic_ops(p);
  for (Index i = 0; i < p.dim(); ++i) {
    const TV& v = g[static_cast<std::size_t>(i)];
    double b = element_bound(v, ops);
    if (!v.affine && !(b < v.t.mag())) b = kInf;  // as bound_over_forms: no vacuous bound
    out[i] = std::max(out[i], b);
  }
}
}  // namespace

// Stored and recomputed iterates are the same values (the recomputation repeats the same
// operations on the same inputs), so the recomputation's bound runs the stored form.
Tensor<double> logistic_hypergradient_bound(const LogisticProblem<double>& p, order::Method method,
                                            const BilevelArithmetic& m) {
  Tensor<double> out(Shape{p.dim()}, 0.0);
  for (order::Method meth : {order::Method::stored, order::Method::forward}) {
    const bool forward = meth == order::Method::forward;
    if (!m.any_order && forward != (method == order::Method::forward)) continue;
    if (all_infinite(out)) break;
    logistic_run(p, m, forward, out, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& w0) {
      return order::ridge_exact(ar, cls, w0, p.steps(), meth);
    });
  }
  return out;
}

Tensor<double> logistic_fom_bound(const LogisticProblem<double>& p, const BilevelArithmetic& m) {
  Tensor<double> out(Shape{p.dim()}, 0.0);
  logistic_run(p, m, false, out, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& w0) {
    return order::theta_fom(ar, cls, w0, p.steps());
  });
  return out;
}

// The backends' E is recomputed: the stored form's bound (the same values). Any order: E reverse
// or forward, the division by q or the product with fl(1/q).
Tensor<double> logistic_ufom_bound(const LogisticUfomProblem<double>& u, const BilevelArithmetic& m) {
  const LogisticProblem<double>& p = u.problem();
  Tensor<double> out(Shape{p.dim()}, 0.0);
  for (order::Method meth : {order::Method::stored, order::Method::forward})
    for (bool reciprocal : {false, true}) {
      if (!m.any_order && (meth == order::Method::forward || reciprocal)) continue;
      if (u.xi() == 0 && (meth == order::Method::forward || reciprocal)) continue;
      if (all_infinite(out)) break;
      logistic_run(p, m, meth == order::Method::forward, out,
                   [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& w0) {
                     return order::theta_ufom(ar, cls, w0, p.steps(), u.q(), u.xi(), meth, reciprocal);
                   });
    }
  return out;
}

Tensor<double> hvp_bound(const HvpProblem<LogisticProblem<double>>& h, const BilevelArithmetic& m) {
  const LogisticProblem<double>& p = h.problem();
  TrackedArithmetic ar(m, true);
  order::Logistic<TrackedArithmetic> cls(ar, p);
  const std::vector<TV> w = order::initial(ar, p.dim(), [&](Index i) { return p.in().w0[i]; });
  const std::vector<TV> g = cls.hessian_product(w, order::initial(ar, p.dim(), [&](Index i) { return h.v()[i]; }));
  const double ops = 8 * static_cast<double>(p.samples() * p.dim() + p.samples() + p.dim()) + 16;
  Tensor<double> out(Shape{p.dim()});
  for (Index i = 0; i < p.dim(); ++i) out[i] = element_bound(g[static_cast<std::size_t>(i)], ops);
  return out;
}

// ---- the MAML sinusoid class ([BILEVEL-MAML-BOUND]) ----
namespace {
// `forward`: the run is forward mode (r dim tangent steps, dim products at the end).
template <class Body>
Tensor<double> maml_run(const MamlProblem<double>& p, const BilevelArithmetic& m, const Body& body,
                        bool forward = false) {
  const double P = static_cast<double>(p.dim()), h = static_cast<double>(p.hidden()), r = static_cast<double>(p.steps());
  const double K = static_cast<double>(std::max(p.in().x_support.count(), p.in().x_query.count()));
  // Per pass about 12 h^2 + 30 h operations per point; the affine form's cost (symbols x length)
  // kept below about 4 10^9 as for the other classes.
  const double per_pass = K * (12 * h * h + 30 * h) + 2 * P;
  const double passes = forward ? r * P + r + 1 + 2 * P / per_pass * P : 2 * r + 2;
  const double ops_total = passes * per_pass;
  const bool affine = ops_total * ops_total < 4e9;
  TrackedArithmetic ar(m, affine);
  order::Mlp<TrackedArithmetic> cls(ar, p);
  const std::vector<TV> theta = order::initial(ar, p.dim(), [&](Index i) { return p.in().theta[i]; });
  const std::vector<TV> g = body(ar, cls, theta);
  // Operations behind one output: every pass's operations (generously) and the recomputation's.
  const double ops = (passes + r * (r + 1) / 2) * per_pass + 16;
  Tensor<double> out(Shape{p.dim()});
  for (Index i = 0; i < p.dim(); ++i) {
    const TV& v = g[static_cast<std::size_t>(i)];
    double b = element_bound(v, ops);
    if (!v.affine && !(b < v.t.mag())) b = kInf;  // no vacuous bound ([BILEVEL-BOUND-AFFINE])
    out[i] = b;
  }
  return out;
}
}  // namespace

Tensor<double> maml_hypergradient_bound(const MamlProblem<double>& p, const BilevelArithmetic& m) {
  return maml_run(p, m,
                  [&](auto&, auto& cls, const std::vector<TV>& theta) { return order::exact_stored(cls, theta, p.steps()); });
}
// [BILEVEL-MAML-FORWARD] Forward mode over tracked values (the tangents Z e_t through the same HVP
// passes); any order: the larger of the reverse and the forward bound per element.
Tensor<double> maml_hypergradient_bound(const MamlProblem<double>& p, order::Method method, const BilevelArithmetic& m) {
  Tensor<double> out(Shape{p.dim()}, 0.0);
  if (m.any_order || method != order::Method::forward) out = maml_hypergradient_bound(p, m);
  if ((m.any_order || method == order::Method::forward) && !all_infinite(out)) {
    const Tensor<double> f = maml_run(
        p, m,
        [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta) {
          return order::exact_forward(ar, cls, theta, p.steps());
        },
        true);
    for (Index i = 0; i < p.dim(); ++i) out[i] = std::max(out[i], f[i]);
  }
  return out;
}
Tensor<double> maml_fom_bound(const MamlProblem<double>& p, const BilevelArithmetic& m) {
  return maml_run(p, m, [&](auto&, auto& cls, const std::vector<TV>& theta) { return order::fom(cls, theta, p.steps()); });
}

}  // namespace touchstone::bilevel
