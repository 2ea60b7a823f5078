// The S4 identities proved in Coq (spec/s4_identities.md, proofs/theories/S4*.v), checked
// numerically: the algebraic ones in MPFR at 256 bits on random instances (both sides computed
// independently, agreeing to about 2^-200 relative), the floating-point bounds on float32
// computations against exact MPFR values (error <= bound, exactly, and not vacuous).
//
// Dense complex linear algebra here is plain loops (Gauss-Jordan with partial pivoting): small
// sizes, no Eigen instantiation in this TU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "tightness.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/random.hpp"

namespace touchstone {
namespace {

constexpr unsigned kBits = 256;

mp_real two_pow(int e) { return ldexp(mp_real(1), e); }

// |x - y| <= 2^-200 * scale (scale > 0): "agree to about 2^-200 relative".
::testing::AssertionResult close(const mp_complex& x, const mp_complex& y, const mp_real& scale,
                                 int bits = 200) {
  const mp_real d = abs(x - y);
  if (d <= two_pow(-bits) * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "|x - y| = " << to_double(d) << " > 2^-" << bits << " * " << to_double(scale)
         << " (x = (" << to_double(real(x)) << ", " << to_double(imag(x)) << "), y = ("
         << to_double(real(y)) << ", " << to_double(imag(y)) << "))";
}

// ---- a small dense complex matrix ------------------------------------------------------------
struct CMat {
  int rows = 0, cols = 0;
  std::vector<mp_complex> a;
  CMat(int r, int c) : rows(r), cols(c), a(static_cast<std::size_t>(r) * c, mp_complex(0)) {}
  mp_complex& operator()(int i, int j) { return a[static_cast<std::size_t>(i) * cols + j]; }
  const mp_complex& operator()(int i, int j) const { return a[static_cast<std::size_t>(i) * cols + j]; }
};

CMat identity(int n) {
  CMat I(n, n);
  for (int i = 0; i < n; ++i) I(i, i) = mp_complex(1);
  return I;
}
CMat operator*(const CMat& x, const CMat& y) {
  CMat z(x.rows, y.cols);
  for (int i = 0; i < x.rows; ++i)
    for (int j = 0; j < y.cols; ++j) {
      mp_complex s(0);
      for (int k = 0; k < x.cols; ++k) s += x(i, k) * y(k, j);
      z(i, j) = s;
    }
  return z;
}
CMat operator+(const CMat& x, const CMat& y) {
  CMat z = x;
  for (std::size_t i = 0; i < z.a.size(); ++i) z.a[i] += y.a[i];
  return z;
}
CMat operator-(const CMat& x, const CMat& y) {
  CMat z = x;
  for (std::size_t i = 0; i < z.a.size(); ++i) z.a[i] -= y.a[i];
  return z;
}
CMat scale(const mp_complex& s, const CMat& x) {
  CMat z = x;
  for (auto& v : z.a) v *= s;
  return z;
}
CMat power(const CMat& x, int l) {
  CMat p = identity(x.rows);
  for (int i = 0; i < l; ++i) p = p * x;
  return p;
}
// Gauss-Jordan with partial pivoting (by modulus).
CMat inverse(const CMat& x) {
  const int n = x.rows;
  CMat m = x, inv = identity(n);
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (abs(m(r, c)) > abs(m(p, c))) p = r;
    if (p != c)
      for (int j = 0; j < n; ++j) {
        std::swap(m(p, j), m(c, j));
        std::swap(inv(p, j), inv(c, j));
      }
    const mp_complex piv = m(c, c);
    for (int j = 0; j < n; ++j) {
      m(c, j) /= piv;
      inv(c, j) /= piv;
    }
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const mp_complex f = m(r, c);
      for (int j = 0; j < n; ++j) {
        m(r, j) -= f * m(c, j);
        inv(r, j) -= f * inv(c, j);
      }
    }
  }
  return inv;
}
mp_real max_abs(const CMat& x) {
  mp_real m = 0;
  for (const auto& v : x.a) m = std::max(m, mp_real(abs(v)));
  return m;
}

mp_complex cnormal(PhiloxStream& rng) {
  const mp_real re = rng.next_normal(), im = rng.next_normal();
  return mp_complex(re, im);
}
CMat random_mat(PhiloxStream& rng, int r, int c, double s = 1) {
  CMat m(r, c);
  for (auto& v : m.a) v = cnormal(rng) * mp_real(s);
  return m;
}

mp_real pi() { return 4 * atan(mp_real(1)); }
// w^e for w = exp(-2 pi i / L) (the peers' root), from the angle of e mod L.
mp_complex root_pow(long long e, int L) {
  const long long k = ((e % L) + L) % L;
  const mp_real t = -2 * pi() * mp_real(k) / mp_real(L);
  return mp_complex(cos(t), sin(t));
}

// ---- [S4-ID-GEN-TRUNC] ------------------------------------------------------------------------
// sum_(l<L) z^l C A^l B against C (I - z^L A^L)(I - z A)^-1 B, for z anywhere (inside, on, outside
// the unit circle) and at the L-th roots of unity with Ctilde = C (I - A^L).
// covers: S4-ID-GEN-TRUNC
TEST(S4Identities, TruncatedGeneratingFunction) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(401, "s4-id-gen-trunc");
  for (int trial = 0; trial < 6; ++trial) {
    const int n = 3 + trial % 4, L = 5 + 3 * trial;
    const CMat A = random_mat(rng, n, n, 0.8 / std::sqrt(2.0 * n));
    const CMat C = random_mat(rng, 1, n), B = random_mat(rng, n, 1);
    const CMat I = identity(n);
    std::vector<mp_complex> zs = {cnormal(rng) * mp_real(0.5), cnormal(rng), root_pow(1, L),
                                  root_pow(trial + 2, L)};
    for (const mp_complex& z : zs) {
      mp_complex lhs(0), zl(1);
      mp_real size = 0;
      CMat Al = I;
      for (int l = 0; l < L; ++l) {
        const mp_complex term = zl * (C * Al * B)(0, 0);
        lhs += term;
        size += abs(term);
        zl *= z;
        Al = Al * A;
      }
      const CMat AL = power(A, L);
      const mp_complex zL = zl;  // z^L
      const CMat R = inverse(I - scale(z, A));
      const mp_complex rhs = (C * (I - scale(zL, AL)) * R * B)(0, 0);
      const mp_real sc = size + abs(rhs) + 1;
      EXPECT_TRUE(close(lhs, rhs, sc)) << "trial " << trial << " n " << n << " L " << L;
      if (abs(zL - mp_complex(1)) < two_pow(-240)) {
        // On the roots of unity: Ctilde = C (I - A^L).
        const mp_complex rhs_root = (C * (I - AL) * R * B)(0, 0);
        EXPECT_TRUE(close(lhs, rhs_root, sc)) << "root, trial " << trial;
        // The untruncated generating function C (I - z A)^-1 B differs by C A^L (I - zA)^-1 B:
        // the (I - A^L) factor is not negligible for these A (the test could tell).
        const mp_complex infinite = (C * R * B)(0, 0);
        EXPECT_GT(abs(infinite - lhs), two_pow(-60) * sc);
      }
    }
  }
}

