// S4 on the CPU: the Cauchy kernel, its VJP, the DPLR kernel and the dense SSM kernel
// (spec/s4.md; the association orders are in s4.hpp).
#include "cpu/s4.hpp"

#include <cmath>
#include <complex>

#include "cpu/fft.hpp"
#include "touchstone/core/parallel.hpp"
#include "touchstone/order/s4_order.hpp"

namespace touchstone::s4::cpu {

namespace {
constexpr double kPi = 3.141592653589793;  // the double nearest π

template <class T>
void split(const std::vector<cdouble>& src, std::size_t offset, std::size_t n, std::vector<T>& re, std::vector<T>& im) {
  re.resize(n);
  im.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    re[i] = static_cast<T>(src[offset + i].real());
    im[i] = static_cast<T>(src[offset + i].imag());
  }
}
}  // namespace

double node_tan(long long k, long long L) {
  double sign = 1;
  if (2 * k > L) {  // tan(πk/L) = -tan(π(L-k)/L)
    k = L - k;
    sign = -1;
  }
  if (4 * k <= L) return sign * std::tan(kPi * static_cast<double>(k) / static_cast<double>(L));
  const long long m = L - 2 * k;  // tan(πk/L) = 1/tan(πm/(2L)), m > 0
  return sign / std::tan(kPi * static_cast<double>(m) / static_cast<double>(2 * L));
}

// embed-begin cpu_cauchy
template <class T>
std::vector<T> cauchy(const CauchyProblem& p, int threads) {
  const Index H = p.H, N = p.N, L = p.L;
  std::vector<T> out(static_cast<std::size_t>(H * L * 2));
  std::vector<T> zr, zi;
  split(p.z, 0, static_cast<std::size_t>(L), zr, zi);
  const bool halves = p.conj == Conj::halves;
  parallel_for(H, threads, [&](std::int64_t h) {
    std::vector<T> ar(static_cast<std::size_t>(L), T(0)), ai(static_cast<std::size_t>(L), T(0));
    for (Index n = 0; n < N; ++n) {
      const T vr = static_cast<T>(p.vv(h, n).real()), vi = static_cast<T>(p.vv(h, n).imag());
      const T wr = static_cast<T>(p.ww(h, n).real()), wi = static_cast<T>(p.ww(h, n).imag());
      T* __restrict a_r = ar.data();
      T* __restrict a_i = ai.data();
      const T* __restrict z_r = zr.data();
      const T* __restrict z_i = zi.data();
      for (Index l = 0; l < L; ++l) {
        const T c = z_r[l] - wr, d = z_i[l] - wi;
        const T den = c * c + d * d;
        a_r[l] += (vr * c + vi * d) / den;
        a_i[l] += (vi * c - vr * d) / den;
        if (halves) {  // conj(v) / (z - conj(w))
          const T d2 = z_i[l] + wi;
          const T den2 = c * c + d2 * d2;
          a_r[l] += (vr * c + (-vi) * d2) / den2;
          a_i[l] += ((-vi) * c - vr * d2) / den2;
        }
      }
    }
    for (Index l = 0; l < L; ++l) {
      out[static_cast<std::size_t>((h * L + l) * 2)] = ar[l];
      out[static_cast<std::size_t>((h * L + l) * 2 + 1)] = ai[l];
    }
  });
  return out;
}
// embed-end cpu_cauchy

