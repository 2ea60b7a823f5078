// The Performer family's random features (spec/performer.md [PERF-RF-IID], [PERF-RF-ORTHO]) and
// what they estimate (Theorem 1's SMREG series, Theorem 2's ORF bound), with stated confidence over
// Philox draws: seeded, so each run is the same, and each Monte Carlo bound below holds with
// probability above 1 - 1e-6 under the normal approximation (5 standard errors).
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <boost/math/constants/constants.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/performer_random.hpp"

using namespace touchstone;
using namespace touchstone::performer;

namespace {

std::string argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.argument();
  }
  return "(nothing thrown)";
}

double row_dot(const Tensor<double>& w, Index a, Index b) {
  double s = 0;
  for (Index t = 0; t < w.extent(1); ++t) s += w(a, t) * w(b, t);
  return s;
}

// The positive estimator of SM(x, y) from the rows of w: mean_j exp(w_j.x - |x|^2/2) exp(w_j.y - |y|^2/2).
double positive_estimate(const Tensor<double>& w, const std::vector<double>& x, const std::vector<double>& y) {
  double xx = 0, yy = 0;
  for (std::size_t t = 0; t < x.size(); ++t) xx += x[t] * x[t], yy += y[t] * y[t];
  double s = 0;
  for (Index j = 0; j < w.extent(0); ++j) {
    double wx = 0, wy = 0;
    for (Index t = 0; t < w.extent(1); ++t) wx += w(j, t) * x[t], wy += w(j, t) * y[t];
    s += std::exp(wx - xx / 2) * std::exp(wy - yy / 2);
  }
  return s / static_cast<double>(w.extent(0));
}

}  // namespace

// covers: PERF-RF-IID PERF-RF-ORTHO
// The draws are what the spec says: iid rows are the stream's normals in row-major order; the
// orthogonal rows of each d-row block are orthonormal before scaling, equal (to 1e-12) an
// independent Gram-Schmidt of the block's Gaussian columns at 256 bits (R's diagonal positive),
// scaled to the norms of fresh Gaussian vectors (scaling 0) or to sqrt(d) (scaling 1); the last
// partial block keeps its first rows. Bad arguments are InvalidInput naming them.
TEST(PerformerRandomFeatures, DrawsAreAsSpecified) {
  const Index m = 11, d = 4;  // two full blocks and a partial one of 3 rows
  const Tensor<double> iid = random_projection(m, d, 7, "test/w", ProjectionKind::iid, 0);
  const PhiloxStream r(7, "test/w");
  for (Index j = 0; j < m; ++j)
    for (Index t = 0; t < d; ++t) ASSERT_EQ(iid(j, t), r.normal(static_cast<std::uint64_t>(j * d + t)));

  const Tensor<double> o1 = random_projection(m, d, 7, "test/w", ProjectionKind::orthogonal, 1);
  const Tensor<double> o0 = random_projection(m, d, 7, "test/w", ProjectionKind::orthogonal, 0);
  const Index blocks = 3;
  const WorkingPrecision precision(256);
  for (Index k = 0; k < blocks; ++k) {
    // Gram-Schmidt of G's columns: q_i = (g_i - sum_{l<i} (q_l . g_i) q_l) / norm, the Q of G = QR
    // with R's diagonal positive.
    std::vector<std::vector<mp_real>> q;
    for (Index i = 0; i < d; ++i) {
      std::vector<mp_real> v(static_cast<std::size_t>(d));
      for (Index a = 0; a < d; ++a) v[a] = r.normal(static_cast<std::uint64_t>(k * d * d + a * d + i));
      for (const auto& ql : q) {
        mp_real dot(0);
        for (Index a = 0; a < d; ++a) dot += ql[a] * v[a];
        for (Index a = 0; a < d; ++a) v[a] -= dot * ql[a];
      }
      mp_real norm(0);
      for (Index a = 0; a < d; ++a) norm += v[a] * v[a];
      norm = sqrt(norm);
      for (Index a = 0; a < d; ++a) v[a] /= norm;
      q.push_back(v);
    }
    for (Index i = 0; i < d && k * d + i < m; ++i) {
      const Index j = k * d + i;
      double fresh = 0;
      for (Index t = 0; t < d; ++t) {
        const double g = r.normal(static_cast<std::uint64_t>(blocks * d * d + j * d + t));
        fresh += g * g;
      }
      for (Index t = 0; t < d; ++t) {
        ASSERT_NEAR(o1(j, t), std::sqrt(double(d)) * to_double(q[i][t]), 1e-12) << j << " " << t;
        ASSERT_NEAR(o0(j, t), std::sqrt(fresh) * to_double(q[i][t]), 1e-12) << j << " " << t;
      }
      for (Index l = k * d; l < j; ++l) EXPECT_NEAR(row_dot(o1, j, l), 0, 1e-13) << "rows " << j << ", " << l;
      EXPECT_NEAR(row_dot(o1, j, j), static_cast<double>(d), 1e-13);
    }
  }
  // Rows of different blocks are independent draws: not orthogonal in general.
  EXPECT_GT(std::fabs(row_dot(o1, 0, d)), 1e-3);
  EXPECT_EQ(argument_of([] { random_projection(0, 4, 0, "s", ProjectionKind::iid, 0); }), "nb_features");
  EXPECT_EQ(argument_of([] { random_projection(4, 0, 0, "s", ProjectionKind::iid, 0); }), "dim");
  EXPECT_EQ(argument_of([] { random_projection(4, 4, 0, "s", ProjectionKind::orthogonal, 2); }), "scaling");
}

