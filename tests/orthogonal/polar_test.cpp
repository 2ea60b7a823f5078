// [ORTH-POLAR-BOUND] The certified bound of a computed polar factor, and [ORTH-POLAR-CPU] the cpu
// backends it certifies. The certificate is a theorem about any matrix Q^, so it is tested on
// answers perturbed in each way the theorem separates (a scaled factor, a rotated one, a component
// outside range(A), one element off, noise): the Frobenius error, computed in MPFR from the oracle,
// must never exceed it, the bound must be finite for small perturbations (not vacuous), and it
// must fail when one of the theorem's terms is left out. The verdict with it fails the wrong
// conventions (QR's Q, -Q, a scaled column, the transpose).
// covers: ORTH-POLAR-BOUND ORTH-POLAR-CPU
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "builtin.hpp"
#include "cpu/orthogonal.hpp"
#include "../diff_verdict.hpp"
#include "test_inputs.hpp"
#include "touchstone/bounds/orthogonal_polar_bound.hpp"
#include "touchstone/core/entry.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/registry.hpp"
#include "touchstone/core/verdict.hpp"
#include "touchstone/reference/orthogonal.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

namespace {

struct Case {
  const char* name;
  Index n, m;
  double column_scale;  // column 0 scaled by this
  bool two_small;       // and the last column too: two small singular values, rotated together below
};
// Square, tall, one column, conditioned 1e3 (one or two small singular values) and 1e6.
constexpr Case kCases[] = {{"square", 5, 5, 1, false},     {"tall", 8, 3, 1, false},
                           {"column", 6, 1, 1, false},     {"cond1e3", 6, 6, 1e-3, false},
                           {"two_small", 6, 6, 1e-3, true}, {"tall_cond1e6", 7, 4, 1e-6, false}};

Tensor<double> case_matrix(const Case& c) {
  Tensor<double> a = test_inputs::normal("polar_test", c.n, c.m, 1, c.name, Format::float64);
  for (Index i = 0; i < c.n; ++i) {
    a(i, 0) *= c.column_scale;
    if (c.two_small) a(i, c.m - 1) *= c.column_scale;
  }
  return a;
}

// ||q - u||_F in MPFR.
double frobenius_error(const Tensor<double>& q, const Tensor<mp_real>& u) {
  mp_real s(0);
  for (Index i = 0; i < q.count(); ++i) s += (mp_real(q[i]) - u[i]) * (mp_real(q[i]) - u[i]);
  return to_double(mp_real(sqrt(s)));
}

Tensor<double> rounded(const Tensor<mp_real>& u) {
  Tensor<double> d(u.shape());
  for (Index i = 0; i < u.count(); ++i) d[i] = to_double(u[i]);
  return d;
}

// The perturbations of the exact factor U (rounded to double) the theorem's terms answer for.
enum class Kind { scaled, rotated, outside, element, noise };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::scaled: return "scaled";
    case Kind::rotated: return "rotated";
    case Kind::outside: return "outside";
    case Kind::element: return "element";
    case Kind::noise: return "noise";
  }
  return "?";
}

Tensor<double> perturbed(const Tensor<mp_real>& u, Kind kind, double eps) {
  const Index n = u.extent(0), m = u.extent(1);
  Tensor<mp_real> q = u;
  switch (kind) {
    case Kind::scaled:  // delta's term: Q^T A stays symmetric
      for (Index i = 0; i < q.count(); ++i) q[i] = u[i] * (1 + mp_real(eps));
      break;
    case Kind::rotated:  // kappa's term: orthonormal columns, Q^T A not symmetric (columns 0 and m-1)
      if (m >= 2) {
        const mp_real c = cos(mp_real(eps)), s = sin(mp_real(eps));
        for (Index i = 0; i < n; ++i) {
          q(i, 0) = c * u(i, 0) - s * u(i, m - 1);
          q(i, m - 1) = s * u(i, 0) + c * u(i, m - 1);
        }
      } else {
        q(0, 0) += mp_real(eps);
      }
      break;
    case Kind::outside: {  // nu's term: a component outside range(A), along (I - U U^T) e_last
      Tensor<mp_real> w(Shape{n}, mp_real(0));
      w[n - 1] = 1;
      for (Index j = 0; j < m; ++j)
        for (Index i = 0; i < n; ++i) w[i] -= u(n - 1, j) * u(i, j);
      mp_real norm(0);
      for (Index i = 0; i < n; ++i) norm += w[i] * w[i];
      if (norm > mp_real(1e-20))
        for (Index i = 0; i < n; ++i) q(i, 0) += mp_real(eps) * w[i] / sqrt(norm);
      else
        q(0, 0) += mp_real(eps);
      break;
    }
    case Kind::element:
      q(n / 2, m / 2) += mp_real(eps);
      break;
    case Kind::noise: {
      const Tensor<double> z = test_inputs::normal("polar_test", n, m, 7, "noise", Format::float64);
      for (Index i = 0; i < q.count(); ++i) q[i] += mp_real(eps) * mp_real(z[i]);
      break;
    }
  }
  return rounded(q);
}

