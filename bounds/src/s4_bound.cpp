// The S4 backends' a-priori bounds (spec/s4.md [S4-CAUCHY-BOUND], [S4-CAUCHY-VJP-BOUND],
// [S4-DPLR-BOUND]).
#include "touchstone/bounds/s4_bound.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "touchstone/core/tracked_complex.hpp"
#include "touchstone/bounds/fft_bound.hpp"
#include "touchstone/order/s4_order.hpp"

namespace touchstone::s4 {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.141592653589793;
constexpr double kRel = 0x1p-50;  // margin for a few roundings of double approximations

// The exact difference a - b of two format values and a lower bound `low` on its modulus: the
// double difference is within 2^-53 per part, hypot within an ulp, so |a - b| <= M. Its computed
// difference in a format r (per part, in the format) is within r.u of the exact part, and exact
// when it underflows: `in(r)`, a CTracked whose M is tight. M and low do not depend on the format
// (the bounds at two formats share them: cauchy_bound_pair).
struct Diff {
  double M, low;
  CTracked in(const Rounding& r) const { return {M, r.u * M}; }
};
Diff diff_exact(cdouble a, cdouble b) {
  const double m = std::hypot(a.real() - b.real(), a.imag() - b.imag());
  return {m * (1 + kRel) + CTracked::kTinyC, m * (1 - kRel)};
}
CTracked cexact(cdouble z) { return CTracked::exact(z.real(), z.imag()); }
double total(const CTracked& t) { return t.E; }
}  // namespace

double node_tan_double(long long k, long long L) {
  double sign = 1;
  if (2 * k > L) {
    k = L - k;
    sign = -1;
  }
  if (4 * k <= L) return sign * std::tan(kPi * static_cast<double>(k) / static_cast<double>(L));
  const long long m = L - 2 * k;
  return sign / std::tan(kPi * static_cast<double>(m) / static_cast<double>(2 * L));
}

// The Cauchy bounds at K formats from one pass ([CORE-DIFF-JOINT-BOUND]): the loop and each
// difference's hypot shared, the tracked arithmetic of each format its own. Each format's values
// are those of a pass at that format alone (the same operations on the same doubles; the build
// does not contract them into fmas), which the registry test JointBound checks bit for bit.
namespace {

template <std::size_t K>
std::array<Rounding, K> roundings(const std::array<Format, K>& formats) {
  std::array<Rounding, K> r;
  for (std::size_t k = 0; k < K; ++k) r[k] = Rounding::of(format_info(formats[k]));
  return r;
}
template <std::size_t K>
std::array<CDivRounding, K> division_roundings(const std::array<Rounding, K>& r) {
  return [&]<std::size_t... k>(std::index_sequence<k...>) {
    return std::array<CDivRounding, K>{CDivRounding(r[k])...};
  }(std::make_index_sequence<K>{});
}

// embed-begin cauchy_bound
// [S4-CAUCHY-BOUND] Per term v/(z - w): the difference (exact inputs, one rounding per part), the
// textbook division [CORE-TRACKED-CDIV]; the sum of the N (2N in halves) terms [CORE-TRACKED-CSUM]
// = [S4-ID-CAUCHY-BOUND]. The bound of each part is the modulus bound.
template <std::size_t K>
std::array<std::vector<double>, K> cauchy_bound_pass(const CauchyProblem& p, const std::array<Format, K>& formats) {
  const std::array<Rounding, K> r = roundings(formats);
  const std::array<CDivRounding, K> rd = division_roundings(r);
  std::array<std::vector<double>, K> out;
  for (auto& o : out) o.resize(static_cast<std::size_t>(p.H * p.L * 2));
  // The terms of one sum in order (halves: each mode, then its conjugate): their numerators, which
  // do not depend on l (formed once per channel), and their differences (formed per l, all hypots
  // first, so that the loop of divisions after them has no call and overlaps its divisions).
  const bool halves = p.conj == Conj::halves;
  const std::size_t terms = static_cast<std::size_t>(p.N) * (halves ? 2 : 1);
  std::vector<CTracked> num(terms);
  std::vector<Diff> diff(terms);
  for (Index h = 0; h < p.H; ++h) {
    std::vector<cdouble> poles;
    for (Index n = 0; n < p.N; ++n) {
      num[poles.size()] = cexact(p.vv(h, n));
      poles.push_back(p.ww(h, n));
      if (halves) {
        num[poles.size()] = cexact(std::conj(p.vv(h, n)));
        poles.push_back(std::conj(p.ww(h, n)));
      }
    }
    for (Index l = 0; l < p.L; ++l) {
      for (std::size_t i = 0; i < terms; ++i) diff[i] = diff_exact(p.z[l], poles[i]);
      std::array<CTrackedSum, K> s;
      for (std::size_t i = 0; i < terms; ++i)
        for (std::size_t k = 0; k < K; ++k) s[k].add_term(div(num[i], diff[i].in(r[k]), diff[i].low, rd[k]));
      for (std::size_t k = 0; k < K; ++k) {
        const CTracked t = s[k].result(r[k]);
        const double E = s[k].may_overflow(r[k]) ? kInf : total(t) * (1 + kRel);
        out[k][static_cast<std::size_t>((h * p.L + l) * 2)] = E;
        out[k][static_cast<std::size_t>((h * p.L + l) * 2 + 1)] = E;
      }
    }
  }
  return out;
}
// embed-end cauchy_bound

// embed-begin cauchy_backward_bound
// [S4-CAUCHY-VJP-BOUND] dv: Σ_l dout_l / conj(d) (textbook division); dw: Σ_l dout_l conj(v/(d d)),
// d d one complex product whose exact modulus is at least low², then the division, then the
// product with dout; halves adds the conjugate terms. Sums [CORE-TRACKED-CSUM].
template <std::size_t K>
std::array<std::vector<double>, K> cauchy_backward_bound_pass(const CauchyProblem& p, const std::vector<cdouble>& dout,
                                                          const std::array<Format, K>& formats) {
  const std::array<Rounding, K> r = roundings(formats);
  const std::array<CDivRounding, K> rd = division_roundings(r);
  const std::size_t half = static_cast<std::size_t>(p.H * p.N * 2);
  std::array<std::vector<double>, K> out;
  for (auto& o : out) o.resize(2 * half);
  // The exact inputs' CTracked (a hypot each) formed once: dout's per channel, v's per (h, n).
  const std::size_t L = static_cast<std::size_t>(p.L);
  std::vector<CTracked> g_exact(L), g_conj_exact(L);
  for (Index h = 0; h < p.H; ++h) {
    for (std::size_t l = 0; l < L; ++l) {
      const cdouble g = dout[static_cast<std::size_t>(h) * L + l];
      g_exact[l] = cexact(g);
      g_conj_exact[l] = cexact(std::conj(g));
    }
    for (Index n = 0; n < p.N; ++n) {
      std::array<CTrackedSum, K> sv, sw;
      std::array<bool, K> intermediate_overflow{};
      const cdouble v = p.vv(h, n), w = p.ww(h, n);
      const CTracked v_exact = cexact(v), v_conj_exact = cexact(std::conj(v));
      for (Index l = 0; l < p.L; ++l) {
        auto terms = [&](const CTracked& gg, const CTracked& vv, cdouble ww) {
          const Diff sd = diff_exact(p.z[l], ww);
          for (std::size_t k = 0; k < K; ++k) {
            const CTracked d = sd.in(r[k]);
            sv[k].add_term(div(gg, d, sd.low, rd[k]));
            const CTracked q = mul(d, d, r[k]);
            const CTracked s = div(vv, q, sd.low * sd.low * (1 - kRel), rd[k]);
            // An intermediate that may leave the range (q, or v/q though the product with dout
            // would not) puts dw outside the bound's domain.
            if (q.overflows(r[k]) || s.overflows(r[k])) intermediate_overflow[k] = true;
            sw[k].add_term(mul(gg, s, r[k]));
          }
        };
        terms(g_exact[static_cast<std::size_t>(l)], v_exact, w);
        if (p.conj == Conj::halves) terms(g_conj_exact[static_cast<std::size_t>(l)], v_conj_exact, std::conj(w));
      }
      const std::size_t i = static_cast<std::size_t>((h * p.N + n) * 2);
      for (std::size_t k = 0; k < K; ++k) {
        const double Ev = sv[k].may_overflow(r[k]) ? kInf : sv[k].result(r[k]).E * (1 + kRel);
        const double Ew = sw[k].may_overflow(r[k]) || intermediate_overflow[k] ? kInf : sw[k].result(r[k]).E * (1 + kRel);
        out[k][i] = out[k][i + 1] = Ev;
        out[k][half + i] = out[k][half + i + 1] = Ew;
      }
    }
  }
  return out;
}
// embed-end cauchy_backward_bound

}  // namespace