// The bilinear form (S4BilinearResolvent.v): with Abar = (I - dt/2 A)^-1 (I + dt/2 A) and
// Bbar = (I - dt/2 A)^-1 dt B, (I - z Abar)^-1 Bbar = (2/(1+z)) (g(z) I - A)^-1 B,
// g(z) = (2/dt)(1 - z)/(1 + z), at roots of unity z != -1 and at random z.
// covers: S4-ID-GEN-TRUNC
TEST(S4Identities, BilinearResolvent) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(412, "s4-id-bilinear-resolvent");
  for (int trial = 0; trial < 8; ++trial) {
    const int n = 2 + trial % 5, L = 6 + trial;
    const CMat A = random_mat(rng, n, n), B = random_mat(rng, n, 1), I = identity(n);
    const mp_real dt = mp_real(rng.next_log_uniform(-8, 0));
    const CMat Pinv = inverse(I - scale(mp_complex(dt / 2), A));
    const CMat Abar = Pinv * (I + scale(mp_complex(dt / 2), A));
    const CMat Bbar = Pinv * scale(mp_complex(dt), B);
    for (const mp_complex& z : {root_pow(1 + trial % (L - 1), L), cnormal(rng)}) {
      const CMat lhs = inverse(I - scale(z, Abar)) * Bbar;
      const mp_complex g = (mp_real(2) / dt) * (mp_complex(1) - z) / (mp_complex(1) + z);
      const CMat rhs = scale(mp_complex(2) / (mp_complex(1) + z), inverse(scale(g, I) - A) * B);
      const mp_real sc = max_abs(lhs) + max_abs(rhs);
      for (int i = 0; i < n; ++i) EXPECT_TRUE(close(lhs(i, 0), rhs(i, 0), sc)) << "trial " << trial << " i " << i;
    }
  }
}

// ---- [S4-ID-DFT-INV] --------------------------------------------------------------------------
// covers: S4-ID-DFT-INV
TEST(S4Identities, DftOrthogonalityAndInversion) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(402, "s4-id-dft-inv");
  for (int L : {1, 2, 3, 7, 8, 16}) {
    // sum_k w^(jk) w^(-lk) = L [j = l], the powers formed by products (not from the angle).
    const mp_complex w = root_pow(1, L), wi = mp_complex(1) / w;
    for (int j = 0; j < L; ++j)
      for (int l = 0; l < L; ++l) {
        mp_complex s(0);
        for (int k = 0; k < L; ++k) s += pow(w, j * k) * pow(wi, l * k);
        EXPECT_TRUE(close(s, mp_complex(j == l ? L : 0), mp_real(L))) << "L " << L << " j " << j << " l " << l;
      }
    // (1/L) sum_k (sum_j a_j w^(jk)) w^(-lk) = a_l.
    std::vector<mp_complex> a(L), ahat(L);
    mp_real size = 0;
    for (auto& v : a) {
      v = cnormal(rng);
      size += abs(v);
    }
    for (int k = 0; k < L; ++k) {
      mp_complex s(0);
      for (int j = 0; j < L; ++j) s += a[j] * root_pow(static_cast<long long>(j) * k, L);
      ahat[k] = s;
    }
    for (int l = 0; l < L; ++l) {
      mp_complex s(0);
      for (int k = 0; k < L; ++k) s += ahat[k] * root_pow(-static_cast<long long>(l) * k, L);
      EXPECT_TRUE(close(s / mp_real(L), a[l], size)) << "L " << L << " l " << l;
    }
  }
}

