// The closed-form bound of the CPU selective scan (bounds/src/mamba_bound.cpp,
// [MAMBA-SCAN-BOUND-CPU-F32], [MAMBA-SCAN-BOUND-CPU-F64]) against the same order run on Tracked
// values: order/include/touchstone/order/mamba_order.hpp's scan_channel over core's Tracked
// arithmetic ([CORE-TRACKED]), every operation of the order bounded one by one. The closed form
// counts those roundings without running the order (it must stay fast: it is most of `touchstone
// diff`'s time at production shapes); here, on RapidCheck problems that reach the edges (every
// optional input, all B/C layouts, groups, ragged L, subnormals), it must be at least the Tracked
// bound on every element. Where it is lower, one of the two misses a rounding of the order, or
// one of them is wrong. The test prints by how much the two differ, and shows that a closed form
// with one rounding fewer per step fails the comparison.
// covers: MAMBA-SCAN-BOUND-CPU-F32, MAMBA-SCAN-BOUND-CPU-F64
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "scan_generators.hpp"
#include "touchstone/bounds/mamba_bound.hpp"
#include "touchstone/bounds/tracked_policy.hpp"
#include "touchstone/core/tracked.hpp"
#include "touchstone/order/mamba_order.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {

using bounds::TV;

// The order's arithmetic on Tracked values: core's rounded operations (tracked_policy.hpp) and
// elementary functions (tracked.hpp) at the backend's ulps, with three rules where core's general
// ones are looser than the spec's derivation (the fma's exact zero factor is below):
//   - the thresholded softplus's propagated error is min(E, M (e^E - 1)) (softplus(x + e) <=
//     softplus(x) e^|e|, [MAMBA-SCAN-BOUND-DELTA]); core's softplus_thresholded propagates E;
//   - silu of an exact input (z always is) has the image of that one value, moved out by the
//     C library's margin (libm_image); core's silu widens every image by 1e-16 absolute, which
//     for z = 0 is a magnitude of 1e-16 where the exact value is 0.
class TrackedScanArithmetic : public bounds::TrackedPolicy {
 public:
  TrackedScanArithmetic(Format compute, const ScanArithmetic& m)
      : TrackedPolicy(compute, false), m_(m) {}

  V fma(const V& a, const V& b, const V& c) const {
    const bool outside = a.outside || b.outside || c.outside;
    // fl(a * 0 + c) = c for an exact zero factor (the initial state without h0): nothing is
    // rounded. Core's fma would charge E(a) times the 2^-1074 floor of the zero's magnitude, an
    // underflow-sized term the growing decays of later steps (up to e^32 per step) amplify.
    if (exact_zero(a.t) || exact_zero(b.t)) return checked(c.t, outside);
    return checked(touchstone::fma(a.t, b.t, c.t, r_), outside);
  }
  V exp(const V& x) const { return checked(touchstone::exp(x.t, m_.exp_ulps, r_), x.outside); }
  V softplus_thresholded(const V& x) const {
    constexpr double jump = scan_bound::kThresholdJump;
    const Tracked& a = x.t;
    // The image and the branches as core's softplus_thresholded.
    Tracked f = touchstone::softplus_thresholded(a, m_.softplus_ulps, r_);
    double prop = std::min(a.err, f.mag() * std::expm1(a.err));
    if (a.err > 0 && a.lo - a.err <= 20 && a.hi + a.err >= 20) prop += jump;
    const bool evaluates = a.lo - a.err <= 20;
    f.err = prop + (evaluates ? m_.softplus_ulps * (2 * r_.u * (f.mag() + prop) + 2 * r_.eta) : 0.0);
    return checked(f, x.outside);
  }
  V silu(const V& z) const {
    if (z.t.err != 0 || z.t.lo != z.t.hi)
      return checked(touchstone::silu(z.t, m_.silu_ulps, r_), z.outside);
    const double s = silu_value(z.t.lo);
    return checked(touchstone::elementary(s, s, 0.0, z.t, m_.silu_ulps, r_), z.outside);
  }

 private:
  static bool exact_zero(const Tracked& x) { return x.lo == 0 && x.hi == 0 && x.err == 0; }
  ScanArithmetic m_;
};

// Each element's Tracked error bound (+inf outside the bound's domain), before any evaluation
// slack.
SelectiveScanResult<double> tracked_bound(const SelectiveScanProblem<double>& p, Format f,
                                          const ScanArithmetic& m) {
  const Index B = p.batch(), D = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<double> r{Tensor<double>(Shape{B, D, L}), Tensor<double>(Shape{B, D, N})};
  TrackedScanArithmetic ar(f, m);
  auto bound = [](const TV& v) {
    return v.outside || !std::isfinite(v.t.err) ? std::numeric_limits<double>::infinity() : v.t.err;
  };
  for (Index b = 0; b < B; ++b)
    for (Index d = 0; d < D; ++d)
      order::scan_channel(
          ar, p, b, d, [&](Index t, const TV& v) { r.out(b, d, t) = bound(v); },
          [&](Index n, const TV& h) { r.last_state(b, d, n) = bound(h); });
  return r;
}