constexpr Kind kKinds[] = {Kind::scaled, Kind::rotated, Kind::outside, Kind::element, Kind::noise};

}  // namespace

// The certificate is never below the error, and finite (with a stated tightness) for perturbations
// up to 1e-6 of a well-conditioned factor.
TEST(OrthogonalPolarCertificate, NeverBelowTheErrorOfAnyPerturbation) {
  const WorkingPrecision precision(256);
  double worst_ratio = 0;  // the largest bound / error on the well-conditioned shapes, eps <= 1e-3
  for (const Case& c : kCases) {
    const Tensor<double> a = case_matrix(c);
    const Tensor<mp_real> u = reference::polar<mp_real>(PolarProblem<double>(a));
    for (Kind kind : kKinds)
      for (double eps : {1e-13, 1e-10, 1e-6, 1e-3, 0.1, 0.5}) {
        const Tensor<double> q = perturbed(u, kind, eps);
        const double err = frobenius_error(q, u);
        const PolarCertificate cert = polar_certificate(a, q);
        SCOPED_TRACE(std::string(c.name) + " " + kind_name(kind) + " eps " + std::to_string(eps));
        if (std::isfinite(cert.bound)) EXPECT_LE(err, cert.bound) << "the certificate is below the error";
        else EXPECT_FALSE(cert.failed.empty());
        if (eps / c.column_scale <= 1e-3) {  // small beside sigma_min(A): the conditions hold
          EXPECT_TRUE(std::isfinite(cert.bound)) << cert.failed;
          if (c.column_scale == 1 && err > 0) worst_ratio = std::max(worst_ratio, cert.bound / err);
        }
      }
  }
  std::printf("largest certificate / error, well-conditioned shapes, eps <= 1e-3: %.3g\n", worst_ratio);
}

// Each term of the theorem is needed: without rho's term the scaled factor, without kappa's the
// rotated one, without nu's the component outside range(A) are above the "bound".
TEST(OrthogonalPolarCertificate, FailsWithoutEachTerm) {
  const WorkingPrecision precision(256);
  const Case tall = kCases[1];
  const Tensor<double> a = case_matrix(tall);
  const Tensor<mp_real> u = reference::polar<mp_real>(PolarProblem<double>(a));
  struct Dropped {
    Kind kind;
    double PolarCertificate::*term;
  };
  for (Dropped d : {Dropped{Kind::scaled, &PolarCertificate::rho}, Dropped{Kind::rotated, &PolarCertificate::kappa},
                    Dropped{Kind::outside, &PolarCertificate::nu}}) {
    const Tensor<double> q = perturbed(u, d.kind, 1e-6);
    const double err = frobenius_error(q, u);
    PolarCertificate cert = polar_certificate(a, q);
    ASSERT_TRUE(std::isfinite(cert.bound)) << cert.failed;
    EXPECT_LE(err, cert.bound);
    cert.*(d.term) = 0;
    const PolarCertificate without = polar_certificate_bound(cert);
    EXPECT_GT(err, without.bound) << kind_name(d.kind) << ": the bound without its term still holds";
  }
}

