// Long problems (`slow`): s4.causal_conv at L = 4096 and 16384 (kernel as long as the input), and
// s4.ssm_scan with N = 256 modes, against the oracle within the backends' bounds.
#include <gtest/gtest.h>

#include <cstdio>

#include "../tightness.hpp"
#include "cpu/s4_conv.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/bounds/s4_conv_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;

namespace {

Tensor<double> uniform(Shape s, std::uint64_t seed, const char* name, double lo, double hi) {
  PhiloxStream rng(seed, name);
  Tensor<double> t(std::move(s));
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(rng.next_uniform(lo, hi));
  return t;
}

}  // namespace

// covers: S4CONV-CONV-BOUND S4CONV-CONV-FFT
TEST(CausalConvSlow, LongKernelsWithinBound) {
  // Random signs (the typical case: the bound's worst case is loose by about sqrt(L) there) and
  // positive u and k (aligned terms: the tight case, which must clear the vacuity floor).
  double worst_aligned = 0;
  for (const Index L : {4096, 16384})
    for (const bool aligned : {false, true}) {
      ConvInputs<double> in{uniform(Shape{1, 1, L}, 1, "u", aligned ? 0.5 : -1, 1),
                            uniform(Shape{1, L}, 1, "k", aligned ? 0.5 : -1, 1), uniform(Shape{1}, 1, "D", -1, 1)};
      // An SSM-like decaying kernel: k_s uniform times exp(-4 s / L).
      for (Index s = 0; s < L; ++s) in.k[s] = static_cast<float>(in.k[s] * std::exp(-4.0 * double(s) / double(L)));
      const ConvProblem<double> p(in);
      // 128 bits: the oracle's own error (about L 2^-128 relative to sum |k_s u_(t-s)|) is far below
      // the float64 bound (at least 2^-53 ||u||_2 ||k||_2 >= 2^-53 sum |k_s u_(t-s)|).
      WorkingPrecision wp(128);
      const Tensor<mp_real> exact = reference::causal_conv<mp_real>(p);
      for (const Format f : {Format::float32, Format::float64}) {
        const Tensor<double> y = f == Format::float32 ? cpu::causal_conv(p.cast<float>()).cast<double>()
                                                      : cpu::causal_conv(p);
        const Tensor<double> b = causal_conv_bound(p, f);
        const ErrorSummary s = compare("y", y, exact, &b, f);
        EXPECT_EQ(s.outside, 0) << "L=" << L;
        std::printf("conv L=%lld %s %s: max ratio %.3e\n", static_cast<long long>(L),
                    aligned ? "aligned" : "random ", std::string(format_name(f)).c_str(), s.max_ratio);
        if (aligned) worst_aligned = std::max(worst_aligned, s.max_ratio);
      }
    }
  EXPECT_GT(worst_aligned, kVacuousRatio);
}

// covers: S4CONV-SCAN-BOUND
TEST(SsmScanSlow, TwoHundredFiftySixModes) {
  ScanInputs<double> in;
  const Index H = 2, N = 256, L = 2048;
  in.dA = Tensor<double>(Shape{H, N, 2});
  for (Index h = 0; h < H; ++h)
    for (Index n = 0; n < N; ++n) {
      const double dt = 0.01 * double(h + 1), re = -0.5 * dt, im = 3.141592653589793 * double(n) * dt;
      in.dA(h, n, Index{0}) = static_cast<float>(std::exp(re) * std::cos(im));
      in.dA(h, n, Index{1}) = static_cast<float>(std::exp(re) * std::sin(im));
    }
  in.dB = uniform(Shape{H, N, 2}, 2, "dB", -0.01, 0.01);
  in.dC = uniform(Shape{H, N, 2}, 2, "dC", -1, 1);
  in.u = uniform(Shape{1, H, L}, 2, "u", -1, 1);
  in.D = uniform(Shape{H}, 2, "D", -1, 1);
  const ScanProblem<double> p(in);
  WorkingPrecision wp(128);
  const auto e = reference::ssm_scan<mp_real>(p);
  double worst = 0;
  for (const Format f : {Format::float32, Format::float64}) {
    const auto r = f == Format::float32 ? [&] {
      auto x = cpu::ssm_scan(p.cast<float>());
      return ScanResult<double>{x.y.cast<double>(), x.last_state.cast<double>()};
    }()
                                        : cpu::ssm_scan(p);
    const auto b = ssm_scan_bound(p, f);
    const ErrorSummary sy = compare("y", r.y, e.y, &b.y, f);
    const ErrorSummary ss = compare("last_state", r.last_state, e.last_state, &b.last_state, f);
    EXPECT_EQ(sy.outside + ss.outside, 0);
    std::printf("scan N=256 L=2048 %s: ratio y %.3e state %.3e\n", std::string(format_name(f)).c_str(),
                sy.max_ratio, ss.max_ratio);
    worst = std::max({worst, sy.max_ratio, ss.max_ratio});
  }
  EXPECT_GT(worst, kVacuousRatio);
}