// closed / tracked over the elements where both are finite; `below` counts the elements where the
// closed form is below the Tracked bound (or finite where the Tracked run left the domain).
struct Comparison {
  std::vector<double> ratios;
  Index below = 0, elements = 0;
  std::string first_below;
};

void compare(const Tensor<double>& closed, const Tensor<double>& tracked, const char* what,
             Comparison& c) {
  for (Index i = 0; i < closed.count(); ++i) {
    ++c.elements;
    if (std::isinf(closed[i])) continue;  // +inf bounds everything
    const bool ok = closed[i] >= tracked[i];
    if (!ok) {
      if (c.below++ == 0) {
        char values[96];
        std::snprintf(values, sizeof values, ": closed %.17g < tracked %.17g", closed[i], tracked[i]);
        c.first_below = std::string(what) + " " + index_string(closed.shape(), i) + values;
      }
      continue;
    }
    if (tracked[i] > 0) c.ratios.push_back(closed[i] / tracked[i]);
  }
}

Comparison compare_bounds(const SelectiveScanProblem<double>& p, Format f, const ScanArithmetic& closed_model,
                          const ScanArithmetic& tracked_model) {
  const auto closed = selective_scan_bound(p, closed_model);
  const auto tracked = tracked_bound(p, f, tracked_model);
  Comparison c;
  compare(closed.out, tracked.out, "out", c);
  compare(closed.last_state, tracked.last_state, "last_state", c);
  return c;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

void closed_form_dominates_tracked(Format f, const ScanArithmetic& m) {
  std::vector<double> ratios;
  Index elements = 0;
  const bool ok = rc::check(std::string("closed form >= Tracked, ") + m.name, [&] {
    const auto p = draw_problem(f, {}, /*allow_nan=*/false);
    const Comparison c = compare_bounds(p, f, m, m);
    elements += c.elements;
    ratios.insert(ratios.end(), c.ratios.begin(), c.ratios.end());
    if (c.below > 0)
      RC_FAIL(std::to_string(c.below) + " elements below the Tracked bound; first " + c.first_below +
              "\n" + dump_inputs(p));
  });
  EXPECT_TRUE(ok);
  std::printf("%s: closed form / Tracked over %zu of %lld elements (both finite): min %.9g, "
              "median %.9g, 90%% %.6g, max %.6g\n",
              m.name.c_str(), ratios.size(), static_cast<long long>(elements), quantile(ratios, 0),
              quantile(ratios, 0.5), quantile(ratios, 0.9), quantile(ratios, 1));
}

}  // namespace

TEST(SelectiveScanTrackedBound, ClosedFormIsAtLeastTheOrderOnTrackedF32) {
  closed_form_dominates_tracked(Format::float32, arithmetic_cpu_f32());
}

TEST(SelectiveScanTrackedBound, ClosedFormIsAtLeastTheOrderOnTrackedF64) {
  closed_form_dominates_tracked(Format::float64, arithmetic_cpu_f64());
}

// The comparison can fail: a closed form that leaves out a rounding of every step is below the
// Tracked run of the order. A fixed problem (batch 1, dim 4, dstate 8, seqlen 32, softplus, D, z
// and a bias; values from sin of their index, rounded to float32), two wrong closed forms: the
// state fma's rounding of a h left out (k = 0), or of its du B term (c = 0).
TEST(SelectiveScanTrackedBound, AClosedFormMissingARoundingFails) {
  const Index dim = 4, L = 32;
  SelectiveScanInputs<double> in = sine_inputs();
  in.D = sine_values(Shape{dim}, 1.0, 0.0);
  in.z = sine_values(Shape{1, dim, L}, 2.0, 0.0);
  in.delta_bias = sine_values(Shape{dim}, 0.25, 0.0);
  in.delta_softplus = true;
  const SelectiveScanProblem<double> p(std::move(in));
  const ScanArithmetic right = arithmetic_cpu_f32();
  EXPECT_EQ(compare_bounds(p, Format::float32, right, right).below, 0);

  ScanArithmetic no_step = right;
  no_step.step_roundings = 0;
  const Comparison a = compare_bounds(p, Format::float32, no_step, right);
  EXPECT_GT(a.below, 0) << "a closed form without the state's rounding of a h should fail";
  std::printf("k = 0: %lld of %lld elements below the Tracked bound\n", static_cast<long long>(a.below),
              static_cast<long long>(a.elements));

  ScanArithmetic no_term = right;
  no_term.term_roundings = 0;
  const Comparison b = compare_bounds(p, Format::float32, no_term, right);
  EXPECT_GT(b.below, 0) << "a closed form without the state's rounding of du B should fail";
  std::printf("c = 0: %lld of %lld elements below the Tracked bound\n", static_cast<long long>(b.below),
              static_cast<long long>(b.elements));
}
