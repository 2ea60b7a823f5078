// [PERF-RF-ORTHO-DEF] performer.gaussian_orthogonal_random_matrix: the orthogonal random features
// built from given Gaussians, so that a user can judge the projection their own code built from
// the Gaussians it drew. The problem (the Gaussian blocks, the fresh Gaussians of scaling 0,
// nb_rows and scaling; validated in the constructor, InvalidInput naming the argument) and the
// oracle, which takes each block's Q from orthogonal.qf's oracle (reference/orthogonal.hpp
// qf_matrix: R's diagonal positive) and scales the rows exactly.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"
#include "touchstone/reference/orthogonal.hpp"
#include "touchstone/reference/orthogonal_problem.hpp"
#include "touchstone/reference/performer_problem.hpp"

namespace touchstone::performer {

// unstructured_block (nb_blocks, d, d): block k is the d x d Gaussian whose QR gives rows k d ..
// k d + d - 1 of W; multiplier_gaussians (nb_rows, d): the fresh Gaussians whose row norms scale W's
// rows (scaling 0 only); nb_rows m with nb_blocks = ceil(m / d).
template <class T>
class GaussianOrthogonalProblem {
 public:
  GaussianOrthogonalProblem(Tensor<T> blocks, std::optional<Tensor<T>> gaussians, Index nb_rows, int scaling)
      : blocks_(std::move(blocks)), gaussians_(std::move(gaussians)), m_(nb_rows), scaling_(scaling) {
    if (blocks_.rank() != 3 || blocks_.extent(1) != blocks_.extent(2) || blocks_.extent(1) < 1)
      throw InvalidInput("unstructured_block", "expected (nb_blocks, d, d) with d >= 1, got shape " + blocks_.shape().str());
    const Index d = blocks_.extent(1);
    if (d > 4096) throw InvalidInput("unstructured_block", "expected d <= 4096, got " + std::to_string(d));
    if (scaling_ != 0 && scaling_ != 1) throw InvalidInput("scaling", "expected 0 or 1, got " + std::to_string(scaling_));
    if (m_ < 1 || m_ > kMaxExtent)
      throw InvalidInput("nb_rows", "expected 1 <= nb_rows <= 2^20, got " + std::to_string(m_));
    const Index nb = (m_ + d - 1) / d;
    if (blocks_.extent(0) != nb)
      throw InvalidInput("unstructured_block", "nb_rows " + std::to_string(m_) + " with d " + std::to_string(d) +
                                                   " needs ceil(nb_rows / d) = " + std::to_string(nb) +
                                                   " blocks, got " + std::to_string(blocks_.extent(0)));
    problem_detail::require_finite(blocks_, "unstructured_block");
    for (Index k = 0; k < nb; ++k) (void)block_problem(k);  // a zero column is InvalidInput (named below)
    if (scaling_ == 0) {
      if (!gaussians_)
        throw InvalidInput("multiplier_gaussians", "scaling 0 needs the fresh Gaussians (nb_rows, d) whose row norms scale W");
      if (gaussians_->rank() != 2 || gaussians_->extent(0) != m_ || gaussians_->extent(1) != d)
        throw InvalidInput("multiplier_gaussians", "expected (nb_rows, d) = (" + std::to_string(m_) + ", " +
                                                       std::to_string(d) + "), got shape " + gaussians_->shape().str());
      problem_detail::require_finite(*gaussians_, "multiplier_gaussians");
    } else if (gaussians_) {
      throw InvalidInput("multiplier_gaussians", "given with scaling 1, which scales every row by sqrt(d) and uses none");
    }
  }
  const Tensor<T>& blocks() const { return blocks_; }
  const std::optional<Tensor<T>>& gaussians() const { return gaussians_; }
  Index nb_rows() const { return m_; }
  Index dim() const { return blocks_.extent(1); }
  Index nb_blocks() const { return blocks_.extent(0); }
  int scaling() const { return scaling_; }
  // Block k as orthogonal.qf's problem (Y = the d x d Gaussian).
  orthogonal::QfProblem<T> block_problem(Index k) const {
    const Index d = dim();
    Tensor<T> y(Shape{d, d});
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b) y(a, b) = blocks_(k, a, b);
    try {
      return orthogonal::QfProblem<T>(std::move(y));
    } catch (const InvalidInput& e) {
      throw InvalidInput("unstructured_block", "block " + std::to_string(k) + ": " + e.what());
    }
  }
  template <class U>
  GaussianOrthogonalProblem<U> cast() const {
    std::optional<Tensor<U>> g;
    if (gaussians_) g = gaussians_->template cast<U>();
    return GaussianOrthogonalProblem<U>(blocks_.template cast<U>(), std::move(g), m_, scaling_);
  }

