// RapidCheck properties of s4.causal_conv and s4.ssm_scan: on generated problems (ragged shapes,
// kernels shorter and longer than L, with and without D; values uniform, zero, subnormal, huge, of
// one sign) both CPU backends are within their bounds of the oracle, element by element, and the
// any-order bound covers them. RC_PARAMS reproduces a failure.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>

#include "cpu/s4_conv.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/bounds/s4_conv_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;

namespace {

// A float32 value: mostly uniform on [-1, 1), sometimes an edge.
rc::Gen<double> value(bool positive) {
  return rc::gen::map(rc::gen::pair(rc::gen::inRange(0, 20), rc::gen::inRange(-1000000, 1000000)),
                      [positive](std::pair<int, int> p) {
                        double v = static_cast<double>(p.second) / 1000000.0;
                        if (p.first == 0) v = 0;
                        if (p.first == 1) v = 1e-40 * (v + 2);  // subnormal in float32
                        if (p.first == 2) v = 1e30 * v;
                        if (p.first == 3) v = 1e-30 * v;
                        if (positive) v = std::fabs(v);
                        return static_cast<double>(static_cast<float>(v));
                      });
}

Tensor<double> tensor(Shape s, bool positive) {
  const auto v = *rc::gen::container<std::vector<double>>(static_cast<std::size_t>(s.count()), value(positive));
  return Tensor<double>(std::move(s), v);
}

ConvProblem<double> conv_problem() {
  const Index batch = *rc::gen::inRange<Index>(1, 3), H = *rc::gen::inRange<Index>(1, 3);
  const Index L = *rc::gen::inRange<Index>(1, 40), Lk = *rc::gen::inRange<Index>(1, 50);
  const bool positive = *rc::gen::arbitrary<bool>();
  ConvInputs<double> in{tensor(Shape{batch, H, L}, positive), tensor(Shape{H, Lk}, positive), std::nullopt};
  if (*rc::gen::arbitrary<bool>()) in.D = tensor(Shape{H}, false);
  return ConvProblem<double>(std::move(in));
}

ScanProblem<double> scan_problem() {
  const Index batch = *rc::gen::inRange<Index>(1, 3), H = *rc::gen::inRange<Index>(1, 3);
  const Index N = *rc::gen::inRange<Index>(1, 6), L = *rc::gen::inRange<Index>(1, 30);
  ScanInputs<double> in;
  in.dA = tensor(Shape{H, N, 2}, false);
  in.dB = tensor(Shape{H, N, 2}, false);
  in.dC = tensor(Shape{H, N, 2}, false);
  in.u = tensor(Shape{batch, H, L}, false);
  if (*rc::gen::arbitrary<bool>()) in.D = tensor(Shape{H}, false);
  in.conj = *rc::gen::arbitrary<bool>() ? Conj::halves : Conj::full;
  return ScanProblem<double>(std::move(in));
}

void expect_within(const Tensor<double>& y, const Tensor<mp_real>& exact, const Tensor<double>& bound, Format f) {
  // NaN/Inf where the bound is not finite is the family's documented behaviour ([CORE-OWN-DOMAIN]).
  const ErrorSummary s = compare("y", own_domain_view(y, exact, bound), exact, &bound, f);
  RC_ASSERT(s.outside == 0);
}

}  // namespace

// covers: S4CONV-CONV-BOUND S4CONV-CONV-BOUND-ANY
RC_GTEST_PROP(CausalConvProperties, BackendsWithinBoundOfTheOracle, ()) {
  const ConvProblem<double> p = conv_problem();
  WorkingPrecision wp(256);
  const Tensor<mp_real> exact = reference::causal_conv<mp_real>(p);
  expect_within(cpu::causal_conv(p.cast<float>()).cast<double>(), exact, causal_conv_bound(p, Format::float32),
                Format::float32);
  expect_within(cpu::causal_conv(p), exact, causal_conv_bound(p, Format::float64), Format::float64);
  expect_within(cpu::causal_conv(p.cast<float>()).cast<double>(), exact,
                causal_conv_any_order_bound(p, Format::float32), Format::float32);
}

// covers: S4CONV-SCAN-BOUND S4CONV-SCAN-BOUND-ANY
RC_GTEST_PROP(SsmScanProperties, BackendsWithinBoundOfTheOracle, ()) {
  const ScanProblem<double> p = scan_problem();
  WorkingPrecision wp(256);
  const auto e = reference::ssm_scan<mp_real>(p);
  const auto r32 = cpu::ssm_scan(p.cast<float>());
  const auto r64 = cpu::ssm_scan(p);
  const auto b32 = ssm_scan_bound(p, Format::float32), b64 = ssm_scan_bound(p, Format::float64);
  const auto a32 = ssm_scan_any_order_bound(p, Format::float32);
  expect_within(r32.y.cast<double>(), e.y, b32.y, Format::float32);
  expect_within(r32.last_state.cast<double>(), e.last_state, b32.last_state, Format::float32);
  expect_within(r64.y, e.y, b64.y, Format::float64);
  expect_within(r64.last_state, e.last_state, b64.last_state, Format::float64);
  expect_within(r32.y.cast<double>(), e.y, a32.y, Format::float32);
  expect_within(r32.last_state.cast<double>(), e.last_state, a32.last_state, Format::float32);
}