// covers: PERF-STATS-SMREG
// Theorem 1's regularized kernel: with every w_j of norm sqrt(d) (scaling 1, D = Unif(sqrt(d)
// S^(d-1))), the positive estimator's mean is SMREG(x, y) = SM(x, y) e^-w sum_k w^k/k! f(k, d),
// w = |x + y|^2 / 2, f(k, d) = d^k / (d (d+2) ... (d+2k-2)) (App. F.3), not SM: the Monte Carlo mean
// is within 5 standard errors of the series and more than 5 from SM; SMREG <= SM.
TEST(PerformerStatistics, SmregIsTheSeriesNotSm) {
  const std::vector<double> x = {0.5, -0.3, 0.4, 0.2}, y = {0.4, 0.2, 0.3, -0.1};
  const Index d = 4;
  double xy = 0, zz = 0;
  for (Index t = 0; t < d; ++t) xy += x[t] * y[t], zz += (x[t] + y[t]) * (x[t] + y[t]);
  const double SM = std::exp(xy), w = zz / 2;
  double series = 0, term = 1, f = 1;  // term = w^k / k!, f = f(k, d)
  for (int k = 0; k < 60; ++k) {
    series += term * f;
    term *= w / (k + 1);
    f *= static_cast<double>(d) / (static_cast<double>(d) + 2.0 * k);
  }
  const double SMREG = SM * std::exp(-w) * series;
  EXPECT_LT(SMREG, SM);
  const int N = 4000, m = 64;  // N independent projections of m rows each
  double s1 = 0, s2 = 0;
  for (int i = 0; i < N; ++i) {
    const double e = positive_estimate(random_projection(m, d, static_cast<std::uint64_t>(i), "smreg", ProjectionKind::iid, 1), x, y);
    s1 += e, s2 += e * e;
  }
  const double mean = s1 / N, se = std::sqrt((s2 / N - mean * mean) / N);
  std::printf("SMREG: Monte Carlo mean %.5f (se %.5f), series %.5f, SM %.5f\n", mean, se, SMREG, SM);
  EXPECT_LT(std::fabs(mean - SMREG), 5 * se) << "mean " << mean << " SMREG " << SMREG << " se " << se;
  EXPECT_GT(std::fabs(mean - SM), 5 * se) << "mean " << mean << " SM " << SM << ": SMREG is told apart from SM";
}

