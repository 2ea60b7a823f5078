// The one translation unit that instantiates the S4 oracles (spec/s4.md), and the problems'
// constructors (their validation).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <string>

#include "touchstone/core/mp_eigen.hpp"
#include "touchstone/reference/s4.hpp"

namespace touchstone::s4 {

Conj parse_conj(const std::string& s) {
  if (s == "halves") return Conj::halves;
  if (s == "full") return Conj::full;
  throw InvalidInput("conj", "must be 'halves' or 'full', got '" + s + "'");
}
const char* conj_name(Conj c) { return c == Conj::halves ? "halves" : "full"; }

Disc parse_disc(const std::string& s) {
  if (s == "bilinear") return Disc::bilinear;
  if (s == "zoh") return Disc::zoh;
  throw InvalidInput("disc", "must be 'bilinear' or 'zoh', got '" + s + "'");
}

void require_no_inf(const std::vector<cdouble>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isinf(v[i].real()) || std::isinf(v[i].imag()))
      throw InvalidInput(name, "element " + std::to_string(i) + " is infinite (NaN propagates, infinities are rejected)");
}
void require_no_inf(const std::vector<double>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isinf(v[i]))
      throw InvalidInput(name, "element " + std::to_string(i) + " is infinite (NaN propagates, infinities are rejected)");
}

namespace {
constexpr Index kMaxExtent = Index{1} << 24;
void require_extent(Index x, const std::string& name, Index lo = 1, Index hi = kMaxExtent) {
  if (x < lo || x > hi)
    throw InvalidInput(name, "extent " + std::to_string(x) + " outside [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "]");
}
}  // namespace

CauchyProblem::CauchyProblem(CauchyInputs in) : CauchyInputs(std::move(in)) {
  require_extent(H, "v");
  require_extent(N, "v");
  require_extent(L, "z");
  if (static_cast<Index>(v.size()) != H * N) throw InvalidInput("v", "needs H*N values");
  if (static_cast<Index>(w.size()) != H * N) throw InvalidInput("w", "must have the shape of v (H, N)");
  if (static_cast<Index>(z.size()) != L) throw InvalidInput("z", "needs L values");
  require_no_inf(v, "v");
  require_no_inf(w, "w");
  require_no_inf(z, "z");
  for (Index l = 0; l < L; ++l)
    for (std::size_t i = 0; i < w.size(); ++i)
      if (z[l] == w[i] || (conj == Conj::halves && z[l] == std::conj(w[i])))
        throw InvalidInput("z", "z[" + std::to_string(l) + "] is a pole (equals w or, in halves, conj w at flat index " +
                                    std::to_string(i) + ")");
}

CauchyBackwardProblem::CauchyBackwardProblem(CauchyProblem forward, std::vector<cdouble> dout)
    : fwd_(std::move(forward)), dout_(std::move(dout)) {
  if (static_cast<Index>(dout_.size()) != fwd_.H * fwd_.L) throw InvalidInput("dout", "must have shape (H, L)");
  require_no_inf(dout_, "dout");
}

namespace {
void require_finite(const std::vector<cdouble>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i].real()) || !std::isfinite(v[i].imag()))
      throw InvalidInput(name, "element " + std::to_string(i) + " is not finite (this entry rejects NaN and infinities)");
}
void require_finite(const std::vector<double>& v, const std::string& name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw InvalidInput(name, "element " + std::to_string(i) + " is not finite (this entry rejects NaN and infinities)");
}
}  // namespace

DplrProblem::DplrProblem(DplrInputs in) : DplrInputs(std::move(in)) {
  require_extent(N, "Lambda");
  require_extent(L, "L");
  require_extent(H, "C");
  auto check = [&](const CParam& c, const char* name) {
    if (c.N != N || (c.H != 0 && c.H != H) || static_cast<Index>(c.values.size()) != (c.H ? c.H : 1) * N)
      throw InvalidInput(name, "must be (N',) or (H, N') with N' = " + std::to_string(N) + ", H = " + std::to_string(H));
    require_finite(c.values, name);
  };
  check(Lambda, "Lambda");
  check(P, "P");
  check(Q, "Q");
  check(B, "B");
  check(C, "C");
  if (step.size() != 1 && static_cast<Index>(step.size()) != H) throw InvalidInput("step", "must be a scalar or (H,)");
  for (double s : step)
    if (!(s > 0) || !std::isfinite(s)) throw InvalidInput("step", "must be positive and finite");
  for (const cdouble& l : Lambda.values)
    if (!(l.real() < 0)) throw InvalidInput("Lambda", "real parts must be negative (and not NaN)");
}

