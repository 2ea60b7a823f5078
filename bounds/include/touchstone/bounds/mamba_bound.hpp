// A-priori error bounds of selective scan implementations (spec/mamba.md
// [MAMBA-SCAN-BOUND-MODEL] .. [MAMBA-SCAN-BOUND-EVAL]).
//
// For each output element the bound is a number E with |computed - exact| <= E, computed at run
// time from the problem's inputs and a description of how the implementation computes
// (ScanArithmetic). It is +inf where an intermediate may overflow the compute format (outside
// the bound's domain), and NaN where an input the element depends on is NaN (the exact value is
// NaN there, and the verdict only asks for NaN).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "touchstone/bounds/elementary_ulps.hpp"
#include "touchstone/core/formats.hpp"
#include "touchstone/reference/mamba_problem.hpp"

namespace touchstone::mamba {

struct ScanArithmetic {
  std::string name;
  FormatInfo compute = format_info(Format::float32);  // every rounding is to this format
  FormatInfo storage = format_info(Format::float32);  // outputs rounded once more if different
  // [MAMBA-SCAN-BOUND-STATE] An input term (beta_s, or h0) reaches h_t through at most
  // step_roundings * (t - s) + term_roundings roundings (h0: + initial_roundings instead).
  double step_roundings = 1;  // may be fractional: an extra rounding every `chunk` steps
  int term_roundings = 1;
  int initial_roundings = 0;
  // Underflow: at most `underflows_per_step` absolute errors of size <= eta enter the state per
  // time step; with `forms_products` (tree orders that multiply a's together) each may be
  // multiplied by a partial state, so it is scaled by the running state magnitude.
  int underflows_per_step = 1;
  bool forms_products = false;
  // With forms_products, the a's multiplied together span at most this many consecutive steps
  // (the CUDA kernel: one chunk; 0: any span of the sequence). A product of them may overflow
  // while every state stays small (then inf times a zero state is NaN): outside the domain.
  Index product_span = 0;
  // [MAMBA-SCAN-BOUND-DELTA]/[...-DISCRETIZE] roundings in exp's argument dt*A, and the maximum
  // errors of the elementary functions in ulps of the compute format.
  int exp_arg_roundings = 1;
  double exp_ulps = 1, softplus_ulps = 1, silu_ulps = 1;
  // [MAMBA-SCAN-BOUND-OUTPUT] y by a sequential fma over n (else any order, separate roundings);
  // D u + y by one fma (else a rounded product, then a rounded sum).
  bool fused_dot = true;
  bool fused_skip = true;
};

// The arithmetic of each touchstone backend, and of an unknown implementation.
ScanArithmetic arithmetic_cpu_f32();
ScanArithmetic arithmetic_cpu_f64();
// The CUDA kernel's chunked scan ([MAMBA-SCAN-BOUND-CUDA-F32]): `tree_depth` bounds the
// combines that add a term to others inside one chunk, `chunk` is the chunk length (one extra
// rounding per chunk boundary crossed). See optimized/cuda/mamba.hpp.
ScanArithmetic arithmetic_cuda_f32(int tree_depth, int chunk);
// [MAMBA-SCAN-BOUND-ANY] Any association order of the scan and the sums, separate roundings,
// exp's argument with up to 3 roundings, elementary functions within `elementary_ulps`, computed
// in float32 (storage float32/bfloat16/float16) or float64 (storage float64), outputs rounded to
// `storage`.
ScanArithmetic arithmetic_any_order(Format storage, Index seqlen, double elementary_ulps);
// [MAMBA-SCAN-BOUND-ORACLE] The oracle itself (reference::selective_scan<mp_real>) at `bits`:
// sequential, separate roundings, correctly rounded exp and log1p (MPFR).
ScanArithmetic arithmetic_reference(unsigned bits);

// The elementary functions' constants (bounds/elementary_ulps.hpp), also under this namespace.
using touchstone::kExpF32Ulps;
using touchstone::kExpF64Ulps;
using touchstone::kSiluF32Ulps;
using touchstone::kSiluF64Ulps;
using touchstone::kSoftplusF32Ulps;
using touchstone::kSoftplusF64Ulps;

// [MAMBA-SCAN-BOUND-CUDA-F32] Orders that multiply the decay factors together (tree orders, any
// order) may overflow a product while every state stays small. `product` bounds every product
// within the current span (restarted where `span_starts`): the product of max(1, factor bound)
// since then, as factors below 1 cannot raise it. True when a product may exceed `fmax`.
inline bool span_product_overflows(double& product, double factor_bound, bool span_starts, double fmax) {
  if (span_starts) product = 1;
  product *= factor_bound > 1 ? factor_bound : 1.0;
  return !(product <= fmax);
}

// An upper bound on |silu(z)| = |z| / (1 + e^-z) that neither e^-z's overflow (z < -709.78) nor
// e^z's underflow makes 0 where silu is not: below -700 core's silu_value (extended precision,
// rounded once) with a margin for that rounding.
double silu_magnitude(double z);  // mamba_bound.cpp

// [MAMBA-SCAN-BOUND-PROBABILISTIC] With `probabilistic` (only for separate roundings:
// !m.fused_dot && !m.fused_skip, as arithmetic_any_order), also the Higham-Mary bound of every
// element at that object's lambda (core/probabilistic.hpp): the rigorous bound with its
// first-order rounding part R1 replaced by hm_sum_bound(M, R1), never above the rigorous bound.
struct ScanProbabilistic {
  double lambda = 0;
  SelectiveScanResult<double> bound;  // filled by selective_scan_bound
};
SelectiveScanResult<double> selective_scan_bound(const SelectiveScanProblem<double>& p,
                                                 const ScanArithmetic& m,
                                                 ScanProbabilistic* probabilistic = nullptr);
// The number of theta's (terms times elements) the scan's family-wise statement is over: every
// out element is a sum of at most dstate (seqlen + 2) + 1 terms (each state's L inputs and h0,
// the skip term), every last_state element of seqlen + 2.
double selective_scan_thetas(const SelectiveScanProblem<double>& p);

// What the real and the complex scan's forward bounds (mamba_bound.cpp, mamba_complex_bound.cpp)
// evaluate alike: the notation is mamba_bound.cpp's.
namespace scan_bound {

inline constexpr double kTiny = 4.9406564584124654e-324;  // 2^-1074: keeps magnitudes >= exact
                                                          // values that underflow in double
// log1p(e^-20) = softplus(20) - 20: the jump of the thresholded softplus at 20.
inline constexpr double kThresholdJump = 2.0612e-9;

struct Q {  // a computed quantity: magnitude bound M, error bound E
  double M, E;
};

// [CORE-ROUND-MUL]: x * y rounded, both operands computed with errors. The magnitude is floored
// at 2^-1074 so that a product that underflows in this double evaluation still bounds the exact
// (tiny) value.
// proved: proofs/theories/RoundOps.v mul_bound (the operand form: the rounding term is
// u (Mx + Ex)(My + Ey), i.e. M = Mx My in mul_bound_result_mag).
inline Q mul(Q x, Q y, double u, double eta) {
  return {x.M * y.M + kTiny,
          x.M * y.E + x.E * y.M + x.E * y.E + u * (x.M + x.E) * (y.M + y.E) + eta};
}

// [MAMBA-SCAN-ELEMENTARY] error of a function evaluated within `ulps` ulps:
// ulps * ulp(f) <= ulps * (2u |f| + 2 eta).
inline double elementary_error(double ulps, double magnitude, double u, double eta) {
  return ulps * (2 * u * magnitude + 2 * eta);
}

// The compute and storage formats' terms. binary64's underflow term 2^-1075 is not a double (it
// rounds to 0): 2^-1074, twice it, instead. An infinite magnitude in this double evaluation is an
// overflow too (the oracle's format has no overflow of its own, but a double does): fmax is the
// smaller of the two.
struct Formats {
  const FormatInfo& storage;
  bool rounds_to_storage;
  double u, eta, fmax, storage_eta;
  Formats(const FormatInfo& compute, const FormatInfo& storage_)
      : storage(storage_),
        rounds_to_storage(storage_.precision != compute.precision || storage_.emin != compute.emin),
        u(compute.u), eta(std::max(compute.eta, kTiny)),
        fmax(std::min(compute.max_finite, std::numeric_limits<double>::max())),
        storage_eta(std::max(storage_.eta, kTiny)) {}
  // An output's bound from its magnitude and error bounds: +inf outside the domain, else with
  // the rounding to the storage format ([MAMBA-SCAN-BOUND-ANY]; proved: RoundOps.v round_bound)
  // and the evaluation's slack ([MAMBA-SCAN-BOUND-EVAL]).
  double finish(double M, double E, bool overflow, double slack) const {
    if (rounds_to_storage) E += storage.u * (M + E) + storage_eta;
    return overflow ? std::numeric_limits<double>::infinity() : E * (1 + slack) + kTiny;
  }
};

// [MAMBA-SCAN-BOUND-DELTA] x = delta + delta_bias (returned in `x`), then dt, the thresholded
// softplus of x when the problem asks for it.
template <class Inputs>
Q delta_bound(const Inputs& in, Index b, Index d, Index t, double softplus_ulps, double u, double eta,
              double& x) {
  x = in.delta(b, d, t) + (in.delta_bias ? (*in.delta_bias)[d] : 0.0);
  const double Ex = in.delta_bias ? u * std::fabs(x) : 0.0;
  if (!in.delta_softplus) return {std::fabs(x), Ex};
  Q dt;
  // softplus(x) >= x, so this bounds the exact value on either side of the threshold.
  const double sp = std::log1p(std::exp(std::min(x, 700.0)));
  dt.M = std::max(x, sp) + kTiny;
  // The implementation may take the other branch only when its x is rounded (Ex > 0) and the
  // exact x is within that rounding of 20; `margin` covers x's own rounding in this double
  // evaluation.
  const double margin = in.delta_bias ? 20 * std::ldexp(1.0, -40) : 0.0;
  double E = std::min(Ex, dt.M * std::expm1(Ex));
  if (Ex > 0 && std::fabs(x - 20) <= Ex + margin) E += kThresholdJump;
  if (x <= 20 + Ex + margin) E += elementary_error(softplus_ulps, dt.M + E, u, eta);
  dt.E = E;
  return dt;
}

}  // namespace scan_bound

}  // namespace touchstone::mamba
