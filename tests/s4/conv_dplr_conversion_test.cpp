// The CNN = RNN half of annotated-s4's test_conversion (s4.py:1180), as our own regression: a DPLR
// SSM (N = 8 modes stored in full, A = diag(Lambda) - P P*, random B and C~, step 1/16, L = 16),
// its kernel from the s4.kernel_dplr entry's oracle (spec/s4.md, reached through the registry),
// convolved with u = arange(L), equals the recurrent scan with a complex state of the bilinear
// discretization x_k = Ab x_{k-1} + Bb u_k, y_k = Re(Cb x_k), with Cb = conj(C~) (I - Ab^L)^-1
// (annotated-s4's discrete_DPLR conjugation), all at 256 bits, to 2^-200 relative. Part C's test
// (tests/s4/dplr_kernel_test.cpp) holds the kernel half (kernel_DPLR == K_conv(discrete_DPLR)).
#include <gtest/gtest.h>

#include <cmath>

#include "builtin.hpp"
#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/s4.hpp"
#include "touchstone/reference/s4_conv.hpp"

using namespace touchstone;
using namespace touchstone::s4;
using MC = Mat<mp_complex>;
using VC = Vec<mp_complex>;

// covers: S4CONV-CNN-RNN S4CONV-REG-DPLR-CONVERSION
TEST(AnnotatedS4Regression, DplrConversionCnnEqualsRnn) {
  const Index N = 8, L = 16;
  PhiloxStream rng(1180, "dplr_conversion");
  auto f32 = [&](double lo, double hi) { return static_cast<double>(static_cast<float>(rng.next_uniform(lo, hi))); };
  NpyMap arrays;
  for (const char* name : {"Lambda", "P", "B", "C"}) {
    NpyArray a;
    a.complex = true;
    a.values = Tensor<double>(Shape{N, 2});
    for (Index n = 0; n < N; ++n) {
      if (std::string(name) == "Lambda") {
        a.values(n, Index{0}) = -0.5;
        a.values(n, Index{1}) = 3.0 * static_cast<double>(n) - 10.0;
      } else {
        const double s = std::string(name) == "P" ? 0.3 : 1.0;
        a.values(n, Index{0}) = f32(-s, s);
        a.values(n, Index{1}) = f32(-s, s);
      }
    }
    arrays[name] = a;
  }
  arrays["step"].values = Tensor<double>(Shape{}, 1.0 / L);
  const Algorithm& entry = builtin_registry().get("s4.kernel_dplr");
  const auto h = entry.from_arrays(arrays, {{"L", std::to_string(L)}, {"conj", "full"}});
  const ExactArrays exact = entry.reference(*h, 256);
  const Tensor<mp_real>& K = exact.at("K");
  ASSERT_EQ(K.count(), L);

  WorkingPrecision wp(256);
  auto c = [&](const char* name, Index n) {
    return mp_complex(mp_real(arrays[name].values(n, Index{0})), mp_real(arrays[name].values(n, Index{1})));
  };
  MC A(N, N);
  VC B(N), Ct(N);
  for (Index i = 0; i < N; ++i) {
    B(i) = c("B", i);
    Ct(i) = conj(c("C", i));
    for (Index j = 0; j < N; ++j) A(i, j) = (i == j ? c("Lambda", i) : mp_complex(0)) - c("P", i) * conj(c("P", j));
  }
  const auto d = reference::discretize_bilinear<mp_complex, mp_real>(A, B, mp_real(1) / mp_real(L));
  MC AL = MC::Identity(N, N);
  for (Index l = 0; l < L; ++l) AL = MC(AL * d.Ab);
  const VC Cb = MC(MC(MC::Identity(N, N) - AL).transpose()).partialPivLu().solve(Ct);
  // The recurrent mode with a complex state (annotated-s4 scan_SSM, then .real).
  Tensor<mp_real> u(Shape{1, 1, L}), rnn(Shape{1, 1, L});
  for (Index t = 0; t < L; ++t) u[t] = t;
  VC x = VC::Zero(N);
  for (Index t = 0; t < L; ++t) {
    x = VC(d.Ab * x + d.Bb * mp_complex(u[t]));
    mp_complex y(0);
    for (Index n = 0; n < N; ++n) y += Cb(n) * x(n);
    rnn[t] = real(y);
  }
  Tensor<mp_real> Kt(Shape{1, L});
  for (Index l = 0; l < L; ++l) Kt[l] = K[l];
  const Tensor<mp_real> cnn = reference::causal_conv<mp_real>(u, Kt, std::nullopt);
  for (Index t = 0; t < L; ++t)
    EXPECT_LT(to_double(abs(cnn[t] - rnn[t])), 0x1p-200 * (1 + to_double(abs(rnn[t])))) << t;
}
