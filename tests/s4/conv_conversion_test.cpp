// The conv-versus-scan half of annotated-s4's s4d.py test_conversion (s4d.py:376), as our own
// regression: for an S4D layer (S4D-Lin A, random complex C, B = 1, N = 8 as N' = 4 halves or 8
// full modes, L = 16, ZOH and bilinear), the kernel oracle of spec/s4d.md convolved with
// u = arange(L) equals the diagonal scan (spec/s4_conv.md [S4CONV-SCAN-DEF]) of the same
// discretized modes (dA = A_bar, dB = C B_bar, dC = 1), both at 256 bits, to 2^-200 relative.
// The kernel and discretization are part B's (reference/s4d.hpp); the scan and conv are ours.
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/reference/s4d.hpp"

using namespace touchstone;
using namespace touchstone::s4;

// covers: S4CONV-CNN-RNN S4CONV-REG-S4D-CONVERSION
TEST(AnnotatedS4Regression, S4dConversionCnnEqualsRnn) {
  const Index H = 2, N = 8, L = 16;
  const auto A0 = s4d_init_A(S4DInit::lin, N);  // N/2 modes
  for (const Discretization disc : {Discretization::zoh, Discretization::bilinear})
    for (const Conj conj : {Conj::halves, Conj::full}) {
      // full: the N/2 modes and their conjugates, stored explicitly.
      const Index Np = conj == Conj::halves ? N / 2 : N;
      S4DInputs<double> in;
      in.A = Tensor<double>(Shape{H, Np, 2});
      in.C = Tensor<double>(Shape{H, Np, 2});
      in.dt = Tensor<double>(Shape{H});
      PhiloxStream rng(376, "s4d_conversion");
      for (Index h = 0; h < H; ++h) {
        in.dt[h] = static_cast<float>(std::exp(rng.next_uniform(std::log(0.001), std::log(0.1))));
        for (Index n = 0; n < N / 2; ++n) {
          const double cr = static_cast<float>(rng.next_normal()), ci = static_cast<float>(rng.next_normal());
          for (const Index m : {n, n + N / 2}) {
            if (m >= Np) continue;
            const double sign = m == n ? 1 : -1;  // the conjugate half
            in.A(h, m, Index{0}) = static_cast<float>(A0[n].real());
            in.A(h, m, Index{1}) = sign * static_cast<float>(A0[n].imag());
            in.C(h, m, Index{0}) = cr;
            in.C(h, m, Index{1}) = sign * ci;
          }
        }
      }
      in.L = L;
      in.disc = disc;
      in.conj = conj;
      const S4DProblem<double> p(in);
      WorkingPrecision wp(256);
      const Tensor<mp_real> K = s4::s4d_kernel<mp_real, mp_complex>(p);
      Tensor<mp_real> dA(Shape{H, Np, 2}), dB(Shape{H, Np, 2}), dC(Shape{H, Np, 2});
      for (Index h = 0; h < H; ++h)
        for (Index n = 0; n < Np; ++n) {
          mp_complex Abar, coef;
          s4::s4d_detail::discretize<mp_real, mp_complex>(p, h, n, Abar, coef);
          dA(h, n, Index{0}) = Abar.real();
          dA(h, n, Index{1}) = Abar.imag();
          dB(h, n, Index{0}) = coef.real();
          dB(h, n, Index{1}) = coef.imag();
          dC(h, n, Index{0}) = 1;
          dC(h, n, Index{1}) = 0;
        }
      Tensor<mp_real> u(Shape{1, H, L});
      for (Index h = 0; h < H; ++h)
        for (Index t = 0; t < L; ++t) u(Index{0}, h, t) = t;  // annotated-s4: u = arange(L)
      const Conj sc = conj == Conj::halves ? Conj::halves : Conj::full;
      const auto rnn = reference::ssm_scan<mp_real>(dA, dB, dC, u, std::nullopt, sc);
      const Tensor<mp_real> cnn = reference::causal_conv<mp_real>(u, K, std::nullopt);
      for (Index i = 0; i < cnn.count(); ++i)
        EXPECT_LT(to_double(abs(cnn[i] - rnn.y[i])), 0x1p-200 * (1 + to_double(abs(rnn.y[i]))))
            << to_string(disc) << " " << conj_name(conj) << " element " << i;
    }
}
