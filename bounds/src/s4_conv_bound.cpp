// Bounds of the causal convolution and the scan (spec/s4_conv.md; see s4_conv_bound.hpp).
#include "touchstone/bounds/s4_conv_bound.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "touchstone/core/tracked.hpp"
#include "touchstone/core/tracked_complex.hpp"
#include "touchstone/bounds/fft_bound.hpp"

namespace touchstone::s4 {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSqrt2 = 1.4142135623730951;
// The bound's own evaluation in double: every quantity is a sum of products of non-negative
// doubles; sums of m terms are scaled by (1 + (m + 4) 2^-52) where they are formed and the final
// value by (1 + 2^-40) ([S4CONV-CONV-BOUND-EVAL]).
constexpr double kSlack = 1 + 0x1p-40;

double sum_up(Index m) { return 1 + static_cast<double>(m + 4) * 0x1p-52; }

bool finite_all(const double* x, Index n) {
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

struct Norms {
  double l1 = 0, l2 = 0;  // upper bounds on sum |x| and sqrt(sum x^2)
};
Norms norms(const double* x, Index n) {
  double s1 = 0, s2 = 0;
  for (Index i = 0; i < n; ++i) {
    s1 += std::fabs(x[i]);
    s2 += x[i] * x[i];
  }
  const double up = sum_up(n);
  // x^2 may round down (or underflow) by u relative + 2^-1074 each: folded into up and n tiny.
  const double tiny = static_cast<double>(n) * 4.9406564584124654e-324;
  return {s1 * up, std::sqrt(s2 * up * (1 + 0x1p-51) + tiny) * (1 + 0x1p-52)};
}

// [S4CONV-CONV-BOUND] The FFT path's error of conv_t (before + D u), the same for every t of a
// row: u's and the taps' transforms (exact inputs, norms Nu and Nk), their pointwise products,
// the inverse transform, the exact scaling by 1/n. `g_scale` = 1 for the backend's FFT; the
// any-order bound passes its own n and an extra rounding for a non-power-of-two 1/n.
double fft_conv_error(const Norms& Nu, const Norms& Nk, Index n, const Rounding& r, bool scale_rounds) {
  // Per element the transforms' outputs are bounded by the 1-norms ([S4CONV-FFT-BOUND]); their
  // errors are used in the 2-norm ([S4CONV-FFT-BOUND-NORM]): with U = DFT(u), ||U||_2 = sqrt(n)
  // ||u||_2 and ||U^ - U||_2 <= sqrt(n) nu_U.
  const CTracked U = fft_bound::dft_output(Nu.l1, 0, n, r);
  const CTracked K = fft_bound::dft_output(Nk.l1, 0, n, r);
  const double nu_U = fft_bound::dft_error_rms(Nu.l2, 0, n, r);
  const double nu_K = fft_bound::dft_error_rms(Nk.l2, 0, n, r);
  if (!std::isfinite(U.E) || !std::isfinite(K.E) || !std::isfinite(nu_U) || !std::isfinite(nu_K)) return kInf;
  if (!((Nu.l1 + U.E) * (Nk.l1 + K.E) * (1 + 4 * r.u) <= r.max_finite)) return kInf;
  // (1/n) sum_k over the products P_k = fl(U^_k K^_k), by Cauchy-Schwarz: A_M bounds
  // (1/n) sum_k |U_k K_k| <= ||u||_2 ||k||_2, A_E (1/n) sum_k |P^_k - U_k K_k| <=
  // ||u|| nu_K + nu_U ||k|| + nu_U nu_K + sqrt(2) gamma_2 (||u|| + nu_U)(||k|| + nu_K) + 3 sqrt(2) eta.
  const double g2 = kSqrt2 * gamma_k(r.u, 2);
  const double A_M = Nu.l2 * Nk.l2 * (1 + 0x1p-52);
  const double A_E = Nu.l2 * nu_K + nu_U * Nk.l2 + nu_U * nu_K +
                     g2 * (Nu.l2 + nu_U) * (Nk.l2 + nu_K) + 3 * kSqrt2 * r.eta;
  // The inverse transform, elementwise ([S4CONV-FFT-BOUND]) with sum_k M_k <= n A_M and
  // sum_k E_k <= n A_E, then the exact scaling by 1/n (an underflow costs eta per part).
  const double dn = static_cast<double>(n);
  const CTracked inv = fft_bound::dft_output(dn * A_M, dn * A_E * (1 + 0x1p-50), n, r);
  if (!std::isfinite(inv.E)) return kInf;
  double E = inv.E / dn + kSqrt2 * r.eta;
  if (scale_rounds) E += r.u * (A_M + E) * kSqrt2;
  return E;
}

// y = c + fl(D u_t) with |c| <= A_M and error E_c: the final fl(c + fl(D u)).
double add_skip(double A_M, double E_c, bool has_D, double D, double ut, const Rounding& r) {
  if (!has_D) return E_c;
  const Tracked c{-A_M, A_M, E_c};
  const Tracked du = mul(Tracked::exact(D), Tracked::exact(ut), r);
  const Tracked y = add(c, du, r);
  return y.overflows(r) ? kInf : y.err;
}


}  // namespace

Tensor<double> causal_conv_bound(const ConvProblem<double>& p, Format compute) {
  const auto& in = p.in();
  const Rounding r = Rounding::of(format_info(compute));
  const Index batch = p.batch(), H = p.channels(), L = p.length(), Lk = p.kernel_length();
  const Index taps = p.taps(), n = p.fft_length();
  const bool has_D = in.D.has_value();
  Tensor<double> out(Shape{batch, H, L});
  for (Index h = 0; h < H; ++h) {
    const double* k = in.k.data() + h * Lk;
    const double D = has_D ? (*in.D)[h] : 0.0;
    const bool channel_finite = finite_all(k, taps) && std::isfinite(D);
    const Norms Nk = norms(k, taps);
    for (Index b = 0; b < batch; ++b) {
      const double* u = in.u.data() + (b * H + h) * L;
      double* e = out.data() + (b * H + h) * L;
      if (channel_finite && finite_all(u, L)) {
        const Norms Nu = norms(u, L);
        const double E_c = fft_conv_error(Nu, Nk, n, r, false);
        const double A_M = Nu.l2 * Nk.l2 * (1 + 0x1p-52);
        for (Index t = 0; t < L; ++t) e[t] = add_skip(A_M, E_c, has_D, D, u[t], r) * kSlack;
        continue;
      }
      // [S4CONV-CONV-BOUND-DIRECT] The sequential direct sum, tracked term by term; +inf where
      // a term or D u_t involves a non-finite input.
      for (Index t = 0; t < L; ++t) {
        bool bad = has_D && !(std::isfinite(D) && std::isfinite(u[t]));
        Tracked acc = Tracked::exact(0);
        for (Index s = 0; s <= t && s < taps && !bad; ++s) {
          if (!std::isfinite(k[s]) || !std::isfinite(u[t - s])) {
            bad = true;
            break;
          }
          const Tracked term = mul(Tracked::exact(k[s]), Tracked::exact(u[t - s]), r);
          acc = add(acc, term, r);
          // Every product and partial sum of this order must stay finite (a partial sum may
          // overflow although the final one would not).
          if (term.overflows(r) || acc.overflows(r)) {
            bad = true;
            break;
          }
        }
        if (bad || acc.overflows(r)) {
          e[t] = kInf;
          continue;
        }
        if (has_D) acc = add(acc, mul(Tracked::exact(D), Tracked::exact(u[t]), r), r);
        e[t] = acc.overflows(r) ? kInf : acc.err * kSlack;
      }
    }
  }
  return out;
}

Tensor<double> causal_conv_any_order_bound(const ConvProblem<double>& p, Format storage) {
  const auto& in = p.in();
  const Format cf = storage == Format::float64 ? Format::float64 : Format::float32;
  const Rounding r = Rounding::of(format_info(cf)), rs = Rounding::of(format_info(storage));
  const Index batch = p.batch(), H = p.channels(), L = p.length(), Lk = p.kernel_length();
  const Index taps = p.taps();
  const bool has_D = in.D.has_value();
  // The peers' padded lengths: a power of two (this library), L + Lk (state-spaces/s4 FFTConv),
  // 2L (annotated-s4).
  const Index lengths[] = {p.fft_length(), L + Lk, 2 * L};
  Tensor<double> out(Shape{batch, H, L});
  for (Index h = 0; h < H; ++h) {
    const double* k = in.k.data() + h * Lk;
    const double D = has_D ? (*in.D)[h] : 0.0;
    const Norms Nk = norms(k, taps);
    for (Index b = 0; b < batch; ++b) {
      const double* u = in.u.data() + (b * H + h) * L;
      double* e = out.data() + (b * H + h) * L;
      const bool row_finite = finite_all(k, taps) && std::isfinite(D) && finite_all(u, L);
      double E_fft = 0, A_M = 0;
      if (row_finite) {
        const Norms Nu = norms(u, L);
        A_M = Nu.l2 * Nk.l2 * (1 + 0x1p-52);
        for (const Index n : lengths)
          E_fft = std::max(E_fft, fft_conv_error(Nu, Nk, n, r, (n & (n - 1)) != 0));
      }
      for (Index t = 0; t < L; ++t) {
        // The direct sum of m products (and D u_t) in any order, with or without fmas:
        // gamma_m sum |terms| + m eta (Higham (3.5) with underflow).
        const Index m = std::min(t + 1, taps) + (has_D ? 1 : 0);
        double S = has_D ? std::fabs(D * u[t]) : 0.0;
        bool bad = has_D && !(std::isfinite(D) && std::isfinite(u[t]));
        for (Index s = 0; s <= t && s < taps; ++s) {
          if (!std::isfinite(k[s]) || !std::isfinite(u[t - s])) bad = true;
          S += std::fabs(k[s] * u[t - s]);
        }
        S *= sum_up(m) * (1 + 0x1p-52);
        if (bad || !(S * (1 + gamma_k(r.u, static_cast<double>(m))) <= r.max_finite)) {
          e[t] = kInf;
          continue;
        }
        const double E_direct = gamma_k(r.u, static_cast<double>(m)) * S + static_cast<double>(m) * r.eta;
        double E = E_direct;
        if (row_finite) {
          const double E_f = add_skip(A_M, E_fft, has_D, D, u[t], r);
          E = std::max(E, E_f);
        }
        // The exact |y_t| <= S; one more rounding to the storage format if it is narrower.
        if (storage != cf) E += rs.u * (S + E) + rs.eta;
        e[t] = E * kSlack;
      }
    }
  }
  return out;
}

namespace {

// [S4CONV-SCAN-BOUND] The scan's bound; `any` selects [S4CONV-SCAN-BOUND-ANY].
ScanResult<double> scan_bound(const ScanProblem<double>& p, const Rounding& r, bool any,
                              const Rounding* storage) {
  const auto& in = p.in();
  const Index batch = p.batch(), H = p.channels(), L = p.length(), N = p.modes();
  const double c = p.conj() == Conj::halves ? 2.0 : 1.0;
  const bool has_D = in.D.has_value();
  ScanResult<double> res{Tensor<double>(Shape{batch, H, L}), Tensor<double>(Shape{batch, H, N, 2})};
  const double g2 = gamma_k(r.u, 2), g3 = gamma_k(r.u, 3);
  // The underflow terms formed once (CMulRounding: in binary64 eta is subnormal, and forming a
  // subnormal product in the loop is slow); the same doubles as formed in place.
  const CMulRounding cm(r);
  const double under2 = 2 * (1 + r.u) * r.eta;
  for (Index b = 0; b < batch; ++b)
    for (Index h = 0; h < H; ++h) {
      std::vector<CTracked> x(static_cast<std::size_t>(N));  // exact state 0
      std::vector<CTracked> A(N), B(N), C(N);
      bool modes_finite = !has_D || std::isfinite((*in.D)(h));
      std::vector<char> mode_finite(N);
      for (Index m = 0; m < N; ++m) {
        const double ar = in.dA(h, m, Index{0}), ai = in.dA(h, m, Index{1});
        const double br = in.dB(h, m, Index{0}), bi = in.dB(h, m, Index{1});
        const double cr = in.dC(h, m, Index{0}), ci = in.dC(h, m, Index{1});
        mode_finite[m] = std::isfinite(ar) && std::isfinite(ai) && std::isfinite(br) && std::isfinite(bi);
        modes_finite = modes_finite && mode_finite[m] && std::isfinite(cr) && std::isfinite(ci);
        A[m] = CTracked::exact(ar, ai);
        B[m] = CTracked::exact(br, bi);
        C[m] = CTracked::exact(cr, ci);
      }
      const double D = has_D ? (*in.D)(h) : 0.0;
      bool u_finite = true;
      std::vector<char> state_ok(N, 1);
      for (Index t = 0; t < L; ++t) {
        const double ut = in.u(b, h, t);
        u_finite = u_finite && std::isfinite(ut);
        const Tracked U = Tracked::exact(ut);
        Tracked acc;
        double S = 0;  // any order: sum over modes of |C| |x^|
        bool ok = u_finite && modes_finite;
        for (Index m = 0; m < N; ++m) {
          state_ok[m] = state_ok[m] && u_finite && mode_finite[m];
          if (!state_ok[m]) {  // an earlier overflow or a non-finite input: no bound from here on
            ok = false;
            continue;
          }
          if (!any) {
            x[m] = add(mul(A[m], x[m], cm), mul_real(B[m], U, cm), r);
          } else {
            const double xc = x[m].M + x[m].E;
            const double M = A[m].M * x[m].M + B[m].M * U.mag() + CTracked::kTinyC;
            const double prop = A[m].M * x[m].E;
            x[m] = {M, prop + kSqrt2 * g3 * (A[m].M * xc + B[m].M * U.mag()) + cm.three_sqrt2_eta};
          }
          if (x[m].overflows(r)) state_ok[m] = 0;
          if (!ok || !state_ok[m]) {
            ok = false;
            continue;
          }
          // Re(C x^) by fl(fl(cr xr) - fl(ci xi)).
          const double Mterm = C[m].M * x[m].M;
          const Tracked term{-Mterm, Mterm,
                             C[m].M * x[m].E + g2 * C[m].M * (x[m].M + x[m].E) + under2};
          acc = m == 0 ? term : add(acc, term, r);
          if (term.overflows(r) || acc.overflows(r)) ok = false;  // a partial sum may overflow
          S += C[m].M * (x[m].M + x[m].E);
        }
        double E = kInf;
        if (ok) {
          if (!any) {
            Tracked y{c * acc.lo, c * acc.hi, c * acc.err};
            if (has_D) y = add(y, mul(Tracked::exact(D), U, r), r);
            E = y.overflows(r) ? kInf : y.err;
          } else {
            // Sum over modes (2N products, their propagated errors) and D u in any order.
            double prop = 0, Mexact = 0;
            for (Index m = 0; m < N; ++m) {
              prop += C[m].M * x[m].E;
              Mexact += C[m].M * x[m].M;
            }
            const double Du = has_D ? std::fabs(D * ut) * (1 + 0x1p-52) : 0.0;
            const double k = static_cast<double>(2 * N + (has_D ? 1 : 0));
            E = c * prop + gamma_k(r.u, k) * (c * S + Du) + k * r.eta * c;
            if (!((c * S + Du) * (1 + gamma_k(r.u, k)) <= r.max_finite)) E = kInf;
            if (storage && std::isfinite(E)) E += storage->u * (c * Mexact + Du + E) + storage->eta;
          }
        }
        res.y(b, h, t) = E * kSlack;
      }
      for (Index m = 0; m < N; ++m) {
        double E = state_ok[m] ? x[m].E * kSlack : kInf;
        if (storage && std::isfinite(E)) E += storage->u * (x[m].M + E) + storage->eta;
        res.last_state(b, h, m, Index{0}) = res.last_state(b, h, m, Index{1}) = E;
      }
    }
  return res;
}

}  // namespace

ScanResult<double> ssm_scan_bound(const ScanProblem<double>& p, Format compute) {
  return scan_bound(p, Rounding::of(format_info(compute)), false, nullptr);
}

ScanResult<double> ssm_scan_any_order_bound(const ScanProblem<double>& p, Format storage) {
  const Format cf = storage == Format::float64 ? Format::float64 : Format::float32;
  const Rounding rs = Rounding::of(format_info(storage));
  return scan_bound(p, Rounding::of(format_info(cf)), true, storage == cf ? nullptr : &rs);
}

}  // namespace touchstone::s4
