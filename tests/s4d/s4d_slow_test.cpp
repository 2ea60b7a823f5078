// Long kernels (label slow): N = 256 (128 stored conjugate halves), L = 16384, both
// discretizations, cpu-f32 and cpu-f64 within their bounds against the 256-bit oracle.
// covers: S4D-LONG
#include <gtest/gtest.h>

#include "cpu/s4d.hpp"
#include "s4d_support.hpp"
#include "touchstone/bounds/s4d_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using namespace touchstone::s4::testing;

TEST(S4DLong, N256L16384WithinBound) {
  for (Discretization d : {Discretization::zoh, Discretization::bilinear}) {
    auto in = random_inputs(40, 1, 128, 16384, d, Conj::halves, true, 200);
    // S4D-Lin modes (the medium default's init) in the channel.
    const auto A = s4d_init_A(S4DInit::lin, 256);
    for (Index n = 0; n < 128; ++n) {
      in.A(0, n, Index{0}) = static_cast<float>(A[n].real());
      in.A(0, n, Index{1}) = static_cast<float>(A[n].imag());
    }
    in.dt[0] = static_cast<float>(1e-3);
    const S4DProblem<double> p(in);
    Tensor<mp_real> exact;
    {
      const WorkingPrecision w(256);
      exact = s4d_kernel<mp_real, mp_complex>(p);
    }
    const double r32 = expect_within(cpu::s4d_kernel(p.cast<float>()).cast<double>(), exact,
                                     s4d_kernel_bound(p, s4d_arithmetic_cpu_f32()), Format::float32, "f32");
    const double r64 = expect_within(cpu::s4d_kernel(p), exact, s4d_kernel_bound(p, s4d_arithmetic_cpu_f64()),
                                     Format::float64, "f64");
    std::printf("%s: max err/bound cpu-f32 %.3g, cpu-f64 %.3g\n", to_string(d), r32, r64);
    EXPECT_GT(r32, kVacuousRatio);
    EXPECT_GT(r64, kVacuousRatio);
  }
}