// embed-begin cpu_cauchy_backward
template <class T>
std::vector<T> cauchy_backward(const CauchyProblem& p, const std::vector<cdouble>& dout, int threads) {
  const Index H = p.H, N = p.N, L = p.L;
  if (static_cast<Index>(dout.size()) != H * L) throw InvalidInput("dout", "must have shape (H, L)");
  require_no_inf(dout, "dout");
  const std::size_t half = static_cast<std::size_t>(H * N * 2);
  std::vector<T> out(2 * half);
  const bool halves = p.conj == Conj::halves;
  parallel_for(H, threads, [&](std::int64_t h) {
    std::vector<T> vr, vi, wr, wi;
    split(p.v, static_cast<std::size_t>(h * N), static_cast<std::size_t>(N), vr, vi);
    split(p.w, static_cast<std::size_t>(h * N), static_cast<std::size_t>(N), wr, wi);
    std::vector<T> dvr(N, T(0)), dvi(N, T(0)), dwr(N, T(0)), dwi(N, T(0));
    for (Index l = 0; l < L; ++l) {
      const T zr = static_cast<T>(p.z[l].real()), zi = static_cast<T>(p.z[l].imag());
      const cdouble gd = dout[static_cast<std::size_t>(h * L + l)];
      const T gr = static_cast<T>(gd.real()), gi = static_cast<T>(gd.imag());
      const T* __restrict vr_ = vr.data();
      const T* __restrict vi_ = vi.data();
      const T* __restrict wr_ = wr.data();
      const T* __restrict wi_ = wi.data();
      T* __restrict dvr_ = dvr.data();
      T* __restrict dvi_ = dvi.data();
      T* __restrict dwr_ = dwr.data();
      T* __restrict dwi_ = dwi.data();
      for (Index n = 0; n < N; ++n) {
        // d = z - w; dv += g / conj(d); dw += g * conj(v / (d d)).
        const T ar = zr - wr_[n], ai = zi - wi_[n];
        const T den = ar * ar + ai * ai;
        dvr_[n] += (gr * ar + gi * (-ai)) / den;  // conj(d) = (ar, -ai)
        dvi_[n] += (gi * ar - gr * (-ai)) / den;
        const T qr = ar * ar - ai * ai, qi = ar * ai + ai * ar;
        const T qden = qr * qr + qi * qi;
        const T sr = (vr_[n] * qr + vi_[n] * qi) / qden, si = (vi_[n] * qr - vr_[n] * qi) / qden;
        dwr_[n] += gr * sr - gi * (-si);  // g * conj(s)
        dwi_[n] += gr * (-si) + gi * sr;
        if (halves) {
          // e = z - conj(w); dv += conj(g) / e; dw += conj(g) * (conj(v) / (e e)).
          const T bi = zi + wi_[n];
          const T den2 = ar * ar + bi * bi;
          dvr_[n] += (gr * ar + (-gi) * bi) / den2;
          dvi_[n] += ((-gi) * ar - gr * bi) / den2;
          const T q2r = ar * ar - bi * bi, q2i = ar * bi + bi * ar;
          const T q2den = q2r * q2r + q2i * q2i;
          const T s2r = (vr_[n] * q2r + (-vi_[n]) * q2i) / q2den, s2i = ((-vi_[n]) * q2r - vr_[n] * q2i) / q2den;
          dwr_[n] += gr * s2r - (-gi) * s2i;
          dwi_[n] += gr * s2i + (-gi) * s2r;
        }
      }
    }
    for (Index n = 0; n < N; ++n) {
      const std::size_t i = static_cast<std::size_t>((h * N + n) * 2);
      out[i] = dvr[n];
      out[i + 1] = dvi[n];
      out[half + i] = dwr[n];
      out[half + i + 1] = dwi[n];
    }
  });
  return out;
}
// embed-end cpu_cauchy_backward

