// S4D: the diagonal state space kernel by a Vandermonde product (spec/s4d.md [S4D-DEF]), its
// problem type (shapes, options, validation) and its oracle, and the S4D initializations
// ([S4D-INIT-LIN], [S4D-INIT-INV], [S4D-INIT-REAL], [S4D-INIT-LEGS]).
//
// Complex arrays are real tensors with a trailing (re, im) axis of extent 2, as everywhere in
// touchstone (the layout numpy's .view(float) and torch.view_as_real show).
//
// The oracle templates are instantiated (reference/src/s4d_reference.cpp, the only translation
// unit that does) with
//   <mp_real, mp_complex>              MPFR/MPC at the working precision: the oracle;
//   <double, std::complex<double>>     the naive same-precision computation.
// Inputs are read from an S4DProblem<double>; every float or double converts exactly, so the oracle
// answers "the exact kernel of exactly these inputs".
#pragma once

#include "touchstone/reference/s4_conj.hpp"

#include <cmath>
#include <complex>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::s4 {

// [S4D-DISC] The discretization of each diagonal mode.
enum class Discretization { zoh, bilinear };
// [S4D-CONJ] halves: the N' stored modes stand for N' conjugate pairs, K = 2 Re sum (state-spaces/s4);
// full: all modes stored, K = Re sum (annotated-s4, DSS).

inline const char* to_string(Discretization d) { return d == Discretization::zoh ? "zoh" : "bilinear"; }
Discretization parse_discretization(const std::string& s);  // InvalidInput("disc")

// The largest kernel length and the largest H * L (indices stay far inside 64 bits and the CUDA
// backend's 32-bit element index).
inline constexpr Index kS4DMaxL = Index{1} << 24;
inline constexpr Index kS4DMaxElements = Index{1} << 31;

// [S4D-SHAPES] The inputs, in the peers' names: A (H, N', 2), B (H, N', 2) or absent (= 1), C (H, N', 2),
// dt (H,) (the step; or its logarithm when log_dt is set: dt = exp(log_dt), as the peers
// parametrize it), the length L and the options.
template <class T>
struct S4DInputs {
  Tensor<T> A;
  std::optional<Tensor<T>> B;
  Tensor<T> C;
  Tensor<T> dt;
  bool log_dt = false;
  Index L = 0;
  Discretization disc = Discretization::zoh;
  Conj conj = Conj::halves;
};

template <class T>
class S4DProblem {
 public:
  // Validates ([S4D-SHAPES], [S4D-ZOH-ZERO], [S4D-BILINEAR-POLE]); InvalidInput names the
  // argument. Non-finite values are accepted ([S4D-NONFINITE]).
  explicit S4DProblem(S4DInputs<T> in) : in_(std::move(in)) { validate(); }

  const S4DInputs<T>& in() const { return in_; }
  Index H() const { return in_.A.extent(0); }
  Index N() const { return in_.A.extent(1); }  // stored modes N'
  Index L() const { return in_.L; }
  T A(Index h, Index n, int part) const { return in_.A(h, n, Index{part}); }
  T C(Index h, Index n, int part) const { return in_.C(h, n, Index{part}); }
  // B = 1 when absent.
  T B(Index h, Index n, int part) const {
    return in_.B ? (*in_.B)(h, n, Index{part}) : (part == 0 ? T(1) : T(0));
  }
  // [S4D-NONFINITE] Whether some input of channel h is NaN or infinite (then K[h, :] is NaN).
  bool channel_nonfinite(Index h) const {
    auto bad = [](T x) { return !std::isfinite(static_cast<double>(x)); };
    if (bad(in_.dt[h])) return true;
    for (Index n = 0; n < N(); ++n)
      for (int part = 0; part < 2; ++part)
        if (bad(A(h, n, part)) || bad(B(h, n, part)) || bad(C(h, n, part))) return true;
    return false;
  }

