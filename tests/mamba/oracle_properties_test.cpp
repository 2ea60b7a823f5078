// The oracle's own accuracy and the exact-arithmetic invariants of the selective scan.
// covers: MAMBA-SCAN-ORACLE-PRECISION MAMBA-SCAN-ORACLE-ENCLOSURE MAMBA-SCAN-BOUND-ORACLE
// covers: MAMBA-SCAN-INV-LINEAR MAMBA-SCAN-DEF
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "scan_generators.hpp"
#include "scan_test_support.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {
SelectiveScanResult<mp_real> oracle_at(const SelectiveScanProblem<double>& p, unsigned bits) {
  const WorkingPrecision precision(bits);
  return reference::selective_scan<mp_real>(p);
}

// |x - y| <= bx + by elementwise (NaN where both are NaN).
void assert_agree(const char* what, const SelectiveScanProblem<double>& p, const Tensor<mp_real>& x, const Tensor<mp_real>& y,
                  const Tensor<double>& bx, const Tensor<double>& by) {
  const WorkingPrecision precision(1024);
  for (Index i = 0; i < x.count(); ++i) {
    if (isnan(x[i]) || isnan(y[i])) {
      RC_ASSERT(isnan(x[i]) && isnan(y[i]));
      continue;
    }
    if (std::isinf(bx[i]) || std::isinf(by[i])) continue;
    const mp_real diff = abs(x[i] - y[i]);
    if (diff > mp_real(bx[i]) + mp_real(by[i]))
      RC_FAIL(std::string(what) + ": disagreement " + to_decimal_string(diff) + " > bound " +
              to_decimal_string(mp_real(bx[i])).substr(0,12) + " + " + to_decimal_string(mp_real(by[i])).substr(0,12) + " at " + index_string(x.shape(), i) +
              "\n x " + to_decimal_string(x[i]) + " (" + std::to_string(precision_bits(x[i])) + " bits)\n y " +
              to_decimal_string(y[i]) + " (" + std::to_string(precision_bits(y[i])) + " bits)\n" +
              "\n" + dump_problem(p));
  }
}
}  // namespace

RC_GTEST_PROP(Oracle, ResultsAtPAnd2PBitsAgreeWithinTheirBounds, ()) {
  // At 64 bits the oracle's rounding is visible, so this tests the oracle's bound model
  // ([MAMBA-SCAN-BOUND-ORACLE]) as well as the oracle; at 256 it checks the default precision.
  const auto p = draw_problem(Format::float32);
  for (unsigned bits : {64u, 256u}) {
    const auto lo = oracle_at(p, bits), hi = oracle_at(p, 2 * bits);
    const auto blo = selective_scan_bound(p, arithmetic_reference(bits));
    const auto bhi = selective_scan_bound(p, arithmetic_reference(2 * bits));
    assert_agree("out", p, lo.out, hi.out, blo.out, bhi.out);
    assert_agree("last_state", p, lo.last_state, hi.last_state, blo.last_state, bhi.last_state);
  }
}

RC_GTEST_PROP(Oracle, IntervalEvaluationEnclosesTheOracle, ()) {
  // MPFI at 128 bits encloses the exact value; the 512-bit oracle is within its own bound of the
  // exact value, so it must lie within the enclosure widened by that bound.
  const auto p = draw_problem(Format::float32, {}, false);
  SelectiveScanResult<mp_interval> enclosure;
  {
    const WorkingPrecision precision(128);
    enclosure = reference::selective_scan<mp_interval>(p);
  }
  const auto oracle = oracle_at(p, 512);
  const auto slack = selective_scan_bound(p, arithmetic_reference(512));
  const WorkingPrecision precision(1024);
  auto inside = [&](const Tensor<mp_interval>& e, const Tensor<mp_real>& x, const Tensor<double>& s) {
    for (Index i = 0; i < x.count(); ++i) {
      if (std::isinf(s[i])) continue;
      RC_ASSERT(lower(e[i]) - mp_real(s[i]) <= x[i]);
      RC_ASSERT(x[i] <= upper(e[i]) + mp_real(s[i]));
    }
  };
  inside(enclosure.out, oracle.out, slack.out);
  inside(enclosure.last_state, oracle.last_state, slack.last_state);
}

RC_GTEST_PROP(Oracle, OutputIsLinearInUForFixedDeltaBCAndNoGate, ()) {
  // With h0 = 0 and no z, out(u + v) = out(u) + out(v) in exact arithmetic; the oracle shows it
  // within the sum of its three bounds. u + v is formed in double and must be exact.
  auto base = draw_problem(Format::float32, {}, false);
  SelectiveScanInputs<double> in = base.in();
  in.z.reset();
  in.h0.reset();
  Tensor<double> v = draw_tensor(in.u.shape(), Format::float32, -20, 6, true);
  Tensor<double> w = in.u;
  {
    const WorkingPrecision exact_sum(512);  // floats in [2^-149, 2^7): their sum fits 512 bits
    for (Index i = 0; i < w.count(); ++i) {
      w[i] = in.u[i] + v[i];
      RC_PRE(mp_real(w[i]) == mp_real(in.u[i]) + mp_real(v[i]));  // u + v exact in double
    }
  }
  SelectiveScanInputs<double> iu = in, iv = in, iw = in;
  iv.u = v;
  iw.u = w;
  const SelectiveScanProblem<double> pu(std::move(iu)), pv(std::move(iv)), pw(std::move(iw));
  const auto ou = oracle_at(pu, 256), ov = oracle_at(pv, 256), ow = oracle_at(pw, 256);
  const auto bu = selective_scan_bound(pu, arithmetic_reference(256));
  const auto bv = selective_scan_bound(pv, arithmetic_reference(256));
  const auto bw = selective_scan_bound(pw, arithmetic_reference(256));
  const WorkingPrecision precision(1024);
  for (Index i = 0; i < ow.out.count(); ++i) {
    if (std::isinf(bu.out[i] + bv.out[i] + bw.out[i])) continue;
    const mp_real gap = abs(ow.out[i] - ou.out[i] - ov.out[i]);
    if (gap > mp_real(bu.out[i]) + mp_real(bv.out[i]) + mp_real(bw.out[i]))
      RC_FAIL("nonlinear by " + to_decimal_string(gap) + " at " + index_string(ow.out.shape(), i) +
              "\n out(w) " + to_decimal_string(ow.out[i]) + "\n out(u) " + to_decimal_string(ou.out[i]) +
              "\n out(v) " + to_decimal_string(ov.out[i]) + "\nu: " + dump_problem(pu) +
              "\n" + dump_problem(pw) + "v: " + dump_problem(pv));
  }
}

RC_GTEST_PROP(Oracle, NaiveDoubleEvaluationIsWithinItsBound, ()) {
  // The reference template instantiated with double: what a straightforward same-precision
  // implementation gets, held to the same bound model with binary64 and glibc's functions.
  const auto p = draw_problem(Format::float64);
  ScanArithmetic m = arithmetic_reference(53);
  m.compute = m.storage = format_info(Format::float64);
  m.underflows_per_step = 1;
  m.exp_ulps = kExpF64Ulps;
  m.softplus_ulps = kSoftplusF64Ulps;
  m.silu_ulps = kSiluF64Ulps;  // the same z / (1 + exp(-z)) as cpu-f64
  const Judged j = judge(reference::selective_scan<double>(p), oracle_at(p, 256),
                         selective_scan_bound(p, m), Format::float64);
  if (!j.pass()) RC_FAIL("naive double outside its bound:\n" + j.describe(p) + dump_problem(p));
}