// S4's pipeline in exact arithmetic: the generating function at the L roots of unity from the
// closed form with Ctilde ([S4-ID-GEN-TRUNC]), then the inverse DFT ([S4-ID-DFT-INV]), gives
// the kernel K_l = C A^l B of the definition.
// covers: S4-ID-GEN-TRUNC S4-ID-DFT-INV
TEST(S4Identities, KernelFromRootsOfUnity) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(403, "s4-id-kernel-roots");
  for (int L : {4, 9, 16}) {
    const int n = 5;
    const CMat A = random_mat(rng, n, n, 0.9 / std::sqrt(2.0 * n));
    const CMat C = random_mat(rng, 1, n), B = random_mat(rng, n, 1), I = identity(n);
    const CMat Ct = C * (I - power(A, L));
    std::vector<mp_complex> khat(L);
    for (int k = 0; k < L; ++k) khat[k] = (Ct * inverse(I - scale(root_pow(k, L), A)) * B)(0, 0);
    CMat Al = I;
    for (int l = 0; l < L; ++l) {
      const mp_complex K = (C * Al * B)(0, 0);
      mp_complex s(0);
      mp_real size = 0;
      for (int k = 0; k < L; ++k) {
        s += khat[k] * root_pow(-static_cast<long long>(l) * k, L);
        size += abs(khat[k]);
      }
      EXPECT_TRUE(close(s / mp_real(L), K, size + 1)) << "L " << L << " l " << l;
      Al = Al * A;
    }
  }
}

// ---- [S4-ID-WOODBURY] -------------------------------------------------------------------------
// covers: S4-ID-WOODBURY
TEST(S4Identities, WoodburyDiagonalPlusLowRank) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(404, "s4-id-woodbury");
  for (int trial = 0; trial < 6; ++trial) {
    const int n = 4 + trial, r = 1 + trial % 3, L = 8;
    // D = diag(g(z) - lambda_i) as in the DPLR kernel: lambda_i with negative real parts,
    // g(z) = (2/dt)(1 - z)/(1 + z) at a root of unity z != -1.
    const mp_real dt = mp_real(0.01) * (trial + 1);
    const mp_complex z = root_pow(trial % 3, L);
    const mp_complex g = (mp_real(2) / dt) * (mp_complex(1) - z) / (mp_complex(1) + z);
    CMat D(n, n), Dinv(n, n);
    std::vector<mp_complex> d(n);
    for (int i = 0; i < n; ++i) {
      const mp_complex lam(-mp_real(0.5), mp_real(3.14159) * i + rng.next_normal());
      d[i] = g - lam;
      D(i, i) = d[i];
      Dinv(i, i) = mp_complex(1) / d[i];
    }
    const CMat U = random_mat(rng, n, r), V = random_mat(rng, r, n);
    const CMat direct = inverse(D + U * V);
    const CMat W = identity(r) + V * Dinv * U;
    const CMat formula = Dinv - Dinv * U * inverse(W) * V * Dinv;
    const mp_real sc = max_abs(direct) + max_abs(formula);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        EXPECT_TRUE(close(direct(i, j), formula(i, j), sc)) << "trial " << trial << " (" << i << "," << j << ")";

    // Rank 1 in Cauchy sums, both signs: k(X, Y) = sum_i X_i Y_i / d_i.
    const CMat P = random_mat(rng, n, 1), Q = random_mat(rng, 1, n);
    const CMat Cr = random_mat(rng, 1, n), Bc = random_mat(rng, n, 1);
    auto k = [&](const CMat& X, const CMat& Y) {
      mp_complex s(0);
      for (int i = 0; i < n; ++i) s += X(0, i) * Y(i, 0) / d[i];
      return s;
    };
    const mp_complex kCB = k(Cr, Bc), kCP = k(Cr, P), kQB = k(Q, Bc), kQP = k(Q, P);
    const mp_complex plus_direct = (Cr * inverse(D + P * Q) * Bc)(0, 0);
    const mp_complex plus_formula = kCB - kCP * kQB / (mp_complex(1) + kQP);
    const mp_complex minus_direct = (Cr * inverse(D - P * Q) * Bc)(0, 0);
    const mp_complex minus_formula = kCB + kCP * kQB / (mp_complex(1) - kQP);
    const mp_real sc1 = abs(kCB) + abs(kCP * kQB) + abs(plus_direct) + abs(minus_direct);
    EXPECT_TRUE(close(plus_direct, plus_formula, sc1)) << "trial " << trial;
    EXPECT_TRUE(close(minus_direct, minus_formula, sc1)) << "trial " << trial;
    // The Cauchy form C D^-1 B = sum_i C_i B_i / d_i against the matrix product.
    EXPECT_TRUE(close((Cr * Dinv * Bc)(0, 0), kCB, sc1));
    // A sign slip in the correction is visible (the test can tell the two forms apart).
    EXPECT_GT(abs(plus_direct - minus_formula), two_pow(-60) * sc1);
  }
}

