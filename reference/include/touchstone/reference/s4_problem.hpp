// The problems of the S4 entries (spec/s4.md [S4-CAUCHY-SHAPES], [S4-DPLR-SHAPES],
// [S4-SSM-SHAPES], [S4-SSM-KERNEL-SHAPES]).
//
// Each algorithm has a plain <Name>Inputs aggregate (what a generator, a reader or a test fills)
// and a <Name>Problem constructed from it: the constructor validates (shapes agree, extents in
// range, options in range, no infinities) and throws InvalidInput naming the argument, so nothing
// downstream re-checks and nothing is computed on invalid input. Fields read by name (p.H, p.v);
// they stay assignable on a non-const problem: to change one, copy p.in(), edit it, construct.
//
// The values are double (every float input converts exactly) and complex values are
// std::complex<double>; the (re, im) axis exists only in the registry's npz arrays. The compute
// type is the backend's template parameter, not the problem's: cast<U>() returns the same problem
// with every value rounded to U (and validated again), the identity on a problem whose values U
// holds exactly, which is what core's float32 copy is (it checks the inputs first).
#pragma once

#include "touchstone/reference/s4_conj.hpp"

#include <cmath>
#include <complex>
#include <string>
#include <utility>
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
  std::vector<Index> shape() const { return H ? std::vector<Index>{H, N} : std::vector<Index>{N}; }
};

// Non-finite policy of every S4 entry ([S4-NONFINITE]): infinities are rejected naming the array;
// NaN is accepted and propagates.
void require_no_inf(const std::vector<cdouble>& v, const std::string& name);
void require_no_inf(const std::vector<double>& v, const std::string& name);

// The npz boundary of the complex convention: an array's real view with its trailing (re, im) axis
// (what core's reader returns for a complex64/128 array or a (..., 2) real one) as values, and
// values as such a view of `shape` (the axis appended).
inline std::vector<cdouble> complex_values(const Tensor<double>& X) {
  std::vector<cdouble> v(static_cast<std::size_t>(X.count() / 2));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = cdouble(X[2 * i], X[2 * i + 1]);
  return v;
}
inline Tensor<double> complex_tensor(const std::vector<cdouble>& v, std::vector<Index> shape) {
  shape.push_back(2);
  Tensor<double> t{Shape(shape)};
  for (std::size_t i = 0; i < v.size(); ++i) t[2 * i] = v[i].real(), t[2 * i + 1] = v[i].imag();
  return t;
}

// cast<U>()'s rounding: each value (each part of a complex one) to U and back.
namespace problem_detail {
template <class U>
void round_to(std::vector<double>& v) {
  for (double& x : v) x = static_cast<double>(static_cast<U>(x));
}
template <class U>
void round_to(std::vector<cdouble>& v) {
  for (cdouble& z : v) z = {static_cast<double>(static_cast<U>(z.real())), static_cast<double>(static_cast<U>(z.imag()))};
}
}  // namespace problem_detail

// [S4-CAUCHY-DEF] out[h, l] = sum_n v[h,n] / (z[l] - w[h,n]) (+ conj(v)/(z - conj w) in halves).
struct CauchyInputs {
  Index H = 0, N = 0, L = 0;
  std::vector<cdouble> v, w;  // (H, N)
  std::vector<cdouble> z;     // (L,)
  Conj conj = Conj::halves;
};

class CauchyProblem : private CauchyInputs {
 public:
  // [S4-CAUCHY-SHAPES] H, N, L >= 1; sizes agree; no pole (z_l = w_n, or conj w_n in halves) is
  // InvalidInput("z"); no infinities.
  explicit CauchyProblem(CauchyInputs in);
  using CauchyInputs::H, CauchyInputs::N, CauchyInputs::L, CauchyInputs::v, CauchyInputs::w, CauchyInputs::z,
      CauchyInputs::conj;
  const CauchyInputs& in() const { return *this; }
  const cdouble& vv(Index h, Index n) const { return v[static_cast<std::size_t>(h * N + n)]; }
  const cdouble& ww(Index h, Index n) const { return w[static_cast<std::size_t>(h * N + n)]; }
  template <class U>
  CauchyProblem cast() const {
    CauchyInputs c = in();
    problem_detail::round_to<U>(c.v), problem_detail::round_to<U>(c.w), problem_detail::round_to<U>(c.z);
    return CauchyProblem(std::move(c));
  }
};

// [S4-CAUCHY-VJP] dv, dw of sum Re(conj(dout) out), given dout (H, L): finite or NaN.
class CauchyBackwardProblem {
 public:
  CauchyBackwardProblem(CauchyProblem forward, std::vector<cdouble> dout);
  const CauchyProblem& forward() const { return fwd_; }
  const std::vector<cdouble>& dout() const { return dout_; }
  const cdouble& g(Index h, Index l) const { return dout_[static_cast<std::size_t>(h * fwd_.L + l)]; }
  template <class U>
  CauchyBackwardProblem cast() const {
    std::vector<cdouble> d = dout_;
    problem_detail::round_to<U>(d);
    return CauchyBackwardProblem(fwd_.cast<U>(), std::move(d));
  }

