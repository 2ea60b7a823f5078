// annotated-s4's dss.py test_conversion as our own regression: the DSS-softmax kernel of
// spec/dss.md (its oracle, with the eps-guarded reciprocal R = conj(S) / (|S|^2 + eps) and the
// argmax shift m) convolved with u = arange(L) equals the diagonal scan (spec/s4_conv.md) of the SSM
// dA = e^(dt lambda), dB = R e^(-dt lambda m) / lambda, dC = W, y = Re(...) (conj full): annotated-
// s4's dss_ssm with the guard and the shift folded into B_bar, so the identity is exact and is
// checked to 2^-200 at 256 bits (the peer asserts 1e-4 between the guarded kernel and the
// unguarded SSM). N = 8 (six modes with Re lambda = -1/2, two with Re lambda > 0, DSSR's flip
// m = L - 1), L = 16, dt = 1/L.
#include <gtest/gtest.h>

#include <cmath>

#include "touchstone/core/random.hpp"
#include "touchstone/reference/dss.hpp"
#include "touchstone/reference/s4_conv.hpp"

using namespace touchstone;
using namespace touchstone::s4;

// covers: S4CONV-CNN-RNN S4CONV-REG-DSS-CONVERSION
TEST(AnnotatedS4Regression, DssConversionCnnEqualsRnn) {
  const Index N = 8, L = 16;
  PhiloxStream rng(317, "dss_conversion");
  DssSoftmaxInputs<double> in;
  in.Lambda = Tensor<double>(Shape{1, N, 2});
  in.W = Tensor<double>(Shape{1, N, 2});
  for (Index n = 0; n < N; ++n) {
    in.Lambda(Index{0}, n, Index{0}) = n < 6 ? -0.5 : 0.25;
    in.Lambda(Index{0}, n, Index{1}) = static_cast<float>(3.141592653589793 * double(n));
    for (Index part = 0; part < 2; ++part)
      in.W(Index{0}, n, part) = static_cast<float>(rng.next_normal() / std::sqrt(double(N)));
  }
  in.log_dt = Tensor<double>(Shape{1}, static_cast<float>(std::log(1.0 / L)));
  in.L = L;
  const DssSoftmaxProblem<double> p(in);
  WorkingPrecision wp(256);
  const Tensor<mp_real> K = dss_softmax_kernel<mp_real, mp_complex>(p);
  const mp_real dt = exp(mp_real(in.log_dt[0]));
  Tensor<mp_real> dA(Shape{1, N, 2}), dB(Shape{1, N, 2}), dC(Shape{1, N, 2});
  for (Index n = 0; n < N; ++n) {
    const mp_complex lambda(mp_real(in.Lambda(Index{0}, n, Index{0})), mp_real(in.Lambda(Index{0}, n, Index{1})));
    const mp_complex z = mp_complex(dt) * lambda;
    const bool flip = in.Lambda(Index{0}, n, Index{0}) > 0;
    // S = sum_l e^(z (l - m)) in the oracle's order (powers of e^(+-z)), R its guarded reciprocal.
    const mp_complex zeta = exp(flip ? -z : z);
    mp_complex power(1), S(0);
    for (Index k = 0; k < L; ++k) {
      S += power;
      power *= zeta;
    }
    const mp_complex R = conj(S) / mp_complex(mp_real(real(S * conj(S))) + mp_real(kDssEps));
    const mp_complex Abar = exp(z);
    const mp_complex Bbar = R * exp(-z * mp_complex(mp_real(flip ? L - 1 : 0))) / lambda;
    const mp_complex W(mp_real(in.W(Index{0}, n, Index{0})), mp_real(in.W(Index{0}, n, Index{1})));
    dA(Index{0}, n, Index{0}) = real(Abar);
    dA(Index{0}, n, Index{1}) = imag(Abar);
    dB(Index{0}, n, Index{0}) = real(Bbar);
    dB(Index{0}, n, Index{1}) = imag(Bbar);
    dC(Index{0}, n, Index{0}) = real(W);
    dC(Index{0}, n, Index{1}) = imag(W);
  }
  Tensor<mp_real> u(Shape{1, 1, L});
  for (Index t = 0; t < L; ++t) u[t] = t;
  const auto rnn = reference::ssm_scan<mp_real>(dA, dB, dC, u, std::nullopt, Conj::full);
  const Tensor<mp_real> cnn = reference::causal_conv<mp_real>(u, K, std::nullopt);
  for (Index t = 0; t < L; ++t)
    EXPECT_LT(to_double(abs(cnn[t] - rnn.y[t])), 0x1p-200 * (1 + to_double(abs(rnn.y[t])))) << t;
}