// ---- [S4-ID-BILINEAR-DISK] --------------------------------------------------------------------
// covers: S4-ID-BILINEAR-DISK
TEST(S4Identities, BilinearMapsLeftHalfPlaneIntoDisk) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(405, "s4-id-bilinear");
  auto image = [](const mp_complex& lam, const mp_real& dt, mp_real& num2, mp_real& den2) {
    const mp_complex h = lam * (dt / 2);
    const mp_complex num = mp_complex(1) + h, den = mp_complex(1) - h;
    num2 = norm(num);
    den2 = norm(den);
    return num / den;
  };
  for (int i = 0; i < 2000; ++i) {
    // Re lambda from -2^-40 (nearly on the axis) to -2^10, Im lambda up to 2^12, dt 2^-12..2^4.
    const mp_real re = -mp_real(rng.next_log_uniform(-40, 10));
    const mp_real im = mp_real(rng.next_log_uniform(-20, 12, true));
    const mp_real dt = mp_real(rng.next_log_uniform(-12, 4));
    mp_real num2, den2;
    const mp_complex lam(re, im);
    const mp_complex b = image(lam, dt, num2, den2);
    // |1 + dt lam/2|^2 - |1 - dt lam/2|^2 = 2 dt Re lambda.
    EXPECT_TRUE(close(mp_complex(num2 - den2), mp_complex(2 * dt * re), num2 + den2)) << i;
    EXPECT_LT(num2, den2) << i;
    EXPECT_GT(den2, 0) << i;
    EXPECT_LT(abs(b), 1) << i;
    // On the imaginary axis the image is on the circle; on the right half-plane outside it.
    mp_real n0, d0;
    EXPECT_TRUE(close(mp_complex(abs(image(mp_complex(mp_real(0), im), dt, n0, d0))), mp_complex(1), mp_real(1)));
    EXPECT_GT(abs(image(mp_complex(-re, im), dt, n0, d0)), 1) << i;
  }
}

// ---- [S4-ID-CAUCHY-BOUND] and [CORE-TRACKED-CMUL] ---------------------------------------------
const mp_real kU32 = two_pow(-24);   // unit roundoff of binary32
const mp_real kEta32 = two_pow(-150);  // its underflow term E = 2^(emin - 1), emin = -149

mp_real gamma32(long long k) { return pow(mp_real(1) + kU32, mp_real(k)) - 1; }

// Sequential float32 sum s_0 = 0, s_(k+1) = fl(s_k + th_k) of computed terms th (floats) of exact
// terms t: returns |s_n - sum t| / bound after asserting error <= bound, where
// bound = sum e + gamma_(n-1) sum (|t| + e), e_i = |th_i - t_i| (exact, the smallest valid e_i).
double check_seq_sum(const std::vector<float>& th, const std::vector<mp_real>& t, const char* what) {
  float s = 0.0f;
  for (float x : th) s = s + x;
  mp_real exact = 0, sum_e = 0, size = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const mp_real e = abs(mp_real(th[i]) - t[i]);
    exact += t[i];
    sum_e += e;
    size += abs(t[i]) + e;
  }
  const long long n = static_cast<long long>(t.size());
  const mp_real bound = sum_e + gamma32(n > 0 ? n - 1 : 0) * size;
  const mp_real err = abs(mp_real(s) - exact);
  EXPECT_LE(err, bound) << what << ": n " << n << " err " << to_double(err) << " bound " << to_double(bound);
  return bound > 0 ? to_double(err / bound) : 0.0;
}