// Outside the theorem's conditions the certificate is +inf with the reason, never a small number.
TEST(OrthogonalPolarCertificate, InfiniteOutsideItsConditions) {
  const WorkingPrecision precision(256);
  const Tensor<double> a = case_matrix(kCases[0]);
  const Tensor<mp_real> u = reference::polar<mp_real>(PolarProblem<double>(a));
  Tensor<double> minus = rounded(u);  // -U: Q^T A = -H is negative definite
  for (Index i = 0; i < minus.count(); ++i) minus[i] = -minus[i];
  const PolarCertificate c1 = polar_certificate(a, minus);
  EXPECT_TRUE(std::isinf(c1.bound));
  EXPECT_NE(c1.failed.find("positive definite"), std::string::npos) << c1.failed;
  Tensor<double> scaled = rounded(u);  // 1.5 U: Q~ = 0.5625 U, ||Q~^T Q~ - I||_F = 0.68 sqrt(5)
  for (Index i = 0; i < scaled.count(); ++i) scaled[i] *= 1.5;
  const PolarCertificate c2 = polar_certificate(a, scaled);
  EXPECT_TRUE(std::isinf(c2.bound));
  EXPECT_NE(c2.failed.find("not below 1"), std::string::npos) << c2.failed;
  Tensor<double> nan = rounded(u);
  nan[3] = std::nan("");
  EXPECT_TRUE(std::isinf(polar_certificate(a, nan).bound));
}

// [ORTH-POLAR-CPU] The cpu backends converge to the polar factor, certified (float32 except at cond 1e6);
// the certificate's ratio printed per case (it loses up to cond(A) where one singular value is small).
TEST(OrthogonalPolarCpu, CertifiedOnEveryCase) {
  const WorkingPrecision precision(256);
  for (const Case& c : kCases) {
    const Tensor<double> a = case_matrix(c);
    const PolarProblem<double> p(a);
    const Tensor<mp_real> u = reference::polar<mp_real>(p);
    const PolarProblem<float> p32 = p.cast<float>();  // judged against its own (rounded) A
    const Tensor<mp_real> u32 = reference::polar<mp_real>(p32.cast<double>());
    const Tensor<double> q64 = cpu::polar(p), q32 = as_double(cpu::polar(p32));
    const PolarCertificate c64 = polar_certificate(a, q64), c32 = polar_certificate(p32.cast<double>().a(), q32);
    ASSERT_TRUE(std::isfinite(c64.bound)) << c.name << ": " << c64.failed;
    const double e64 = frobenius_error(q64, u), e32 = frobenius_error(q32, u32);
    EXPECT_LE(e64, c64.bound) << c.name;
    // float32 at cond(A) = 1e6: u cond(A) ~ 0.06 and the certificate, which loses cond(A) where one
    // singular value is small, fails its conditions (+inf with the reason) though the error is ~1e-7.
    if (c.column_scale >= 1e-3) EXPECT_TRUE(std::isfinite(c32.bound)) << c.name << ": " << c32.failed;
    if (std::isfinite(c32.bound)) EXPECT_LE(e32, c32.bound) << c.name;
    else EXPECT_FALSE(c32.failed.empty());
    std::printf("%-13s f64 err %.3g bound %.3g (ratio %.3g) | f32 err %.3g bound %.3g (ratio %.3g)\n", c.name, e64,
                c64.bound, c64.bound / e64, e32, c32.bound, c32.bound / e32);
  }
}

// `diff` with the entry's bound fails the wrong conventions and passes the cpu-f32 answer.
TEST(OrthogonalPolarEntry, WrongConventionsFail) {
  const Algorithm& alg = builtin_registry().get("orthogonal.polar");
  for (const char* size : {"square", "tall", "retraction"}) {
    const auto problem = alg.generate(size, Format::float32, 0);
    const Tensor<double> a = problem->inputs().at("A");
    const Tensor<double> ours = alg.backends().front().run(*problem).at("Q");  // cpu-f32
    auto verdict = [&](const Tensor<double>& q) {
      DiffRequest r;
      r.format = Format::float32;
      return run_diff(alg, *problem, {{"Q", q}}, r).verdict;
    };
    SCOPED_TRACE(size);
    EXPECT_EQ(verdict(ours), Verdict::pass);
    const Tensor<double> qr = reference::qf<double>(QfProblem<double>(a));  // QR's Q
    EXPECT_EQ(verdict(qr), Verdict::fail) << "QR's Q";
    Tensor<double> minus = ours, column = ours;
    for (Index i = 0; i < minus.count(); ++i) minus[i] = -minus[i];
    EXPECT_EQ(verdict(minus), Verdict::fail) << "-Q";
    for (Index i = 0; i < column.extent(0); ++i) column(i, 0) = static_cast<float>(column(i, 0) * 1.001);
    EXPECT_EQ(verdict(column), Verdict::fail) << "a column scaled by 1.001";
    if (a.extent(0) == a.extent(1)) {  // polar(A^T) = polar(A)^T: the transposed convention
      Tensor<double> t(ours.shape());
      for (Index i = 0; i < t.extent(0); ++i)
        for (Index j = 0; j < t.extent(1); ++j) t(i, j) = ours(j, i);
      EXPECT_EQ(verdict(t), Verdict::fail) << "Q^T";
    }
  }
}