// covers: PERF-STATS-ORF
// Theorem 2 (m <= d), in the version that checks out numerically (ar5iv):
// MSE(SM^ort+_m) <= MSE(SM^+_m) - 2(m-1)/(m(d+2)) (SM(x, y) - exp(-(|x|^2+|y|^2)/2))^2, with
// MSE(SM^+_m) = Lemma 2's iid MSE. The ORF estimator's sample MSE (orthogonal rows, scaling 0, d =
// m = 4) is below the bound within 5 standard errors and below the iid MSE by more than 5; the
// PDF-markdown version's bound MSE(SM^+_m) - (1 - 1/m) 2/(d+2) SM^2 is violated by more than 5
// standard errors, so that version is wrong (the brief's finding, now a test).
TEST(PerformerStatistics, OrthogonalFeaturesReduceTheMse) {
  const std::vector<double> x = {0.3, -0.2, 0.25, 0.1}, y = {-0.1, 0.35, 0.2, -0.3};
  const Index d = 4, m = 4;
  double xy = 0, xx = 0, yy = 0, sp = 0;
  for (Index t = 0; t < d; ++t) {
    xy += x[t] * y[t], xx += x[t] * x[t], yy += y[t] * y[t];
    sp += (x[t] + y[t]) * (x[t] + y[t]);
  }
  const double SM = std::exp(xy);
  const double mse_iid = std::exp(sp) * SM * SM * (1 - std::exp(-sp)) / m;
  const double bound = mse_iid - 2.0 * (m - 1) / (m * (d + 2.0)) * std::pow(SM - std::exp(-(xx + yy) / 2), 2);
  const double wrong = mse_iid - (1 - 1.0 / m) * 2 / (d + 2.0) * SM * SM;
  const int T = 100000;
  double s1 = 0, s2 = 0;
  for (int i = 0; i < T; ++i) {
    const double e =
        positive_estimate(random_projection(m, d, static_cast<std::uint64_t>(i), "orf", ProjectionKind::orthogonal, 0), x, y);
    const double se = (e - SM) * (e - SM);
    s1 += se, s2 += se * se;
  }
  const double mse = s1 / T, sd = std::sqrt((s2 / T - mse * mse) / T);
  std::printf("ORF: sample MSE %.5f (se %.5f), Theorem 2 bound %.5f, iid MSE %.5f, PDF-markdown bound %.5f\n", mse, sd,
              bound, mse_iid, wrong);
  EXPECT_LT(mse, bound + 5 * sd) << "ORF MSE " << mse << " Theorem 2 bound " << bound << " sd " << sd;
  EXPECT_LT(mse, mse_iid - 5 * sd) << "ORF MSE " << mse << " iid MSE " << mse_iid;
  EXPECT_GT(mse, wrong + 5 * sd) << "the PDF-markdown bound " << wrong << " is violated";
}

namespace {

// Gauss-Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1), at the working precision: the roots
// t_i of the physicists' H_n (Golub-Welsch in double for a start, then Newton on the normalized
// recurrence p_(k+1) = t sqrt(2/(k+1)) p_k - sqrt(k/(k+1)) p_(k-1), p_0 = pi^-1/4), weights
// 2 / p_n'(t)^2 with p_n' = sqrt(2n) p_(n-1); E[f(Z)] = pi^-1/2 sum_i w_i f(sqrt(2) t_i).
struct GaussHermite {
  std::vector<mp_real> node, weight;  // node: sqrt(2) t_i; weight: w_i / sqrt(pi)
};

GaussHermite gauss_hermite(int n) {
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) J(k, k - 1) = J(k - 1, k) = std::sqrt(k / 2.0);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(J);
  const mp_real pi = boost::math::constants::pi<mp_real>();
  GaussHermite gh;
  for (int i = 0; i < n; ++i) {
    mp_real t = eig.eigenvalues()[i], p = 0, pm = 0;
    for (int it = 0; it < 100; ++it) {
      mp_real p0 = 1 / sqrt(sqrt(pi)), p1 = 0;
      for (int k = 0; k < n; ++k) {
        const mp_real next = t * sqrt(mp_real(2) / (k + 1)) * p0 - sqrt(mp_real(k) / (k + 1)) * p1;
        p1 = p0;
        p0 = next;
      }
      p = p0, pm = p1;  // p_n and p_(n-1)
      const mp_real step = p / (sqrt(mp_real(2 * n)) * pm);
      t -= step;
      if (abs(step) < 1e-70 * (1 + abs(t))) break;
    }
    const mp_real dp = sqrt(mp_real(2 * n)) * pm;
    gh.node.push_back(sqrt(mp_real(2)) * t);
    gh.weight.push_back(2 / (dp * dp) / sqrt(pi));
  }
  return gh;
}

}  // namespace