std::vector<double> cauchy_bound(const CauchyProblem& p, Format format) {
  return std::move(cauchy_bound_pass<1>(p, {format})[0]);
}
std::array<std::vector<double>, 2> cauchy_bound_pair(const CauchyProblem& p, Format a, Format b) {
  return cauchy_bound_pass<2>(p, {a, b});
}
std::vector<double> cauchy_backward_bound(const CauchyProblem& p, const std::vector<cdouble>& dout, Format format) {
  return std::move(cauchy_backward_bound_pass<1>(p, dout, {format})[0]);
}
std::array<std::vector<double>, 2> cauchy_backward_bound_pair(const CauchyProblem& p,
                                                              const std::vector<cdouble>& dout, Format a, Format b) {
  return cauchy_backward_bound_pass<2>(p, dout, {a, b});
}

namespace {

// The four Cauchy sums of one node of one channel, tracked in rounding r, with their values
// computed in double in the same order (an f64 run of the backend's sequence).
struct NodeSums {
  CTracked k[4];
  cdouble value[4];
  bool overflow = false;
};

// [S4-DPLR-BOUND] g = fl(fl(2/Δ) t^) with t^ within tau |t| of t = tan(πk/L).
NodeSums node_sums(const DplrProblem& p, Index h, double t_dbl, double tau, const Rounding& r) {
  const Index N = p.N;
  const bool halves = p.conj == Conj::halves;
  const double step = p.step_at(h);
  // |g| and the error of g^: g = (2/Δ) t exactly; |t| <= |t_dbl| (1 + 2.1 kTanRelErr64).
  const double t_hi = std::fabs(t_dbl) * (1 + 2.1 * kTanRelErr64) * (1 + kRel);
  const double g_hi = 2 / step * t_hi * (1 + kRel);
  const double Eg = g_hi * ((1 + r.u) * (1 + r.u) * (1 + tau) - 1) * (1 + kRel) + r.eta;
  const double q_dbl = 2 / step, g_dbl = q_dbl * t_dbl;
  NodeSums s;
  CTrackedSum sums[4];
  for (Index n = 0; n < N; ++n) {
    const cdouble lam = p.Lambda.at(h, n);
    const cdouble C = p.C.at(h, n), B = p.B.at(h, n), P = p.P.at(h, n), Q = p.Q.at(h, n);
    const cdouble pairs[4][2] = {{std::conj(C), B}, {std::conj(C), P}, {std::conj(Q), B}, {std::conj(Q), P}};
    for (int sgn = 0; sgn < (halves ? 2 : 1); ++sgn) {
      const double li = sgn ? -lam.imag() : lam.imag();
      // d = i g - λ' = (-Re λ, g - Im λ'); exact modulus bracketed through the double value.
      const double dim = g_dbl - li;
      const double delta = std::fabs(g_dbl) * 20 * 0x1p-53 + std::fabs(dim) * 2 * 0x1p-53;
      const double lr = -lam.real();
      const double low = std::max(lr, std::hypot(lr, std::max(0.0, std::fabs(dim) - delta))) * (1 - kRel);
      const double M = std::hypot(lr, std::fabs(dim) + delta) * (1 + kRel);
      const CTracked d{M, Eg + r.u * (M + Eg)};
      const double den = lr * lr + dim * dim;
      for (int a = 0; a < 4; ++a) {
        cdouble v = pairs[a][0] * pairs[a][1];
        const CTracked vt = mul(cexact(pairs[a][0]), cexact(pairs[a][1]), r);
        if (vt.overflows(r)) s.overflow = true;
        if (sgn) v = std::conj(v);
        sums[a].add_term(div(vt, d, low, r));
        s.value[a] += cdouble((v.real() * lr + v.imag() * dim) / den, (v.imag() * lr - v.real() * dim) / den);
      }
    }
  }
  for (int a = 0; a < 4; ++a) {
    s.k[a] = sums[a].result(r);
    if (sums[a].may_overflow(r)) s.overflow = true;
  }
  return s;
}

}  // namespace

