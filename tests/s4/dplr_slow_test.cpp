// The `slow` label: long L (16384) and large N (256) for the Cauchy kernel, the DPLR kernel and the
// dense SSM kernel, against the oracle and the bounds (spec/s4.md).
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/s4.hpp"
#include "s4_support.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/bounds/s4_bound.hpp"

namespace touchstone::s4 {
namespace {

// [S4-SLOW-TIGHTNESS] The bounds are worst cases that grow linearly with the length of a sum (the
// VJP's sum over L, the DFT's sum): at L = 16384 the measured ratio of the Cauchy VJP is ~8e-5 and
// of the DPLR kernel ~3e-4 to 5e-4, below [CORE-TIGHTNESS-FLOOR]'s 1e-3 (rounding errors add up
// like sqrt(L), not L). Those two cases assert the floor `kLongFloor` instead, stated in
// spec/s4.md; every other case asserts kVacuousRatio.
constexpr double kLongFloor = 1e-5;

template <class T>
double judge(const std::vector<T>& got, const std::vector<mp_real>& exact, const std::vector<double>& bound,
             const char* what, double floor = kVacuousRatio) {
  double worst = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - to_double(exact[i]));
    EXPECT_LE(e, bound[i]) << what << " at " << i;
    worst = std::max(worst, e / bound[i]);
  }
  std::printf("%s: max err/bound %.3g\n", what, worst);
  EXPECT_GT(worst, floor) << what;
  return worst;
}

cdouble c32(double re, double im) { return {round_to_format(re, Format::float32), round_to_format(im, Format::float32)}; }

// covers: S4-CAUCHY-BOUND S4-CAUCHY-VJP-BOUND S4-SLOW-TIGHTNESS
TEST(S4Slow, CauchyN256L16384) {
  PhiloxStream r(1, "slow/cauchy");
  CauchyInputs in;
  in.H = 1, in.N = 256, in.L = 16384, in.conj = Conj::halves;
  for (Index l = 0; l < in.L; ++l) {
    const double x = r.next_normal();
    in.z.push_back(c32(std::cos(x), std::sin(x)));
  }
  for (Index n = 0; n < in.N; ++n) {
    in.v.push_back(c32(r.next_normal(), r.next_normal()));
    in.w.push_back(c32(-r.next_uniform(0.05, 1), 30 * r.next_normal()));
  }
  const CauchyProblem p(std::move(in));
  WorkingPrecision wp(128);
  const auto exact = reference::cauchy<mp_real, mp_complex>(p).values();
  judge(cpu::cauchy<float>(p), exact, cauchy_bound(p, Format::float32), "cauchy f32 N=256 L=16384");
  judge(cpu::cauchy<double>(p), exact, cauchy_bound(p, Format::float64), "cauchy f64 N=256 L=16384");
  std::vector<cdouble> dout;
  for (Index l = 0; l < p.L; ++l) dout.push_back(c32(r.next_normal(), r.next_normal()));
  // The backend's and the bound's layout: dv (H, N, 2) then dw (H, N, 2).
  const auto grads = reference::cauchy_backward<mp_real, mp_complex>(CauchyBackwardProblem(p, dout));
  std::vector<mp_real> g = grads.dv.values();
  g.insert(g.end(), grads.dw.values().begin(), grads.dw.values().end());
  judge(cpu::cauchy_backward<float>(p, dout), g, cauchy_backward_bound(p, dout, Format::float32),
        "cauchy_backward f32 N=256 L=16384", kLongFloor);
}

// covers: S4-DPLR-BOUND S4-DPLR-NODE-MINUS1
TEST(S4Slow, DplrHippoL16384) {
  const HippoDplrDouble hip = hippo_dplr_double(16);
  DplrInputs in;
  in.conj = Conj::halves;
  in.N = 8, in.L = 16384, in.H = 1, in.batched = true;
  auto sh = [&](const std::vector<cdouble>& s) {
    CParam c;
    c.N = in.N;
    for (Index n = 0; n < in.N; ++n) c.values.push_back(c32(s[n].real(), s[n].imag()));
    return c;
  };
  in.Lambda = sh(hip.Lambda), in.P = sh(hip.P), in.Q = in.P, in.B = sh(hip.B);
  PhiloxStream r(2, "slow/dplr");
  in.C.N = in.N;
  for (Index n = 0; n < in.N; ++n) in.C.values.push_back(c32(r.next_normal(), r.next_normal()));
  in.step = {round_to_format(1e-3, Format::float32)};
  const DplrProblem p(std::move(in));
  WorkingPrecision wp(128);
  const auto exact = reference::kernel_dplr<mp_real, mp_complex>(p);
  judge(cpu::kernel_dplr<float>(p), exact, kernel_dplr_bound(p, Format::float32), "dplr f32 N=16 L=16384", kLongFloor);
  judge(cpu::kernel_dplr<double>(p), exact, kernel_dplr_bound(p, Format::float64), "dplr f64 N=16 L=16384", kLongFloor);
}

// covers: S4-DPLR-BOUND
TEST(S4Slow, DplrRandomN256) {
  PhiloxStream r(3, "slow/dplr256");
  DplrInputs in;
  in.conj = Conj::halves;
  in.N = 128, in.L = 32, in.H = 1, in.batched = true;
  auto rnd = [&](double sre, double sim) {
    CParam c;
    c.N = in.N;
    for (Index n = 0; n < in.N; ++n) c.values.push_back(c32(sre * r.next_normal(), sim * r.next_normal()));
    return c;
  };
  in.Lambda.N = in.N;
  for (Index n = 0; n < in.N; ++n) in.Lambda.values.push_back(c32(-0.5, 200 * r.next_uniform()));
  in.P = rnd(0.1, 0.1), in.Q = in.P, in.B = rnd(1, 1), in.C = rnd(1, 1);
  in.step = {round_to_format(0.01, Format::float32)};
  const DplrProblem p(std::move(in));
  WorkingPrecision wp(128);
  const auto exact = reference::kernel_dplr<mp_real, mp_complex>(p);
  judge(cpu::kernel_dplr<float>(p), exact, kernel_dplr_bound(p, Format::float32), "dplr f32 N=256 L=32");
  judge(cpu::kernel_dplr<double>(p), exact, kernel_dplr_bound(p, Format::float64), "dplr f64 N=256 L=32");
}

// covers: S4-SSM-KERNEL-BOUND
TEST(S4Slow, SsmKernelN256) {
  const Index N = 256;
  const HippoLegs<double> h = hippo_legs<double>(N);
  const auto d = reference::discretize_bilinear<double, double>(h.A, h.B, 1e-3);
  DiscreteSsmInputs in;
  in.N = N, in.L = 256;
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < N; ++j) in.Ab.push_back(d.Ab(i, j));
  for (Index i = 0; i < N; ++i) in.Bb.push_back(d.Bb(i));
  PhiloxStream r(4, "slow/ssm");
  for (Index i = 0; i < N; ++i) in.Cb.push_back(r.next_normal());
  const DiscreteSsmProblem p(std::move(in));
  WorkingPrecision wp(128);
  const auto exact = reference::ssm_kernel_discrete<mp_real>(p);
  judge(cpu::ssm_kernel<double>(p), exact, ssm_kernel_bound(p, Format::float64), "ssm f64 N=256 L=256");
}

}  // namespace
}  // namespace touchstone::s4