// covers: PERF-STATS-QUADRATURE PERF-STATS-UNBIASED PERF-STATS-MSE
// Lemma 1 and 2 without Monte Carlo noise: the expectations over w ~ N(0, I_2) by a 60-point
// Gauss-Hermite product rule at 256 bits (the integrands are entire, so it converges to far below
// the tolerance). Each estimator's mean equals SM(x, y) and its second moment minus SM^2 equals
// Lemma 2's single-draw MSE, to 1e-40 relative; the misprinted trigonometric MSE (exp|x-y|^2 for
// exp|x+y|^2) is 1e-1 away, so the check tells them apart.
TEST(PerformerStatistics, LemmaOneAndTwoByQuadrature) {
  const WorkingPrecision precision(256);
  const GaussHermite gh = gauss_hermite(60);
  const mp_real x[2] = {mp_real(3) / 10, mp_real(-1) / 5}, y[2] = {mp_real(-1) / 10, mp_real(7) / 20};
  const mp_real xx = x[0] * x[0] + x[1] * x[1], yy = y[0] * y[0] + y[1] * y[1], xy = x[0] * y[0] + x[1] * y[1];
  const mp_real sp = xx + yy + 2 * xy, sm = xx + yy - 2 * xy, SM = exp(xy), lambda = exp(-(xx + yy) / 2);
  const mp_real mse_pos = exp(sp) * SM * SM * (1 - exp(-sp));
  const mp_real mse_trig = exp(sp) / (SM * SM) * pow(1 - exp(-sm), 2) / 2;
  const mp_real mse_hyp = (1 - exp(-sp)) * mse_pos / 2;
  const mp_real misprint = exp(sm) / (SM * SM) * pow(1 - exp(-sm), 2) / 2;
  mp_real m1[3] = {0, 0, 0}, m2[3] = {0, 0, 0};
  for (std::size_t a = 0; a < gh.node.size(); ++a)
    for (std::size_t b = 0; b < gh.node.size(); ++b) {
      const mp_real wt = gh.weight[a] * gh.weight[b];
      const mp_real wx = gh.node[a] * x[0] + gh.node[b] * x[1], wy = gh.node[a] * y[0] + gh.node[b] * y[1];
      const mp_real est[3] = {exp(wx - xx / 2) * exp(wy - yy / 2), exp((xx + yy) / 2) * cos(wx - wy),
                              lambda * cosh(wx + wy)};
      for (int k = 0; k < 3; ++k) m1[k] += wt * est[k], m2[k] += wt * est[k] * est[k];
    }
  // The quadrature's error for these entire integrands is far below 1e-40 at 60 nodes and 256 bits.
  constexpr double kQuadratureTol = 1e-40;
  const mp_real mse[3] = {mse_pos, mse_trig, mse_hyp};
  for (int k = 0; k < 3; ++k) {
    EXPECT_LT(to_double(abs(m1[k] - SM) / SM), kQuadratureTol) << "estimator " << k << ": mean";
    EXPECT_LT(to_double(abs(m2[k] - SM * SM - mse[k]) / mse[k]), kQuadratureTol) << "estimator " << k << ": Lemma 2";
  }
  const double misprint_gap = to_double(abs(m2[1] - SM * SM - misprint) / mse_trig);
  std::printf("the misprinted trigonometric MSE is %.3g (relative) from the quadrature\n", misprint_gap);
  EXPECT_GT(misprint_gap, kQuadratureTol) << "the misprint is told apart";
}