// embed-begin kernel_dplr_bound
// [S4-DPLR-BOUND] Per node: the four Cauchy sums (node_sums), the Woodbury combination
// k00 - k01 k10 / (1 + k11) tracked ([CORE-TRACKED-CMUL], [CORE-TRACKED-CDIV] with |1 + k11|
// bounded below through an f64 evaluation and its own tracked error), times c = 1 + i t^; the node
// ω = -1 by (Δ Σ conj(C) B)/2; then the inverse DFT [S4CONV-FFT-BOUND] and Re(·)/L (one rounding).
std::vector<double> kernel_dplr_bound(const DplrProblem& p, Format format) {
  const Rounding r = Rounding::of(format_info(format));
  const Rounding rd = Rounding::of(format_info(Format::float64));
  const double u64 = rd.u;
  // t^ error: f64 computes t in double; f32 rounds that double once more.
  const double tau = format == Format::float64 ? kTanRelErr64 : r.u * (1 + kTanRelErr64) + kTanRelErr64;
  const Index L = p.L;
  std::vector<double> out(static_cast<std::size_t>(p.H * L));
  for (Index h = 0; h < p.H; ++h) {
    std::vector<CTracked> gen(static_cast<std::size_t>(L));
    bool overflow = false;
    const double step = p.step_at(h);
    if (!(2 / step * (1 + 4 * r.u) <= r.max_finite)) overflow = true;
    for (Index k = 0; k < L && !overflow; ++k) {
      if (L % 2 == 0 && 2 * k == L) {
        CTrackedSum s;
        for (Index n = 0; n < p.N; ++n) {
          const CTracked v = mul(cexact(std::conj(p.C.at(h, n))), cexact(p.B.at(h, n)), r);
          if (v.overflows(r)) overflow = true;
          s.add_term(v);
          if (p.conj == Conj::halves) s.add_term(v);
        }
        if (s.may_overflow(r)) overflow = true;
        CTracked t = mul_real(s.result(r), Tracked::exact(step), r);
        if (t.overflows(r)) overflow = true;
        gen[k] = {t.M / 2, t.E / 2 + 1.4142135623730951 * r.eta};  // halving: exact but for underflow
        continue;
      }
      const double t_dbl = node_tan_double(k, L);
      const NodeSums s = node_sums(p, h, t_dbl, tau, r);
      const NodeSums sd = format == Format::float64 ? s : node_sums(p, h, t_dbl, kTanRelErr64, rd);
      if (s.overflow || sd.overflow) {
        overflow = true;
        break;
      }
      // |1 + k11 exact| >= |1 + k11_f64| - E_f64(k11) - the rounding of that addition.
      const double one_plus = std::abs(1.0 + sd.value[3]);
      const double den_low = one_plus * (1 - 4 * u64) - sd.k[3].E * (1 + kRel);
      const CTracked num = mul(s.k[1], s.k[2], r);
      const CTracked den = add(CTracked{1, 0}, s.k[3], r);
      const CTracked frac = div(num, den, den_low, r);
      const CTracked inner = add(s.k[0], frac, r);
      const double t_hi = std::fabs(t_dbl) * (1 + 2.1 * kTanRelErr64) * (1 + kRel);
      const CTracked c{std::hypot(1.0, t_hi) * (1 + kRel), tau * t_hi + r.eta};
      gen[k] = mul(c, inner, r);
      // A product's parts are formed from products of parts: |a c| + |b d| <= |x^| |y^| each.
      for (const CTracked* x : {&num, &den, &frac, &inner, static_cast<const CTracked*>(&gen[k])})
        if (x->overflows(r)) overflow = true;
      if (s.k[1].computed_mag() * s.k[2].computed_mag() > r.max_finite ||
          c.computed_mag() * inner.computed_mag() > r.max_finite)
        overflow = true;
      if (!std::isfinite(gen[k].E)) overflow = true;
    }
    double E = kInf;
    if (!overflow) {
      const CTracked y = fft_bound::dft_output(gen, r);
      const double Ld = static_cast<double>(L);
      E = (y.E / Ld + r.u * (y.M + y.E) / Ld + r.eta) * (1 + kRel);
    }
    for (Index l = 0; l < L; ++l) out[static_cast<std::size_t>(h * L + l)] = E;
  }
  return out;
}
// embed-end kernel_dplr_bound

