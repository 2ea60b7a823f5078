// [ORTH-ORTH-TABLE] The orthogonality error of cpu-f32 and cpu-f64 for the Householder product,
// CWY, T-CWY, the Cayley map and the matrix exponential, n = 8 .. 1024 (spec/orthogonal.md):
//   ./build/bench/orthogonal_defect N [N ...]      one table row per (n, map, format)
// Inputs (seed 0): V (n x n; T-CWY: n/2 x n) standard normal rounded to float32 (the same values for
// both formats); the Cayley map (PyTorch's convention) and exp of A = (X - X^T) / sqrt(n), X standard
// normal rounded to float32, so that ||A||_2 stays about 2.8 as n grows. Columns:
//   max|Q^T Q - I| and ||Q^T Q - I||_F, computed in x87 extended precision (each entry within
//     n 2^-63 (1 + small) of exact: at n = 1024 about 1.1e-16, against float64 defects of 1e-15);
//   Higham: the a-priori anchor 2 sqrt(n) E + n E^2 with E = [ORTH-HH-ROWNORM]'s bound on every
//     row's 2-norm error of the sequential product of the same vectors (Higham, Accuracy and
//     Stability, Lemma 19.3's shape with explicit constants: E ~ L (2N + 7) u). It bounds both
//     max|.| and ||.||_F: ||Q^T Q - I|| <= 2 ||E|| + ||E||^2 and ||E||_2 <= ||E||_F <= sqrt(n) E. A
//     proof for the Householder rows; for CWY and T-CWY the same vectors' anchor (not a proof for
//     their order); none for Cayley and exp ("-").
//   elem: [ORTH-ORTH-BOUND] from the backend's own per-element bound (max_ij B_i + B_j + B_i B_j,
//     B_j = ||b_:,j||_2, and the Frobenius norm of those), for n <= 32 only (its Tracked run costs
//     far more than the backend).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "orthogonality_defect.hpp"
#include "cpu/orthogonal.hpp"
#include "touchstone/bounds/orthogonal_bound.hpp"
#include "touchstone/core/random.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

Tensor<double> normal(Index rows, Index cols, const char* stream) {
  PhiloxStream r(0, std::string("orthogonal_defect/") + stream);
  Tensor<double> t(Shape{rows, cols});
  for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(r.next_normal());
  return t;
}

Tensor<double> skew(Index n) {
  const Tensor<double> x = normal(n, n, "X");
  const double scale = 1 / std::sqrt(static_cast<double>(n));
  Tensor<double> a(Shape{n, n}, 0.0);
  for (Index i = 0; i < n; ++i)
    for (Index k = i + 1; k < n; ++k) {
      a(i, k) = static_cast<float>(scale * (x(i, k) - x(k, i)));
      a(k, i) = -a(i, k);
    }
  return a;
}

struct Defect {
  double max = 0, frob = 0;
};

// max|Q^T Q - I| and ||Q^T Q - I||_F over the C columns of Q (orthogonality_defect.hpp).
template <class T>
Defect defect(const Tensor<T>& q) {
  const OrthogonalityDefect d = orthogonality_defect(q);
  return {static_cast<double>(d.max), static_cast<double>(d.frob)};
}

// [ORTH-ORTH-BOUND] from per-element bounds b (R x C).
Defect from_elements(const Tensor<double>& b) {
  const Index R = b.extent(0), C = b.extent(1);
  std::vector<double> B(static_cast<std::size_t>(C), 0);
  for (Index j = 0; j < C; ++j) {
    double s = 0;
    for (Index r = 0; r < R; ++r) s += b(r, j) * b(r, j);
    B[static_cast<std::size_t>(j)] = std::sqrt(s) * (1 + 0x1p-40);
  }
  Defect d;
  double f = 0;
  for (Index i = 0; i < C; ++i)
    for (Index j = 0; j < C; ++j) {
      const double e = B[i] + B[j] + B[i] * B[j];
      d.max = std::max(d.max, e);
      f += e * e;
    }
  d.frob = std::sqrt(f) * (1 + 0x1p-40);
  return d;
}

