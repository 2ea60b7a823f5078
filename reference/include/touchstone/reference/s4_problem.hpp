// The problems of the S4 entries (spec/s4.md [S4-CAUCHY-SHAPES], [S4-DPLR-SHAPES],
// [S4-DPLR-VJP] Gradients of the DPLR kernel, each in its input's layout (complex as (re, im)
// pairs, flat); Q empty when tied.
template <class T>
struct DplrGrads {
  std::vector<T> Lambda, P, Q, B, C, step;
};

// [S4-SSM-SHAPES]): inputs in double (every float input converts exactly), validated on
// construction; InvalidInput names the argument and nothing is computed on invalid input.
#pragma once

#include "touchstone/reference/s4_conj.hpp"

#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::s4 {

using cdouble = std::complex<double>;


// A complex parameter of shape (N,) (shared by every channel) or (H, N).
struct CParam {
  Index H = 0;  // 0: shared
  Index N = 0;
  std::vector<cdouble> values;
  const cdouble& at(Index h, Index n) const { return values[static_cast<std::size_t>((H ? h : 0) * N + n)]; }
};

// Non-finite policy of every S4 entry ([S4-NONFINITE]): infinities are rejected naming the array;
// NaN is accepted and propagates.
void require_no_inf(const std::vector<cdouble>& v, const std::string& name);
void require_no_inf(const std::vector<double>& v, const std::string& name);

// [S4-CAUCHY-DEF] out[h, l] = sum_n v[h,n] / (z[l] - w[h,n]) (+ conj(v)/(z - conj w) in halves).
struct CauchyProblem {
  Index H = 0, N = 0, L = 0;
  std::vector<cdouble> v, w;  // (H, N)
  std::vector<cdouble> z;     // (L,)
  Conj conj = Conj::halves;
  // [S4-CAUCHY-SHAPES] validation: H, N, L >= 1; sizes agree; no pole (z_l = w_n, or conj w_n in
  // halves) is InvalidInput("z"); no infinities.
  void validate() const;
  const cdouble& vv(Index h, Index n) const { return v[static_cast<std::size_t>(h * N + n)]; }
  const cdouble& ww(Index h, Index n) const { return w[static_cast<std::size_t>(h * N + n)]; }
};

// [S4-CAUCHY-VJP] dv, dw of sum Re(conj(dout) out), given dout (H, L).
struct CauchyBackwardProblem {
  CauchyProblem fwd;
  std::vector<cdouble> dout;  // (H, L)
  void validate() const;
  const cdouble& g(Index h, Index l) const { return dout[static_cast<std::size_t>(h * fwd.L + l)]; }
};

// [S4-DPLR-SHAPES] The DPLR kernel's inputs: Lambda, P, Q (optional: Q = P), B, C each (N',) or
// (H, N'), step () or (H,), L >= 1, conj. N' = N/2 in halves.
struct DplrProblem {
  Index H = 1;  // channels (1 when every input is shared)
  bool batched = false;  // some input had an H axis: output (H, L), else (L,)
  Index N = 0, L = 0;
  CParam Lambda, P, Q, B, C;
  std::vector<double> step;  // (H,) or one value
  Conj conj = Conj::halves;
  bool q_tied = false;  // Q was not given (Q = P): the VJP's dP then includes Q's part, no dQ
  double step_at(Index h) const { return step.size() == 1 ? step[0] : step[static_cast<std::size_t>(h)]; }
  // Shapes agree, L in [1, 2^24], step > 0 and finite, Re Lambda < 0 (so the bilinear Ā has
  // spectral radius < 1 in full, [S4-ID-BILINEAR-DISK]; see spec for the low-rank part), no
  // infinities.
  void validate() const;
};

// [S4-DPLR-VJP] Gradients of the DPLR kernel, each in its input's layout (complex as (re, im)
// pairs, flat); Q empty when tied.
template <class T>
struct DplrGrads {
  std::vector<T> Lambda, P, Q, B, C, step;
};

// [S4-SSM-SHAPES] The dense SSM kernel: A (N, N), B (N,), C (N,) real, step > 0, L, disc.
enum class Disc { bilinear, zoh };
Disc parse_disc(const std::string& s);
struct SsmProblem {
  Index N = 0, L = 0;
  std::vector<double> A, B, C;  // A row-major
  double step = 0;
  Disc disc = Disc::bilinear;
  void validate() const;
};

// [S4-SSM-KERNEL-SHAPES] The discrete SSM kernel K_l = C̄ Ā^l B̄ (annotated-s4 K_conv): Ab (N, N),
// Bb (N,), Cb (N,) real and finite, L in [1, 2^24], N in [1, 4096].
struct DiscreteSsmProblem {
  Index N = 0, L = 0;
  std::vector<double> Ab, Bb, Cb;
  void validate() const;
};

}  // namespace touchstone::s4
