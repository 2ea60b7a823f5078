// annotated-s4's test_cnn_is_rnn (s4.py:393) as our own regression, at our bounds rather than its
// tolerances: a random dense SSM (A, B, C ~ U[0, 1), N = 4), bilinear discretization with step
// 1/16, L = 16; the recurrent scan x_k = Ab x_{k-1} + Bb u_k, y_k = Cb x_k (annotated-s4's scan_SSM)
// equals the causal convolution of u with K_conv (K_l = Cb Ab^l Bb) exactly (2^-200 here), and the
// FFT convolution backends, run on K rounded to their format, are within their bound plus the
// kernel's rounding of the scan's exact output. Discretization and K_conv are part C's
// (reference/s4.hpp discretize_bilinear, ssm_kernel_dense); the scan is written out here.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/s4_conv.hpp"
#include "touchstone/core/metrics.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/reference/s4_conv.hpp"
#include "touchstone/bounds/s4_conv_bound.hpp"

using namespace touchstone;
using namespace touchstone::s4;

// covers: S4CONV-CNN-RNN S4CONV-REG-CNN-IS-RNN
TEST(AnnotatedS4Regression, CnnIsRnn) {
  const Index N = 4, L = 16;
  WorkingPrecision wp(256);
  PhiloxStream rng(393, "test_cnn_is_rnn");
  auto draw = [&] { return static_cast<double>(static_cast<float>(rng.next_uniform())); };
  Mat<mp_real> A(N, N);
  Vec<mp_real> B(N), C(N);
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < N; ++j) A(i, j) = draw();
  for (Index i = 0; i < N; ++i) B(i) = draw();
  for (Index i = 0; i < N; ++i) C(i) = draw();
  Tensor<double> u(Shape{1, 1, L});
  for (Index t = 0; t < L; ++t) u[t] = draw();
  const mp_real step = mp_real(1) / mp_real(L);
  const reference::Discrete<mp_real> d = reference::discretize_bilinear<mp_real, mp_real>(A, B, step);
  // The recurrent mode, as annotated-s4's scan_SSM: x_{-1} = 0.
  Tensor<mp_real> rnn(Shape{1, 1, L});
  Vec<mp_real> x = Vec<mp_real>::Zero(N);
  for (Index t = 0; t < L; ++t) {
    x = Vec<mp_real>(d.Ab * x + d.Bb * mp_real(u[t]));
    mp_real y = 0;
    for (Index n = 0; n < N; ++n) y += C(n) * x(n);
    rnn[t] = y;
  }
  // The convolutional mode with K_conv.
  const std::vector<mp_real> K = reference::ssm_kernel_dense<mp_real>(d.Ab, d.Bb, C, L);
  Tensor<mp_real> Kt(Shape{1, L});
  for (Index l = 0; l < L; ++l) Kt[l] = K[l];
  const Tensor<mp_real> cnn = reference::causal_conv<mp_real>(u.cast<mp_real>(), Kt, std::nullopt);
  for (Index t = 0; t < L; ++t)
    EXPECT_LT(to_double(abs(cnn[t] - rnn[t])), 0x1p-200 * (1 + to_double(abs(rnn[t])))) << t;
  // The backends on K rounded to their format.
  for (const Format f : {Format::float32, Format::float64}) {
    ConvInputs<double> in{u, Tensor<double>(Shape{1, L}), std::nullopt};
    for (Index l = 0; l < L; ++l) in.k[l] = round_to_format(to_double(K[l]), f);
    const ConvProblem<double> p(in);
    const Tensor<double> y = f == Format::float32 ? cpu::causal_conv(p.cast<float>()).cast<double>()
                                                  : cpu::causal_conv(p);
    Tensor<double> bound = causal_conv_bound(p, f);
    // |fl(K_s) - K_s| <= u |fl(K_s)| / (1 - u): the kernel's rounding reaches y_t as
    // sum_s |dK_s| |u_(t-s)|.
    const double uf = format_info(f).u;
    for (Index t = 0; t < L; ++t) {
      double s = 0;
      for (Index j = 0; j <= t; ++j) s += std::fabs(in.k[j] * u[t - j]);
      bound[t] += uf / (1 - uf) * s * (1 + 0x1p-40);
    }
    const ErrorSummary sum = compare("y", y, rnn, &bound, f);
    EXPECT_EQ(sum.outside, 0) << format_name(f);
  }
}