namespace {

// <dA, E> against the central difference of <G, polar(A + t E)> at t = 0 (MPFR, step 2^-40: exact
// to O(h^2) ~ 1e-24 relative): |<dA, E> - jvp| / sum |dA E|.
double polar_central_difference_gap(const Tensor<double>& a, const Tensor<double>& e, const Tensor<double>& g,
                                    const Tensor<mp_real>& da) {
  const mp_real h = mp_real(std::ldexp(1.0, -40));
  auto at = [&](const mp_real& t) {
    Tensor<mp_real> x(a.shape());
    for (Index i = 0; i < a.count(); ++i) x[i] = mp_real(a[i]) + t * mp_real(e[i]);
    const Tensor<mp_real> q = reference::polar_matrix(x);
    mp_real s(0);
    for (Index i = 0; i < q.count(); ++i) s += mp_real(g[i]) * q[i];
    return s;
  };
  const mp_real jvp = (at(h) - at(-h)) / (2 * h);
  mp_real vjp(0), scale(0);
  for (Index i = 0; i < da.count(); ++i) vjp += da[i] * mp_real(e[i]), scale += abs(da[i] * mp_real(e[i]));
  return std::fabs(to_double(mp_real(jvp - vjp))) / to_double(scale);
}

}  // namespace

// covers: ORTH-POLAR-VJP-DEF ORTH-POLAR-VJP-ORACLE
// The VJP oracle (orthogonal.polar_backward's) against central differences of the polar oracle (square, tall,
// a column); wrong VJPs fail the same comparison (the -2 A C term dropped, twice the answer).
TEST(OrthogonalPolarVjp, MatchesCentralDifferencesOfTheForward) {
  const WorkingPrecision precision(256);
  for (const Case& c : {kCases[0], kCases[1], kCases[2]}) {
    SCOPED_TRACE(c.name);
    const Tensor<double> a = case_matrix(c);
    const Tensor<double> e = test_inputs::normal("polar_test", c.n, c.m, 2, "E", Format::float64);
    const Tensor<double> g = test_inputs::normal("polar_test", c.n, c.m, 3, "G", Format::float32);
    const PolarBackwardProblem<double> p(PolarProblem<double>(a), g);
    const Tensor<mp_real> da = reference::polar_vjp<mp_real>(p);
    EXPECT_LT(polar_central_difference_gap(a, e, g, da), test_inputs::kCentralDifferenceTolerance);
    // G H^-1 alone (the -2 A C term dropped): -2 A C = G H^-1 - dA.
    Tensor<mp_real> first(da.shape()), twice(da.shape());
    const Tensor<mp_real> u = reference::polar<mp_real>(PolarProblem<double>(a));
    {
      Tensor<mp_real> h(Shape{c.m, c.m}, mp_real(0));
      for (Index i = 0; i < c.m; ++i)
        for (Index j = 0; j < c.m; ++j)
          for (Index k = 0; k < c.n; ++k) h(i, j) += u(k, i) * mp_real(a(k, j));
      const Tensor<mp_real> hinv = reference::inverse_matrix(h);
      for (Index k = 0; k < c.n; ++k)
        for (Index j = 0; j < c.m; ++j) {
          first(k, j) = 0;
          for (Index i = 0; i < c.m; ++i) first(k, j) += mp_real(g(k, i)) * hinv(i, j);
        }
    }
    for (Index i = 0; i < da.count(); ++i) twice[i] = 2 * da[i];
    EXPECT_GT(polar_central_difference_gap(a, e, g, first), test_inputs::kCentralDifferenceTolerance) << "G H^-1 only";
    EXPECT_GT(polar_central_difference_gap(a, e, g, twice), test_inputs::kCentralDifferenceTolerance) << "twice";
  }
}