  template <class U>
  S4DProblem<U> cast() const {
    S4DInputs<U> o;
    o.A = in_.A.template cast<U>();
    if (in_.B) o.B = in_.B->template cast<U>();
    o.C = in_.C.template cast<U>();
    o.dt = in_.dt.template cast<U>();
    o.log_dt = in_.log_dt;
    o.L = in_.L;
    o.disc = in_.disc;
    o.conj = in_.conj;
    return S4DProblem<U>(std::move(o));
  }

 private:
  void validate() const {
    const char* dt_name = in_.log_dt ? "log_dt" : "dt";
    if (in_.A.rank() != 3 || in_.A.extent(2) != 2 || in_.A.extent(0) < 1 || in_.A.extent(1) < 1)
      throw InvalidInput("A", "expected complex (H, N) with H, N >= 1, as (H, N, 2), got shape " +
                                  in_.A.shape().str());
    const Shape s = in_.A.shape();
    if (!(in_.C.shape() == s))
      throw InvalidInput("C", "expected A's shape " + s.str() + ", got " + in_.C.shape().str());
    if (in_.B && !(in_.B->shape() == s))
      throw InvalidInput("B", "expected A's shape " + s.str() + ", got " + in_.B->shape().str());
    if (!(in_.dt.shape() == Shape{s[0]}))
      throw InvalidInput(dt_name, "expected shape (H,) = (" + std::to_string(s[0]) + ",), got " +
                                      in_.dt.shape().str());
    if (in_.L < 1 || in_.L > kS4DMaxL)
      throw InvalidInput("L", "expected 1 <= L <= 2^24, got " + std::to_string(in_.L));
    if (s[0] > kS4DMaxElements / in_.L || s[1] > kS4DMaxElements / in_.L)
      throw InvalidInput("L", "H * L and N * L must be at most 2^31");
    for (Index h = 0; h < s[0]; ++h) {
      const double d = static_cast<double>(in_.dt[h]);
      // dt > 0 (the step of a discretization); NaN is accepted ([S4D-NONFINITE]).
      if (!in_.log_dt && d <= 0)
        throw InvalidInput("dt", "expected dt > 0, got " + std::to_string(d) + " at channel " +
                                     std::to_string(h));
      for (Index n = 0; n < s[1]; ++n) {
        const double ar = static_cast<double>(A(h, n, 0)), ai = static_cast<double>(A(h, n, 1));
        // [S4D-ZOH-ZERO] (e^(dt A) - 1) / A is 0/0 at A = 0: rejected.
        if (in_.disc == Discretization::zoh && ar == 0 && ai == 0)
          throw InvalidInput("A", "A = 0 at (" + std::to_string(h) + ", " + std::to_string(n) +
                                      ") with disc=zoh: (e^(dt A) - 1)/A is undefined there");
        // [S4D-BILINEAR-POLE] 1 - dt A / 2 = 0, i.e. dt A = 2 exactly: rejected. With log_dt, the
        // exact dt = e^(log_dt) is irrational unless log_dt = 0, so only dt = 1, A = 2 is a pole.
        if (in_.disc == Discretization::bilinear && ai == 0) {
          const bool pole = in_.log_dt ? (static_cast<double>(in_.dt[h]) == 0 && ar == 2)
                                       : (std::fma(d, ar, -2.0) == 0);
          if (pole)
            throw InvalidInput("A", "dt A = 2 at (" + std::to_string(h) + ", " + std::to_string(n) +
                                        ") with disc=bilinear: 1 - dt A/2 = 0 is a pole");
        }
      }
    }
  }

  S4DInputs<T> in_;
};

// [S4D-DEF] K[h, l] = s Re sum_n C_n B_bar_n A_bar_n^l, s = 2 (halves) or 1 (full), with
// A_bar, B_bar from [S4D-DISC]: the Vandermonde product, A_bar^l by repeated multiplication.
template <class Real, class Complex>
Tensor<Real> s4d_kernel(const S4DProblem<double>& p);