void row(Index n, const char* map, const char* fmt, const Defect& d, double higham, const Defect* elem, double seconds) {
  char h[32] = "-", em[32] = "-", ef[32] = "-";
  if (higham >= 0) std::snprintf(h, sizeof h, "%.2e", higham);
  if (elem) {
    std::snprintf(em, sizeof em, "%.2e", elem->max);
    std::snprintf(ef, sizeof ef, "%.2e", elem->frob);
  }
  std::printf("| %lld | %s | %s | %.2e | %.2e | %s | %s | %s | %.2f |\n", static_cast<long long>(n), map, fmt, d.max, d.frob,
              h, em, ef, seconds);
  std::fflush(stdout);
}

template <class T, class Run>
void measure(Index n, const char* map, Format f, Run run, double higham, const std::function<Tensor<double>()>& elem) {
  const auto t0 = std::chrono::steady_clock::now();
  const Tensor<T> q = run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Defect d = defect(q);
  if (n <= 32 && elem) {
    const Defect e = from_elements(elem());
    row(n, map, f == Format::float32 ? "f32" : "f64", d, higham, &e, seconds);
  } else {
    row(n, map, f == Format::float32 ? "f32" : "f64", d, higham, nullptr, seconds);
  }
}

double anchor(const ReflectorProblem<double>& p, Index n, Format f) {
  const double E = householder_rownorm_bound(p, f);
  const double nn = static_cast<double>(n);
  return (2 * std::sqrt(nn) * E + nn * E * E) * (1 + 0x1p-40);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("| n | map | format | max abs | Frobenius | Higham anchor | elem max | elem F | backend s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int a = 1; a < argc; ++a) {
    const Index n = std::atoll(argv[a]);
    const ReflectorProblem<double> v(normal(n, n, "V"));
    const StiefelProblem<double> sv{ReflectorProblem<double>(normal(n / 2, n, "V/tcwy"))};
    const CayleyProblem<double> cp(skew(n), CayleyConvention::pytorch);
    const SkewProblem<double> ep(skew(n));
    for (const Format f : {Format::float32, Format::float64}) {
      const OrthArithmetic m{f, false};
      const double hh = anchor(v, n, f), ht = anchor(sv.reflectors(), n, f);
      if (f == Format::float32) {
        measure<float>(n, "householder", f, [&] { return cpu::householder_product(v.cast<float>()); }, hh,
                       [&] { return householder_product_bound(v, m); });
        measure<float>(n, "cwy", f, [&] { return cpu::cwy(v.cast<float>()); }, hh, [&] { return cwy_bound(v, m); });
        measure<float>(n, "tcwy (M = n/2)", f, [&] { return cpu::tcwy(StiefelProblem<float>(sv.reflectors().cast<float>())); },
                       ht, [&] { return tcwy_bound(sv, m); });
        measure<float>(n, "cayley", f, [&] { return cpu::cayley(cp.cast<float>()); }, -1, [&] { return cayley_bound(cp, m); });
        measure<float>(n, "exp", f, [&] { return cpu::matrix_exp(ep.cast<float>()); }, -1,
                       [&] { return matrix_exp_bound(ep, m); });
      } else {
        measure<double>(n, "householder", f, [&] { return cpu::householder_product(v); }, hh,
                        [&] { return householder_product_bound(v, m); });
        measure<double>(n, "cwy", f, [&] { return cpu::cwy(v); }, hh, [&] { return cwy_bound(v, m); });
        measure<double>(n, "tcwy (M = n/2)", f, [&] { return cpu::tcwy(sv); }, ht, [&] { return tcwy_bound(sv, m); });
        measure<double>(n, "cayley", f, [&] { return cpu::cayley(cp); }, -1, [&] { return cayley_bound(cp, m); });
        measure<double>(n, "exp", f, [&] { return cpu::matrix_exp(ep); }, -1, [&] { return matrix_exp_bound(ep, m); });
      }
    }
  }
  return 0;
}