// ---- [ORTH-POLAR-VJP-BOUND] the certificate of a computed VJP, and [ORTH-POLAR-VJP-CPU] ----
// covers: ORTH-POLAR-VJP-BOUND ORTH-POLAR-VJP-CPU

namespace {

struct VjpCase {
  Case shape;
  Tensor<double> a, g;
  Tensor<mp_real> u, da;  // the oracle's polar factor and VJP
};

VjpCase vjp_case(const Case& c) {
  VjpCase v{c, case_matrix(c), test_inputs::normal("polar_test", c.n, c.m, 3, "G", Format::float32), {}, {}};
  v.u = reference::polar<mp_real>(PolarProblem<double>(v.a));
  v.da = reference::polar_vjp<mp_real>(PolarBackwardProblem<double>(PolarProblem<double>(v.a), v.g));
  return v;
}

// The VJP that is exactly consistent with a given orthonormal U' (in MPFR): U' X + (I - U' U'^T) G H'^-1
// with H' = U'^T A (not symmetrized) and H' X + X H' = U'^T G - G^T U' (Kronecker system). Its
// residuals in the certificate vanish, so only the certificate's epsilon terms can account for
// its error when U' is not polar(A).
Tensor<mp_real> vjp_consistent_with(const Tensor<double>& a, const Tensor<mp_real>& u, const Tensor<double>& g) {
  const Index n = a.extent(0), m = a.extent(1), mm = m * m;
  Tensor<mp_real> h(Shape{m, m}, mp_real(0)), k(Shape{m, m}, mp_real(0));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index l = 0; l < n; ++l) {
        h(i, j) += u(l, i) * mp_real(a(l, j));
        k(i, j) += u(l, i) * mp_real(g(l, j)) - mp_real(g(l, i)) * u(l, j);
      }
  Tensor<mp_real> kron(Shape{mm, mm}, mp_real(0));
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < m; ++j)
      for (Index l = 0; l < m; ++l) {
        kron(i * m + j, l * m + j) += h(i, l);
        kron(i * m + j, i * m + l) += h(l, j);
      }
  const Tensor<mp_real> kinv = reference::inverse_matrix(kron), hinv = reference::inverse_matrix(h);
  Tensor<mp_real> x(Shape{m, m}, mp_real(0));
  for (Index p = 0; p < mm; ++p)
    for (Index q = 0; q < mm; ++q) x[p] += kinv(p, q) * k[q];
  Tensor<mp_real> da(Shape{n, m}, mp_real(0)), r(Shape{n, m}, mp_real(0));  // r = (I - U U^T) G
  for (Index l = 0; l < n; ++l)
    for (Index j = 0; j < m; ++j) {
      r(l, j) = mp_real(g(l, j));
      for (Index i = 0; i < m; ++i)
        for (Index t = 0; t < n; ++t) r(l, j) -= u(l, i) * u(t, i) * mp_real(g(t, j));
    }
  for (Index l = 0; l < n; ++l)
    for (Index j = 0; j < m; ++j)
      for (Index i = 0; i < m; ++i) da(l, j) += u(l, i) * x(i, j) + r(l, i) * hinv(i, j);
  return da;
}

// U rotated by angle t in its columns (0, m - 1) (exactly orthonormal in MPFR); U itself for m = 1
// scaled back to unit norm after a tilt into the complement (tall A).
Tensor<mp_real> rotated_factor(const Tensor<mp_real>& u, double t) {
  Tensor<mp_real> r = u;
  const Index n = u.extent(0), m = u.extent(1);
  const mp_real c = cos(mp_real(t)), s = sin(mp_real(t));
  if (m >= 2) {
    for (Index k = 0; k < n; ++k) {
      r(k, 0) = c * u(k, 0) - s * u(k, m - 1);
      r(k, m - 1) = s * u(k, 0) + c * u(k, m - 1);
    }
  } else {  // tilt the column toward e_0's complement part and renormalize
    mp_real norm(0);
    for (Index k = 0; k < n; ++k) r(k, 0) = u(k, 0) + (k == n - 1 ? mp_real(t) : mp_real(0)), norm += r(k, 0) * r(k, 0);
    for (Index k = 0; k < n; ++k) r(k, 0) /= sqrt(norm);
  }
  return r;
}

}  // namespace

