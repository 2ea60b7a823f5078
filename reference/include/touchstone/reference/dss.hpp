// DSS: the diagonal state space kernels of Gupta et al. (spec/dss.md). DSS-exp is S4D's ZOH kernel
// with all modes stored and B = 1 (s4d.hpp; the registry's dss.kernel_exp). DSS-softmax
// ([DSS-SOFTMAX-DEF]) is defined here: its problem type and oracle.
//
// The oracle template is instantiated (reference/src/dss_reference.cpp, the only translation unit
// that does) with <mp_real, mp_complex> (the oracle) and <double, std::complex<double>>.
#pragma once

#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4 {

// [DSS-SOFTMAX-EPS] The guard of the complex reciprocal: the float32 number nearest 1e-7
// (annotated-s4's eps = 1e-7 in JAX float32; DSSR's default), exactly, in every format.
inline constexpr double kDssEps = static_cast<double>(1e-7f);

// [DSS-SOFTMAX-SHAPES] Lambda (H, N, 2) (a file's (N,) is broadcast by the registry), W (H, N, 2),
// log_dt (H,), L.
template <class T>
struct DssSoftmaxInputs {
  Tensor<T> Lambda;
  Tensor<T> W;
  Tensor<T> log_dt;
  Index L = 0;
};

template <class T>
class DssSoftmaxProblem {
 public:
  explicit DssSoftmaxProblem(DssSoftmaxInputs<T> in) : in_(std::move(in)) { validate(); }
  const DssSoftmaxInputs<T>& in() const { return in_; }
  Index H() const { return in_.Lambda.extent(0); }
  Index N() const { return in_.Lambda.extent(1); }
  Index L() const { return in_.L; }
  T Lambda(Index h, Index n, int part) const { return in_.Lambda(h, n, Index{part}); }
  T W(Index h, Index n, int part) const { return in_.W(h, n, Index{part}); }
  // [DSS-SOFTMAX-NONFINITE] Some input of channel h NaN or infinite: K[h, :] is NaN.
  bool channel_nonfinite(Index h) const {
    auto bad = [](T x) { return !std::isfinite(static_cast<double>(x)); };
    if (bad(in_.log_dt[h])) return true;
    for (Index n = 0; n < N(); ++n)
      for (int part = 0; part < 2; ++part)
        if (bad(Lambda(h, n, part)) || bad(W(h, n, part))) return true;
    return false;
  }
  template <class U>
  DssSoftmaxProblem<U> cast() const {
    return DssSoftmaxProblem<U>(DssSoftmaxInputs<U>{in_.Lambda.template cast<U>(), in_.W.template cast<U>(),
                                                    in_.log_dt.template cast<U>(), in_.L});
  }

 private:
  void validate() const {
    const Tensor<T>& A = in_.Lambda;
    if (A.rank() != 3 || A.extent(2) != 2 || A.extent(0) < 1 || A.extent(1) < 1)
      throw InvalidInput("Lambda", "expected complex (H, N) with H, N >= 1, as (H, N, 2), got shape " +
                                       A.shape().str());
    if (!(in_.W.shape() == A.shape()))
      throw InvalidInput("W", "expected shape " + A.shape().str() + ", got " + in_.W.shape().str());
    if (!(in_.log_dt.shape() == Shape{A.extent(0)}))
      throw InvalidInput("log_dt", "expected shape (H,) = (" + std::to_string(A.extent(0)) + ",), got " +
                                       in_.log_dt.shape().str());
    if (in_.L < 1 || in_.L > kS4DMaxL)
      throw InvalidInput("L", "expected 1 <= L <= 2^24, got " + std::to_string(in_.L));
    if (A.extent(0) > kS4DMaxElements / in_.L || A.extent(1) > kS4DMaxElements / in_.L)
      throw InvalidInput("L", "H * L and N * L must be at most 2^31");
    // [DSS-SOFTMAX-ZERO] W / Lambda is undefined at Lambda = 0: rejected.
    for (Index h = 0; h < A.extent(0); ++h)
      for (Index n = 0; n < A.extent(1); ++n)
        if (Lambda(h, n, 0) == T(0) && Lambda(h, n, 1) == T(0))
          throw InvalidInput("Lambda", "Lambda = 0 at (" + std::to_string(h) + ", " + std::to_string(n) +
                                           "): W / Lambda is undefined there");
  }
  DssSoftmaxInputs<T> in_;
};

// [DSS-SOFTMAX-DEF] K[h, l] = Re sum_n (W_n / lambda_n) e_(n,l) R_n with, per mode,
//   z = dt lambda, dt = e^(log_dt);  m = L - 1 if Re lambda > 0 else 0  ([DSS-SOFTMAX-FLIP]);
//   e_l = e^(z (l - m))  (the row's entries after subtracting its argmax-Re entry);
//   S = sum_(l < L) e_l;  R = conj(S) / (S conj(S) + eps)   ([DSS-SOFTMAX-EPS]).
// e_l is computed as zeta^|l - m| with zeta = e^(+-z) by repeated multiplication.
// embed-begin dss_softmax_kernel
template <class Real, class Complex>
Tensor<Real> dss_softmax_kernel(const DssSoftmaxProblem<double>& p) {
  using std::exp, std::real, std::conj;
  const Index H = p.H(), N = p.N(), L = p.L();
  Tensor<Real> K(Shape{H, L}, Real(0));
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {
      for (Index l = 0; l < L; ++l) K(h, l) = Real(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    const Real dt = exp(Real(p.in().log_dt[h]));
    std::vector<Complex> e(static_cast<std::size_t>(L));
    for (Index n = 0; n < N; ++n) {
      const Complex lambda(Real(p.Lambda(h, n, 0)), Real(p.Lambda(h, n, 1)));
      const Complex z = Complex(dt, Real(0)) * lambda;
      const bool flip = p.Lambda(h, n, 0) > 0;
      // zeta^k with k = |l - m|: e^(z l) for m = 0, e^(-z (L - 1 - l)) for m = L - 1.
      const Complex zeta = exp(flip ? Complex(Real(0), Real(0)) - z : z);
      Complex power(Real(1), Real(0)), S(Real(0), Real(0));
      for (Index k = 0; k < L; ++k) {
        e[flip ? L - 1 - k : k] = power;
        S = S + power;
        power = power * zeta;
      }
      const Real denom = Real(real(S * conj(S))) + Real(kDssEps);
      const Complex R = conj(S) / Complex(denom, Real(0));
      const Complex W(Real(p.W(h, n, 0)), Real(p.W(h, n, 1)));
      const Complex coef = W / lambda * R;
      for (Index l = 0; l < L; ++l) K(h, l) = K(h, l) + Real(real(coef * e[l]));
    }
  }
  return K;
}
// embed-end dss_softmax_kernel

extern template Tensor<mp_real> dss_softmax_kernel<mp_real, mp_complex>(const DssSoftmaxProblem<double>&);
extern template Tensor<double> dss_softmax_kernel<double, std::complex<double>>(const DssSoftmaxProblem<double>&);

}  // namespace touchstone::s4
