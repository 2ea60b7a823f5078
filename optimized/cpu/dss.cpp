// The DSS-softmax kernel on the CPU; the association order is documented in dss.hpp.
#include "dss.hpp"

#include <algorithm>
#include <limits>

#include "cpu/s4d.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/s4d_order.hpp"

namespace touchstone::s4::cpu {
namespace {

using namespace s4d_detail;

template <class T>
Cx<T> cadd(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}

template <class T>
void setup_channel(const DssSoftmaxProblem<T>& p, Index h, S4DSetup<T>& s) {
  const Index N = s.N, J = s.J, Tb = s.T, L = s.L;
  const bool nonfinite = p.channel_nonfinite(h);
  const T dt = exp_t(p.in().log_dt[h]);
  const T eps = static_cast<T>(kDssEps);
  std::vector<Cx<T>> t, P;
  for (Index n = 0; n < N; ++n) {
    const Cx<T> lambda{p.Lambda(h, n, 0), p.Lambda(h, n, 1)};
    const bool flip = lambda.re > T(0);
    const Cx<T> z{dt * lambda.re, dt * lambda.im};
    const Cx<T> zs = flip ? Cx<T>{-z.re, -z.im} : z;
    const T e = exp_t(zs.re);
    const Cx<T> zeta{e * cos_t(zs.im), e * sin_t(zs.im)};
    power_tables(zeta, Tb, J, L, t, P);
    // Block sums of the powers: a full block and the last one.
    const Index last = L - (J - 1) * Tb;
    Cx<T> Gfull = t[0], Glast = t[0];
    for (Index i = 1; i < Tb && J > 1; ++i) Gfull = cadd(Gfull, t[i]);
    for (Index i = 1; i < last; ++i) Glast = cadd(Glast, t[i]);
    Cx<T> S = J > 1 ? Gfull : Glast;
    for (Index j = 1; j < J; ++j) S = cadd(S, cmul(P[j], j == J - 1 ? Glast : Gfull));
    const T d = fma_t(S.re, S.re, S.im * S.im) + eps;
    const Cx<T> R{S.re / d, -S.im / d};
    const Cx<T> v = cmul(cdiv(Cx<T>{p.W(h, n, 0), p.W(h, n, 1)}, lambda), R);
    store_mode(s, h, n, J > 1 ? Tb + 1 : std::min(L, Tb), t, P, v, nonfinite);
    s.reversed[static_cast<std::size_t>(h * N + n)] = flip ? 1 : 0;
  }
}

template <class T>
Tensor<T> kernel_impl(const DssSoftmaxProblem<T>& p, int threads) {
  S4DSetup<T> s;
  s.H = p.H();
  s.N = p.N();
  s.L = p.L();
  s.T = kS4DPowerBlock;
  s.J = (s.L + s.T - 1) / s.T;
  s.scale = T(1);
  s.w.assign(static_cast<std::size_t>(s.H * s.N * s.J * 2), T(0));
  s.tab.assign(static_cast<std::size_t>(s.H * s.N * 2 * s.T), T(0));
  s.reversed.assign(static_cast<std::size_t>(s.H * s.N), 0);
  parallel_for(s.H, threads, [&](std::int64_t h) { setup_channel(p, h, s); });
  return vandermonde_product(s, threads);
}

}  // namespace

Tensor<float> dss_softmax_kernel(const DssSoftmaxProblem<float>& p, int threads) { return kernel_impl(p, threads); }
Tensor<double> dss_softmax_kernel(const DssSoftmaxProblem<double>& p, int threads) { return kernel_impl(p, threads); }

}  // namespace touchstone::s4::cpu