namespace {

// [S4-DPLR-VJP-BOUND] The tracking policy for the backward core: each value carries its f64
// evaluation v, the f64 analysis d (its error bound describes v) and the format's analysis t.
// Divisions bound their exact divisor's modulus below by |v| − d.E (a non-positive lower bound
// makes the bound +inf).
struct DZ {
  cdouble v;
  CTracked d, t;
  // [S4-DPLR-VJP-BOUND] (b) 1: the imaginary part is an exact zero (in the exact value and in
  // every evaluation), 2: the real part is; 0: neither is known to be.
  int kind = 0;
};

// [S4-DPLR-VJP-BOUND] (b) x y where x or y has an exact zero part: each part of the textbook
// product is one rounded product plus or minus an exact zero (also under FMA contraction), so
// within u |part| + eta: u |x^| |y^| + sqrt(2) eta in modulus, plus the propagated error.
CTracked mul_one_rounding(const CTracked& x, const CTracked& y, const Rounding& r) {
  const double prop = x.M * y.E + x.E * y.M + x.E * y.E;
  return {x.M * y.M + CTracked::kTinyC, prop + r.u * (x.M + x.E) * (y.M + y.E) + 1.4142135623730951 * r.eta};
}

// [S4-DPLR-VJP-BOUND] (b) x / y by the textbook formula with fewer roundings per part: `k`
// relative roundings (k = 4 when y has an exact zero part: numerator one product, denominator one
// square, the quotient, (1 + u)^2 / (1 - u) <= (1 + u)^4; k = 5 when only x has: numerator one
// product, denominator two squares and a sum of non-negative terms, the quotient,
// (1 + u)^2 / (1 - gamma_2) <= (1 + u)^5). Domain,
// propagation and underflow terms as [CORE-TRACKED-CDIV].
CTracked div_fewer(const CTracked& x, const CTracked& y, double My_low, const Rounding& r, int k) {
  const double yc_low = My_low - y.E;
  const double yc_high = y.M + y.E, xc = x.M + x.E;
  const double min_normal = std::ldexp(r.eta, 1) / r.u;
  const double M = x.M / std::max(My_low, CTracked::kTinyC) + CTracked::kTinyC;
  if (!(yc_low > 0) || !(yc_high * yc_high * (1 + 4 * r.u) <= r.max_finite) ||
      !(xc * yc_high * (1 + 4 * r.u) <= r.max_finite) || !(yc_low * yc_low * (1 - 4 * r.u) >= min_normal / r.u))
    return {M, kInf};
  const double prop = (x.E * My_low + x.M * y.E) / (My_low * yc_low) * (1 + 0x1p-50);
  const double round = std::expm1(k * std::log1p(r.u)) * (1 + 0x1p-50) * xc / yc_low;
  const double under = 1.4142135623730951 * (3 * r.eta / (yc_low * yc_low) + 2 * r.eta);
  return {M, prop + round + under};
}

struct TrackArith {
  using Z = DZ;
  Rounding r, rd;
  // A result that may leave the format's range (or whose operands' products may) is outside the
  // bound's domain: its error becomes +inf, which every later operation propagates.
  Z checked(Z z, double product_mag_t = 0, double product_mag_d = 0) const {
    // [S4-DPLR-VJP-BOUND] (a) Both analyses describe the same exact value, which lies within d.E
    // of the f64 value v: its modulus is at most |v| + d.E (when that is below the rules' M).
    if (std::isfinite(z.d.E)) {
      const double m = (std::abs(z.v) + z.d.E) * (1 + kRel) + CTracked::kTinyC;
      z.d.M = z.t.M = std::min({z.d.M, z.t.M, m});
    }
    if (z.t.overflows(r) || !(product_mag_t <= r.max_finite)) z.t.E = kInf;
    if (z.d.overflows(rd) || !(product_mag_d <= rd.max_finite)) z.d.E = kInf;
    return z;
  }
  static int sum_kind(const Z& a, const Z& b) { return a.kind == b.kind ? a.kind : 0; }
  static int product_kind(const Z& a, const Z& b) {
    if (a.kind == 0 || b.kind == 0) return 0;
    return a.kind == b.kind ? 1 : 2;
  }
  Z exact(cdouble z) const {
    const CTracked e = CTracked::exact(z.real(), z.imag());
    Z out = checked({z, e, e});
    out.kind = z.imag() == 0 ? 1 : z.real() == 0 ? 2 : 0;
    return out;
  }
  // [S4-DPLR-VJP-BOUND] (a) A sum's rounding is u times each part of the computed sum, so in
  // modulus at most u |computed sum|: for the f64 run that is u64 |v| (v is the computed sum); for
  // the format, u (|exact| + propagated error) with |exact| <= |v| + d.E.
  Z sum(const Z& a, const Z& b, const cdouble v) const {
    Z z{v, touchstone::add(a.d, b.d, rd), touchstone::add(a.t, b.t, r)};
    const double prop_d = a.d.E + b.d.E, prop_t = a.t.E + b.t.E;
    z.d.E = std::min(z.d.E, prop_d + rd.u * std::abs(v) * (1 + kRel));
    const double m = (std::abs(v) + z.d.E) * (1 + kRel);
    z.t.E = std::min(z.t.E, (prop_t + r.u * (m + prop_t)) * (1 + kRel));
    z = checked(z);
    z.kind = sum_kind(a, b);
    return z;
  }
  Z add(const Z& a, const Z& b) const { return sum(a, b, a.v + b.v); }
  Z sub(const Z& a, const Z& b) const { return sum(a, b, a.v - b.v); }
  Z mul(const Z& a, const Z& b) const {
    const cdouble v(a.v.real() * b.v.real() - a.v.imag() * b.v.imag(), a.v.real() * b.v.imag() + a.v.imag() * b.v.real());
    const bool one = a.kind != 0 || b.kind != 0;
    Z z = checked({v, one ? mul_one_rounding(a.d, b.d, rd) : touchstone::mul(a.d, b.d, rd),
                   one ? mul_one_rounding(a.t, b.t, r) : touchstone::mul(a.t, b.t, r)},
                  a.t.computed_mag() * b.t.computed_mag(), a.d.computed_mag() * b.d.computed_mag());
    z.kind = product_kind(a, b);
    return z;
  }
  Z div(const Z& a, const Z& b) const {
    const double den = b.v.real() * b.v.real() + b.v.imag() * b.v.imag();
    const cdouble v((a.v.real() * b.v.real() + a.v.imag() * b.v.imag()) / den,
                    (a.v.imag() * b.v.real() - a.v.real() * b.v.imag()) / den);
    double low = std::abs(b.v) * (1 - kRel) - b.d.E * (1 + kRel);
    if (!(low > 0)) low = 0;  // div() returns E = +inf
    const int k = b.kind != 0 ? 4 : a.kind != 0 ? 5 : 0;
    Z z = checked({v, k ? div_fewer(a.d, b.d, low, rd, k) : touchstone::div(a.d, b.d, low, rd),
                   k ? div_fewer(a.t, b.t, low, r, k) : touchstone::div(a.t, b.t, low, r)});
    z.kind = product_kind(a, b);
    return z;
  }
  Z conj(const Z& a) const { return {std::conj(a.v), a.d, a.t, a.kind}; }
  Z re(const Z& a) const { return {cdouble(a.v.real(), 0), a.d, a.t, 1}; }
  Z node_t(const Z& a, Index) const { return a; }
  Z node_g(const Z& a, Index) const { return a; }
};

// [S4-DPLR-VJP-BOUND] (c) The node values' errors handled coherently. At node k the backend
// computes t^ (|t^ − t| <= Ec) and g^ (|g^ − g| <= Eg, imaginary). Let P^ be the problem with the
// exact node values replaced by these computed ones. The backend's error splits into its error
// against the exact chain on P^ (the rounding analysis of TrackArith with t^ and g^ as exact
// inputs) and the exact chain's change from P to P^. Every value computed at node k depends on
// node k's values only (through e_g = Im(g^ − g) and e_c = t^ − t), so along the segment from P
// to P^, |x(P^) − x(P)| <= Σ_j E_j (|∂_j x(P^)| + Σ_i E_i Q), Q bounding every second derivative
// on the segment. ∂_j x(P^) is carried as an f64 value sv with an error bound sE (forward-mode
// derivatives: their f64 evaluation and its error from the operands' f64 errors d.E), and the
// segment bounds Mp (|x|), P (|∂_j x|), Q by modulus rules. Because ∂_j x is evaluated as a
// complex value, the cancellation inside the node's sums (Σ_n v R², the four factors of dstep)
// is kept, where the modulus rules charge every term's own perturbation. A value is converted
// ("flushed") to an ordinary error bound against P when it meets a value of another node (the
// accumulations over nodes) and at the end.
struct Sens {
  cdouble sv[2] = {};
  double sE[2] = {0, 0}, P[2] = {0, 0}, Ej[2] = {0, 0};
  double Q = 0, Mp = 0;
  Index tag = 0;  // 0: depends on no node value; k + 1: on node k's
};
struct BZ {
  DZ b;
  Sens s;
};

struct CoherentArith {
  using Z = BZ;
  TrackArith A;
  const DplrProblem* p = nullptr;
  Index h = 0;
  double tau = 0;    // the format's node-value error, relative (as TrackArith's tk)