// covers: S4-ID-CAUCHY-BOUND
TEST(S4Identities, SequentialSumBoundFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(406, "s4-id-cauchy-bound");
  double worst = 0, worst_cauchy = 0, worst_tight = 0, worst_cancel = 0, worst_modulus = 0;

  // 1. Real parts of a Cauchy sum sum_i v_i / (z - w_i), each term a float32 textbook complex
  //    division of float inputs (errors e_i exact), accumulated sequentially as the kernel does.
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 1 + static_cast<int>(rng.next_below(256));
    const float zr = static_cast<float>(rng.next_uniform(-1, 1)), zi = static_cast<float>(rng.next_uniform(-1, 1));
    std::vector<float> th_re(n), th_im(n);
    std::vector<mp_real> t_re(n), t_im(n);
    for (int i = 0; i < n; ++i) {
      const float vr = static_cast<float>(rng.next_normal()), vi = static_cast<float>(rng.next_normal());
      const float wr = static_cast<float>(-rng.next_uniform(0.01, 1)), wi = static_cast<float>(rng.next_normal() * 10);
      const float cr = zr - wr, ci = zi - wi;  // the divisor, itself rounded
      const float dd = cr * cr + ci * ci;
      th_re[i] = (vr * cr + vi * ci) / dd;
      th_im[i] = (vi * cr - vr * ci) / dd;
      const mp_real xr = mp_real(zr) - mp_real(wr), xi = mp_real(zi) - mp_real(wi);
      const mp_real D = xr * xr + xi * xi;
      t_re[i] = (mp_real(vr) * xr + mp_real(vi) * xi) / D;
      t_im[i] = (mp_real(vi) * xr - mp_real(vr) * xi) / D;
    }
    worst_cauchy = std::max(worst_cauchy, check_seq_sum(th_re, t_re, "cauchy re"));
    worst_cauchy = std::max(worst_cauchy, check_seq_sum(th_im, t_im, "cauchy im"));
    // In modulus (seq_csum_bound, SeqSumModulus.v): E_i = |th_i - t_i|, M_i = |t_i|.
    float sr = 0.0f, si = 0.0f;
    mp_real er = 0, ei = 0, sum_E = 0, size = 0;
    for (int i = 0; i < n; ++i) {
      sr = sr + th_re[i];
      si = si + th_im[i];
      er += t_re[i];
      ei += t_im[i];
      const mp_real dr = mp_real(th_re[i]) - t_re[i], di = mp_real(th_im[i]) - t_im[i];
      const mp_real E = sqrt(dr * dr + di * di);
      sum_E += E;
      size += sqrt(t_re[i] * t_re[i] + t_im[i] * t_im[i]) + E;
    }
    const mp_real bound = sum_E + gamma32(n - 1) * size;
    const mp_real xr = mp_real(sr) - er, xi = mp_real(si) - ei;
    const mp_real err = sqrt(xr * xr + xi * xi);
    EXPECT_LE(err, bound) << "cauchy modulus, n " << n;
    worst_modulus = std::max(worst_modulus, to_double(err / bound));
  }
  // 2. Random terms over many magnitudes, exact terms given to more bits than float32 holds.
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 1 + static_cast<int>(rng.next_below(300));
    std::vector<float> th(n);
    std::vector<mp_real> t(n);
    for (int i = 0; i < n; ++i) {
      t[i] = mp_real(rng.next_log_uniform(-20, 20, true)) * (1 + two_pow(-30) * mp_real(rng.next_uniform()));
      th[i] = static_cast<float>(to_double(t[i]));
    }
    worst = std::max(worst, check_seq_sum(th, t, "random"));
  }
  // 3. Adversarial: alternating cancelling terms (the sum is tiny against sum |t|).
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 2 * (1 + static_cast<int>(rng.next_below(100)));
    std::vector<float> th(n);
    std::vector<mp_real> t(n);
    for (int i = 0; i < n; ++i) {
      const float x = static_cast<float>((i % 2 ? -1.0 : 1.0) * rng.next_log_uniform(-2, 2));
      th[i] = x;
      t[i] = mp_real(x);  // exact terms: only the additions round
    }
    worst_cancel = std::max(worst_cancel, check_seq_sum(th, t, "alternating"));
  }
  // 4. Adversarial, near the bound: 1 then terms just above half an ulp of the running sum, so
  //    that every addition rounds up by almost half an ulp.
  for (int n : {2, 3, 10, 100, 1000}) {
    std::vector<float> th(n);
    std::vector<mp_real> t(n);
    th[0] = 1.0f;
    for (int i = 1; i < n; ++i) th[i] = std::ldexp(1.0f + std::ldexp(1.0f, -10), -24);
    for (int i = 0; i < n; ++i) t[i] = mp_real(th[i]);
    worst_tight = std::max(worst_tight, check_seq_sum(th, t, "half-ulp"));
  }
  // Tightness (not a tolerance): the bound is attained up to a factor near 1 by case 4.
  EXPECT_GT(worst_tight, 0.9);
  EXPECT_GT(std::max({worst, worst_cauchy, worst_cancel, worst_tight}), kVacuousRatio);
  EXPECT_GT(worst_modulus, kVacuousRatio);
  std::printf("[S4-ID-CAUCHY-BOUND] worst err/bound: cauchy %.3g (modulus %.3g) random %.3g alternating %.3g "
              "half-ulp %.3g\n",
              worst_cauchy, worst_modulus, worst, worst_cancel, worst_tight);
}

// One part a c - b d of a float32 complex product, as fl(fl(a c) - fl(b d)) and as
// fma(a, c, -fl(b d)): error <= gamma_2 (|a c| + |b d|) + 2 (1 + u) E, E = 2^-150, including
// products that underflow.
// covers: CORE-TRACKED-CMUL
TEST(S4Identities, ComplexProductPartBoundFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(407, "s4-id-cmul");
  double worst_two = 0, worst_fma = 0, worst_sub = 0;
  for (int i = 0; i < 20000; ++i) {
    // Normal range, near-cancelling (a c ~ b d), and the subnormal range.
    const int mode = i % 3;
    const int emin = mode == 2 ? -80 : -3, emax = mode == 2 ? -70 : 3;
    const float a = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float c = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    float b = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float d = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    if (mode == 1) b = static_cast<float>(static_cast<double>(a) * c / d);  // b d ~ a c
    const float p = a * c, q = b * d;
    const float two = p - q;
    const float fused = std::fmaf(a, c, -q);
    const mp_real ac = mp_real(a) * mp_real(c), bd = mp_real(b) * mp_real(d);
    const mp_real exact = ac - bd;
    const mp_real bound = (pow(1 + kU32, 2) - 1) * (abs(ac) + abs(bd)) + 2 * (1 + kU32) * kEta32;
    const mp_real e_two = abs(mp_real(two) - exact), e_fma = abs(mp_real(fused) - exact);
    EXPECT_LE(e_two, bound) << "two products: " << a << " " << b << " " << c << " " << d;
    EXPECT_LE(e_fma, bound) << "fma: " << a << " " << b << " " << c << " " << d;
    const double r2 = to_double(e_two / bound), rf = to_double(e_fma / bound);
    if (mode == 2) worst_sub = std::max({worst_sub, r2, rf});
    worst_two = std::max(worst_two, r2);
    worst_fma = std::max(worst_fma, rf);
  }
  EXPECT_GT(std::max(worst_two, worst_fma), kVacuousRatio);
  std::printf("[CORE-TRACKED-CMUL] worst err/bound: two products %.3g, fma %.3g, subnormal %.3g\n",
              worst_two, worst_fma, worst_sub);
}

