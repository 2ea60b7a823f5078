// The bilevel bounds: order/bilevel_order.hpp over tracked values (spec/bilevel.md
// [BILEVEL-BOUND-CPU], [BILEVEL-BOUND-ANY]).
#include "touchstone/bounds/bilevel_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/tracked.hpp"

namespace touchstone::bilevel {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;

// A tracked value, and whether it left the bound's domain (a possible overflow of the compute
// format): such an output's bound is +inf.
struct TV {
  Tracked t;
  bool outside = false;
};

// The order header's policy over tracked values. Sequential: each accumulate is one rounded
// addition in call order ([CORE-TRACKED-ADD]); any order: the sum as [CORE-TRACKED-SUM].
class TrackedArithmetic {
 public:
  using V = TV;
  struct Acc {
    Tracked seq;
    TrackedSum sum;
    bool any = false, outside = false;
  };
  explicit TrackedArithmetic(const BilevelArithmetic& m)
      : r_(Rounding::of(format_info(m.compute))), any_order_(m.any_order) {}

  V input(double x) const { return {Tracked::exact(x), false}; }
  V add(const V& a, const V& b) const { return checked(touchstone::add(a.t, b.t, r_), a.outside || b.outside); }
  V sub(const V& a, const V& b) const { return checked(touchstone::sub(a.t, b.t, r_), a.outside || b.outside); }
  V mul(const V& a, const V& b) const { return checked(touchstone::mul(a.t, b.t, r_), a.outside || b.outside); }
  V div(const V& a, const V& b) const {
    const TrackedQuotient q = touchstone::div(a.t, b.t, r_);
    return checked(q.value, a.outside || b.outside || !q.defined);
  }
  Acc acc() const { return {}; }
  void accumulate(Acc& s, const V& v) const {
    s.outside = s.outside || v.outside;
    if (any_order_) {
      s.sum.add_term(v.t);
    } else {
      s.seq = s.any ? touchstone::add(s.seq, v.t, r_) : v.t;
      s.outside = s.outside || s.seq.overflows(r_);
    }
    s.any = true;
  }
  V total(const Acc& s) const {
    if (!s.any) return {Tracked::exact(0), s.outside};
    if (any_order_) return checked(s.sum.result(r_), s.outside || s.sum.may_overflow(r_));
    return {s.seq, s.outside};
  }

 private:
  V checked(const Tracked& t, bool outside) const { return {t, outside || t.overflows(r_)}; }
  Rounding r_;
  bool any_order_;
};

// [BILEVEL-BOUND-EVAL] The bound's own binary64 evaluation: every error is a sum of products of
// non-negative terms, each operation relative 2^-52 at most; `ops` bounds the operations behind
// one output, and the result is multiplied by 1 + max(2^-20, ops 2^-40).
double element_bound(const TV& v, double ops) {
  if (v.outside || !std::isfinite(v.t.err)) return kInf;
  return v.t.err * (1 + std::max(0x1p-20, ops * 0x1p-40)) + kTiny;
}

// The operations behind one output of an r-step run on dimension d, generously: (2r + 2) products
// with A (each at most 2 d^2 + 2 d operations, d of them per tangent step in forward mode), the
// recomputation's r(r + 1)/2 steps, and the final combination.
double operations(const QuadraticProblem<double>& p) {
  const double d = static_cast<double>(p.dim()), r = static_cast<double>(p.steps());
  return (2 * r + 2 + r * (r + 1) / 2) * (2 * d * d + 2 * d) * (d + 1) + 8 * d + 16;
}

// Runs `body(ar, cls, theta)` for each Form (one, plain, for the backends' own bounds; all three
// for the any-order bound) and keeps the largest bound per element.
template <class Body>
Tensor<double> bound_over_forms(const QuadraticProblem<double>& p, const BilevelArithmetic& m, const Body& body) {
  const auto& in = p.in();
  const double ops = operations(p);
  Tensor<double> out(Shape{p.dim()}, 0.0);
  const std::vector<order::Form> forms =
      m.any_order ? std::vector<order::Form>{order::Form::plain, order::Form::prescaled, order::Form::symmetric}
                  : std::vector<order::Form>{order::Form::plain};
  for (order::Form form : forms) {
    TrackedArithmetic ar(m);
    order::Quadratic<TrackedArithmetic> cls(
        ar, p.dim(), [&](Index i, Index k) { return in.A(i, k); }, [&](Index i) { return in.c[i]; }, in.alpha, form);
    const std::vector<TV> theta = order::initial(ar, p.dim(), [&](Index i) { return in.theta[i]; });
    body(ar, cls, theta, [&](const std::vector<TV>& g) {
      for (Index i = 0; i < p.dim(); ++i) out[i] = std::max(out[i], element_bound(g[static_cast<std::size_t>(i)], ops));
    });
  }
  return out;
}

}  // namespace

BilevelArithmetic bilevel_arithmetic_cpu(Format compute) {
  return {compute == Format::float32 ? "cpu-f32" : "cpu-f64", compute, false};
}

BilevelArithmetic bilevel_arithmetic_any_order(Format compute) { return {"any order", compute, true}; }

Tensor<double> exact_hypergradient_bound(const QuadraticProblem<double>& p, order::Method method,
                                         const BilevelArithmetic& m) {
  return bound_over_forms(p, m, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
    // Any order: reverse accumulation (stored and recomputed run the same operations on this
    // class) and forward accumulation, whichever method the entry names.
    if (m.any_order || method != order::Method::forward) keep(order::exact_stored(cls, theta, p.steps()));
    if (m.any_order || method == order::Method::forward) keep(order::exact_forward(ar, cls, theta, p.steps()));
  });
}

Tensor<double> fom_bound(const QuadraticProblem<double>& p, const BilevelArithmetic& m) {
  return bound_over_forms(p, m, [&](TrackedArithmetic&, auto& cls, const std::vector<TV>& theta, auto&& keep) {
    keep(order::fom(cls, theta, p.steps()));
  });
}

Tensor<double> ufom_bound(const UfomProblem<double>& u, const BilevelArithmetic& m) {
  const Index r = u.quad().steps();
  const double q = u.q();
  return bound_over_forms(u.quad(), m, [&](TrackedArithmetic& ar, auto& cls, const std::vector<TV>& theta, auto&& keep) {
    keep(order::ufom(ar, cls, theta, r, q, u.xi()));
    if (!m.any_order || u.xi() == 0) return;
    keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::recompute, true));
    keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::forward, false));
    keep(order::ufom(ar, cls, theta, r, q, u.xi(), order::Method::forward, true));
  });
}

}  // namespace touchstone::bilevel