DplrBackwardProblem::DplrBackwardProblem(DplrProblem forward, std::vector<double> dK)
    : fwd_(std::move(forward)), dK_(std::move(dK)) {
  if (static_cast<Index>(dK_.size()) != fwd_.H * fwd_.L) throw InvalidInput("dK", "must have the shape of K");
  require_no_inf(dK_, "dK");
}

SsmProblem::SsmProblem(SsmInputs in) : SsmInputs(std::move(in)) {
  require_extent(N, "A", 1, 4096);
  require_extent(L, "L");
  if (static_cast<Index>(A.size()) != N * N) throw InvalidInput("A", "must be (N, N)");
  if (static_cast<Index>(B.size()) != N) throw InvalidInput("B", "must be (N,)");
  if (static_cast<Index>(C.size()) != N) throw InvalidInput("C", "must be (N,)");
  if (!(step > 0) || !std::isfinite(step)) throw InvalidInput("step", "must be positive and finite");
  require_finite(A, "A");
  require_finite(B, "B");
  require_finite(C, "C");
}

DiscreteSsmProblem::DiscreteSsmProblem(DiscreteSsmInputs in) : DiscreteSsmInputs(std::move(in)) {
  require_extent(N, "Ab", 1, 4096);
  require_extent(L, "L");
  if (static_cast<Index>(Ab.size()) != N * N) throw InvalidInput("Ab", "must be (N, N)");
  if (static_cast<Index>(Bb.size()) != N) throw InvalidInput("Bb", "must be (N,)");
  if (static_cast<Index>(Cb.size()) != N) throw InvalidInput("Cb", "must be (N,)");
  require_finite(Ab, "Ab");
  require_finite(Bb, "Bb");
  require_finite(Cb, "Cb");
}