 private:
  Tensor<T> blocks_;
  std::optional<Tensor<T>> gaussians_;
  Index m_;
  int scaling_;
};

// [PERF-RF-IID-DEF] performer.iid_projection: Gaussian rows g_j (nb_features, dim), finite, none
// zero, rescaled to norm sqrt(dim) (scaling 1 of [PERF-RF-IID]).
template <class T>
class IidProjectionProblem {
 public:
  explicit IidProjectionProblem(Tensor<T> g) : g_(std::move(g)) {
    if (g_.rank() != 2 || g_.extent(0) < 1 || g_.extent(1) < 1 || g_.extent(0) > kMaxExtent || g_.extent(1) > 4096)
      throw InvalidInput("gaussians", "expected (nb_features, dim) with 1 <= nb_features <= 2^20, 1 <= dim <= 4096, got shape " +
                                          g_.shape().str());
    problem_detail::require_finite(g_, "gaussians");
    for (Index j = 0; j < g_.extent(0); ++j) {
      bool zero = true;
      for (Index t = 0; t < g_.extent(1) && zero; ++t) zero = g_(j, t) == T(0);
      if (zero) throw InvalidInput("gaussians", "row " + std::to_string(j) + " is zero: it has no direction to rescale");
    }
  }
  const Tensor<T>& g() const { return g_; }
  Index nb_features() const { return g_.extent(0); }
  Index dim() const { return g_.extent(1); }
  template <class U>
  IidProjectionProblem<U> cast() const {
    return IidProjectionProblem<U>(g_.template cast<U>());
  }

 private:
  Tensor<T> g_;
};

namespace reference {

// [PERF-RF-ORTHO-DEF] W(k d + i, t) = s_j Q_k(t, i) for j = k d + i < m, Q_k = qf(G_k) (R's
// diagonal positive, orthogonal.qf's oracle), s_j = ||g_j||_2 (scaling 0) or sqrt(d) (scaling 1),
// all at the working precision. A block that is rank deficient in exact arithmetic is
// InvalidInput naming unstructured_block.
// embed-begin gaussian_orthogonal_random_matrix
template <class Real>
Tensor<Real> gaussian_orthogonal_random_matrix(const GaussianOrthogonalProblem<double>& p) {
  using std::sqrt;
  const Index m = p.nb_rows(), d = p.dim();
  Tensor<Real> w(Shape{m, d});
  for (Index k = 0; k < p.nb_blocks(); ++k) {
    Tensor<Real> q;
    try {
      q = orthogonal::reference::qf<Real>(p.block_problem(k));
    } catch (const InvalidInput& e) {
      throw InvalidInput("unstructured_block", "block " + std::to_string(k) + ": " + e.what());
    }
    for (Index i = 0; i < d && k * d + i < m; ++i)
      for (Index t = 0; t < d; ++t) w(k * d + i, t) = q(t, i);
  }
  for (Index j = 0; j < m; ++j) {
    Real s(0);
    if (p.scaling() == 1) {
      s = sqrt(Real(static_cast<double>(d)));
    } else {
      for (Index t = 0; t < d; ++t) s += Real((*p.gaussians())(j, t)) * Real((*p.gaussians())(j, t));
      s = sqrt(s);
    }
    for (Index t = 0; t < d; ++t) w(j, t) = s * w(j, t);
  }
  return w;
}
// embed-end gaussian_orthogonal_random_matrix

// [PERF-RF-IID-DEF] W_jt = sqrt(d) g_jt / ||g_j||_2 at the working precision.
// embed-begin iid_projection
template <class Real>
Tensor<Real> iid_projection(const IidProjectionProblem<double>& p) {
  using std::sqrt;
  const Index m = p.nb_features(), d = p.dim();
  Tensor<Real> w(Shape{m, d});
  const Real root_d = sqrt(Real(static_cast<double>(d)));
  for (Index j = 0; j < m; ++j) {
    Real sq(0);
    for (Index t = 0; t < d; ++t) sq += Real(p.g()(j, t)) * Real(p.g()(j, t));
    const Real norm = sqrt(sq);
    for (Index t = 0; t < d; ++t) w(j, t) = root_d * Real(p.g()(j, t)) / norm;
  }
  return w;
}
// embed-end iid_projection

}  // namespace reference
}  // namespace touchstone::performer