// [S4D-ZOH-EXP] The ZOH kernel written as annotated-s4's s4d_kernel_zoh writes it:
// K_l = s Re sum_n C_n B_n (e^(dt A_n) - 1)/A_n e^(l dt A_n), each power by one exponential.
// An independent form of the same value (a test compares the two); zoh only.
template <class Real, class Complex>
Tensor<Real> s4d_kernel_zoh_exp(const S4DProblem<double>& p);

// ---- Initializations ([S4D-INIT-*]): the N/2 modes of one channel, n = 0 .. N/2 - 1, as
// state-spaces/s4 (dplr()) writes them, A_n = -re_n - i im_n. ----
enum class S4DInit { lin, inv, real, legs };
S4DInit parse_s4d_init(const std::string& s);  // InvalidInput("init")
// The N/2 eigenvalues A_n (N even, 2 <= N <= 1024; legs: N <= 512), in double (each part the double
// nearest the exact value; legs from the HiPPO DPLR form computed at 256 bits).
std::vector<std::complex<double>> s4d_init_A(S4DInit init, Index N);
// B for the init: 1 for lin, inv, real; for legs the DPLR form's B~ (the half with Im Lambda > 0
// conjugated to match A's sign convention, see spec [S4D-INIT-LEGS]).
std::vector<std::complex<double>> s4d_init_B(S4DInit init, Index N);

namespace s4d_detail {
// The discretized mode ([S4D-DISC]) of channel h, mode n: A_bar and the coefficient
// C_n B_bar_n, at the scalar's precision.
template <class Real, class Complex>
void discretize(const S4DProblem<double>& p, Index h, Index n, Complex& A_bar, Complex& coef) {
  using std::exp;
  const Real dt = p.in().log_dt ? Real(exp(Real(p.in().dt[h]))) : Real(p.in().dt[h]);
  const Complex A(Real(p.A(h, n, 0)), Real(p.A(h, n, 1)));
  const Complex B(Real(p.B(h, n, 0)), Real(p.B(h, n, 1)));
  const Complex C(Real(p.C(h, n, 0)), Real(p.C(h, n, 1)));
  const Complex one(Real(1), Real(0));
  const Complex dtA = Complex(dt, Real(0)) * A;
  Complex B_bar;
  if (p.in().disc == Discretization::zoh) {
    // ZOH: A_bar = e^(dt A), B_bar = (e^(dt A) - 1) / A * B.
    A_bar = exp(dtA);
    B_bar = (A_bar - one) / A * B;
  } else {
    // Bilinear: A_bar = (1 + dt A/2) / (1 - dt A/2), B_bar = dt B / (1 - dt A/2).
    const Complex half = dtA / Complex(Real(2), Real(0));
    A_bar = (one + half) / (one - half);
    B_bar = Complex(dt, Real(0)) * B / (one - half);
  }
  coef = C * B_bar;
}
}  // namespace s4d_detail