namespace reference {

namespace {
// A complex number from a cdouble, keeping a NaN part NaN (Boost 1.74's two-argument mp_complex
// constructor maps (x, NaN) to (NaN, 0)).
template <class Complex, class Real>
Complex cx(const cdouble& z) {
  return Complex(Real(z.real()), Real(z.imag()));
}
template <>
mp_complex cx<mp_complex, mp_real>(const cdouble& z) {
  mp_complex r;
  const mp_real re(z.real()), im(z.imag());
  mpc_set_fr_fr(r.backend().data(), re.backend().data(), im.backend().data(), MPC_RNDNN);
  return r;
}
template <class Complex, class Real>
Complex cx2(const Real& re, const Real& im) {
  return Complex(re, im);
}
template <>
mp_complex cx2<mp_complex, mp_real>(const mp_real& re, const mp_real& im) {
  mp_complex r;
  mpc_set_fr_fr(r.backend().data(), re.backend().data(), im.backend().data(), MPC_RNDNN);
  return r;
}
}  // namespace

// A problem's (A, B, C), given row-major in double, as exact matrices of Real.
template <class Real>
struct DenseSystem {
  Mat<Real> A;
  Vec<Real> B, C;
  DenseSystem(Index N, const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c)
      : A(N, N), B(N), C(N) {
    for (Index i = 0; i < N; ++i) {
      for (Index j = 0; j < N; ++j) A(i, j) = Real(a[static_cast<std::size_t>(i * N + j)]);
      B(i) = Real(b[static_cast<std::size_t>(i)]);
      C(i) = Real(c[static_cast<std::size_t>(i)]);
    }
  }
};

// [S4-DPLR-ORACLE-RANGE] The dense route forms A = diag(Λ) − P Q*, whose entries reach |P||Q|, and
// inverts I − (Δ/2) A: where |P||Q| is large the exact result is a difference of terms up to
// about (Δ|P||Q|)^2 times its size, and at a precision below that the smaller terms are absorbed
// the same way at p and at 2p bits, so [CORE-ORACLE-VERIFIED]'s check agrees on a wrong answer
// (registry properties: |P| = 1.6e30 gave K = -0.70 at 128 and 256 bits, -0.45 from 512 bits on,
// where cpu-f64 is right). The dense oracles add guard bits for that range: 4 log2 of the largest
// |Δ/2 A| entry (none when it is at most 1).
namespace {
// 4 log2 M guard bits for the largest |(Δ/2) A| entry M; none when M <= 1 (or NaN: a NaN input
// propagates at any precision).
unsigned guard_bits_for(double big) {
  if (!(big > 1)) return 0;
  return 4 * static_cast<unsigned>(std::ceil(std::log2(std::min(big, 1e300))));
}

unsigned dplr_guard_bits(const DplrProblem& p) {
  double big = 0;
  for (Index h = 0; h < p.H; ++h) {
    double P = 0, Q = 0, lam = 0;
    for (Index n = 0; n < p.N; ++n) {
      P = std::max(P, std::abs(p.P.at(h, n)));
      Q = std::max(Q, std::abs(p.Q.values.empty() ? p.P.at(h, n) : p.Q.at(h, n)));
      lam = std::max(lam, std::abs(p.Lambda.at(h, n)));
    }
    big = std::max(big, 0.5 * p.step_at(h) * (lam + P * Q * static_cast<double>(p.N)));
  }
  return guard_bits_for(big);
}

// The dense SSM kernel of a user's A the same way: M = (Δ/2) N max |A_ij|.
unsigned ssm_guard_bits(const SsmProblem& p) {
  double a = 0;
  for (const double x : p.A) a = std::max(a, std::abs(x));
  return guard_bits_for(0.5 * p.step * a * static_cast<double>(p.N));
}

template <class Real>
struct RangeGuard {
  std::optional<WorkingPrecision> wp;
  explicit RangeGuard(unsigned bits) {
    if constexpr (std::is_same_v<Real, mp_real>) {
      if (bits) wp.emplace(std::min(kMaxPrecisionBits, precision_bits(mp_real()) + bits));
    }
  }
};
}  // namespace

// embed-begin ssm_kernel
template <class Real>
std::vector<Real> ssm_kernel(const SsmProblem& p) {
  const RangeGuard<Real> guard(ssm_guard_bits(p));
  const DenseSystem<Real> sys(p.N, p.A, p.B, p.C);
  const Mat<Real>& A = sys.A;
  const Vec<Real>& B = sys.B;
  const Vec<Real>& C = sys.C;
  const Real step(p.step);
  const Discrete<Real> d = p.disc == Disc::bilinear ? discretize_bilinear<Real, Real>(A, B, step)
                                                    : discretize_zoh<Real, Real>(A, B, step);
  return ssm_kernel_dense<Real>(d.Ab, d.Bb, C, p.L);  // C̄ = C
}
// embed-end ssm_kernel

template <class Real>
std::vector<Real> ssm_kernel_discrete(const DiscreteSsmProblem& p) {
  const DenseSystem<Real> sys(p.N, p.Ab, p.Bb, p.Cb);
  return ssm_kernel_dense<Real>(sys.A, sys.B, sys.C, p.L);
}

// embed-begin cauchy
template <class Real, class Complex>
Tensor<Real> cauchy(const CauchyProblem& p) {
  Tensor<Real> out(Shape{p.H, p.L, 2});
  for (Index h = 0; h < p.H; ++h)
    for (Index l = 0; l < p.L; ++l) {
      const Complex z = cx<Complex, Real>(p.z[l]);
      Complex s = cx2<Complex, Real>(Real(0), Real(0));
      for (Index n = 0; n < p.N; ++n) {
        const Complex v = cx<Complex, Real>(p.vv(h, n)), w = cx<Complex, Real>(p.ww(h, n));
        s = s + v / (z - w);
        if (p.conj == Conj::halves) s = s + conj(v) / (z - conj(w));
      }
      out(h, l, Index{0}) = Real(real(s));
      out(h, l, Index{1}) = Real(imag(s));
    }
  return out;
}
// embed-end cauchy

// embed-begin cauchy_backward
// [S4-CAUCHY-VJP] For a real loss with dout = ∂ℓ/∂Re out + i ∂ℓ/∂Im out (PyTorch's convention),
// dv = Σ_l dout_l conj(∂out_l/∂v) for the holomorphic term, + conj(dout_l) ∂out_l/∂v̄ for the
// conjugate term; the same for w:
//   dv_n = Σ_l dout_l / conj(z_l − w_n)     [+ conj(dout_l) / (z_l − conj w_n)]
//   dw_n = Σ_l dout_l conj(v_n / (z_l − w_n)²)  [+ conj(dout_l) conj(v_n) / (z_l − conj w_n)²]
template <class Real, class Complex>
CauchyGrads<Real> cauchy_backward(const CauchyBackwardProblem& q) {
  const CauchyProblem& p = q.forward();
  CauchyGrads<Real> out{Tensor<Real>(Shape{p.H, p.N, 2}), Tensor<Real>(Shape{p.H, p.N, 2})};
  for (Index h = 0; h < p.H; ++h)
    for (Index n = 0; n < p.N; ++n) {
      const Complex v = cx<Complex, Real>(p.vv(h, n)), w = cx<Complex, Real>(p.ww(h, n));
      Complex dv = cx2<Complex, Real>(Real(0), Real(0)), dw = dv;
      for (Index l = 0; l < p.L; ++l) {
        const Complex z = cx<Complex, Real>(p.z[l]);
        const Complex g = cx<Complex, Real>(q.g(h, l));
        const Complex d = z - w;
        dv = dv + g / conj(d);
        dw = dw + g * conj(v / (d * d));
        if (p.conj == Conj::halves) {
          const Complex e = z - conj(w);
          dv = dv + conj(g) / e;
          dw = dw + conj(g) * conj(v) / (e * e);
        }
      }
      out.dv(h, n, Index{0}) = Real(real(dv));
      out.dv(h, n, Index{1}) = Real(imag(dv));
      out.dw(h, n, Index{0}) = Real(real(dw));
      out.dw(h, n, Index{1}) = Real(imag(dw));
    }
  return out;
}
// embed-end cauchy_backward

namespace {
// The full system of channel h: in halves, each stored mode and its conjugate.
template <class Real, class Complex>
struct FullSystem {
  Vec<Complex> Lambda, P, Q, B, C;
};
template <class Real, class Complex>
FullSystem<Real, Complex> full_system(const DplrProblem& p, Index h) {
  const Index Nf = p.conj == Conj::halves ? 2 * p.N : p.N;
  FullSystem<Real, Complex> f{Vec<Complex>(Nf), Vec<Complex>(Nf), Vec<Complex>(Nf), Vec<Complex>(Nf), Vec<Complex>(Nf)};
  auto fill = [&](Vec<Complex>& dst, const CParam& src) {
    for (Index n = 0; n < p.N; ++n) {
      dst(n) = cx<Complex, Real>(src.at(h, n));
      if (p.conj == Conj::halves) dst(p.N + n) = conj(dst(n));
    }
  };
  fill(f.Lambda, p.Lambda);
  fill(f.P, p.P);
  fill(f.Q, p.Q);
  fill(f.B, p.B);
  fill(f.C, p.C);
  return f;
}
// A = diag(Λ) − P Q*.
template <class Complex>
Mat<Complex> dplr_matrix(const Vec<Complex>& Lambda, const Vec<Complex>& P, const Vec<Complex>& Q) {
  const Index N = Lambda.size();
  Mat<Complex> A(N, N);
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < N; ++j) A(i, j) = (i == j ? Lambda(i) : Complex(0)) - P(i) * conj(Q(j));
  return A;
}
}  // namespace