  double u64() const { return A.rd.u; }
  static double pmax(const Sens& s) { return std::max(s.P[0], s.P[1]); }
  static Sens untagged(const DZ& b) {
    Sens s;
    s.Mp = b.t.M;
    return s;
  }
  // The deviation |x(P^) − x(P)| of a tagged value.
  static double deviation(const Sens& s) {
    double dev = 0;
    for (int j = 0; j < 2; ++j) dev += s.Ej[j] * (std::abs(s.sv[j]) * (1 + kRel) + s.sE[j]);
    const double e = s.Ej[0] + s.Ej[1];
    return (dev + e * e * s.Q) * (1 + 0x1p-40);  // covers this evaluation's own roundings
  }
  static BZ flush(BZ x) {
    if (x.s.tag == 0) return x;
    const double dev = deviation(x.s);
    x.b.t.E += dev;
    x.b.d.E += dev;
    x.b.t.M += dev;
    x.b.d.M += dev;
    if (!std::isfinite(dev)) x.b.t.E = x.b.d.E = kInf;
    x.s = untagged(x.b);
    return x;
  }
  DZ out(const BZ& x) const { return flush(x).b; }
  // Operands of two different nodes: the first (the accumulator, in the core's use) is flushed.
  static void align(BZ& a, BZ& b) {
    if (a.s.tag != 0 && b.s.tag != 0 && a.s.tag != b.s.tag) a = flush(a);
  }
  static Sens base(const Sens& a, const Sens& b) {
    Sens r;
    r.tag = a.tag != 0 ? a.tag : b.tag;
    for (int j = 0; j < 2; ++j) r.Ej[j] = std::max(a.Ej[j], b.Ej[j]);
    return r;
  }
  BZ finish(const DZ& b, Sens s) const {
    if (s.tag == 0) return {b, untagged(b)};
    s.Mp = std::max(s.Mp, b.t.M);
    return {b, s};
  }