// One part of the textbook quotient, n/D with n = a c + b d, D = c^2 + d^2, computed as
// fl(Nh / Dh), Nh = fl(fl(a c) + fl(b d)), Dh = fl(fl(c c) + fl(d d)) in float32: the explicit
// bound of cdiv_part_bound (ComplexPartBounds.v). Returns err/bound; `bound_out` receives the bound.
double check_cdiv_part(float a, float b, float c, float d, mp_real* bound_out, const char* what) {
  const float Nh = a * c + b * d, Dh = c * c + d * d;
  const float q = Nh / Dh;
  const mp_real ma(a), mb(b), mc(c), md(d);
  const mp_real n = ma * mc + mb * md, D = mc * mc + md * md;
  const mp_real g2 = pow(1 + kU32, 2) - 1;
  const mp_real mNh(Nh), mDh(Dh);
  const mp_real bound = kU32 * abs(mNh / mDh) + kEta32 +
                        (g2 * (abs(ma * mc) + abs(mb * md)) + 2 * (1 + kU32) * kEta32) / mDh +
                        abs(n) * (g2 * D + 2 * (1 + kU32) * kEta32) / (D * mDh);
  const mp_real err = abs(mp_real(q) - n / D);
  EXPECT_LE(err, bound) << what << ": " << a << " " << b << " " << c << " " << d;
  if (bound_out) *bound_out = bound;
  return to_double(err / bound);
}

// The gamma_6 form (cdiv_part_bound_gamma6, [CORE-TRACKED-CDIV] per part) inside its domain
// D >= 2E/u^2: |fl(Nh/Dh) - n/D| <= gamma_6 (|ac| + |bd|)/D + 3E/D + E. Returns err/bound, or -1
// outside the domain.
double check_cdiv_part_gamma6(float a, float b, float c, float d, const char* what) {
  const mp_real ma(a), mb(b), mc(c), md(d);
  const mp_real D = mc * mc + md * md;
  if (!(D >= 2 * kEta32 / (kU32 * kU32))) return -1;
  const float q = (a * c + b * d) / (c * c + d * d);
  const mp_real n = ma * mc + mb * md;
  const mp_real bound = gamma32(6) * (abs(ma * mc) + abs(mb * md)) / D + 3 * kEta32 / D + kEta32;
  const mp_real err = abs(mp_real(q) - n / D);
  EXPECT_LE(err, bound) << what << " (gamma_6): " << a << " " << b << " " << c << " " << d;
  return to_double(err / bound);
}

// covers: S4-ID-CAUCHY-BOUND CORE-TRACKED-CDIV
TEST(S4Identities, ComplexDivisionPartBoundFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(408, "s4-id-cdiv");
  double worst = 0, worst_small = 0, worst_g6 = 0;
  int in_domain_small = 0;
  for (int i = 0; i < 20000; ++i) {
    // Normal range, and operands small enough that products underflow (Dh stays > 0); the
    // small ones straddle the gamma_6 form's domain edge D = 2E/u^2 = 2^-101.
    const bool small = i % 4 == 3;
    const int emin = small ? -70 : -4, emax = small ? -48 : 4;
    const float a = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float b = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float c = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float d = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    if (!(c * c + d * d > 0.0f)) continue;  // the theorem needs Dh > 0
    // Real part (a c + b d) and imaginary part (b c - a d) = the same with (a, b) -> (b, -a).
    const double r1 = check_cdiv_part(a, b, c, d, nullptr, "re");
    const double r2 = check_cdiv_part(b, -a, c, d, nullptr, "im");
    (small ? worst_small : worst) = std::max({small ? worst_small : worst, r1, r2});
    const double g1 = check_cdiv_part_gamma6(a, b, c, d, "re"), g2 = check_cdiv_part_gamma6(b, -a, c, d, "im");
    if (small && g1 >= 0) ++in_domain_small;
    worst_g6 = std::max({worst_g6, g1, g2});
  }
  EXPECT_GT(in_domain_small, 100);  // the domain edge is exercised
  EXPECT_GT(std::max(worst, worst_small), kVacuousRatio);
  EXPECT_GT(worst_g6, kVacuousRatio);
  std::printf("[S4-ID-CAUCHY-BOUND] complex division part, worst err/bound: normal %.3g, small %.3g; "
              "gamma_6 form %.3g (%d small cases in its domain)\n",
              worst, worst_small, worst_g6, in_domain_small);
}

