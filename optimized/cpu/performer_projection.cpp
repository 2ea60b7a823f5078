// [PERF-RF-ORTHO-CPU] The orthogonal random features from given Gaussians: orthogonal.qf's CPU
// backend per block, then the order header's scaling.
#include "performer_projection.hpp"

#include <cmath>
#include <vector>

#include "orthogonal.hpp"
#include "performer_arithmetic.hpp"
#include "touchstone/order/performer_order.hpp"

namespace touchstone::performer::cpu {
namespace {

template <class T>
struct ProjectionArithmetic : PerformerArithmetic<T> {
  static T sqrt(T a) { return std::sqrt(a); }  // IEEE's correctly rounded square root
};

template <class T>
Tensor<T> gaussian_orthogonal_t(const GaussianOrthogonalProblem<T>& p) {
  const Index m = p.nb_rows(), d = p.dim();
  Tensor<T> w(Shape{m, d});
  ProjectionArithmetic<T> ar;
  auto qblock = [&](Index k) {
    const Tensor<T> q = orthogonal::cpu::qf(p.block_problem(k));
    return std::vector<T>(q.values().begin(), q.values().end());
  };
  auto g = [&](Index j, Index t) { return static_cast<double>((*p.gaussians())(j, t)); };
  order::gaussian_orthogonal_rows(ar, m, d, p.scaling(), qblock, g, [&](Index j, Index t, T x) { w(j, t) = x; });
  return w;
}

template <class T>
Tensor<T> iid_projection_t(const IidProjectionProblem<T>& p) {
  Tensor<T> w(Shape{p.nb_features(), p.dim()});
  ProjectionArithmetic<T> ar;
  auto g = [&](Index j, Index t) { return static_cast<double>(p.g()(j, t)); };
  order::iid_projection_rows(ar, p.nb_features(), p.dim(), g, [&](Index j, Index t, T x) { w(j, t) = x; });
  return w;
}

}  // namespace

Tensor<float> iid_projection(const IidProjectionProblem<float>& p) { return iid_projection_t(p); }
Tensor<double> iid_projection(const IidProjectionProblem<double>& p) { return iid_projection_t(p); }
Tensor<float> gaussian_orthogonal_random_matrix(const GaussianOrthogonalProblem<float>& p) {
  return gaussian_orthogonal_t(p);
}
Tensor<double> gaussian_orthogonal_random_matrix(const GaussianOrthogonalProblem<double>& p) {
  return gaussian_orthogonal_t(p);
}

}  // namespace touchstone::performer::cpu