  Z exact(cdouble z) const {
    const DZ b = A.exact(z);
    return {b, untagged(b)};
  }
  Z addsub(Z a, Z b, double sign) const {
    align(a, b);
    const DZ r = sign > 0 ? A.add(a.b, b.b) : A.sub(a.b, b.b);
    Sens s = base(a.s, b.s);
    for (int j = 0; j < 2; ++j) {
      s.sv[j] = a.s.sv[j] + sign * b.s.sv[j];
      s.sE[j] = a.s.sE[j] + b.s.sE[j] + 2 * u64() * (std::abs(a.s.sv[j]) + std::abs(b.s.sv[j]));
      s.P[j] = a.s.P[j] + b.s.P[j];
    }
    s.Q = a.s.Q + b.s.Q;
    s.Mp = a.s.Mp + b.s.Mp;
    return finish(r, s);
  }
  Z add(const Z& a, const Z& b) const { return addsub(a, b, 1); }
  Z sub(const Z& a, const Z& b) const { return addsub(a, b, -1); }
  Z mul(Z a, Z b) const {
    align(a, b);
    const DZ r = A.mul(a.b, b.b);
    Sens s = base(a.s, b.s);
    const cdouble va = a.b.v, vb = b.b.v;
    const double Da = a.b.d.E, Db = b.b.d.E;
    for (int j = 0; j < 2; ++j) {
      const cdouble x = a.s.sv[j], y = b.s.sv[j];
      s.sv[j] = x * vb + va * y;
      s.sE[j] = a.s.sE[j] * std::abs(vb) + (std::abs(x) + a.s.sE[j]) * Db + b.s.sE[j] * std::abs(va) +
                (std::abs(y) + b.s.sE[j]) * Da + 6 * u64() * (std::abs(x) * std::abs(vb) + std::abs(va) * std::abs(y));
      s.P[j] = a.s.P[j] * b.s.Mp + a.s.Mp * b.s.P[j];
    }
    s.Q = a.s.Q * b.s.Mp + 2 * pmax(a.s) * pmax(b.s) + a.s.Mp * b.s.Q;
    s.Mp = a.s.Mp * b.s.Mp;
    return finish(r, s);
  }
  Z div(Z a, Z b) const {
    align(a, b);
    const DZ r = A.div(a.b, b.b);
    Sens s = base(a.s, b.s);
    if (s.tag == 0) return finish(r, s);
    const cdouble vb = b.b.v, z = r.v;
    const double Db = b.b.d.E, Dz = r.d.E;
    const double yex = std::abs(vb) * (1 - kRel) - Db;  // |b(P^)| >= yex
    const double ylow = yex - s.Ej[0] * b.s.P[0] - s.Ej[1] * b.s.P[1];  // on the segment
    if (!(yex > 0) || !(ylow > 0) || !std::isfinite(Dz)) {
      for (int j = 0; j < 2; ++j) s.sE[j] = kInf;
      return finish(r, s);
    }
    for (int j = 0; j < 2; ++j) {
      const cdouble x = a.s.sv[j], y = b.s.sv[j];
      const cdouble n = x - z * y;
      s.sv[j] = n / vb;
      const double En = a.s.sE[j] + Dz * std::abs(y) + (std::abs(z) + Dz) * b.s.sE[j] +
                        6 * u64() * (std::abs(x) + std::abs(z) * std::abs(y));
      s.sE[j] = En / yex + std::abs(n) * Db / (std::abs(vb) * (1 - kRel) * yex) + 10 * u64() * std::abs(n) / yex;
      s.P[j] = a.s.P[j] / ylow + a.s.Mp * b.s.P[j] / (ylow * ylow);
    }
    const double pa = pmax(a.s), pb = pmax(b.s);
    s.Q = a.s.Q / ylow + 2 * pa * pb / (ylow * ylow) + a.s.Mp * b.s.Q / (ylow * ylow) +
          2 * a.s.Mp * pb * pb / (ylow * ylow * ylow);
    s.Mp = a.s.Mp / ylow;
    return finish(r, s);
  }
  Z conj(const Z& a) const {
    Z r{A.conj(a.b), a.s};
    for (auto& x : r.s.sv) x = std::conj(x);
    return r;
  }
  Z re(const Z& a) const {
    Z r{A.re(a.b), a.s};
    for (auto& x : r.s.sv) x = cdouble(x.real(), 0);
    return r;
  }
  // t^ as an exact input of P^ (direction c: ∂t/∂e_c = 1).
  Z node_t(const Z& a, Index k) const {
    Z r = a;
    const double th = a.b.t.M, Ec = tau * th;
    r.b.t.E = 0;
    r.b.d.E = (kTanRelErr64 + tau) * th;  // |t64 − t^|: both within their bounds of t
    r.s = Sens{};
    r.s.tag = k + 1;
    r.s.sv[1] = cdouble(1, 0);
    r.s.P[1] = 1;
    r.s.Ej[1] = Ec;
    r.s.Mp = th + Ec;
    return r;
  }
  // g^ = fl(fl(2/Δ) t^) as an exact input of P^ (direction g: ∂g/∂e_g = i). q = 2Δ/Δ² by the
  // textbook division (2Δ exact, Δ² and the quotient rounded, within 2.0001 u relative when Δ²
  // is normal), then the product with t^ rounded: |g^ − g| <= |g| ((1 + 2.0001u)(1 + τ)(1 + u) − 1) + 2η.
  Z node_g(const Z& a, Index k) const {
    const double step = p->step_at(h);
    const double t = node_tan_double(k, p->L), th = std::fabs(t) * (1 + 2.1 * kTanRelErr64) * (1 + kRel);
    const double g_hi = 2 / step * th * (1 + kRel);
    auto err = [&](const Rounding& rr, double ta) {
      return g_hi * ((1 + 2.0001 * rr.u) * (1 + ta) * (1 + rr.u) - 1) * (1 + kRel) + 2 * rr.eta;
    };
    const double Eg = err(A.r, tau), Eg64 = err(A.rd, kTanRelErr64);
    Z r = a;
    r.b.t = {g_hi + Eg, 0};
    r.b.d = {g_hi + Eg, Eg + Eg64};  // |g64 − g^|: both within their bounds of g
    r.b.kind = 2;
    r.s = Sens{};
    r.s.tag = k + 1;
    r.s.sv[0] = cdouble(0, 1);
    r.s.P[0] = 1;
    r.s.Ej[0] = Eg;
    r.s.Mp = g_hi + Eg;
    return r;
  }
};

}  // namespace

