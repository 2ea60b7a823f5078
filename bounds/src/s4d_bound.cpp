// Evaluation of the S4D kernel error bounds; every step is derived in spec/s4d.md under the ID
// cited next to it. Notation: for a complex quantity q, a CTracked {M, E} has |q_exact| <= M and
// |q_computed - q_exact| <= E; a Tracked does the same for a real one with an interval.
#include "touchstone/bounds/s4d_bound.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "touchstone/core/tracked_complex.hpp"
#include "touchstone/bounds/mamba_bound.hpp"
#include "touchstone/bounds/mamba_complex_bound.hpp"

namespace touchstone::s4 {

S4DArithmetic s4d_arithmetic_cpu_f32() {
  S4DArithmetic m;
  m.name = "cpu-f32";
  m.compute = m.storage = format_info(Format::float32);
  m.exp_ulps = mamba::kExpF32Ulps;
  m.sincos_ulps = mamba::kSinCosF32Ulps;
  return m;
}

S4DArithmetic s4d_arithmetic_cpu_f64() {
  S4DArithmetic m;
  m.name = "cpu-f64";
  m.compute = m.storage = format_info(Format::float64);
  m.exp_ulps = mamba::kExpF64Ulps;
  m.sincos_ulps = mamba::kSinCosF64Ulps;
  return m;
}

S4DArithmetic s4d_arithmetic_any_order(Format storage, double elementary_ulps) {
  S4DArithmetic m;
  m.name = "any-order";
  m.storage = format_info(storage);
  m.compute = format_info(storage == Format::float64 ? Format::float64 : Format::float32);
  m.exp_ulps = m.sincos_ulps = elementary_ulps;
  m.chunked = false;
  return m;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTiny = 4.9406564584124654e-324;
constexpr double kSqrt2 = 1.4142135623730951;

double min_abs(const Tracked& t) { return t.lo > 0 ? t.lo : (t.hi < 0 ? -t.hi : 0.0); }
// A complex value from its parts' trackers: |exact| <= hypot of the magnitudes, |error| <=
// hypot of the parts' errors (each rounded up by 2^-51 relative for the evaluation).
CTracked from_parts(const Tracked& re, const Tracked& im) {
  return {std::hypot(re.mag(), im.mag()) * (1 + 0x1p-51) + kTiny,
          std::hypot(re.err, im.err) * (1 + 0x1p-51)};
}
bool bad(const CTracked& q, const Rounding& r) { return !(q.M + q.E <= r.max_finite); }
// [S4D-BWD-BOUND-OVERFLOW] An intermediate whose computed value may leave the format's range (or
// whose tracker is NaN) becomes {+inf, +inf}, which every later tracked operation propagates (as
// +inf or NaN, both `bad`), so each output computed from it gets the bound +inf.
CTracked guard(const CTracked& q, const Rounding& r) { return bad(q, r) ? CTracked{kInf, kInf} : q; }

// The per-mode quantities of [S4D-BOUND-SETUP]: A_bar, the coefficient v = C B B_bar/B, and for the
// any-order model x (with exp(x) = A_bar, modulo 2 pi i) as a real-part tracker and an
// imaginary-part error.
struct Mode {
  CTracked Abar, v;
  CTracked q, d1;          // q = B_bar / B; d1 = 1 - z/2 (bilinear)
  double d1_low = 0;       // lower bound on the exact |1 - z/2|
  Tracked dt;
  Tracked x_re;
  double x_im = 0, x_im_err = 0;
  bool overflow = false;
};

Mode setup(const S4DProblem<double>& p, Index h, Index n, const S4DArithmetic& m, const Rounding& r) {
  const double u = r.u, eta = r.eta;
  Mode md;
  (void)eta;
  const double ar = p.A(h, n, 0), ai = p.A(h, n, 1);
  // [S4D-BOUND-SETUP] dt: exact, or e^(log_dt) within exp_ulps.
  const Tracked dt = p.in().log_dt ? touchstone::exp(Tracked::exact(p.in().dt[h]), m.exp_ulps, r)
                                   : Tracked::exact(p.in().dt[h]);
  md.dt = dt;
  // z = dt A, one rounding per part.
  const Tracked zr = mul(dt, Tracked::exact(ar), r), zi = mul(dt, Tracked::exact(ai), r);
  const CTracked z = from_parts(zr, zi);
  const CTracked Aexact = CTracked::exact(ar, ai);
  const double A_low = std::hypot(ar, ai) * (1 - 0x1p-50);
  CTracked q;
  if (p.in().disc == Discretization::zoh) {
    // A_bar = e^(z^) = e^(zr^)(cos zi^ + i sin zi^) ([CORE-TRACKED-CEXP]).
    md.Abar = touchstone::exp(zr, zi.err, std::max(m.exp_ulps, m.sincos_ulps), r);
    // A_bar - 1: the real part rounded once (the imaginary part is not touched). Its exact
    // modulus |e^z - 1| <= |z| e^(max(Re z, 0)) (integral of z e^(tz) over [0, 1]).
    const double Mnum = std::min(md.Abar.M + 1, z.M * std::exp(std::max(zr.hi, 0.0)) * (1 + 0x1p-48)) + kTiny;
    const CTracked num{Mnum, md.Abar.E + u * (Mnum + md.Abar.E)};
    // q = (A_bar - 1) / A ([CORE-TRACKED-CDIV]).
    q = div(num, Aexact, A_low, r);
    md.x_re = zr;
    md.x_im = std::fabs(ai) * dt.mag();
    md.x_im_err = zi.err;
  } else {
    // hz = z / 2 per part (exact but for underflow); n1 = 1 + hz, d1 = 1 - hz, the real parts
    // rounded once.
    const CTracked hz{z.M * 0.5 + kTiny, z.E * 0.5 + kSqrt2 * eta};
    const double M1 = 1 + hz.M;
    const CTracked n1{M1, hz.E + u * (M1 + hz.E)}, d1 = n1;
    // A lower bound on the exact |1 - dt A / 2| from the intervals of its parts.
    const Tracked dre = tracked_detail::interval_add(
        Tracked::exact(1), tracked_detail::interval_mul(dt, Tracked::exact(-0.5 * ar)));
    const Tracked dim = tracked_detail::interval_mul(dt, Tracked::exact(-0.5 * ai));
    const double d_low = std::sqrt(min_abs(dre) * min_abs(dre) + min_abs(dim) * min_abs(dim)) * (1 - 0x1p-50);
    md.Abar = div(n1, d1, d_low, r);
    q = div(CTracked{dt.mag(), dt.err}, d1, d_low, r);
    md.d1 = d1;
    md.d1_low = d_low;
    // The exact |A_bar| = |n1| / |d1| <= n_high / d_low, much below div's |n1|_max / d_low when
    // |z| is not small: the powers' magnitudes use it.
    // x = Log(A_bar): |A_bar| in [|n1|_low / |d1|_high, |n1|_high / |d1|_low].
    const Tracked nre = tracked_detail::interval_add(
        Tracked::exact(1), tracked_detail::interval_mul(dt, Tracked::exact(0.5 * ar)));
    const double n_low = std::sqrt(min_abs(nre) * min_abs(nre) + min_abs(dim) * min_abs(dim)) * (1 - 0x1p-50);
    const double n_high = std::hypot(nre.mag(), dim.mag()) * (1 + 0x1p-50);
    const double d_high = std::hypot(dre.mag(), dim.mag()) * (1 + 0x1p-50);
    const double a_low = n_low / d_high * (1 - 0x1p-50), a_high = n_high / std::max(d_low, kTiny) * (1 + 0x1p-50);
    // [S4D-BOUND-ANY] The computed log of the computed A_bar: log is 1/|w|-Lipschitz on the
    // segment from A_bar to A_bar^ (moduli >= a_low - E), modulo 2 pi i (which exp(l x) does not
    // see), plus the log's own error within `ulps` per part.
    const double lip_err = a_low > md.Abar.E ? md.Abar.E / (a_low - md.Abar.E) : kInf;
    const double x_mag = std::max(std::fabs(std::log(std::max(a_low, kTiny))), std::fabs(std::log(a_high))) + 3.1416;
    const double x_err = lip_err + m.exp_ulps * (2 * u * (x_mag + lip_err) + 2 * eta) * kSqrt2;
    md.Abar.M = std::min(md.Abar.M, a_high);
    md.x_re = Tracked{std::log(std::max(a_low, kTiny)) - 0x1p-48 * x_mag, std::log(a_high) + 0x1p-48 * x_mag, x_err};
    md.x_im = 3.1416;
    md.x_im_err = x_err;
  }
  // v = (C B) q; C B is one complex product (none when B is absent).
  const CTracked C = CTracked::exact(p.C(h, n, 0), p.C(h, n, 1));
  const CTracked cb = p.in().B ? mul(C, CTracked::exact(p.B(h, n, 0), p.B(h, n, 1)), r) : C;
  md.v = mul(cb, q, r);
  md.q = q;
  // Every intermediate of the setup that the backends compute: A_bar, q (and ZOH's A_bar - 1),
  // C B, v, z and dt ([S4D-BWD-BOUND-OVERFLOW]: q and C B were not checked before, and a q that
  // overflows times a C B of 0 is NaN).
  md.overflow = bad(md.Abar, r) || bad(md.v, r) || bad(q, r) || bad(cb, r) || bad(z, r) ||
                !(dt.computed_mag() <= r.max_finite) || !(md.Abar.M + 1 + md.Abar.E <= r.max_finite);
  return md;
}

// Whether setup(p, h, n, a, ra) and setup(p, h, n, b, rb) are the same evaluation: it reads the
// arithmetic's rounding and elementary-function ulps only.
bool same_setup(const S4DArithmetic& a, const Rounding& ra, const S4DArithmetic& b, const Rounding& rb) {
  return ra.u == rb.u && ra.eta == rb.eta && ra.max_finite == rb.max_finite && a.exp_ulps == b.exp_ulps &&
         a.sincos_ulps == b.sincos_ulps;
}

bool same_bits(const Tracked& x, const Tracked& y) {
  return std::bit_cast<std::uint64_t>(x.lo) == std::bit_cast<std::uint64_t>(y.lo) &&
         std::bit_cast<std::uint64_t>(x.hi) == std::bit_cast<std::uint64_t>(y.hi) &&
         std::bit_cast<std::uint64_t>(x.err) == std::bit_cast<std::uint64_t>(y.err);
}

// One power model of the forward bound ([S4D-BOUND-POWERS] when m.chunked, else [S4D-BOUND-ANY]'s
// exp(l x)) at one arithmetic, and its per-l sums over a channel's modes ([S4D-BOUND-SUM]).
struct PowerModel {
  explicit PowerModel(const S4DArithmetic& arithmetic, Index L)
      : m(arithmetic), r(Rounding::of(m.compute)), cm(r), rs(Rounding::of(m.storage)),
        rounds_to_storage(m.storage.precision != m.compute.precision || m.storage.emin != m.compute.emin),
        prop(static_cast<std::size_t>(L)), size(static_cast<std::size_t>(L)), mag(static_cast<std::size_t>(L)),
        ovf(static_cast<std::size_t>(L)) {}
  S4DArithmetic m;
  Rounding r;
  CMulRounding cm;  // [CORE-TRACKED-CMUL]: the powers' products
  Rounding rs;
  bool rounds_to_storage;
  std::vector<double> prop, size, mag;
  std::vector<char> ovf;
  bool overflow = false;  // of the channel's setup
  // The exp(l x) model's exp_of_re(fl(l x_re)) for every l, for the mode's x_re: the modes of a
  // channel that share it (S4D-Lin's and S4D-Inv's real parts under ZOH) reuse it, the same bits.
  std::vector<CExpOfRe> e_re;
  Tracked e_re_of;
  bool e_re_valid = false;
};

// The per-l sums of one mode's terms under one model.
void add_mode(PowerModel& pm, const Mode& md, Index L, std::vector<CTracked>& t) {
  const Rounding& r = pm.r;
  const S4DArithmetic& m = pm.m;
  const Index T = kS4DPowerBlock;
  pm.overflow = pm.overflow || md.overflow;
  auto add_term = [&](Index l, const CTracked& a, const CTracked& b) {
    if (bad(a, r) || bad(b, r)) pm.ovf[l] = 1;
    pm.prop[l] += a.M * b.E + a.E * b.M + a.E * b.E;
    pm.size[l] += (a.M + a.E) * (b.M + b.E);
    pm.mag[l] += a.M * b.M;
  };
  if (m.chunked) {
    // [S4D-BOUND-POWERS] t_0 = 1, t_1 = A_bar, t_i = t_(i-1) A_bar; P_1 = t_T,
    // P_j = P_(j-1) t_T; w_0 = v, w_j = v P_j.
    const Index J = (L + T - 1) / T;
    const Index tcount = J > 1 ? T + 1 : std::min(L, T);
    t[0] = CTracked{1, 0};
    for (Index i = 1; i < tcount; ++i) {
      t[i] = i == 1 ? md.Abar : mul(t[i - 1], md.Abar, pm.cm);
    }
    CTracked P{1, 0};
    for (Index j = 0; j < J; ++j) {
      if (j == 1) P = t[T];
      if (j > 1) P = mul(P, t[T], pm.cm);
      const CTracked wj = j == 0 ? md.v : mul(md.v, P, pm.cm);
      // An overflowing P_j or t_T makes every later block's w unbounded.
      const CTracked wcheck = bad(P, r) || bad(t[T], r) ? CTracked{kInf, kInf} : wj;
      const Index i_end = std::min(T, L - j * T);
      for (Index i = 0; i < i_end; ++i) add_term(j * T + i, j == 0 ? wj : wcheck, t[i]);
    }
  } else {
    // [S4D-BOUND-ANY] e_l = exp(fl(l x^)), the term v^ e_l.
    if (!pm.e_re_valid || !same_bits(pm.e_re_of, md.x_re)) {
      pm.e_re.resize(static_cast<std::size_t>(L));
      for (Index l = 0; l < L; ++l) pm.e_re[l] = exp_of_re(mul(Tracked::exact(static_cast<double>(l)), md.x_re, r));
      pm.e_re_of = md.x_re;
      pm.e_re_valid = true;
    }
    for (Index l = 0; l < L; ++l) {
      const Tracked lt = Tracked::exact(static_cast<double>(l));
      const Tracked aim = mul(lt, Tracked{-md.x_im, md.x_im, md.x_im_err}, r);
      const CTracked e = touchstone::exp(pm.e_re[l], aim.err, std::max(m.exp_ulps, m.sincos_ulps), r);
      add_term(l, md.v, e);
    }
  }
}

// Each model's bound, every channel in one pass: a mode's setup is evaluated once for the models
// that share it (same_setup), and each model's sums are those of its own pass bit for bit (every
// sum's terms and order are unchanged).
std::vector<Tensor<double>> bound_models(const S4DProblem<double>& p, const std::vector<S4DArithmetic>& arithmetics) {
  const Index H = p.H(), N = p.N(), L = p.L(), T = kS4DPowerBlock;
  const double s = p.in().conj == Conj::halves ? 2.0 : 1.0;
  const double slack = std::max(0x1p-20, static_cast<double>(L + 2 * N) * 0x1p-40);
  std::vector<PowerModel> models;
  std::vector<Tensor<double>> bounds;
  for (const S4DArithmetic& m : arithmetics) {
    models.emplace_back(m, L);
    bounds.emplace_back(Shape{H, L}, 0.0);
  }
  std::vector<CTracked> t(static_cast<std::size_t>(T + 1));
  for (Index h = 0; h < H; ++h) {
    if (p.channel_nonfinite(h)) {  // the exact value is NaN ([S4D-NONFINITE])
      for (Tensor<double>& bound : bounds)
        for (Index l = 0; l < L; ++l) bound(h, l) = kInf;
      continue;
    }
    for (PowerModel& pm : models) {
      std::fill(pm.prop.begin(), pm.prop.end(), 0.0);
      std::fill(pm.size.begin(), pm.size.end(), 0.0);
      std::fill(pm.mag.begin(), pm.mag.end(), 0.0);
      std::fill(pm.ovf.begin(), pm.ovf.end(), 0);
      pm.overflow = false;
      pm.e_re_valid = false;
    }
    for (Index n = 0; n < N; ++n) {
      Mode md;
      for (std::size_t k = 0; k < models.size(); ++k) {
        if (k == 0 || !same_setup(models[k].m, models[k].r, models[k - 1].m, models[k - 1].r))
          md = setup(p, h, n, models[k].m, models[k].r);
        add_mode(models[k], md, L, t);
      }
    }
    for (std::size_t k = 0; k < models.size(); ++k) {
      const PowerModel& pm = models[k];
      const Rounding &r = pm.r, &rs = pm.rs;
      // [S4D-BOUND-SUM] 2N' products (two per mode) accumulated: gamma_(2N') of their sizes.
      const double g_sum = gamma_k(r.u, 2 * static_cast<double>(N));
      for (Index l = 0; l < L; ++l) {
        const double sz = pm.size[l] * (1 + g_sum);
        double E = s * (pm.prop[l] + g_sum * pm.size[l] + 2 * static_cast<double>(N) * r.eta * (1 + g_sum));
        if (pm.rounds_to_storage) E += rs.u * (s * pm.mag[l] + E) + rs.eta;
        E *= 1 + slack;
        bounds[k](h, l) =
            (pm.overflow || pm.ovf[l] || !(s * sz <= r.max_finite) || !(E <= r.max_finite)) ? kInf : E;
      }
    }
  }
  return bounds;
}

}  // namespace

namespace {

// sum_k a_k A_bar^k by blocks ([S4D-BWD-CPU]); a_k with |a_k| <= |a[k]| (1 + ea) and error
// ea |a[k]| + eeta (0, 0 for dK itself; u, eta for the rounded (k+1) dK_(k+1)).
CTracked transposed_sum_bound(const double* a, Index count, double ea, double eeta, const std::vector<CTracked>& t,
                              const std::vector<CTracked>& P, Index T, const Rounding& r) {
  CTracked F{0, 0};
  for (Index j = 0; j * T < count; ++j) {
    const Index iend = std::min(T, count - j * T);
    double M = 0, prop = 0, size = 0;
    for (Index i = 0; i < iend; ++i) {
      const double av = std::fabs(a[j * T + i]), Ea = ea * av + eeta;
      // A coefficient the backend rounds ((k+1) dK_(k+1) in the compute format) may overflow.
      if (!(av + Ea <= r.max_finite)) return CTracked{kInf, kInf};
      M += av * t[i].M;
      prop += av * t[i].E + Ea * (t[i].M + t[i].E);
      size += (av + Ea) * (t[i].M + t[i].E);
    }
    // M(G) + E(G) >= size (1 + gamma) bounds every partial sum of the block's fma chains too.
    const CTracked G = guard({M + kTiny, prop + gamma_k(r.u, static_cast<double>(iend)) * size +
                                             kSqrt2 * static_cast<double>(iend) * r.eta},
                             r);
    F = j == 0 ? G : guard(add(F, guard(mul(guard(P[j], r), G, r), r), r), r);
  }
  return F;
}

// [S4D-BWD-BOUND-COHERENT] Upper bounds on |sum_k c_k alpha^k| and |sum_k k c_k alpha^(k-1)| at
// the exact alpha = A_bar, from a binary64 evaluation at alpha64 (within E64a of alpha) with its
// own tracked binary64 error, and D2 = sum_k k (k-1) |c_k| R^(k-2) (the second derivative's
// majorant on the disk of radius R - |alpha|).
struct PowerSums {
  double d0_hi = 0, d1_hi = 0;
  double d2(double R) const {
    double sum = 0, Rk = 1;  // R^(k-2)
    for (std::size_t k = 2; k < c.size(); ++k) {
      sum += static_cast<double>(k) * static_cast<double>(k - 1) * std::fabs(c[k]) * Rk;
      Rk *= R;
    }
    return sum * (1 + 0x1p-40);
  }
  std::vector<double> c;
};

// The power sums of F = sum_k dK_k A_bar^k and of F1 = sum_k b_k A_bar^k, b_k = (k+1) dK_(k+1)
// (count L - 1), in one pass: both walk the same binary64 powers and their tracked errors, and F's
// derivative sum is F1's own sum (the same terms b_k p_k in the same order), so each is computed
// once. The values are those of two separate passes bit for bit (every sum's terms and order are
// unchanged).
std::pair<PowerSums, PowerSums> power_sums_pair(const double* dK, const double* b, Index L, double are, double aim,
                                                const CTracked& a64, const CMulRounding& c64) {
  const Rounding& r64 = c64.r;
  std::pair<PowerSums, PowerSums> out;
  PowerSums& sF = out.first;
  PowerSums& sF1 = out.second;
  sF.c.assign(dK, dK + L);
  if (L > 1) sF1.c.assign(b, b + (L - 1));
  double pre = 1, pim = 0, s0re = 0, s0im = 0, s1re = 0, s1im = 0, s2re = 0, s2im = 0;
  double e0 = 0, e1 = 0, e2 = 0, size0 = 0, size1 = 0, size2 = 0;
  CTracked pt{1, 0};
  for (Index k = 0; k < L; ++k) {
    const double ck = dK[k];
    // sum_0 += dK_k p_k; sum_1 += b_k p_k (F's derivative term of power k, and F1's sum);
    // sum_2 += (k+1) b_(k+1) p_k (F1's derivative term)
    s0re += ck * pre;
    s0im += ck * pim;
    e0 += std::fabs(ck) * pt.E;
    size0 += std::fabs(ck) * (pt.M + pt.E);
    if (k + 1 < L) {
      const double dk = static_cast<double>(k + 1) * dK[k + 1];  // b_k, the same double
      s1re += dk * pre;
      s1im += dk * pim;
      e1 += std::fabs(dk) * pt.E;
      size1 += std::fabs(dk) * (pt.M + pt.E);
    }
    if (k + 2 < L) {
      const double dk = static_cast<double>(k + 1) * b[k + 1];
      s2re += dk * pre;
      s2im += dk * pim;
      e2 += std::fabs(dk) * pt.E;
      size2 += std::fabs(dk) * (pt.M + pt.E);
    }
    const double nre = std::fma(pre, are, -(pim * aim)), nim = std::fma(pre, aim, pim * are);
    pre = nre;
    pim = nim;
    pt = k == 0 ? a64 : mul(pt, a64, c64);
  }
  const auto hi = [](double g, double re, double im, double e, double size) {
    return (std::hypot(re, im) * (1 + 0x1p-50) + e + g * size) * (1 + 0x1p-40) + kTiny;
  };
  const double g = gamma_k(r64.u, 2 * static_cast<double>(L) + 4);
  sF.d0_hi = hi(g, s0re, s0im, e0, size0);
  sF.d1_hi = hi(g, s1re, s1im, e1, size1);
  if (L > 1) {
    const double g1 = gamma_k(r64.u, 2 * static_cast<double>(L - 1) + 4);
    sF1.d0_hi = hi(g1, s1re, s1im, e1, size1);
    sF1.d1_hi = hi(g1, s2re, s2im, e2, size2);
  }
  return out;
}

// The binary64 value of A_bar by the CPU order (the value whose error setup(..., f64) tracks).
void abar64(const S4DProblem<double>& p, Index h, Index n, double& re, double& im) {
  const double dt = p.in().log_dt ? std::exp(p.in().dt[h]) : p.in().dt[h];
  const double ar = p.A(h, n, 0), ai = p.A(h, n, 1), zr = dt * ar, zi = dt * ai;
  if (p.in().disc == Discretization::zoh) {
    const double e = std::exp(zr);
    re = e * std::cos(zi);
    im = e * std::sin(zi);
  } else {
    const double nr = 1 + zr * 0.5, ni = zi * 0.5, dr = 1 - zr * 0.5, di = -(zi * 0.5);
    const double d = std::fma(dr, dr, di * di);
    re = std::fma(nr, dr, ni * di) / d;
    im = std::fma(ni, dr, -(nr * di)) / d;
  }
}

}  // namespace

std::vector<S4DGrads<double>> s4d_kernel_backward_bounds(const S4DBackwardProblem<double>& qb,
                                                         const std::vector<S4DArithmetic>& ms) {
  const S4DProblem<double>& p = qb.forward();
  const Index H = p.H(), N = p.N(), L = p.L(), T = kS4DPowerBlock, J = (L + T - 1) / T;
  const double s = p.in().conj == Conj::halves ? 2.0 : 1.0;
  const double slack = std::max(0x1p-20, static_cast<double>(L + 2 * N) * 0x1p-40);
  std::vector<S4DGrads<double>> gs;
  for (std::size_t k = 0; k < ms.size(); ++k) {
    gs.push_back({Tensor<double>(Shape{H, N, 2}), Tensor<double>(Shape{H, N, 2}), std::nullopt, Tensor<double>(Shape{H})});
    if (p.in().B) gs.back().dB = Tensor<double>(Shape{H, N, 2});
  }
  std::vector<CTracked> t(static_cast<std::size_t>(T + 1)), P(static_cast<std::size_t>(J));
  std::vector<double> b(static_cast<std::size_t>(std::max<Index>(L - 1, 1)));
  const S4DArithmetic m64 = s4d_arithmetic_cpu_f64();
  const Rounding r64 = Rounding::of(m64.compute);
  const CMulRounding c64(r64);  // [CORE-TRACKED-CMUL]: the power sums' products at binary64
  // Per arithmetic: its rounding, and a channel's ddt sum, overflow and dt.
  struct Channel {
    Rounding r;
    CMulRounding cm;
    Tracked acc;
    bool overflow = false;
    Tracked dt;
  };
  std::vector<Channel> cs;
  for (const S4DArithmetic& m : ms) {
    const Rounding r = Rounding::of(m.compute);
    cs.push_back({r, CMulRounding(r), Tracked::exact(0), false, Tracked{}});
  }
  for (Index h = 0; h < H; ++h) {
    // [S4D-BWD-NONFINITE] A non-finite input of the channel (dK included): the exact gradients are
    // NaN or infinite, outside the bound's domain.
    bool dK_nonfinite = false;
    for (Index l = 0; l < L; ++l) dK_nonfinite = dK_nonfinite || !std::isfinite(qb.dK()(h, l));
    if (p.channel_nonfinite(h) || dK_nonfinite) {
      for (S4DGrads<double>& g : gs) {
        for (Index i = 0; i < 2 * N; ++i) {
          g.dA[h * 2 * N + i] = kInf;
          g.dC[h * 2 * N + i] = kInf;
          if (g.dB) (*g.dB)[h * 2 * N + i] = kInf;
        }
        g.ddt[h] = kInf;
      }
      continue;
    }
    const double* dK = &qb.dK()(h, Index{0});
    for (Index k = 0; k + 1 < L; ++k) b[k] = static_cast<double>(k + 1) * dK[k + 1];
    for (Channel& c : cs) {
      c.acc = Tracked::exact(0);
      c.overflow = false;
    }
    for (Index n = 0; n < N; ++n) {
      // [S4D-BWD-BOUND-COHERENT] The binary64 power sums at the computed binary64 A_bar: they do
      // not depend on the arithmetic, so one evaluation serves every one.
      double a64re, a64im;
      abar64(p, h, n, a64re, a64im);
      const Mode md64 = setup(p, h, n, m64, r64);
      const auto [sF, sF1] = power_sums_pair(dK, b.data(), L, a64re, a64im, md64.Abar, c64);
      for (std::size_t k = 0; k < ms.size(); ++k) {
        const S4DArithmetic& m = ms[k];
        Channel& c = cs[k];
        const Rounding& r = c.r;
        S4DGrads<double>& g = gs[k];
        // The output is s times the tracked value, each part (s = 2 is exact but for overflow):
        // the bound is +inf when s (M + E) may exceed the format's range
        // ([S4D-BWD-BOUND-OVERFLOW]).
        auto put = [&](Tensor<double>& out, const CTracked& x) {
          const double E = bad(x, r) || !(s * (x.M + x.E) <= r.max_finite) ? kInf : s * x.E * (1 + slack);
          out(h, n, Index{0}) = E;
          out(h, n, Index{1}) = E;
        };
        // The backend rounds k + 1 to the compute format, exact up to 2^p = 1/u; beyond it (L >
        // 2^24 in float32) the coefficient has two roundings.
        const double b_rel = static_cast<double>(L - 1) <= 1 / r.u ? r.u : gamma_k(r.u, 2);
        const Mode md = same_setup(m, r, m64, r64) ? md64 : setup(p, h, n, m, r);
        c.dt = md.dt;
        const double ar = p.A(h, n, 0), ai = p.A(h, n, 1);
        const CTracked A = CTracked::exact(ar, ai);
        const double A_low = std::hypot(ar, ai) * (1 - 0x1p-50);
        // [S4D-BWD-BOUND-COHERENT] F^ - F = (F^ - F(A_bar^)) + (F(A_bar^) - F(A_bar)): the first
        // by the tracked chains seeded with the computed A_bar taken as exact (the products'
        // roundings only); the second by |A_bar^ - A_bar| times the largest |F'| on the disk
        // around A_bar, F'(A_bar) from a binary64 enclosure and a second-derivative majorant.
        const Index tcount = J > 1 ? T + 1 : std::min(L, T);
        const double Ea = md.Abar.E, Rad = md.Abar.M + md.Abar.E;
        const CTracked seed{Rad, 0};
        t[0] = CTracked{1, 0};
        for (Index i = 1; i < tcount; ++i) t[i] = i == 1 ? guard(seed, r) : guard(mul(t[i - 1], seed, c.cm), r);
        for (Index j = 1; j < J; ++j) P[j] = j == 1 ? t[T] : guard(mul(P[j - 1], t[T], c.cm), r);
        const CTracked Fr = transposed_sum_bound(dK, L, 0, 0, t, P, T, r);
        const CTracked F1r =
            L > 1 ? transposed_sum_bound(b.data(), L - 1, b_rel, r.eta, t, P, T, r) : CTracked{0, 0};
        // Fr and F1r bound the computed values (M + E >= |F^|); an overflowing one stays +inf.
        const CTracked F = bad(Fr, r) ? CTracked{kInf, kInf}
                                      : guard({std::min(Fr.M, sF.d0_hi), Fr.E + Ea * (sF.d1_hi + Ea * sF.d2(Rad))}, r);
        CTracked F1{0, 0};
        if (L > 1) {
          F1 = bad(F1r, r) ? CTracked{kInf, kInf}
                           : guard({std::min(F1r.M, sF1.d0_hi), F1r.E + Ea * (sF1.d1_hi + Ea * sF1.d2(Rad))}, r);
        }
        // Every intermediate below is guarded in the backend's order ([S4D-BWD-BOUND-OVERFLOW]).
        auto gmul = [&](const CTracked& x, const CTracked& y) { return guard(mul(x, y, r), r); };
        auto gadd = [&](const CTracked& x, const CTracked& y) { return guard(add(x, y, r), r); };
        CTracked dq, Ad, Adt, qdt;
        if (p.in().disc == Discretization::zoh) {
          Ad = guard(mul_real(md.Abar, md.dt, r), r);
          // Ad - q: the modulus bound of a difference is that of the sum.
          dq = guard(div(gadd(Ad, md.q), A, A_low, r), r);
          Adt = gmul(A, md.Abar);
          qdt = md.Abar;
        } else {
          const CTracked d1sq = gmul(md.d1, md.d1);
          const CTracked i2 = guard(div(CTracked{1, 0}, d1sq, md.d1_low * md.d1_low * (1 - 0x1p-50), r), r);
          Ad = guard(mul_real(i2, md.dt, r), r);
          Tracked c2 = mul(md.dt, md.dt, r);
          // dt dt may overflow before the halving.
          const bool c2_bad = !(c2.computed_mag() <= r.max_finite);
          c2 = Tracked{c2.lo * 0.5, c2.hi * 0.5, c2.err * 0.5 + r.eta};
          dq = c2_bad ? CTracked{kInf, kInf} : guard(mul_real(i2, c2, r), r);
          Adt = gmul(A, i2);
          qdt = i2;
        }
        const CTracked C = CTracked::exact(p.C(h, n, 0), p.C(h, n, 1));
        const CTracked B = CTracked::exact(p.B(h, n, 0), p.B(h, n, 1));
        const CTracked cb = p.in().B ? gmul(C, B) : C;
        // q, A_bar, dt and C B are checked by setup (md.overflow); an overflowing setup makes
        // every output of the mode +inf (the forward's q, A_bar are the backward's too).
        const CTracked q = md.overflow ? CTracked{kInf, kInf} : md.q;
        const CTracked qF = gmul(q, F);
        put(g.dC, p.in().B ? gmul(B, qF) : qF);
        if (g.dB) put(*g.dB, gmul(C, qF));
        put(g.dA, gmul(cb, gadd(gmul(dq, F), gmul(q, gmul(F1, Ad)))));
        const CTracked Z = gmul(cb, gadd(gmul(qdt, F), gmul(q, gmul(F1, Adt))));
        c.overflow = c.overflow || bad(Z, r) || md.overflow;
        c.acc = touchstone::add(c.acc, Tracked{-Z.M, Z.M, Z.E}, r);
      }
    }
    for (std::size_t k = 0; k < ms.size(); ++k) {
      const Channel& c = cs[k];
      const Rounding& r = c.r;
      Tracked d{s * c.acc.lo, s * c.acc.hi, s * c.acc.err};
      // s acc is computed (and may overflow) before the product by dt ([S4D-BWD-BOUND-OVERFLOW]).
      const bool sacc_bad = !(d.computed_mag() <= r.max_finite);
      if (p.in().log_dt) d = mul(d, c.dt, r);
      gs[k].ddt[h] = c.overflow || sacc_bad || !(d.computed_mag() <= r.max_finite) ? kInf : d.err * (1 + slack);
    }
  }
  return gs;
}

S4DGrads<double> s4d_kernel_backward_bound(const S4DBackwardProblem<double>& qb, const S4DArithmetic& m) {
  return std::move(s4d_kernel_backward_bounds(qb, {m}).front());
}

std::vector<Tensor<double>> s4d_kernel_bounds(const S4DProblem<double>& p, const std::vector<S4DArithmetic>& ms) {
  // [S4D-BOUND-ANY] An unknown implementation computes the powers either as exp(l x) or by
  // products of A_bar (the chunked order with T = 64 covers repeated multiplication up to 64
  // products per block): the larger of the two models' bounds. Every model of every arithmetic
  // in one pass (bound_models).
  std::vector<S4DArithmetic> models;
  for (const S4DArithmetic& m : ms) {
    models.push_back(m);
    if (m.chunked) continue;
    S4DArithmetic chunked = m;
    chunked.chunked = true;
    models.push_back(chunked);
  }
  std::vector<Tensor<double>> each = bound_models(p, models);
  std::vector<Tensor<double>> out;
  std::size_t k = 0;
  for (const S4DArithmetic& m : ms) {
    Tensor<double> a = std::move(each[k++]);
    if (!m.chunked) {
      const Tensor<double>& b = each[k++];
      for (Index i = 0; i < a.count(); ++i)
        a[i] = std::isnan(a[i]) || std::isnan(b[i]) ? a[i] + b[i] : std::max(a[i], b[i]);
    }
    out.push_back(std::move(a));
  }
  return out;
}

Tensor<double> s4d_kernel_bound(const S4DProblem<double>& p, const S4DArithmetic& m) {
  return std::move(s4d_kernel_bounds(p, {m}).front());
}

}  // namespace touchstone::s4
