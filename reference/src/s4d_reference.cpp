// The one translation unit that instantiates the S4D oracle templates (MPFR/MPC templates compile
// slowly; every other user links these), the option parsers and the S4D initializations
// (spec/s4d.md [S4D-INIT-LIN] .. [S4D-INIT-LEGS]).
#include <mpfr.h>

#include "touchstone/reference/s4_hippo.hpp"
#include "touchstone/reference/s4d.hpp"

namespace touchstone::s4 {

template Tensor<mp_real> s4d_kernel<mp_real, mp_complex>(const S4DProblem<double>&);
template Tensor<double> s4d_kernel<double, std::complex<double>>(const S4DProblem<double>&);
template Tensor<mp_real> s4d_kernel_zoh_exp<mp_real, mp_complex>(const S4DProblem<double>&);
template S4DGrads<mp_real> s4d_kernel_vjp<mp_real, mp_complex>(const S4DBackwardProblem<double>&);

Discretization parse_discretization(const std::string& s) {
  if (s == "zoh") return Discretization::zoh;
  if (s == "bilinear") return Discretization::bilinear;
  throw InvalidInput("disc", "expected zoh or bilinear, got '" + s + "'");
}


S4DInit parse_s4d_init(const std::string& s) {
  if (s == "lin") return S4DInit::lin;
  if (s == "inv") return S4DInit::inv;
  if (s == "real") return S4DInit::real;
  if (s == "legs") return S4DInit::legs;
  throw InvalidInput("init", "expected lin, inv, real or legs, got '" + s + "'");
}

namespace {

void check_N(S4DInit init, Index N) {
  if (N < 2 || N % 2 != 0 || N > 1024 || (init == S4DInit::legs && N > 512))
    throw InvalidInput("N", "expected an even state size 2 <= N <= 1024 (legs: <= 512), got " +
                                std::to_string(N));
}

// The double nearest pi q1 / q2 (q1, q2 exact integers up to 2^53), by MPFR at 256 bits: one
// rounding of a 256-bit value, within 2^-200 relative of the exact one, so the double is the
// nearest except at a tie closer than that, which pi's irrationality excludes here.
double pi_times(double q1, double q2) {
  mpfr_t x;
  mpfr_init2(x, 256);
  mpfr_const_pi(x, MPFR_RNDN);
  mpfr_mul_d(x, x, q1, MPFR_RNDN);
  mpfr_div_d(x, x, q2, MPFR_RNDN);
  const double r = mpfr_get_d(x, MPFR_RNDN);
  mpfr_clear(x);
  return r;
}

// (N/pi)(N/(2n+1) - 1) = N (N - (2n+1)) / (pi (2n+1)), to the nearest double.
double inv_imag(double N, double n) {
  mpfr_t x, q;
  mpfr_init2(x, 256);
  mpfr_init2(q, 256);
  mpfr_set_d(x, N * (N - (2 * n + 1)), MPFR_RNDN);  // exact integer (N <= 1024)
  mpfr_const_pi(q, MPFR_RNDN);
  mpfr_mul_d(q, q, 2 * n + 1, MPFR_RNDN);
  mpfr_div(x, x, q, MPFR_RNDN);
  const double r = mpfr_get_d(x, MPFR_RNDN);
  mpfr_clear(x);
  mpfr_clear(q);
  return r;
}

}  // namespace

// embed-begin s4d_init
std::vector<std::complex<double>> s4d_init_A(S4DInit init, Index N) {
  check_N(init, N);
  const Index half = N / 2;
  std::vector<std::complex<double>> A(static_cast<std::size_t>(half));
  if (init == S4DInit::legs) {
    // [S4D-INIT-LEGS] The N/2 eigenvalues of the HiPPO-LegS normal part with Im < 0, most
    // negative first: Lambda is sorted by Im descending, so these are Lambda[N-1-n].
    const HippoDplrDouble d = hippo_dplr_double(N);
    for (Index n = 0; n < half; ++n) A[n] = d.Lambda[static_cast<std::size_t>(N - 1 - n)];
    return A;
  }
  for (Index n = 0; n < half; ++n) {
    const double nd = static_cast<double>(n), Nd = static_cast<double>(N);
    switch (init) {
      case S4DInit::lin:  // [S4D-INIT-LIN] A_n = -1/2 - i pi n
        A[n] = {-0.5, -pi_times(nd, 1)};
        break;
      case S4DInit::inv:  // [S4D-INIT-INV] A_n = -1/2 - i (N/pi)(N/(2n+1) - 1)
        A[n] = {-0.5, -inv_imag(Nd, nd)};
        break;
      case S4DInit::real:  // [S4D-INIT-REAL] A_n = -(n+1)
        A[n] = {-(nd + 1), 0.0};
        break;
      case S4DInit::legs:
        break;
    }
  }
  return A;
}
// embed-end s4d_init

std::vector<std::complex<double>> s4d_init_B(S4DInit init, Index N) {
  check_N(init, N);
  const Index half = N / 2;
  std::vector<std::complex<double>> B(static_cast<std::size_t>(half), {1.0, 0.0});
  if (init == S4DInit::legs) {
    const HippoDplrDouble d = hippo_dplr_double(N);
    for (Index n = 0; n < half; ++n) B[n] = d.B[static_cast<std::size_t>(N - 1 - n)];
  }
  return B;
}

}  // namespace touchstone::s4
