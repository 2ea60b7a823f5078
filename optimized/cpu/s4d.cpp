// The S4D Vandermonde kernel on the CPU; the association order is documented in s4d.hpp.
#include "s4d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/elementary.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/s4d_order.hpp"

namespace touchstone::s4::cpu {
namespace {

using namespace s4d_detail;

template <class T>
void setup_channel(const S4DProblem<T>& p, Index h, S4DSetup<T>& s) {
  const Index N = s.N, J = s.J, Tb = s.T, L = s.L;
  const bool nonfinite = p.channel_nonfinite(h);
  const T dt = p.in().log_dt ? exp_t(p.in().dt[h]) : p.in().dt[h];
  const Index tcount = J > 1 ? Tb + 1 : std::min(L, Tb);
  std::vector<Cx<T>> t, P;
  for (Index n = 0; n < N; ++n) {
    const Cx<T> A{p.A(h, n, 0), p.A(h, n, 1)};
    const Cx<T> z{dt * A.re, dt * A.im};
    Cx<T> Abar, q;
    if (p.in().disc == Discretization::zoh) {
      const T e = exp_t(z.re);
      Abar = {e * cos_t(z.im), e * sin_t(z.im)};
      q = cdiv(Cx<T>{Abar.re - T(1), Abar.im}, A);
    } else {
      const Cx<T> hz{z.re * T(0.5), z.im * T(0.5)};
      const Cx<T> d1{T(1) - hz.re, -hz.im};
      Abar = cdiv(Cx<T>{T(1) + hz.re, hz.im}, d1);
      q = cdiv(Cx<T>{dt, T(0)}, d1);
    }
    const Cx<T> C{p.C(h, n, 0), p.C(h, n, 1)};
    const Cx<T> cb = p.in().B ? cmul(C, Cx<T>{p.B(h, n, 0), p.B(h, n, 1)}) : C;
    const Cx<T> v = cmul(cb, q);
    power_tables(Abar, Tb, J, L, t, P);
    store_mode(s, h, n, tcount, t, P, v, nonfinite);
  }
}

template <class T>
S4DSetup<T> setup_impl(const S4DProblem<T>& p, int threads) {
  S4DSetup<T> s;
  s.H = p.H();
  s.N = p.N();
  s.L = p.L();
  s.T = kS4DPowerBlock;
  s.J = (s.L + s.T - 1) / s.T;
  s.scale = p.in().conj == Conj::halves ? T(2) : T(1);
  s.w.assign(static_cast<std::size_t>(s.H * s.N * s.J * 2), T(0));
  s.tab.assign(static_cast<std::size_t>(s.H * s.N * 2 * s.T), T(0));
  parallel_for(s.H, threads, [&](std::int64_t h) { setup_channel(p, h, s); });
  return s;
}

// The accumulation of one channel: for each mode, for each block j, the T elements of the block
// get two fmas each (a loop gcc vectorizes: w is a scalar, tab and acc are contiguous).
template <class T>
void accumulate_channel(const S4DSetup<T>& s, Index h, T* K) {
  const Index N = s.N, J = s.J, Tb = s.T, L = s.L;
  std::fill(K, K + L, T(0));
  for (Index n = 0; n < N; ++n) {
    const T* w = &s.w[static_cast<std::size_t>((h * N + n) * J * 2)];
    const T* tre = &s.tab[static_cast<std::size_t>((h * N + n) * 2 * Tb)];
    const T* tim = tre + Tb;
    for (Index j = 0; j < J; ++j) {
      const T wre = w[2 * j], wim = -w[2 * j + 1];
      const Index iend = std::min(Tb, L - j * Tb);
      if (!s.reversed.empty() && s.reversed[static_cast<std::size_t>(h * N + n)]) {
        T* acc = K + (L - 1 - j * Tb);  // power k = j T + i lands in K[L - 1 - k]
        for (Index i = 0; i < iend; ++i) {
          T a = fma_t(wre, tre[i], acc[-i]);
          acc[-i] = fma_t(wim, tim[i], a);
        }
      } else {
        T* acc = K + j * Tb;
        for (Index i = 0; i < iend; ++i) {
          T a = fma_t(wre, tre[i], acc[i]);
          acc[i] = fma_t(wim, tim[i], a);
        }
      }
    }
  }
  for (Index l = 0; l < L; ++l) K[l] = s.scale * K[l];
}

template <class T>
Tensor<T> product_impl(const S4DSetup<T>& s, int threads) {
  Tensor<T> K(Shape{s.H, s.L});
  parallel_for(s.H, threads, [&](std::int64_t h) { accumulate_channel(s, h, &K(h, Index{0})); });
  return K;
}


template <class T>
Cx<T> cadd(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}

// sum_k a_k A_bar^k for k < count by the block scheme of [S4D-BWD-CPU].
template <class T>
Cx<T> transposed_sum(const T* a, Index count, const std::vector<Cx<T>>& t, const std::vector<Cx<T>>& P, Index Tb) {
  Cx<T> F{T(0), T(0)};
  for (Index j = 0; j * Tb < count; ++j) {
    Cx<T> G{T(0), T(0)};
    const Index iend = std::min(Tb, count - j * Tb);
    for (Index i = 0; i < iend; ++i) {
      G.re = fma_t(a[j * Tb + i], t[i].re, G.re);
      G.im = fma_t(a[j * Tb + i], t[i].im, G.im);
    }
    F = j == 0 ? G : cadd(F, cmul(P[j], G));
  }
  return F;
}

template <class T>
void backward_channel(const S4DBackwardProblem<T>& q, Index h, S4DGrads<T>& g) {
  const S4DProblem<T>& p = q.forward();
  const Index N = p.N(), L = p.L(), Tb = kS4DPowerBlock, J = (L + Tb - 1) / Tb;
  const T s = p.in().conj == Conj::halves ? T(2) : T(1);
  // [S4D-BWD-NONFINITE] A non-finite input of the channel, dK included, makes all its gradients NaN.
  bool dK_nonfinite = false;
  for (Index l = 0; l < L; ++l) dK_nonfinite = dK_nonfinite || !std::isfinite(q.dK()(h, l));
  if (p.channel_nonfinite(h) || dK_nonfinite) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (Index n = 0; n < N; ++n)
      for (Index part = 0; part < 2; ++part) {
        g.dA(h, n, part) = nan;
        g.dC(h, n, part) = nan;
        if (g.dB) (*g.dB)(h, n, part) = nan;
      }
    g.ddt[h] = nan;
    return;
  }
  const T dt = p.in().log_dt ? exp_t(p.in().dt[h]) : p.in().dt[h];
  const T* dK = &q.dK()(h, Index{0});
  std::vector<T> b(static_cast<std::size_t>(std::max<Index>(L - 1, 1)));
  for (Index k = 0; k + 1 < L; ++k) b[k] = static_cast<T>(k + 1) * dK[k + 1];
  std::vector<Cx<T>> t, P;
  T acc = T(0);
  for (Index n = 0; n < N; ++n) {
    const Cx<T> A{p.A(h, n, 0), p.A(h, n, 1)};
    const Cx<T> z{dt * A.re, dt * A.im};
    Cx<T> Abar, qv, dq, Ad, Adt, qdt;
    if (p.in().disc == Discretization::zoh) {
      const T e = exp_t(z.re);
      Abar = {e * cos_t(z.im), e * sin_t(z.im)};
      qv = cdiv(Cx<T>{Abar.re - T(1), Abar.im}, A);
      Ad = {dt * Abar.re, dt * Abar.im};
      dq = cdiv(Cx<T>{Ad.re - qv.re, Ad.im - qv.im}, A);
      Adt = cmul(A, Abar);
      qdt = Abar;
    } else {
      const Cx<T> hz{z.re * T(0.5), z.im * T(0.5)};
      const Cx<T> d1{T(1) - hz.re, -hz.im};
      Abar = cdiv(Cx<T>{T(1) + hz.re, hz.im}, d1);
      qv = cdiv(Cx<T>{dt, T(0)}, d1);
      const Cx<T> i2 = cdiv(Cx<T>{T(1), T(0)}, cmul(d1, d1));
      Ad = {dt * i2.re, dt * i2.im};
      const T c2 = (dt * dt) * T(0.5);
      dq = {c2 * i2.re, c2 * i2.im};
      Adt = cmul(A, i2);
      qdt = i2;
    }
    power_tables(Abar, Tb, J, L, t, P);
    const Cx<T> F = transposed_sum(dK, L, t, P, Tb);
    const Cx<T> F1 = L > 1 ? transposed_sum(b.data(), L - 1, t, P, Tb) : Cx<T>{T(0), T(0)};
    const Cx<T> C{p.C(h, n, 0), p.C(h, n, 1)};
    const Cx<T> B{p.B(h, n, 0), p.B(h, n, 1)};
    const Cx<T> cb = p.in().B ? cmul(C, B) : C;
    const Cx<T> qF = cmul(qv, F);
    const Cx<T> dCv = p.in().B ? cmul(B, qF) : qF;
    g.dC(h, n, Index{0}) = s * dCv.re;
    g.dC(h, n, Index{1}) = -(s * dCv.im);
    if (g.dB) {
      const Cx<T> dBv = cmul(C, qF);
      (*g.dB)(h, n, Index{0}) = s * dBv.re;
      (*g.dB)(h, n, Index{1}) = -(s * dBv.im);
    }
    const Cx<T> Y = cmul(cb, cadd(cmul(dq, F), cmul(qv, cmul(F1, Ad))));
    g.dA(h, n, Index{0}) = s * Y.re;
    g.dA(h, n, Index{1}) = -(s * Y.im);
    const Cx<T> Z = cmul(cb, cadd(cmul(qdt, F), cmul(qv, cmul(F1, Adt))));
    acc = acc + Z.re;
  }
  g.ddt[h] = p.in().log_dt ? (s * acc) * dt : s * acc;
}

template <class T>
S4DGrads<T> backward_impl(const S4DBackwardProblem<T>& q, int threads) {
  const S4DProblem<T>& p = q.forward();
  const Index H = p.H(), N = p.N();
  S4DGrads<T> g{Tensor<T>(Shape{H, N, 2}), Tensor<T>(Shape{H, N, 2}), std::nullopt, Tensor<T>(Shape{H})};
  if (p.in().B) g.dB = Tensor<T>(Shape{H, N, 2});
  parallel_for(H, threads, [&](std::int64_t h) { backward_channel(q, h, g); });
  return g;
}

}  // namespace

Tensor<float> vandermonde_product(const S4DSetup<float>& s, int threads) { return product_impl(s, threads); }
Tensor<double> vandermonde_product(const S4DSetup<double>& s, int threads) { return product_impl(s, threads); }

S4DSetup<float> s4d_setup(const S4DProblem<float>& p, int threads) { return setup_impl(p, threads); }
S4DSetup<double> s4d_setup(const S4DProblem<double>& p, int threads) { return setup_impl(p, threads); }
Tensor<float> s4d_kernel(const S4DProblem<float>& p, int threads) { return product_impl(setup_impl(p, threads), threads); }
Tensor<double> s4d_kernel(const S4DProblem<double>& p, int threads) { return product_impl(setup_impl(p, threads), threads); }

S4DGrads<float> s4d_kernel_backward(const S4DBackwardProblem<float>& q, int threads) {
  return backward_impl(q, threads);
}
S4DGrads<double> s4d_kernel_backward(const S4DBackwardProblem<double>& q, int threads) {
  return backward_impl(q, threads);
}

}  // namespace touchstone::s4::cpu