// embed-begin kernel_dplr
// [S4-DPLR-DEF] A = diag(Λ) − P Q*, bilinear (Ā, B̄) [S4-DISC-BILINEAR]; the learned C̃ is the
// input C conjugated (annotated-s4's kernel_DPLR conjugates its C argument, [S4-DPLR-CONJ-C]);
// C̄ = C̃ (I − Ā^L)⁻¹ ([S4-ID-GEN-TRUNC]); K_l = Re(C̄ Ā^l B̄).
template <class Real, class Complex>
std::vector<Real> kernel_dplr(const DplrProblem& p) {
  const RangeGuard<Real> guard(dplr_guard_bits(p));
  std::vector<Real> K(static_cast<std::size_t>(p.H * p.L));
  for (Index h = 0; h < p.H; ++h) {
    const FullSystem<Real, Complex> f = full_system<Real, Complex>(p, h);
    const Index N = f.Lambda.size();
    const Discrete<Complex> d =
        discretize_bilinear<Complex, Real>(dplr_matrix<Complex>(f.Lambda, f.P, f.Q), f.B, Real(p.step_at(h)));
    // Ā^L by repeated squaring.
    Mat<Complex> power = Mat<Complex>::Identity(N, N), base = d.Ab;
    for (Index e = p.L; e > 0; e >>= 1) {
      if (e & 1) power = Mat<Complex>(power * base);
      if (e > 1) base = Mat<Complex>(base * base);
    }
    const Mat<Complex> IminusAL = Mat<Complex>(Mat<Complex>::Identity(N, N) - power);
    // C̄ (I − Ā^L) = C̃  <=>  (I − Ā^L)ᵀ C̄ᵀ = C̃ᵀ.
    Vec<Complex> Ct(N);
    for (Index n = 0; n < N; ++n) Ct(n) = conj(f.C(n));
    const Vec<Complex> Cb = Mat<Complex>(IminusAL.transpose()).partialPivLu().solve(Ct);
    const std::vector<Complex> k = ssm_kernel_dense<Complex>(d.Ab, d.Bb, Cb, p.L);
    for (Index l = 0; l < p.L; ++l) K[static_cast<std::size_t>(h * p.L + l)] = Real(real(k[l]));
  }
  return K;
}
// embed-end kernel_dplr

