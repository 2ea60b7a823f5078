// [ORTH-SPEED-ACCURACY] The core of bench/orthogonal_speed.cpp (spec/orthogonal.md), header-only so
// that tests/orthogonal/speed_table_test.cpp runs the same code at n = 8.
//
// One draw per n: X (n x n) standard normal from Philox (seed 0, stream "orthogonal_speed/X"),
// rounded to float32. The Householder product and CWY take V = X (row i is v_i), so they form the
// same exact Q; the Cayley map (PyTorch's convention) and exp take A = fl32((X - X^T) / sqrt(n)) from
// the same X (the construction of bench/orthogonal_defect.cpp, ||A||_2 about 2.8 for every n). Both
// formats get the same values (float32-representable), so the float64 columns are the same problems.
//
// Per (n, map, format): the median wall time of `repeats` runs of the backend forming Q (the process
// sets TOUCHSTONE_THREADS=1), max |Q^T Q - I| in long double, and max |Q - Q_exact| against the MPFR
// oracle's Q (reference/orthogonal.hpp at `bits`), with the oracle's own check: the largest distance
// between its Q at `bits` and at bits + 64.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "orthogonality_defect.hpp"
#include "cpu/orthogonal.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/orthogonal.hpp"

namespace touchstone::orthogonal::speed_table {

inline constexpr const char* kMaps[] = {"householder", "cwy", "cayley", "exp"};

struct Inputs {
  Tensor<double> x;  // the draw; V = x
  Tensor<double> a;  // fl32((x - x^T) / sqrt(n)), exactly skew
};

inline Inputs make_inputs(Index n) {
  PhiloxStream r(0, "orthogonal_speed/X");
  Inputs in{Tensor<double>(Shape{n, n}), Tensor<double>(Shape{n, n}, 0.0)};
  for (Index i = 0; i < in.x.count(); ++i) in.x[i] = static_cast<float>(r.next_normal());
  const double scale = 1 / std::sqrt(static_cast<double>(n));
  for (Index i = 0; i < n; ++i)
    for (Index k = i + 1; k < n; ++k) {
      in.a(i, k) = static_cast<float>(scale * (in.x(i, k) - in.x(k, i)));
      in.a(k, i) = -in.a(i, k);
    }
  return in;
}

// Q = map(inputs) by the cpu backend in T (float or double).
template <class T>
Tensor<T> form(const std::string& map, const Inputs& in) {
  if (map == "householder") return cpu::householder_product(ReflectorProblem<double>(in.x).cast<T>());
  if (map == "cwy") return cpu::cwy(ReflectorProblem<double>(in.x).cast<T>());
  if (map == "cayley") return cpu::cayley(CayleyProblem<double>(in.a, CayleyConvention::pytorch).cast<T>());
  if (map == "exp") return cpu::matrix_exp(SkewProblem<double>(in.a).cast<T>());
  throw std::invalid_argument("map: " + map);
}

// The exact Q of a map at the current working precision (householder and cwy: the same Q; the
// oracle forms it by the CWY formula, cheaper than L reflections per row).
inline Tensor<mp_real> exact(const std::string& map, const Inputs& in) {
  if (map == "householder" || map == "cwy") return reference::cwy<mp_real>(ReflectorProblem<double>(in.x));
  if (map == "cayley") return reference::cayley<mp_real>(CayleyProblem<double>(in.a, CayleyConvention::pytorch));
  if (map == "exp") return reference::matrix_exp<mp_real>(SkewProblem<double>(in.a));
  throw std::invalid_argument("map: " + map);
}

// max |Q^T Q - I| over Q's columns (orthogonality_defect.hpp); NaN when any entry is NaN.
template <class T>
double defect(const Tensor<T>& q) {
  return static_cast<double>(orthogonality_defect(q).max);
}

// max |Q - Q_exact| (each difference formed at the working precision, then rounded); NaN when any
// entry of Q is NaN or the shapes differ.
template <class T>
double oracle_error(const Tensor<T>& q, const Tensor<mp_real>& e) {
  if (q.shape() != e.shape()) return std::numeric_limits<double>::quiet_NaN();
  double m = 0;
  for (Index i = 0; i < q.count(); ++i) {
    const double d = std::fabs(to_double(mp_real(static_cast<double>(q[i])) - e[i]));
    if (std::isnan(d)) return std::numeric_limits<double>::quiet_NaN();
    m = std::max(m, d);
  }
  return m;
}

struct Oracle {
  Tensor<mp_real> q;  // at `bits`
  double gap = 0;     // max |Q_bits - Q_{bits+64}|
  double seconds = 0;
};

inline Oracle oracle(const std::string& map, const Inputs& in, unsigned bits) {
  const auto t0 = std::chrono::steady_clock::now();
  Oracle o;
  {
    const WorkingPrecision p(bits);
    o.q = exact(map, in);
  }
  const WorkingPrecision wider(bits + 64);
  const Tensor<mp_real> hi = exact(map, in);
  for (Index i = 0; i < hi.count(); ++i) o.gap = std::max(o.gap, std::fabs(to_double(o.q[i] - hi[i])));
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

struct Row {
  Index n = 0;
  std::string map, format;
  int repeats = 0;
  double median_s = 0, min_s = 0;
  double defect = 0;
  std::optional<double> error;  // against the oracle, where computed
};

// A row the table may print: a positive time and a finite defect (and oracle error where
// computed). A NaN, an Inf or a missing measurement is not a row.
inline bool row_ok(const Row& r) {
  const bool time = std::isfinite(r.median_s) && r.median_s > 0 && r.repeats > 0;
  const bool err = !r.error || std::isfinite(*r.error);
  return time && std::isfinite(r.defect) && err;
}

// The measurements of one Q (already formed) into a row.
template <class T>
Row measure(Index n, const std::string& map, const Tensor<T>& q, const std::vector<double>& seconds,
            const Tensor<mp_real>* exact_q) {
  Row r;
  r.n = n;
  r.map = map;
  r.format = std::is_same_v<T, float> ? "f32" : "f64";
  r.repeats = static_cast<int>(seconds.size());
  std::vector<double> s = seconds;
  std::sort(s.begin(), s.end());
  r.median_s = s.empty() ? std::numeric_limits<double>::quiet_NaN() : s[s.size() / 2];
  r.min_s = s.empty() ? std::numeric_limits<double>::quiet_NaN() : s.front();
  r.defect = defect(q);
  if (exact_q) {
    const WorkingPrecision p(precision_bits((*exact_q)[0]));
    r.error = oracle_error(q, *exact_q);
  }
  return r;
}

// Runs the backend `repeats` times (timed, one call each) and measures the last Q.
template <class T>
Row run(Index n, const std::string& map, const Inputs& in, int repeats, const Tensor<mp_real>* exact_q) {
  std::vector<double> seconds;
  Tensor<T> q;
  for (int k = 0; k < repeats; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    q = form<T>(map, in);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return measure(n, map, q, seconds, exact_q);
}

}  // namespace touchstone::orthogonal::speed_table
