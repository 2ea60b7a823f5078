// Evaluation of the DSS-softmax error bounds (spec/dss.md [DSS-SOFTMAX-BOUND-CPU],
// [DSS-SOFTMAX-BOUND-ANY]); notation as in s4d_bound.cpp.
#include "touchstone/bounds/dss_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/tracked_complex.hpp"

namespace touchstone::s4 {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;
constexpr double kSqrt2 = 1.4142135623730951;

double min_abs(const Tracked& t) { return t.lo > 0 ? t.lo : (t.hi < 0 ? -t.hi : 0.0); }
bool bad(const CTracked& q, const Rounding& r) { return !(q.M + q.E <= r.max_finite); }
Tracked neg(const Tracked& t) { return {-t.hi, -t.lo, t.err}; }

Tensor<double> bound_impl(const DssSoftmaxProblem<double>& p, const S4DArithmetic& m, bool chunked) {
  const Rounding r = Rounding::of(m.compute);
  const Rounding rs = Rounding::of(m.storage);
  const bool rounds_to_storage = m.storage.precision != m.compute.precision || m.storage.emin != m.compute.emin;
  const double u = r.u, eta = r.eta, eps = kDssEps;
  const double ulps = std::max(m.exp_ulps, m.sincos_ulps);
  const Index H = p.H(), N = p.N(), L = p.L(), T = kS4DPowerBlock, J = (L + T - 1) / T;
  const double slack = std::max(0x1p-20, static_cast<double>(L + 2 * N) * 0x1p-40);
  const double g_sum = gamma_k(u, 2 * static_cast<double>(N));
  Tensor<double> bound(Shape{H, L}, 0.0);
  std::vector<double> prop(static_cast<std::size_t>(L)), size(static_cast<std::size_t>(L)), mag(static_cast<std::size_t>(L));
  std::vector<char> ovf(static_cast<std::size_t>(L));
  std::vector<CTracked> t(static_cast<std::size_t>(T + 1)), P(static_cast<std::size_t>(J)), e;
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {
      for (Index l = 0; l < L; ++l) bound(h, l) = kInf;
      continue;
    }
    std::fill(prop.begin(), prop.end(), 0.0);
    std::fill(size.begin(), size.end(), 0.0);
    std::fill(mag.begin(), mag.end(), 0.0);
    std::fill(ovf.begin(), ovf.end(), 0);
    bool overflow = false;
    const Tracked dt = touchstone::exp(Tracked::exact(p.in().log_dt[h]), m.exp_ulps, r);
    for (Index n = 0; n < N; ++n) {
      const double lr = p.Lambda(h, n, 0), li = p.Lambda(h, n, 1);
      const bool flip = lr > 0;
      // [DSS-SOFTMAX-BOUND-CPU] zs = +-dt lambda (one rounding per part), zeta = e^(zs^).
      Tracked zr = mul(dt, Tracked::exact(lr), r), zi = mul(dt, Tracked::exact(li), r);
      if (flip) {
        zr = neg(zr);
        zi = neg(zi);
      }
      const double zs_max = std::hypot(zr.mag(), zi.mag()) * (1 + 0x1p-50);
      const double zs_low = std::hypot(min_abs(zr), min_abs(zi)) * (1 - 0x1p-50);
      const CTracked zeta = touchstone::exp(zr, zi.err, ulps, r);
      // S: the tracked sums, and its exact modulus bounded analytically from both sides
      // ([DSS-SOFTMAX-BOUND-S]): |S| = |1 - zeta^L| / |1 - zeta| with rho = |zeta| <= e^(zr.hi) <= 1.
      CTracked S;
      auto track_e = [&](Index k) {  // e_k for the any-order model: exp(fl(k zs^)), 3 roundings
        const Tracked kt = Tracked::exact(static_cast<double>(k));
        Tracked are = mul(kt, zr, r), aim = mul(kt, zi, r);
        for (int extra = 0; extra < 2; ++extra) {
          are.err += u * (are.mag() + are.err) + eta;
          aim.err += u * (aim.mag() + aim.err) + eta;
        }
        return touchstone::exp(are, aim.err, ulps, r);
      };
      if (chunked) {
        const Index tcount = J > 1 ? T + 1 : std::min(L, T);
        t[0] = CTracked{1, 0};
        for (Index i = 1; i < tcount; ++i) t[i] = i == 1 ? zeta : mul(t[i - 1], zeta, r);
        for (Index j = 1; j < J; ++j) P[j] = j == 1 ? t[T] : mul(P[j - 1], t[T], r);
        const Index last = L - (J - 1) * T;
        CTracked Gfull = t[0], Glast = t[0];
        for (Index i = 1; i < T && J > 1; ++i) Gfull = add(Gfull, t[i], r);
        for (Index i = 1; i < last; ++i) Glast = add(Glast, t[i], r);
        S = J > 1 ? Gfull : Glast;
        for (Index j = 1; j < J; ++j) S = add(S, mul(P[j], j == J - 1 ? Glast : Gfull, r), r);
      } else {
        e.resize(static_cast<std::size_t>(L));
        CTrackedSum sum;
        for (Index k = 0; k < L; ++k) {
          e[k] = track_e(k);
          sum.add_term(e[k]);
        }
        S = sum.result(r);
      }
      const double rho = std::exp(zr.hi) * (1 + 0x1p-48);
      double S_low = 0;
      if (zr.hi < 0) {
        const double one_minus = -std::expm1(static_cast<double>(L) * zr.hi) * (1 - 0x1p-40);
        S_low = one_minus / (std::min(1 + rho, zs_max) * (1 + 0x1p-50));
      }
      // An enclosure of |S| from a binary64 evaluation with its own tracked error
      // ([DSS-SOFTMAX-BOUND-S]): S64 = sum_k p_k, p_0 = 1, p_(k+1) = p_k zeta64 (complex products
      // by the fma formula), zeta64 = e^(zs64) with zs64 = fl(fl(e^(log_dt)) lambda).
      {
        const Rounding r64 = Rounding::of(format_info(Format::float64));
        const double ld = p.in().log_dt[h];
        const Tracked dt64 = touchstone::exp(Tracked::exact(ld), 1.0, r64);
        const double dtv = std::exp(ld);
        double zrv = dtv * lr, ziv = dtv * li;
        Tracked zr64 = mul(dt64, Tracked::exact(lr), r64), zi64 = mul(dt64, Tracked::exact(li), r64);
        if (flip) {
          zrv = -zrv;
          ziv = -ziv;
          zr64 = neg(zr64);
          zi64 = neg(zi64);
        }
        const double ev = std::exp(zrv);
        const double zeta_re = ev * std::cos(ziv), zeta_im = ev * std::sin(ziv);
        const CTracked zeta64 = touchstone::exp(zr64, zi64.err, 1.0, r64);
        double pre = 1, pim = 0, sre = 0, sim = 0;
        CTracked pt{1, 0}, st{0, 0};
        for (Index k = 0; k < L; ++k) {
          sre += pre;
          sim += pim;
          st = k == 0 ? pt : add(st, pt, r64);
          const double nre = std::fma(pre, zeta_re, -(pim * zeta_im));
          const double nim = std::fma(pre, zeta_im, pim * zeta_re);
          pre = nre;
          pim = nim;
          pt = k == 0 ? zeta64 : mul(pt, zeta64, r64);
        }
        const double absS = std::hypot(sre, sim);
        if (std::isfinite(absS) && std::isfinite(st.E)) {
          S_low = std::max(S_low, (absS * (1 - 0x1p-50) - st.E) * (1 - 0x1p-50));
          S.M = std::min(S.M, (absS * (1 + 0x1p-50) + st.E) * (1 + 0x1p-50) + kTiny);
        }
      }
      const double d1_low = std::max(1 - std::min(rho, 1.0), zs_low - zs_max * zs_max / 2 * std::exp(zs_max) * (1 + 0x1p-40));
      if (d1_low > 0) S.M = std::min(S.M, (1 + std::pow(std::min(rho, 1.0), static_cast<double>(L))) / d1_low * (1 + 0x1p-40) + kTiny);
      // d = |S^|^2 + eps ([DSS-SOFTMAX-BOUND-R]): propagated (2 M + E) E, three roundings.
      const double Sc = S.M + S.E;
      const double D_low = S_low * S_low * (1 - 0x1p-50) + eps;
      const double E_D = (2 * S.M + S.E) * S.E + gamma_k(u, 3) * (Sc * Sc + eps) + 2 * eta;
      const double Dc_low = D_low - E_D;
      // |R| = |S| / (|S|^2 + eps): x / (x^2 + eps) over x in [S_low, S.M].
      const double se = std::sqrt(eps);
      const double RM = S.M <= se ? S.M / (S.M * S.M + eps)
                                  : (S_low >= se ? S_low / (S_low * S_low + eps) : 1 / (2 * se) * (1 + 0x1p-50));
      CTracked R{RM + kTiny, kInf};
      if (Dc_low > 0)
        R.E = S.E / Dc_low + S.M * E_D / (D_low * Dc_low) + u * Sc / Dc_low + kSqrt2 * eta;
      // v = (W / lambda) R.
      const CTracked q = div(CTracked::exact(p.W(h, n, 0), p.W(h, n, 1)), CTracked::exact(lr, li),
                             std::hypot(lr, li) * (1 - 0x1p-50), r);
      const CTracked v = mul(q, R, r);
      // Every value the backend forms on the way may overflow, not only v: W / lambda (a fuzzed
      // W = -3e38 over |lambda| = 0.24 gave inf * small R = NaN while v itself is finite), S and
      // d = |S^|^2 + eps ([DSS-SOFTMAX-BOUND-OVERFLOW]).
      overflow = overflow || bad(q, r) || bad(S, r) || !(Sc * Sc * (1 + 4 * u) + eps <= r.max_finite) ||
                 bad(v, r) || bad(zeta, r) || !(dt.computed_mag() <= r.max_finite);
      auto add_term = [&](Index k, const CTracked& a, const CTracked& b) {
        const Index l = flip ? L - 1 - k : k;
        if (bad(a, r) || bad(b, r)) ovf[l] = 1;
        prop[l] += a.M * b.E + a.E * b.M + a.E * b.E;
        size[l] += (a.M + a.E) * (b.M + b.E);
        mag[l] += a.M * b.M;
      };
      if (chunked) {
        for (Index j = 0; j < J; ++j) {
          const CTracked wj = j == 0 ? v : mul(v, P[j], r);
          const CTracked wc = j > 0 && (bad(P[j], r) || bad(t[T], r)) ? CTracked{kInf, kInf} : wj;
          const Index i_end = std::min(T, L - j * T);
          for (Index i = 0; i < i_end; ++i) add_term(j * T + i, wc, t[i]);
        }
      } else {
        for (Index k = 0; k < L; ++k) add_term(k, v, e[k]);
      }
    }
    for (Index l = 0; l < L; ++l) {
      double E = prop[l] + g_sum * size[l] + 2 * static_cast<double>(N) * eta * (1 + g_sum);
      if (rounds_to_storage) E += rs.u * (mag[l] + E) + rs.eta;
      E *= 1 + slack;
      bound(h, l) = (overflow || ovf[l] || !(size[l] * (1 + g_sum) <= r.max_finite) || !(E <= r.max_finite)) ? kInf : E;
    }
  }
  return bound;
}

}  // namespace

Tensor<double> dss_softmax_kernel_bound(const DssSoftmaxProblem<double>& p, const S4DArithmetic& m) {
  Tensor<double> a = bound_impl(p, m, true);
  if (m.chunked) return a;
  const Tensor<double> b = bound_impl(p, m, false);
  for (Index i = 0; i < a.count(); ++i) a[i] = std::isnan(a[i]) || std::isnan(b[i]) ? a[i] + b[i] : std::max(a[i], b[i]);
  return a;
}

}  // namespace touchstone::s4