template <class Real, class Complex>
Complex dplr_generating_function(const DplrProblem& p, Index h, Index k) {
  using std::cos, std::sin;
  const RangeGuard<Real> guard(dplr_guard_bits(p));
  const FullSystem<Real, Complex> f = full_system<Real, Complex>(p, h);
  const Index N = f.Lambda.size();
  const Discrete<Complex> d =
      discretize_bilinear<Complex, Real>(dplr_matrix<Complex>(f.Lambda, f.P, f.Q), f.B, Real(p.step_at(h)));
  const Real theta = Real(-2) * boost::math::constants::pi<Real>() * Real(k) / Real(p.L);
  const Complex omega = cx2<Complex, Real>(Real(cos(theta)), Real(sin(theta)));
  const Mat<Complex> M = Mat<Complex>(Mat<Complex>::Identity(N, N) - omega * d.Ab);
  const Vec<Complex> x = M.partialPivLu().solve(d.Bb);
  Complex s = Complex(0);
  for (Index n = 0; n < N; ++n) s = s + conj(f.C(n)) * x(n);
  return s;
}

// embed-begin kernel_dplr_vjp
// [S4-DPLR-VJP] For a real loss with dK = ∂ℓ/∂K: G_k = ∂ℓ/∂K̂_k (PyTorch's complex convention)
// = (1/L) Σ_l dK_l e^{−2πikl/L}. At a node ≠ −1, K̂ = c (k00 − k01 k10/D), D = 1 + k11, holomorphic
// in the k_ab: G_ab = G conj(∂K̂/∂k_ab). k_ab = Σ_i v_i R_i (+ conj(v_i) R'_i in halves),
// R = 1/(g − λ), R' = 1/(g − conj λ), g = (2/Δ) i t: so ∂k/∂v_i = R_i, ∂k/∂conj v_i = R'_i,
// ∂k/∂λ_i = v_i R_i², ∂k/∂conj λ_i = conj(v_i) R'_i², ∂k/∂Δ = (g/Δ)(Σ v R² + Σ conj(v) R'²).
// The weights v00 = conj(C) B, v01 = conj(C) P, v10 = conj(Q) B, v11 = conj(Q) P pass their
// gradients to B, P (holomorphic) and C, Q (conjugated). A complex z with gradient Gz reached
// from x gives x the gradient Gz conj(∂z/∂x) + conj(Gz) ∂z/∂conj(x); a real x gets
// Re(conj(Gz) ∂z/∂x). The node −1: K̂ = (Δ/2) Σ (v00 [+ conj v00]).
template <class Real, class Complex>
DplrGrads<Real> kernel_dplr_vjp(const DplrBackwardProblem& q) {
  using std::tan, std::cos, std::sin;
  const DplrProblem& p = q.forward();
  const std::vector<double>& dK = q.dK();
  const Index N = p.N, L = p.L;
  const bool halves = p.conj == Conj::halves;
  const Real pi = boost::math::constants::pi<Real>();
  std::vector<Complex> gL(p.Lambda.values.size(), Complex(0)), gP(p.P.values.size(), Complex(0)),
      gQ(p.Q.values.size(), Complex(0)), gB(p.B.values.size(), Complex(0)), gC(p.C.values.size(), Complex(0));
  std::vector<Real> gstep(p.step.size(), Real(0));
  auto idx = [&](const CParam& c, Index h, Index n) { return static_cast<std::size_t>((c.H ? h : 0) * N + n); };
  for (Index h = 0; h < p.H; ++h) {
    const Real step(p.step_at(h));
    std::vector<Complex> lam(N), v[4];
    std::vector<Complex> Cc(N), Bc(N), Pc(N), Qc(N);
    for (Index n = 0; n < N; ++n) {
      lam[n] = cx<Complex, Real>(p.Lambda.at(h, n));
      Cc[n] = cx<Complex, Real>(p.C.at(h, n));
      Bc[n] = cx<Complex, Real>(p.B.at(h, n));
      Pc[n] = cx<Complex, Real>(p.P.at(h, n));
      Qc[n] = cx<Complex, Real>(p.Q.at(h, n));
    }
    for (Index n = 0; n < N; ++n) {
      v[0].push_back(conj(Cc[n]) * Bc[n]);
      v[1].push_back(conj(Cc[n]) * Pc[n]);
      v[2].push_back(conj(Qc[n]) * Bc[n]);
      v[3].push_back(conj(Qc[n]) * Pc[n]);
    }
    std::vector<Complex> Gv[4];
    for (auto& g : Gv) g.assign(static_cast<std::size_t>(N), Complex(0));
    Real dstep = 0;
    for (Index k = 0; k < L; ++k) {
      Complex G(0);
      for (Index l = 0; l < L; ++l) {
        const Real th = Real(-2) * pi * Real((k * l) % L) / Real(L);
        G += Complex(Real(dK[static_cast<std::size_t>(h * L + l)])) * cx2<Complex, Real>(Real(cos(th)), Real(sin(th)));
      }
      G = G / Complex(Real(L));
      if (L % 2 == 0 && 2 * k == L) {  // K̂ = (Δ/2) Σ (v00 [+ conj v00])
        Complex s(0);
        for (Index n = 0; n < N; ++n) {
          Gv[0][n] += G * Complex(step / Real(2));
          s += v[0][n];
          if (halves) {
            Gv[0][n] += conj(G) * Complex(step / Real(2));
            s += conj(v[0][n]);
          }
        }
        dstep += Real(real(conj(G) * s)) / Real(2);
        continue;
      }
      const Real t = Real(tan(pi * Real(k) / Real(L)));
      const Complex g = cx2<Complex, Real>(Real(0), Real(2) / step * t), c = cx2<Complex, Real>(Real(1), t);
      std::vector<Complex> R(N), Rc(N);
      Complex kk[4] = {Complex(0), Complex(0), Complex(0), Complex(0)};
      for (Index n = 0; n < N; ++n) {
        R[n] = Complex(1) / (g - lam[n]);
        Rc[n] = Complex(1) / (g - conj(lam[n]));
        for (int a = 0; a < 4; ++a) {
          kk[a] += v[a][n] * R[n];
          if (halves) kk[a] += conj(v[a][n]) * Rc[n];
        }
      }
      const Complex D = Complex(1) + kk[3];
      const Complex dK_dk[4] = {c, -c * kk[2] / D, -c * kk[1] / D, c * kk[1] * kk[2] / (D * D)};
      for (int a = 0; a < 4; ++a) {
        const Complex Ga = G * conj(dK_dk[a]);
        Complex dg(0);  // ∂k_a/∂g
        for (Index n = 0; n < N; ++n) {
          Gv[a][n] += Ga * conj(R[n]);
          gL[idx(p.Lambda, h, n)] += Ga * conj(v[a][n] * R[n] * R[n]);
          dg -= v[a][n] * R[n] * R[n];
          if (halves) {
            Gv[a][n] += conj(Ga) * Rc[n];
            gL[idx(p.Lambda, h, n)] += conj(Ga) * conj(v[a][n]) * Rc[n] * Rc[n];
            dg -= conj(v[a][n]) * Rc[n] * Rc[n];
          }
        }
        // g = (2/Δ) i t: ∂g/∂Δ = −g/Δ.
        dstep += Real(real(conj(Ga) * dg * (-g / Complex(step))));
      }
    }
    // The weights to the parameters.
    for (Index n = 0; n < N; ++n) {
      gB[idx(p.B, h, n)] += Gv[0][n] * Cc[n] + Gv[2][n] * Qc[n];       // v00 = conj(C) B, v10 = conj(Q) B
      gP[idx(p.P, h, n)] += Gv[1][n] * Cc[n] + Gv[3][n] * Qc[n];       // v01 = conj(C) P, v11 = conj(Q) P
      gC[idx(p.C, h, n)] += conj(Gv[0][n]) * Bc[n] + conj(Gv[1][n]) * Pc[n];
      gQ[idx(p.Q, h, n)] += conj(Gv[2][n]) * Bc[n] + conj(Gv[3][n]) * Pc[n];
    }
    gstep[p.step.size() == 1 ? 0 : static_cast<std::size_t>(h)] += dstep;
  }
  DplrGrads<Real> r;
  auto flat = [](const std::vector<Complex>& z) {
    std::vector<Real> o;
    for (const Complex& x : z) o.push_back(Real(real(x))), o.push_back(Real(imag(x)));
    return o;
  };
  if (p.q_tied)
    for (std::size_t i = 0; i < gP.size(); ++i) gP[i] += gQ[i];
  r.Lambda = flat(gL);
  r.P = flat(gP);
  if (!p.q_tied) r.Q = flat(gQ);
  r.B = flat(gB);
  r.C = flat(gC);
  r.step = gstep;
  return r;
}
// embed-end kernel_dplr_vjp

template DplrGrads<mp_real> kernel_dplr_vjp<mp_real, mp_complex>(const DplrBackwardProblem&);
template std::vector<mp_real> ssm_kernel<mp_real>(const SsmProblem&);
template std::vector<double> ssm_kernel<double>(const SsmProblem&);
template std::vector<mp_real> ssm_kernel_discrete<mp_real>(const DiscreteSsmProblem&);
template Tensor<mp_real> cauchy<mp_real, mp_complex>(const CauchyProblem&);
template CauchyGrads<mp_real> cauchy_backward<mp_real, mp_complex>(const CauchyBackwardProblem&);
template std::vector<mp_real> kernel_dplr<mp_real, mp_complex>(const DplrProblem&);
template std::vector<double> kernel_dplr<double, std::complex<double>>(const DplrProblem&);
template mp_complex dplr_generating_function<mp_real, mp_complex>(const DplrProblem&, Index, Index);

}  // namespace reference
}  // namespace touchstone::s4