 private:
  CauchyProblem fwd_;
  std::vector<cdouble> dout_;  // (H, L)
};

// [S4-DPLR-SHAPES] The DPLR kernel's inputs: Lambda, P, Q (optional: Q = P), B, C each (N',) or
// (H, N'), step () or (H,), L >= 1, conj. N' = N/2 in halves.
struct DplrInputs {
  Index H = 1;  // channels (1 when every input is shared)
  bool batched = false;  // some input had an H axis: output (H, L), else (L,)
  Index N = 0, L = 0;
  CParam Lambda, P, Q, B, C;
  std::vector<double> step;  // (H,) or one value
  Conj conj = Conj::halves;
  bool q_tied = false;  // Q was not given (Q = P): the VJP's dP then includes Q's part, no dQ
};

class DplrProblem : private DplrInputs {
 public:
  // Shapes agree, L in [1, 2^24], step > 0 and finite, Re Lambda < 0 (so the bilinear Ā has
  // spectral radius < 1 in full, [S4-ID-BILINEAR-DISK]; see spec for the low-rank part), no
  // infinities.
  explicit DplrProblem(DplrInputs in);
  using DplrInputs::H, DplrInputs::batched, DplrInputs::N, DplrInputs::L, DplrInputs::Lambda, DplrInputs::P,
      DplrInputs::Q, DplrInputs::B, DplrInputs::C, DplrInputs::step, DplrInputs::conj, DplrInputs::q_tied;
  const DplrInputs& in() const { return *this; }
  double step_at(Index h) const { return step.size() == 1 ? step[0] : step[static_cast<std::size_t>(h)]; }
  // K's shape: (H, L) when batched, else (L,); a (H,) step's shape, else () ([S4-DPLR-SHAPES]).
  std::vector<Index> K_shape() const { return batched ? std::vector<Index>{H, L} : std::vector<Index>{L}; }
  std::vector<Index> step_shape() const {
    return step.size() == 1 && !batched ? std::vector<Index>{} : std::vector<Index>{static_cast<Index>(step.size())};
  }
  template <class U>
  DplrProblem cast() const {
    DplrInputs c = in();
    for (CParam* x : {&c.Lambda, &c.P, &c.Q, &c.B, &c.C}) problem_detail::round_to<U>(x->values);
    problem_detail::round_to<U>(c.step);
    return DplrProblem(std::move(c));
  }
};

// [S4-DPLR-VJP] The DPLR kernel's VJP: the forward problem and dK, K's shape, finite or NaN.
class DplrBackwardProblem {
 public:
  DplrBackwardProblem(DplrProblem forward, std::vector<double> dK);
  const DplrProblem& forward() const { return fwd_; }
  const std::vector<double>& dK() const { return dK_; }
  template <class U>
  DplrBackwardProblem cast() const {
    std::vector<double> d = dK_;
    problem_detail::round_to<U>(d);
    return DplrBackwardProblem(fwd_.cast<U>(), std::move(d));
  }

 private:
  DplrProblem fwd_;
  std::vector<double> dK_;  // K_shape()
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
struct SsmInputs {
  Index N = 0, L = 0;
  std::vector<double> A, B, C;  // A row-major
  double step = 0;
  Disc disc = Disc::bilinear;
};

class SsmProblem : private SsmInputs {
 public:
  // N in [1, 4096], L in [1, 2^24], shapes agree, step > 0, every value finite.
  explicit SsmProblem(SsmInputs in);
  using SsmInputs::N, SsmInputs::L, SsmInputs::A, SsmInputs::B, SsmInputs::C, SsmInputs::step, SsmInputs::disc;
  const SsmInputs& in() const { return *this; }
  template <class U>
  SsmProblem cast() const {
    SsmInputs c = in();
    problem_detail::round_to<U>(c.A), problem_detail::round_to<U>(c.B), problem_detail::round_to<U>(c.C);
    c.step = static_cast<double>(static_cast<U>(c.step));
    return SsmProblem(std::move(c));
  }
};

// [S4-SSM-KERNEL-SHAPES] The discrete SSM kernel K_l = C̄ Ā^l B̄ (annotated-s4 K_conv): Ab (N, N),
// Bb (N,), Cb (N,) real and finite, L in [1, 2^24], N in [1, 4096].
struct DiscreteSsmInputs {
  Index N = 0, L = 0;
  std::vector<double> Ab, Bb, Cb;  // Ab row-major
};

class DiscreteSsmProblem : private DiscreteSsmInputs {
 public:
  explicit DiscreteSsmProblem(DiscreteSsmInputs in);
  using DiscreteSsmInputs::N, DiscreteSsmInputs::L, DiscreteSsmInputs::Ab, DiscreteSsmInputs::Bb,
      DiscreteSsmInputs::Cb;
  const DiscreteSsmInputs& in() const { return *this; }
  template <class U>
  DiscreteSsmProblem cast() const {
    DiscreteSsmInputs c = in();
    problem_detail::round_to<U>(c.Ab), problem_detail::round_to<U>(c.Bb), problem_detail::round_to<U>(c.Cb);
    return DiscreteSsmProblem(std::move(c));
  }
};

}  // namespace touchstone::s4