// embed-begin cpu_kernel_dplr
template <class T>
std::vector<T> kernel_dplr(const DplrProblem& p, int threads) {
  const Index H = p.H, N = p.N, L = p.L;
  const bool halves = p.conj == Conj::halves;
  std::vector<T> out(static_cast<std::size_t>(H * L));
  // t_k for every node (the same for every channel), in double then rounded to T.
  std::vector<T> t(static_cast<std::size_t>(L), T(0));
  for (Index k = 0; k < L; ++k)
    if (!(L % 2 == 0 && 2 * k == L)) t[k] = static_cast<T>(node_tan(k, L));
  parallel_for(H, threads, [&](std::int64_t h) {
    using C = std::complex<T>;
    auto cv = [](const cdouble& z) { return C(static_cast<T>(z.real()), static_cast<T>(z.imag())); };
    auto mul = [](C a, C b) { return C(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()); };
    auto div = [](C a, C b) {  // textbook, one division per part
      const T den = b.real() * b.real() + b.imag() * b.imag();
      return C((a.real() * b.real() + a.imag() * b.imag()) / den, (a.imag() * b.real() - a.real() * b.imag()) / den);
    };
    std::vector<T> lr(N), li(N), v[4][2];
    for (auto& a : v) a[0].resize(N), a[1].resize(N);
    for (Index n = 0; n < N; ++n) {
      const C lam = cv(p.Lambda.at(h, n)), Pn = cv(p.P.at(h, n)), Qn = cv(p.Q.at(h, n)), Bn = cv(p.B.at(h, n)),
              Cn = cv(p.C.at(h, n));
      lr[n] = lam.real();
      li[n] = lam.imag();
      const C w[4] = {mul(std::conj(Cn), Bn), mul(std::conj(Cn), Pn), mul(std::conj(Qn), Bn), mul(std::conj(Qn), Pn)};
      for (int a = 0; a < 4; ++a) v[a][0][n] = w[a].real(), v[a][1][n] = w[a].imag();
    }
    const T step = static_cast<T>(p.step_at(h));
    const T q = T(2) / step;
    std::vector<C> gen(static_cast<std::size_t>(L));
    // The four Cauchy sums at every node: modes outer, nodes inner (vectorized; each node's sum is
    // still sequential over the modes, in the order of s4.hpp). At the node -1, t = 0 stands in
    // and the value is overwritten below.
    std::vector<T> g(static_cast<std::size_t>(L));
    for (Index k = 0; k < L; ++k) g[k] = q * t[k];
    std::vector<T> kr[4], ki[4];
    for (int a = 0; a < 4; ++a) kr[a].assign(static_cast<std::size_t>(L), T(0)), ki[a].assign(static_cast<std::size_t>(L), T(0));
    for (Index n = 0; n < N; ++n) {
      const T c = -lr[n], lin = li[n];
      for (int a = 0; a < 4; ++a) {  // one pass per sum: few streams, so the loop vectorizes
        const T vr = v[a][0][n], vi = v[a][1][n];
        const T* gk = g.data();
        T* ar = kr[a].data();
        T* ai = ki[a].data();
        for (Index k = 0; k < L; ++k) {
          const T d = gk[k] - lin;  // i g - λ_n
          const T den = c * c + d * d;
          ar[k] += (vr * c + vi * d) / den;
          ai[k] += (vi * c - vr * d) / den;
          if (halves) {  // conj(v) / (i g - conj λ_n)
            const T d2 = gk[k] + lin;
            const T den2 = c * c + d2 * d2;
            ar[k] += (vr * c + (-vi) * d2) / den2;
            ai[k] += ((-vi) * c - vr * d2) / den2;
          }
        }
      }
    }
    for (Index k = 0; k < L; ++k) {
      const C k00(kr[0][k], ki[0][k]), k01(kr[1][k], ki[1][k]), k10(kr[2][k], ki[2][k]), k11(kr[3][k], ki[3][k]);
      const C frac = div(mul(k01, k10), C(T(1) + k11.real(), k11.imag()));
      const C inner(k00.real() - frac.real(), k00.imag() - frac.imag());
      gen[k] = mul(C(T(1), t[k]), inner);
    }
    if (L % 2 == 0) {
      // [S4-DPLR-NODE-MINUS1] the removable node: K̂(-1) = (Δ/2) Σ conj(C) B.
      T sr = 0, si = 0;
      for (Index n = 0; n < N; ++n) {
        sr += v[0][0][n];
        si += v[0][1][n];
        if (halves) {
          sr += v[0][0][n];
          si += -v[0][1][n];
        }
      }
      gen[L / 2] = C(sr * step * T(0.5), si * step * T(0.5));
    }
    std::vector<C> time(static_cast<std::size_t>(L));
    fft::dft(gen.data(), time.data(), L, fft::Direction::inverse);
    for (Index l = 0; l < L; ++l) out[static_cast<std::size_t>(h * L + l)] = time[l].real() / static_cast<T>(L);
  });
  return out;
}
// embed-end cpu_kernel_dplr