// embed-begin s4d_kernel
template <class Real, class Complex>
Tensor<Real> s4d_kernel(const S4DProblem<double>& p) {
  using std::real;
  const Index H = p.H(), N = p.N(), L = p.L();
  const Real s = p.in().conj == Conj::halves ? Real(2) : Real(1);
  Tensor<Real> K(Shape{H, L}, Real(0));
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {  // [S4D-NONFINITE]
      for (Index l = 0; l < L; ++l) K(h, l) = Real(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    std::vector<Real> acc(static_cast<std::size_t>(L), Real(0));
    for (Index n = 0; n < N; ++n) {
      Complex A_bar, coef;
      s4d_detail::discretize<Real, Complex>(p, h, n, A_bar, coef);
      // Row n of the Vandermonde matrix: A_bar^0, A_bar^1, ..., A_bar^(L-1).
      Complex power(Real(1), Real(0));
      for (Index l = 0; l < L; ++l) {
        acc[l] = acc[l] + Real(real(coef * power));
        power = power * A_bar;
      }
    }
    for (Index l = 0; l < L; ++l) K(h, l) = s * acc[l];
  }
  return K;
}
// embed-end s4d_kernel

template <class Real, class Complex>
Tensor<Real> s4d_kernel_zoh_exp(const S4DProblem<double>& p) {
  using std::exp, std::real;
  if (p.in().disc != Discretization::zoh)
    throw InvalidInput("disc", "s4d_kernel_zoh_exp is the zoh kernel only");
  const Index H = p.H(), N = p.N(), L = p.L();
  const Real s = p.in().conj == Conj::halves ? Real(2) : Real(1);
  Tensor<Real> K(Shape{H, L}, Real(0));
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {
      for (Index l = 0; l < L; ++l) K(h, l) = Real(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    const Real dt = p.in().log_dt ? Real(exp(Real(p.in().dt[h]))) : Real(p.in().dt[h]);
    for (Index l = 0; l < L; ++l) {
      Complex sum(Real(0), Real(0));
      for (Index n = 0; n < N; ++n) {
        const Complex A(Real(p.A(h, n, 0)), Real(p.A(h, n, 1)));
        const Complex B(Real(p.B(h, n, 0)), Real(p.B(h, n, 1)));
        const Complex C(Real(p.C(h, n, 0)), Real(p.C(h, n, 1)));
        const Complex dtA = Complex(dt, Real(0)) * A;
        sum = sum + C * B * (exp(dtA) - Complex(Real(1), Real(0))) / A *
                        exp(Complex(Real(static_cast<double>(l)), Real(0)) * dtA);
      }
      K(h, l) = s * Real(real(sum));
    }
  }
  return K;
}

// ---- Backward (VJP) of the kernel ([S4D-BWD-DEF]) ----

// [S4D-BWD-SHAPES] The forward problem and the cotangent dK (H, L).
template <class T>
class S4DBackwardProblem {
 public:
  S4DBackwardProblem(S4DProblem<T> p, Tensor<T> dK) : p_(std::move(p)), dK_(std::move(dK)) {
    if (!(dK_.shape() == Shape{p_.H(), p_.L()}))
      throw InvalidInput("dK", "expected shape (H, L) = (" + std::to_string(p_.H()) + ", " +
                                   std::to_string(p_.L()) + "), got " + dK_.shape().str());
  }
  const S4DProblem<T>& forward() const { return p_; }
  const Tensor<T>& dK() const { return dK_; }
  template <class U>
  S4DBackwardProblem<U> cast() const {
    return S4DBackwardProblem<U>(p_.template cast<U>(), dK_.template cast<U>());
  }

 private:
  S4DProblem<T> p_;
  Tensor<T> dK_;
};

// Gradients of sum_(h,l) dK[h,l] K[h,l]: complex ones as (dRe, dIm) pairs (PyTorch's .grad of a
// complex tensor: d/dRe + i d/dIm); ddt is d/d dt, or d/d log_dt when the problem has log_dt.
template <class T>
struct S4DGrads {
  Tensor<T> dA, dC;
  std::optional<Tensor<T>> dB;
  Tensor<T> ddt;
};

// [S4D-BWD-DEF] The analytic VJP at the scalar's precision, per mode with
// F = sum_l dK_l A_bar^l, F1 = sum_(l>=1) l dK_l A_bar^(l-1), v = C B q (q = B_bar / B):
//   dC = conj(s B q F), dB = conj(s C q F), dA = conj(s C B (q' F + q F1 A_bar')),
//   d dt = s Re(C B (dq/d dt F + q F1 dA_bar/d dt)),
// the derivatives of [S4D-DISC] in [S4D-BWD-DEF]'s table.
template <class Real, class Complex>
S4DGrads<Real> s4d_kernel_vjp(const S4DBackwardProblem<double>& q) {
  using std::exp, std::real, std::imag, std::conj;
  const S4DProblem<double>& p = q.forward();
  const Index H = p.H(), N = p.N(), L = p.L();
  const Real s = p.in().conj == Conj::halves ? Real(2) : Real(1);
  const Real nan = Real(std::numeric_limits<double>::quiet_NaN());
  S4DGrads<Real> g{Tensor<Real>(Shape{H, N, 2}, Real(0)), Tensor<Real>(Shape{H, N, 2}, Real(0)), std::nullopt,
                   Tensor<Real>(Shape{H}, Real(0))};
  if (p.in().B) g.dB = Tensor<Real>(Shape{H, N, 2}, Real(0));
  const Complex one(Real(1), Real(0));
  auto put = [](Tensor<Real>& t, Index h, Index n, const Complex& z) {
    t(h, n, Index{0}) = Real(real(z));
    t(h, n, Index{1}) = Real(imag(z));
  };
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {
      for (Index n = 0; n < N; ++n)
        for (Index part = 0; part < 2; ++part) {
          g.dA(h, n, part) = nan;
          g.dC(h, n, part) = nan;
          if (g.dB) (*g.dB)(h, n, part) = nan;
        }
      g.ddt[h] = nan;
      continue;
    }
    const Real dt = p.in().log_dt ? Real(exp(Real(p.in().dt[h]))) : Real(p.in().dt[h]);
    const Complex cdt(dt, Real(0));
    Real ddt(0);
    for (Index n = 0; n < N; ++n) {
      const Complex A(Real(p.A(h, n, 0)), Real(p.A(h, n, 1)));
      const Complex B(Real(p.B(h, n, 0)), Real(p.B(h, n, 1)));
      const Complex C(Real(p.C(h, n, 0)), Real(p.C(h, n, 1)));
      Complex Abar, qv, dq_dA, dAbar_dA, dq_ddt, dAbar_ddt;
      if (p.in().disc == Discretization::zoh) {
        Abar = exp(cdt * A);
        qv = (Abar - one) / A;
        dAbar_dA = cdt * Abar;
        dq_dA = (cdt * Abar - qv) / A;
        dAbar_ddt = A * Abar;
        dq_ddt = Abar;
      } else {
        const Complex half = cdt * A / Complex(Real(2), Real(0));
        const Complex inv2 = one / ((one - half) * (one - half));
        Abar = (one + half) / (one - half);
        qv = cdt / (one - half);
        dAbar_dA = cdt * inv2;
        dq_dA = cdt * cdt / Complex(Real(2), Real(0)) * inv2;
        dAbar_ddt = A * inv2;
        dq_ddt = inv2;
      }
      Complex F(Real(0), Real(0)), F1(Real(0), Real(0)), power = one, prev(Real(0), Real(0));
      for (Index l = 0; l < L; ++l) {  // power = A_bar^l, prev = A_bar^(l-1)
        const Real gl(q.dK()(h, l));
        F = F + Complex(gl, Real(0)) * power;
        if (l >= 1) F1 = F1 + Complex(gl * Real(static_cast<double>(l)), Real(0)) * prev;
        prev = power;
        power = power * Abar;
      }
      const Complex cs(s, Real(0));
      put(g.dC, h, n, conj(cs * B * qv * F));
      if (g.dB) put(*g.dB, h, n, conj(cs * C * qv * F));
      put(g.dA, h, n, conj(cs * C * B * (dq_dA * F + qv * F1 * dAbar_dA)));
      ddt = ddt + Real(real(cs * C * B * (dq_ddt * F + qv * F1 * dAbar_ddt)));
    }
    g.ddt[h] = p.in().log_dt ? Real(ddt * dt) : ddt;
  }
  return g;
}

extern template S4DGrads<mp_real> s4d_kernel_vjp<mp_real, mp_complex>(const S4DBackwardProblem<double>&);

extern template Tensor<mp_real> s4d_kernel<mp_real, mp_complex>(const S4DProblem<double>&);
extern template Tensor<double> s4d_kernel<double, std::complex<double>>(const S4DProblem<double>&);
extern template Tensor<mp_real> s4d_kernel_zoh_exp<mp_real, mp_complex>(const S4DProblem<double>&);

}  // namespace touchstone::s4