// embed-begin kernel_dplr_backward_bound
// [S4-DPLR-VJP-BOUND] G = DFT(dK)/L by [S4CONV-FFT-BOUND] and one rounding per part; then the
// backward core's sequence under TrackArith; shared parameters' channel sums by tracked additions.
DplrGrads<double> kernel_dplr_backward_bound(const DplrProblem& p, const std::vector<double>& dK, Format format) {
  if (static_cast<Index>(dK.size()) != p.H * p.L) throw InvalidInput("dK", "must have the shape of K");
  TrackArith ar{Rounding::of(format_info(format)), Rounding::of(format_info(Format::float64))};
  const Index H = p.H, L = p.L, N = p.N;
  const double tau = format == Format::float64 ? kTanRelErr64 : ar.r.u * (1 + kTanRelErr64) + kTanRelErr64;
  std::vector<DZ> tk(static_cast<std::size_t>(L), ar.exact({0, 0}));
  for (Index k = 0; k < L; ++k) {
    if (L % 2 == 0 && 2 * k == L) continue;
    const double t = node_tan_double(k, L), th = std::fabs(t) * (1 + 2.1 * kTanRelErr64) * (1 + kRel);
    tk[k] = {cdouble(t, 0), {th, kTanRelErr64 * th}, {th, tau * th}, 1};
  }
  const double Ld = static_cast<double>(L);
  std::vector<backward_core::ChannelGrads<DZ>> per, coherent;
  for (Index h = 0; h < H; ++h) {
    std::vector<CTracked> in;
    // The backend converts dK to the format (round to nearest): that rounding is an input error.
    for (Index l = 0; l < L; ++l) {
      const double x = dK[static_cast<std::size_t>(h * L + l)];
      const double e = format == Format::float64 ? 0.0 : std::fabs(x - static_cast<double>(static_cast<float>(x)));
      in.push_back({std::fabs(x) + CTracked::kTinyC, e});
    }
    auto scaled = [&](const Rounding& rr) {
      const CTracked y = fft_bound::dft_output(in, rr);
      return CTracked{y.M / Ld, y.E / Ld + rr.u * (y.M + y.E) / Ld + 1.4142135623730951 * rr.eta};
    };
    const CTracked Gt = scaled(ar.r);
    // [S4-DPLR-VJP-BOUND] (a) G's f64 value by a direct DFT (twiddles by cos and sin of
    // 2π((k l) mod L)/L, [MAMBA-CSCAN-ASSUME-LIBM-SINCOS]), with a generous bound Ed of its error:
    // the angle within 4 u64 2π, each twiddle part within 2^-48 of the exact one, the L products
    // and the sequential sum within √2 γ_(L+1) Σ|dK|, then the division by L.
    double sum_abs = 0;
    for (Index l = 0; l < L; ++l) sum_abs += std::fabs(dK[static_cast<std::size_t>(h * L + l)]);
    sum_abs *= 1 + static_cast<double>(L + 1) * 0x1p-52;
    const double Ed = (sum_abs * (0x1p-46 + 2 * std::expm1(static_cast<double>(L + 2) * std::log1p(ar.rd.u))) / Ld) *
                          (1 + 0x1p-40) +
                      4 * ar.rd.eta;
    std::vector<DZ> G;
    for (Index k = 0; k < L; ++k) {
      cdouble acc(0, 0);
      for (Index l = 0; l < L; ++l) {
        const double th = 2 * kPi * static_cast<double>((k * l) % L) / Ld;
        acc += dK[static_cast<std::size_t>(h * L + l)] * cdouble(std::cos(th), -std::sin(th));
      }
      DZ z{acc / Ld, {Gt.M, Ed}, Gt};
      const double m = (std::abs(z.v) + Ed) * (1 + kRel) + CTracked::kTinyC;
      z.d.M = z.t.M = std::min(Gt.M, m);
      G.push_back(z);
    }
    per.push_back(backward_core::dplr_vjp_channel(ar, p, h, G, tk));
    // [S4-DPLR-VJP-BOUND] (c) The same channel with the node values' errors handled
    // coherently (its domain: Δ² normal in the format, for q's error); each output element's
    // bound is the smaller of the two analyses'.
    const double step = p.step_at(h), min_normal = std::ldexp(ar.r.eta, 1) / ar.r.u;
    if (step * step >= 4 * min_normal) {
      CoherentArith co{ar, &p, h, tau};
      std::vector<BZ> GB, tB;
      for (const DZ& z : G) GB.push_back({z, CoherentArith::untagged(z)});
      for (const DZ& z : tk) tB.push_back({z, CoherentArith::untagged(z)});
      const auto c = backward_core::dplr_vjp_channel(co, p, h, GB, tB);
      backward_core::ChannelGrads<DZ> o;
      auto conv = [&](const std::vector<BZ>& in) {
        std::vector<DZ> v;
        for (const BZ& x : in) v.push_back(co.out(x));
        return v;
      };
      o.Lambda = conv(c.Lambda), o.P = conv(c.P), o.Q = conv(c.Q), o.B = conv(c.B), o.C = conv(c.C);
      o.step = co.out(c.step);
      coherent.push_back(o);
    } else {
      coherent.push_back(per.back());
    }
  }
  auto bound_of = [](const std::vector<DZ>& acc) {
    std::vector<double> b;
    for (const DZ& z : acc) {
      const double E = std::isfinite(z.t.E) ? z.t.E * (1 + kRel) : kInf;
      b.push_back(E), b.push_back(E);
    }
    return b;
  };
  using CG = backward_core::ChannelGrads<DZ>;
  auto grads = [&](const std::vector<CG>& pc) {
    auto gather = [&](const CParam& c, std::vector<DZ> CG::*member, bool plus_q) {
      std::vector<DZ> acc(c.values.size(), ar.exact({0, 0}));
      for (Index h = 0; h < H; ++h)
        for (Index n = 0; n < N; ++n) {
          const std::size_t i = static_cast<std::size_t>((c.H ? h : 0) * N + n);
          const DZ x = plus_q ? ar.add(pc[h].P[n], pc[h].Q[n]) : (pc[h].*member)[n];
          acc[i] = ar.add(acc[i], x);
        }
      return bound_of(acc);
    };
    DplrGrads<double> g;
    g.Lambda = gather(p.Lambda, &CG::Lambda, false);
    g.B = gather(p.B, &CG::B, false);
    g.C = gather(p.C, &CG::C, false);
    if (p.q_tied) {
      g.P = gather(p.P, &CG::P, true);
    } else {
      g.P = gather(p.P, &CG::P, false);
      g.Q = gather(p.Q, &CG::Q, false);
    }
    std::vector<DZ> st(p.step.size(), ar.exact({0, 0}));
    for (Index h = 0; h < H; ++h) {
      const std::size_t i = p.step.size() == 1 ? 0 : static_cast<std::size_t>(h);
      st[i] = ar.add(st[i], pc[h].step);
    }
    for (const DZ& z : st) g.step.push_back(std::isfinite(z.t.E) ? z.t.E * (1 + kRel) : kInf);
    return g;
  };
  DplrGrads<double> g = grads(per);
  const DplrGrads<double> gc = grads(coherent);
  auto take_min = [](std::vector<double>& a, const std::vector<double>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::min(a[i], b[i]);
  };
  take_min(g.Lambda, gc.Lambda), take_min(g.P, gc.P), take_min(g.Q, gc.Q), take_min(g.B, gc.B);
  take_min(g.C, gc.C), take_min(g.step, gc.step);
  return g;
}
// embed-end kernel_dplr_backward_bound