// The certificate is never below the error of the exact VJP perturbed (scaled, one element, noise),
// evaluated with the exact factor rounded or with the cpu float32 factor (so that its epsilon terms
// are large), and it is finite for small perturbations on the well-conditioned shapes.
TEST(OrthogonalPolarVjpCertificate, NeverBelowTheErrorOfAnyPerturbation) {
  const WorkingPrecision precision(256);
  for (const Case& c : {kCases[0], kCases[1], kCases[2], kCases[3]}) {
    const VjpCase v = vjp_case(c);
    const Tensor<double> u64 = rounded(v.u);
    const Tensor<double> u32 = as_double(cpu::polar(PolarProblem<double>(v.a).cast<float>()));
    for (int kind = 0; kind < 3; ++kind)
      for (double eps : {1e-13, 1e-9, 1e-6, 1e-3, 0.1}) {
        Tensor<mp_real> d = v.da;
        const Tensor<double> noise = test_inputs::normal("polar_test", c.n, c.m, 4, "noise", Format::float64);
        for (Index i = 0; i < d.count(); ++i) {
          if (kind == 0) d[i] *= 1 + eps;
          if (kind == 1 && i == d.count() / 2) d[i] += eps * (1 + abs(d[i]));
          if (kind == 2) d[i] += eps * mp_real(noise[i]);
        }
        const Tensor<double> da = rounded(d);
        const double err = frobenius_error(da, v.da);
        for (const Tensor<double>* u : {&u64, &u32}) {
          const PolarVjpCertificate cert = polar_vjp_certificate(v.a, v.g, da, *u);
          SCOPED_TRACE(std::string(c.name) + " kind " + std::to_string(kind) + " eps " + std::to_string(eps) +
                       (u == &u64 ? " exact U" : " f32 U"));
          if (std::isfinite(cert.bound)) EXPECT_LE(err, cert.bound) << "the certificate is below the error";
          else EXPECT_FALSE(cert.failed.empty());
          if (c.column_scale == 1) EXPECT_TRUE(std::isfinite(cert.bound)) << cert.failed;
        }
      }
  }
}

// A VJP exactly consistent with a wrong factor U' (U rotated by 1e-6) is within the certificate
// evaluated with U' (its epsilon, U''s certificate, carries the error), and below it with epsilon
// set to 0; a perturbed VJP is above the certificate without its first-order terms z and w.
TEST(OrthogonalPolarVjpCertificate, FailsWithoutEachTerm) {
  const WorkingPrecision precision(256);
  for (const Case& c : {kCases[0], kCases[1]}) {
    SCOPED_TRACE(c.name);
    const VjpCase v = vjp_case(c);
    const Tensor<mp_real> u1 = rotated_factor(v.u, 1e-6);
    const Tensor<double> da1 = rounded(vjp_consistent_with(v.a, u1, v.g));
    const double err1 = frobenius_error(da1, v.da);
    PolarVjpCertificate cert = polar_vjp_certificate(v.a, v.g, da1, rounded(u1));
    ASSERT_TRUE(std::isfinite(cert.bound)) << cert.failed;
    EXPECT_LE(err1, cert.bound);
    cert.epsilon = 0;
    EXPECT_GT(err1, polar_vjp_certificate_bound(cert).bound) << "without epsilon's terms";
    // Noise of 1e-6 on the exact VJP: z (range(U)) and, for the tall A, w (its complement) carry it.
    Tensor<mp_real> d = v.da;
    const Tensor<double> noise = test_inputs::normal("polar_test", c.n, c.m, 4, "noise", Format::float64);
    for (Index i = 0; i < d.count(); ++i) d[i] += 1e-6 * mp_real(noise[i]);
    const Tensor<double> da2 = rounded(d);
    const double err2 = frobenius_error(da2, v.da);
    PolarVjpCertificate c2 = polar_vjp_certificate(v.a, v.g, da2, rounded(v.u));
    ASSERT_TRUE(std::isfinite(c2.bound)) << c2.failed;
    EXPECT_LE(err2, c2.bound);
    PolarVjpCertificate no_z = c2, no_w = c2;
    no_z.z = 0;
    EXPECT_GT(err2, polar_vjp_certificate_bound(no_z).bound) << "without z";
    if (c.n > c.m) {
      // A component outside range(U) only: w carries it.
      Tensor<mp_real> o = v.da;
      for (Index k = 0; k < c.n; ++k) {
        mp_real proj(0);  // (I - U U^T) e_last, column 0
        for (Index i = 0; i < c.m; ++i) proj += v.u(c.n - 1, i) * v.u(k, i);
        o(k, 0) += 1e-6 * ((k == c.n - 1 ? mp_real(1) : mp_real(0)) - proj);
      }
      const Tensor<double> da3 = rounded(o);
      PolarVjpCertificate c3 = polar_vjp_certificate(v.a, v.g, da3, rounded(v.u));
      const double err3 = frobenius_error(da3, v.da);
      EXPECT_LE(err3, c3.bound);
      c3.w = 0;
      EXPECT_GT(err3, polar_vjp_certificate_bound(c3).bound) << "without w";
    }
  }
}