namespace {
// The backend's complex arithmetic for the backward core: every part of every operation rounded
// once in T (products may contract into FMAs).
template <class T>
struct FloatArith {
  using Z = std::complex<T>;
  Z exact(cdouble z) const { return Z(static_cast<T>(z.real()), static_cast<T>(z.imag())); }
  Z add(Z a, Z b) const { return Z(a.real() + b.real(), a.imag() + b.imag()); }
  Z sub(Z a, Z b) const { return Z(a.real() - b.real(), a.imag() - b.imag()); }
  Z mul(Z a, Z b) const {
    return Z(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
  }
  Z div(Z a, Z b) const {
    const T den = b.real() * b.real() + b.imag() * b.imag();
    return Z((a.real() * b.real() + a.imag() * b.imag()) / den, (a.imag() * b.real() - a.real() * b.imag()) / den);
  }
  Z conj(Z a) const { return Z(a.real(), -a.imag()); }
  Z re(Z a) const { return Z(a.real(), T(0)); }
  Z node_t(Z a, Index) const { return a; }
  Z node_g(Z a, Index) const { return a; }
};
}  // namespace

// embed-begin cpu_kernel_dplr_backward
template <class T>
DplrGrads<T> kernel_dplr_backward(const DplrProblem& p, const std::vector<double>& dK, int threads) {
  if (static_cast<Index>(dK.size()) != p.H * p.L) throw InvalidInput("dK", "must have the shape of K");
  require_no_inf(dK, "dK");
  using Z = std::complex<T>;
  const Index H = p.H, L = p.L, N = p.N;
  std::vector<Z> tk(static_cast<std::size_t>(L), Z(0));
  for (Index k = 0; k < L; ++k)
    if (!(L % 2 == 0 && 2 * k == L)) tk[k] = Z(static_cast<T>(node_tan(k, L)), T(0));
  std::vector<backward_core::ChannelGrads<Z>> per(static_cast<std::size_t>(H));
  parallel_for(H, threads, [&](std::int64_t h) {
    std::vector<Z> x(static_cast<std::size_t>(L)), G(static_cast<std::size_t>(L));
    for (Index l = 0; l < L; ++l) x[l] = Z(static_cast<T>(dK[static_cast<std::size_t>(h * L + l)]), T(0));
    fft::dft(x.data(), G.data(), L, fft::Direction::forward);
    for (Index k = 0; k < L; ++k) G[k] = Z(G[k].real() / static_cast<T>(L), G[k].imag() / static_cast<T>(L));
    FloatArith<T> ar;
    per[h] = backward_core::dplr_vjp_channel(ar, p, h, G, tk);
  });
  // Shared parameters: channel contributions summed in channel order.
  FloatArith<T> ar;
  auto gather = [&](const CParam& c, auto member) {
    std::vector<Z> acc(c.values.size(), Z(0));
    for (Index h = 0; h < H; ++h)
      for (Index n = 0; n < N; ++n) {
        const std::size_t i = static_cast<std::size_t>((c.H ? h : 0) * N + n);
        acc[i] = ar.add(acc[i], (per[h].*member)[n]);
      }
    std::vector<T> flat;
    for (const Z& z : acc) flat.push_back(z.real()), flat.push_back(z.imag());
    return flat;
  };
  using CG = backward_core::ChannelGrads<Z>;
  DplrGrads<T> g;
  g.Lambda = gather(p.Lambda, &CG::Lambda);
  g.B = gather(p.B, &CG::B);
  g.C = gather(p.C, &CG::C);
  if (p.q_tied) {
    std::vector<Z> acc(p.P.values.size(), Z(0));
    for (Index h = 0; h < H; ++h)
      for (Index n = 0; n < N; ++n) {
        const std::size_t i = static_cast<std::size_t>((p.P.H ? h : 0) * N + n);
        acc[i] = ar.add(acc[i], ar.add(per[h].P[n], per[h].Q[n]));
      }
    for (const Z& z : acc) g.P.push_back(z.real()), g.P.push_back(z.imag());
  } else {
    g.P = gather(p.P, &CG::P);
    g.Q = gather(p.Q, &CG::Q);
  }
  g.step.assign(p.step.size(), T(0));
  for (Index h = 0; h < H; ++h) {
    const std::size_t i = p.step.size() == 1 ? 0 : static_cast<std::size_t>(h);
    g.step[i] = g.step[i] + per[h].step.real();
  }
  return g;
}
// embed-end cpu_kernel_dplr_backward

// embed-begin cpu_ssm_kernel
// [S4-SSM-CPU] x_0 = B̄, x_{l+1} = Ā x_l (each row a sequential dot product, threads over rows
// when N is large), K_l = Σ_n C̄_n x_l[n] sequential.
template <class T>
std::vector<T> ssm_kernel(const DiscreteSsmProblem& p, int threads) {
  const Index N = p.N;
  std::vector<T> A(static_cast<std::size_t>(N * N)), x(N), y(N), C(N);
  for (Index i = 0; i < N * N; ++i) A[i] = static_cast<T>(p.Ab[i]);
  for (Index i = 0; i < N; ++i) x[i] = static_cast<T>(p.Bb[i]), C[i] = static_cast<T>(p.Cb[i]);
  std::vector<T> K(static_cast<std::size_t>(p.L));
  const int th = N >= 256 ? threads : 1;
  for (Index l = 0; l < p.L; ++l) {
    T k = T(0);
    for (Index n = 0; n < N; ++n) k += C[n] * x[n];
    K[l] = k;
    if (l + 1 == p.L) break;
    parallel_for(N, th, [&](std::int64_t i) {
      T s = T(0);
      const T* row = A.data() + i * N;
      for (Index j = 0; j < N; ++j) s += row[j] * x[j];
      y[i] = s;
    });
    std::swap(x, y);
  }
  return K;
}
// embed-end cpu_ssm_kernel

template std::vector<float> cauchy<float>(const CauchyProblem&, int);
template std::vector<double> cauchy<double>(const CauchyProblem&, int);
template std::vector<float> cauchy_backward<float>(const CauchyProblem&, const std::vector<cdouble>&, int);
template std::vector<double> cauchy_backward<double>(const CauchyProblem&, const std::vector<cdouble>&, int);
template std::vector<float> kernel_dplr<float>(const DplrProblem&, int);
template std::vector<double> kernel_dplr<double>(const DplrProblem&, int);
template DplrGrads<float> kernel_dplr_backward<float>(const DplrProblem&, const std::vector<double>&, int);
template DplrGrads<double> kernel_dplr_backward<double>(const DplrProblem&, const std::vector<double>&, int);
template std::vector<float> ssm_kernel<float>(const DiscreteSsmProblem&, int);
template std::vector<double> ssm_kernel<double>(const DiscreteSsmProblem&, int);

}  // namespace touchstone::s4::cpu