// embed-begin ssm_kernel_bound
// [S4-SSM-KERNEL-BOUND] x_{l+1} = fl(Ā x^_l) by sequential dot products: |fl(Ā x^) − Ā x^| <=
// γ_N |Ā| |x^| + N η per element (Higham (3.11) with underflow), so the error e_l of x^_l obeys
// e_{l+1} <= |Ā| e_l + γ_N |Ā| (m_l + e_l), m_l >= |x_l| the exact magnitudes, and
// |K^_l − K_l| <= |C̄| e_l + γ_N |C̄| (m_l + e_l) + N η. The magnitudes m_l come from an f64 run of
// the same recurrence plus its own bound (the same recursion with f64's γ and m = |x^64|).
// The bound's own double arithmetic is covered by a factor (1 + (N + 4) 2^-52) per step.
std::vector<double> ssm_kernel_bound(const DiscreteSsmProblem& p, Format format) {
  const Rounding r = Rounding::of(format_info(format));
  const Rounding rd = Rounding::of(format_info(Format::float64));
  const Index N = p.N;
  const double Nd = static_cast<double>(N);
  const double g = std::expm1(Nd * std::log1p(r.u)), gd = std::expm1(Nd * std::log1p(rd.u));
  const double slack = 1 + (Nd + 4) * 0x1p-52;
  std::vector<double> absA(p.Ab.size());
  for (std::size_t i = 0; i < absA.size(); ++i) absA[i] = std::fabs(p.Ab[i]);
  std::vector<double> x = p.Bb, xn(N), ed(N, 0.0), e(N, 0.0), en(N), edn(N), m(N);
  std::vector<double> out(static_cast<std::size_t>(p.L));
  // Once a computed state entry or a dot product's partial sum may leave the format's range (or
  // the f64 run that gives the magnitudes may), every later output is outside the bound's domain.
  bool overflow = false;
  for (Index l = 0; l < p.L; ++l) {
    if (overflow) {
      out[l] = kInf;
      continue;
    }
    for (Index i = 0; i < N; ++i) m[i] = (std::fabs(x[i]) + ed[i]) * (1 + 0x1p-52);
    double ce = 0, cm = 0;
    for (Index i = 0; i < N; ++i) {
      ce += std::fabs(p.Cb[i]) * e[i];
      cm += std::fabs(p.Cb[i]) * (m[i] + e[i]);
    }
    out[l] = (ce + g * cm + Nd * 2 * r.eta) * slack;
    if (!std::isfinite(out[l]) || cm * (1 + g) > r.max_finite) out[l] = kInf;
    if (l + 1 == p.L) break;
    for (Index i = 0; i < N; ++i) {
      double s = 0, ae = 0, am = 0, aed = 0, axd = 0;
      for (Index j = 0; j < N; ++j) {
        const double a = absA[static_cast<std::size_t>(i * N + j)];
        s += p.Ab[static_cast<std::size_t>(i * N + j)] * x[j];
        ae += a * e[j];
        am += a * (m[j] + e[j]);
        aed += a * ed[j];
        axd += a * std::fabs(x[j]);
      }
      xn[i] = s;
      en[i] = (ae + g * am + Nd * 2 * r.eta) * slack;
      edn[i] = (aed + gd * axd + Nd * 2 * rd.eta) * slack;
      // |partial sums| <= sum_j |a_ij| (m_j + e_j) = am (and axd + aed for the f64 run).
      if (!(am * (1 + g) * slack <= r.max_finite) || !((axd + aed) * (1 + gd) * slack <= rd.max_finite) ||
          !std::isfinite(en[i]) || !std::isfinite(edn[i]))
        overflow = true;
    }
    std::swap(x, xn);
    std::swap(e, en);
    std::swap(ed, edn);
  }
  return out;
}
// embed-end ssm_kernel_bound

}  // namespace touchstone::s4