// Outside its conditions the certificate is +inf with the reason: a NaN in dA, U = -polar(A) (whose
// own certificate fails), a rank-deficient A.
TEST(OrthogonalPolarVjpCertificate, InfiniteOutsideItsConditions) {
  const WorkingPrecision precision(256);
  const VjpCase v = vjp_case(kCases[0]);
  Tensor<double> nan = rounded(v.da);
  nan[2] = std::nan("");
  const PolarVjpCertificate c1 = polar_vjp_certificate(v.a, v.g, nan, rounded(v.u));
  EXPECT_TRUE(std::isinf(c1.bound));
  EXPECT_NE(c1.failed.find("non-finite"), std::string::npos) << c1.failed;
  Tensor<double> minus = rounded(v.u);
  for (Index i = 0; i < minus.count(); ++i) minus[i] = -minus[i];
  const PolarVjpCertificate c2 = polar_vjp_certificate(v.a, v.g, rounded(v.da), minus);
  EXPECT_TRUE(std::isinf(c2.bound));
  EXPECT_NE(c2.failed.find("U's certificate"), std::string::npos) << c2.failed;
}

// [ORTH-POLAR-VJP-CPU] The cpu backends' VJPs are within their certificates (with their own factor),
// printed with the Frobenius error: the tightness table of spec/orthogonal.md.
TEST(OrthogonalPolarVjpCpu, CertifiedOnEveryCase) {
  const WorkingPrecision precision(256);
  for (const Case& c : kCases) {
    const VjpCase v = vjp_case(c);
    const PolarBackwardProblem<double> p(PolarProblem<double>(v.a), v.g);
    const PolarBackwardProblem<float> p32 = p.cast<float>();
    const PolarBackwardProblem<double> p32d = p32.cast<double>();  // judged against its own rounded inputs
    const Tensor<mp_real> da32 = reference::polar_vjp<mp_real>(p32d);
    const Tensor<double> d64 = cpu::polar_vjp(p), d32 = as_double(cpu::polar_vjp(p32));
    const PolarVjpCertificate c64 = polar_vjp_certificate(v.a, v.g, d64, cpu::polar(p.forward()));
    const PolarVjpCertificate c32 =
        polar_vjp_certificate(p32d.a(), p32d.g(), d32, as_double(cpu::polar(p32.forward())));
    const double e64 = frobenius_error(d64, v.da), e32 = frobenius_error(d32, da32);
    if (std::isfinite(c64.bound)) EXPECT_LE(e64, c64.bound) << c.name;
    if (std::isfinite(c32.bound)) EXPECT_LE(e32, c32.bound) << c.name;
    if (c.column_scale == 1) EXPECT_TRUE(std::isfinite(c64.bound) && std::isfinite(c32.bound)) << c.name;
    double scale = 0;
    for (Index i = 0; i < v.da.count(); ++i) scale += to_double(v.da[i]) * to_double(v.da[i]);
    std::printf("%-13s |dA|_F %.3g | f64 err %.3g bound %.3g (ratio %.3g; eps %.2g z %.2g) | f32 err %.3g bound %.3g "
                "(ratio %.3g; eps %.2g z %.2g)\n",
                c.name, std::sqrt(scale), e64, c64.bound, c64.bound / e64, c64.epsilon, c64.z, e32, c32.bound,
                c32.bound / e32, c32.epsilon, c32.z);
  }
}

