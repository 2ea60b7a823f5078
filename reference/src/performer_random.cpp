// [PERF-RF-IID] and [PERF-RF-ORTHO]: the projections of reference/performer_random.hpp.
#include "touchstone/reference/performer_random.hpp"

#include <Eigen/QR>
#include <cmath>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer {

Tensor<double> random_projection(Index m, Index d, std::uint64_t seed, const std::string& stream, ProjectionKind kind,
                                 int scaling) {
  if (m < 1 || m > kMaxExtent) throw InvalidInput("nb_features", "expected 1 <= nb_features <= 2^20, got " + std::to_string(m));
  if (d < 1 || d > 4096) throw InvalidInput("dim", "expected 1 <= dim <= 4096, got " + std::to_string(d));
  if (scaling != 0 && scaling != 1) throw InvalidInput("scaling", "expected 0 or 1, got " + std::to_string(scaling));
  const PhiloxStream r(seed, stream);
  Tensor<double> w(Shape{m, d});
  const Index blocks = (m + d - 1) / d;
  if (kind == ProjectionKind::iid) {
    for (Index j = 0; j < m; ++j)
      for (Index t = 0; t < d; ++t) w(j, t) = r.normal(static_cast<std::uint64_t>(j * d + t));
  } else {
    // Block k: a d x d Gaussian G (draws k d^2 + a d + b, row-major), G = Q R with R's diagonal made
    // positive (then Q is unique, and Haar-distributed); the block's rows are Q's columns. The last
    // block keeps its first m - k d rows.
    for (Index k = 0; k < blocks; ++k) {
      Eigen::MatrixXd G(d, d);
      for (Index a = 0; a < d; ++a)
        for (Index b = 0; b < d; ++b) G(a, b) = r.normal(static_cast<std::uint64_t>(k * d * d + a * d + b));
      const Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
      Eigen::MatrixXd Q = qr.householderQ();
      const Eigen::MatrixXd& R = qr.matrixQR();
      for (Index i = 0; i < d; ++i)
        if (R(i, i) < 0) Q.col(i) = -Q.col(i);
      for (Index i = 0; i < d && k * d + i < m; ++i)
        for (Index t = 0; t < d; ++t) w(k * d + i, t) = Q(t, i);
    }
  }
  // Row norms: scaling 1 makes each sqrt(d); an orthogonal row (unit norm) with scaling 0 takes the
  // norm of a fresh Gaussian vector (draws blocks d^2 + j d + t).
  for (Index j = 0; j < m; ++j) {
    double target = -1;
    if (scaling == 1) {
      target = std::sqrt(static_cast<double>(d));
    } else if (kind == ProjectionKind::orthogonal) {
      double sq = 0;
      for (Index t = 0; t < d; ++t) {
        const double g = r.normal(static_cast<std::uint64_t>(blocks * d * d + j * d + t));
        sq += g * g;
      }
      target = std::sqrt(sq);
    }
    if (target < 0) continue;
    double norm = 0;
    for (Index t = 0; t < d; ++t) norm += w(j, t) * w(j, t);
    norm = std::sqrt(norm);
    for (Index t = 0; t < d; ++t) w(j, t) *= target / norm;
  }
  return w;
}

}  // namespace touchstone::performer