// The Cauchy sum end to end with a-priori bounds only: each term's part bounded by
// cdiv_part_bound (the divisor z - w exact in float32 here: z and w chosen so that the
// subtraction is exact), then the sequential sum by seq_sum_bound with those e_i.
// covers: S4-ID-CAUCHY-BOUND
TEST(S4Identities, CauchySumAPrioriBoundFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(409, "s4-id-cauchy-a-priori");
  double worst = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 1 + static_cast<int>(rng.next_below(200));
    // Float inputs on a coarse grid so that c = z - w is exact in float32.
    auto grid = [&](double lo, double hi) { return static_cast<float>(std::ldexp(std::round(std::ldexp(rng.next_uniform(lo, hi), 10)), -10)); };
    const float zr = grid(-1, 1), zi = grid(-1, 1);
    float s = 0.0f;
    mp_real exact = 0, sum_e = 0, size = 0;
    for (int i = 0; i < n; ++i) {
      const float vr = grid(-2, 2), vi = grid(-2, 2);
      const float wr = grid(-1, -0.01), wi = grid(-8, 8);
      const float c = zr - wr, d = zi - wi;  // exact (grid values of modest size)
      ASSERT_EQ(mp_real(c), mp_real(zr) - mp_real(wr));
      ASSERT_EQ(mp_real(d), mp_real(zi) - mp_real(wi));
      if (!(c * c + d * d > 0.0f)) continue;
      // Real part of v / (z - w) = (vr c + vi d) / (c^2 + d^2).
      const float th = (vr * c + vi * d) / (c * c + d * d);
      mp_real e;
      check_cdiv_part(vr, vi, c, d, &e, "term");
      const mp_real mc(c), md(d);
      const mp_real t = (mp_real(vr) * mc + mp_real(vi) * md) / (mc * mc + md * md);
      s = s + th;
      exact += t;
      sum_e += e;
      size += abs(t) + e;
    }
    const mp_real bound = sum_e + gamma32(n - 1) * size;
    const mp_real err = abs(mp_real(s) - exact);
    EXPECT_LE(err, bound) << "trial " << trial << " n " << n;
    worst = std::max(worst, to_double(err / bound));
  }
  EXPECT_GT(worst, kVacuousRatio);
  std::printf("[S4-ID-CAUCHY-BOUND] Cauchy sum with a-priori term bounds, worst err/bound %.3g\n", worst);
}

// Whole complex operations in modulus (ComplexOps.v, cadd_tracked / cmul_tracked / cdiv_tracked
// with exact operands, Ex = Ey = 0): float32 sum, textbook product and quotient against MPFR,
// |fl(x y) - x y| <= sqrt2 gamma_2 |x| |y| + 3 sqrt2 E and, inside |y|^2 >= 2E/u^2,
// |fl(x / y) - x / y| <= sqrt2 gamma_6 |x| / |y| + sqrt2 (3E/|y|^2 + 2E).
// covers: CORE-TRACKED-CADD CORE-TRACKED-CMUL CORE-TRACKED-CDIV
TEST(S4Identities, ComplexOpsModulusFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(410, "s4-id-complex-ops");
  const mp_real s2 = sqrt(mp_real(2));
  double worst_mul = 0, worst_div = 0, worst_add = 0;
  int in_domain = 0;
  for (int i = 0; i < 20000; ++i) {
    const bool small = i % 4 == 3;
    const int emin = small ? -70 : -4, emax = small ? -48 : 4;
    const float a = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float b = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float c = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const float d = static_cast<float>(rng.next_log_uniform(emin, emax, true));
    const mp_real ma(a), mb(b), mc(c), md(d);
    const mp_real nx = sqrt(ma * ma + mb * mb), ny2 = mc * mc + md * md, ny = sqrt(ny2);
    // Product.
    const float pr = a * c - b * d, pi = a * d + b * c;
    const mp_real er = mp_real(pr) - (ma * mc - mb * md), ei = mp_real(pi) - (ma * md + mb * mc);
    const mp_real emul = sqrt(er * er + ei * ei);
    const mp_real bmul = s2 * gamma32(2) * nx * ny + 3 * s2 * kEta32;
    EXPECT_LE(emul, bmul) << "mul " << a << " " << b << " " << c << " " << d;
    worst_mul = std::max(worst_mul, to_double(emul / bmul));
    // Sum (cadd_tracked, Ex = Ey = 0): |fl(x + y) - (x + y)| <= u (|x| + |y|).
    const float sr = a + c, si = b + d;
    const mp_real fr = mp_real(sr) - (ma + mc), fi = mp_real(si) - (mb + md);
    const mp_real eadd = sqrt(fr * fr + fi * fi), badd = kU32 * (nx + ny);
    EXPECT_LE(eadd, badd) << "add " << a << " " << b << " " << c << " " << d;
    worst_add = std::max(worst_add, to_double(eadd / badd));
    // Quotient, inside the domain.
    if (!(ny2 >= 2 * kEta32 / (kU32 * kU32))) continue;
    ++in_domain;
    const float den = c * c + d * d;
    const float qr = (a * c + b * d) / den, qi = (b * c - a * d) / den;
    const mp_real dr = mp_real(qr) - (ma * mc + mb * md) / ny2, di = mp_real(qi) - (mb * mc - ma * md) / ny2;
    const mp_real ediv = sqrt(dr * dr + di * di);
    const mp_real bdiv = s2 * gamma32(6) * nx / ny + s2 * (3 * kEta32 / ny2 + 2 * kEta32);
    EXPECT_LE(ediv, bdiv) << "div " << a << " " << b << " " << c << " " << d;
    worst_div = std::max(worst_div, to_double(ediv / bdiv));
  }
  EXPECT_GT(in_domain, 15000);
  EXPECT_GT(worst_mul, kVacuousRatio);
  EXPECT_GT(worst_div, kVacuousRatio);
  EXPECT_GT(worst_add, kVacuousRatio);
  std::printf("[CORE-TRACKED-CADD/CMUL/CDIV] modulus, worst err/bound: sum %.3g, product %.3g, quotient %.3g\n",
              worst_add, worst_mul, worst_div);
}