// `diff` with the entry's bound passes touchstone's cpu-f32 VJP and fails the wrong ones: the sign
// of the Sylvester part flipped (dA - 2 U U^T dA), the part outside range(U) dropped (U U^T dA; tall
// A), -dA, and the transpose (square A).
TEST(OrthogonalPolarVjpEntry, WrongConventionsFail) {
  const WorkingPrecision precision(256);
  const Algorithm& alg = builtin_registry().get("orthogonal.polar_backward");
  for (const char* size : {"column", "tall", "square", "retraction"}) {
    SCOPED_TRACE(size);
    const auto problem = alg.generate(size, Format::float32, 0);
    const Tensor<double> a = problem->inputs().at("A"), g = problem->inputs().at("dQ");
    const Index n = a.extent(0), m = a.extent(1);
    const Tensor<double> ours = alg.backends().front().run(*problem).at("dA");  // cpu-f32
    const Tensor<mp_real> u = reference::polar<mp_real>(PolarProblem<double>(a));
    const Tensor<mp_real> da = reference::polar_vjp<mp_real>(PolarBackwardProblem<double>(PolarProblem<double>(a), g));
    Tensor<mp_real> inside(da.shape(), mp_real(0));  // U U^T dA
    for (Index k = 0; k < n; ++k)
      for (Index j = 0; j < m; ++j)
        for (Index i = 0; i < m; ++i)
          for (Index l = 0; l < n; ++l) inside(k, j) += u(k, i) * u(l, i) * da(l, j);
    auto verdict = [&](const Tensor<double>& d) {
      DiffRequest r;
      r.format = Format::float32;
      return run_diff(alg, *problem, {{"dA", d}}, r).verdict;
    };
    auto f32 = [](Tensor<double> t) {
      for (Index i = 0; i < t.count(); ++i) t[i] = static_cast<float>(t[i]);
      return t;
    };
    EXPECT_EQ(verdict(ours), Verdict::pass);
    Tensor<double> flipped(da.shape()), dropped(da.shape()), minus(da.shape());
    for (Index i = 0; i < da.count(); ++i) {
      flipped[i] = to_double(mp_real(da[i] - 2 * inside[i]));
      dropped[i] = to_double(inside[i]);
      minus[i] = -to_double(da[i]);
    }
    if (m > 1) EXPECT_EQ(verdict(f32(flipped)), Verdict::fail) << "the Sylvester part's sign flipped";
    if (n > m) EXPECT_EQ(verdict(f32(dropped)), Verdict::fail) << "the part outside range(U) dropped";
    EXPECT_EQ(verdict(f32(minus)), Verdict::fail) << "-dA";
    if (n == m) {
      Tensor<double> t(ours.shape());
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < m; ++j) t(i, j) = ours(j, i);
      EXPECT_EQ(verdict(t), Verdict::fail) << "dA^T";
    }
  }
}

// Found by the registry fuzzer: A = (0, a, 0)^T with a subnormal float32 a. Both backends compute the
// factor e_1 and the VJP exactly, so both certificates were 0, while the oracle (verified to 2^-(b/2)
// of the output's largest element, [CORE-ORACLE-VERIFIED]) is off in its last bits (3.9e-121 in an
// element whose value is 0): the certificates are floored at 2^-80 of the output's scale, and both
// backends' answers are within their bounds against the oracle at 192 bits, the fuzzer's precision.
TEST(OrthogonalPolarVjpCertificate, ExactAnswersAreWithinTheOraclesAccuracy) {
  Tensor<double> a(Shape{3, 1}), g(Shape{3, 1});
  a[0] = 0, a[1] = std::ldexp(0x1.16c2p0, -133), a[2] = -0.0;
  g[0] = std::ldexp(0x1.16c2p0, -133), g[1] = -std::ldexp(1.0, -149), g[2] = 0;
  for (const char* entry : {"orthogonal.polar", "orthogonal.polar_backward"}) {
    SCOPED_TRACE(entry);
    const Algorithm& alg = builtin_registry().get(entry);
    NpyMap files{{"A", test_support::npy(a, 4)}};
    if (std::string(entry) == "orthogonal.polar_backward") files["dQ"] = test_support::npy(g, 4);
    const auto problem = alg.from_arrays(files, {});
    const ExactArrays exact = alg.reference(*problem, 192);
    for (const auto& b : alg.backends()) {
      const Arrays out = b.run(*problem), bounds = b.bound(*problem);
      for (const auto& j : judge(out, exact, &bounds, b.format))
        EXPECT_TRUE(j.summary.pass()) << b.name << " " << j.output << ": max err/bound " << j.summary.max_ratio;
    }
  }
}