// Any order of pairwise additions (TreeSum.v, tree_sum_bound / tree_csum_bound): float32 sums
// over random binary trees (random split points, so sequential, balanced and lopsided shapes
// all occur) of computed terms, error <= sum E + gamma_(k-1) sum (M + E), per part and in
// modulus, with E_i the exact term errors and M_i = |t_i|.
struct TreeSum {
  float re = 0, im = 0;
};
TreeSum tree_sum(const std::vector<float>& re, const std::vector<float>& im, int lo, int hi, PhiloxStream& rng) {
  if (hi - lo == 1) return {re[lo], im[lo]};
  const int mid = lo + 1 + static_cast<int>(rng.next_below(static_cast<std::uint64_t>(hi - lo - 1)));
  const TreeSum l = tree_sum(re, im, lo, mid, rng), r = tree_sum(re, im, mid, hi, rng);
  return {l.re + r.re, l.im + r.im};
}

// covers: CORE-TRACKED-SUM CORE-TRACKED-CSUM
TEST(S4Identities, TreeSumBoundFloat32) {
  const WorkingPrecision precision(kBits);
  PhiloxStream rng(411, "s4-id-tree-sum");
  double worst_part = 0, worst_mod = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const int k = 1 + static_cast<int>(rng.next_below(300));
    std::vector<float> thr(k), thi(k);
    std::vector<mp_real> tr(k), ti(k);
    for (int i = 0; i < k; ++i) {
      // Exact terms with more bits than float32, computed terms their roundings; one in four
      // trials all of one sign and one size (where rounding errors add up).
      const bool same = trial % 4 == 0;
      tr[i] = mp_real(same ? 1.0 + rng.next_uniform() : rng.next_log_uniform(-10, 10, true)) *
              (1 + two_pow(-30) * mp_real(rng.next_uniform()));
      ti[i] = mp_real(same ? 1.0 + rng.next_uniform() : rng.next_log_uniform(-10, 10, true)) *
              (1 + two_pow(-30) * mp_real(rng.next_uniform()));
      thr[i] = static_cast<float>(to_double(tr[i]));
      thi[i] = static_cast<float>(to_double(ti[i]));
    }
    const TreeSum s = tree_sum(thr, thi, 0, k, rng);
    mp_real xr = 0, xi = 0, er_sum = 0, er_size = 0, ei_sum = 0, ei_size = 0, E_sum = 0, size = 0;
    for (int i = 0; i < k; ++i) {
      const mp_real er = abs(mp_real(thr[i]) - tr[i]), ei = abs(mp_real(thi[i]) - ti[i]);
      xr += tr[i];
      xi += ti[i];
      er_sum += er;
      er_size += abs(tr[i]) + er;
      ei_sum += ei;
      ei_size += abs(ti[i]) + ei;
      const mp_real E = sqrt(er * er + ei * ei);
      E_sum += E;
      size += sqrt(tr[i] * tr[i] + ti[i] * ti[i]) + E;
    }
    const mp_real g = gamma32(k - 1);
    const mp_real br = er_sum + g * er_size, bi = ei_sum + g * ei_size, bm = E_sum + g * size;
    const mp_real dr = mp_real(s.re) - xr, di = mp_real(s.im) - xi;
    EXPECT_LE(abs(dr), br) << "re, k " << k;
    EXPECT_LE(abs(di), bi) << "im, k " << k;
    EXPECT_LE(sqrt(dr * dr + di * di), bm) << "modulus, k " << k;
    worst_part = std::max({worst_part, to_double(abs(dr) / br), to_double(abs(di) / bi)});
    worst_mod = std::max(worst_mod, to_double(sqrt(dr * dr + di * di) / bm));
  }
  EXPECT_GT(worst_part, kVacuousRatio);
  EXPECT_GT(worst_mod, kVacuousRatio);
  std::printf("[CORE-TRACKED-SUM/CSUM] random trees, worst err/bound: per part %.3g, modulus %.3g\n", worst_part,
              worst_mod);
}

}  // namespace
}  // namespace touchstone
