// The orthogonal family's problems (spec/orthogonal.md [ORTH-SHAPES], [ORTH-INVALID]): a set of
// Householder vectors V (L, N), its rows v_1..v_L; the same with a batch of vectors h (B, N) to
// apply Q or Q^T to; and a Stiefel problem (M vectors, M <= N). Each is validated in its
// constructor (InvalidInput names the argument; nothing is computed on invalid input) and converts
// with cast<U>().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::orthogonal {

// [ORTH-SHAPES] Extents are at least 1 and at most 2^14 (Q is N x N), every array at most 2^31
// elements.
inline constexpr Index kMaxExtent = Index{1} << 14;
inline constexpr Index kMaxElements = Index{1} << 31;

namespace problem_detail {
template <class T>
void require_matrix(const Tensor<T>& x, const char* name, const char* layout) {
  if (x.rank() != 2) throw InvalidInput(name, std::string("expected ") + layout + ", got shape " + x.shape().str());
  for (Index a = 0; a < 2; ++a)
    if (x.extent(a) < 1 || x.extent(a) > kMaxExtent)
      throw InvalidInput(name, "every extent must be in [1, 2^14], got shape " + x.shape().str());
  if (x.count() > kMaxElements) throw InvalidInput(name, "more than 2^31 elements: " + x.shape().str());
}
// [ORTH-INVALID] Every input finite.
template <class T>
void require_finite(const Tensor<T>& x, const char* name) {
  for (Index i = 0; i < x.count(); ++i)
    if (!std::isfinite(static_cast<double>(x[i])))
      throw InvalidInput(name, "element " + std::to_string(i) + " is not finite (" +
                                   std::to_string(static_cast<double>(x[i])) + "); spec/orthogonal.md [ORTH-INVALID]");
}
// [ORTH-INVALID] No row of V is the zero vector: H(0) is undefined (0/0).
template <class T>
void require_nonzero_rows(const Tensor<T>& v) {
  for (Index i = 0; i < v.extent(0); ++i) {
    bool zero = true;
    for (Index k = 0; k < v.extent(1) && zero; ++k) zero = v(i, k) == T(0);
    if (zero)
      throw InvalidInput("V", "row " + std::to_string(i) +
                                  " is the zero vector: H(0) is undefined; spec/orthogonal.md [ORTH-INVALID]");
  }
}
// [ORTH-CAYLEY-DEF] [ORTH-EXP-DEF] The skew A = tril(X, -1) - tril(X, -1)^T of a square finite X,
// in place, exactly (negation is exact); as PyTorch's orthogonal parametrization forms it.
template <class T>
void make_skew(Tensor<T>& a) {
  require_matrix(a, "A", "(n, n): a square matrix whose strict lower triangle defines A");
  if (a.extent(0) != a.extent(1)) throw InvalidInput("A", "expected a square (n, n) matrix, got " + a.shape().str());
  require_finite(a, "A");
  for (Index i = 0; i < a.extent(0); ++i) {
    a(i, i) = T(0);
    for (Index k = i + 1; k < a.extent(0); ++k) a(i, k) = -a(k, i);
  }
}
}  // namespace problem_detail

// [ORTH-CAYLEY-DEF] The Cayley map of the skew-symmetric A = tril(X, -1) - tril(X, -1)^T of a square
// X (n, n), as PyTorch's orthogonal parametrization forms it (only the strict lower triangle is
// read; a skew X is its own A), in one of two conventions: PyTorch's Q = (I + A/2)(I - A/2)^-1
// (torch.nn.utils.parametrizations.orthogonal, "cayley") or expRNN's Q = (I + A)^-1 (I - A).
enum class CayleyConvention { pytorch, exprnn };

template <class T>
class CayleyProblem {
 public:
  CayleyProblem(Tensor<T> x, CayleyConvention convention) : a_(std::move(x)), convention_(convention) {
    problem_detail::make_skew(a_);
  }
  const Tensor<T>& a() const { return a_; }
  Index n() const { return a_.extent(0); }
  CayleyConvention convention() const { return convention_; }
  template <class U>
  CayleyProblem<U> cast() const {
    return CayleyProblem<U>(a_.template cast<U>(), convention_);
  }

 private:
  Tensor<T> a_;
  CayleyConvention convention_;
};

// [ORTH-CAYLEY-VJP] The backward problem of orthogonal.cayley: the forward problem (X and the
// convention) and the cotangent dQ (n, n) of Q.
template <class T>
class CayleyBackwardProblem {
 public:
  CayleyBackwardProblem(CayleyProblem<T> forward, Tensor<T> g) : f_(std::move(forward)), g_(std::move(g)) {
    if (g_.rank() != 2 || g_.extent(0) != f_.n() || g_.extent(1) != f_.n())
      throw InvalidInput("dQ", "expected Q's shape (" + std::to_string(f_.n()) + ", " + std::to_string(f_.n()) +
                                   "), got " + g_.shape().str());
    problem_detail::require_finite(g_, "dQ");
  }
  const CayleyProblem<T>& forward() const { return f_; }
  const Tensor<T>& a() const { return f_.a(); }
  const Tensor<T>& g() const { return g_; }
  Index n() const { return f_.n(); }
  CayleyConvention convention() const { return f_.convention(); }
  template <class U>
  CayleyBackwardProblem<U> cast() const {
    return CayleyBackwardProblem<U>(f_.template cast<U>(), g_.template cast<U>());
  }

 private:
  CayleyProblem<T> f_;
  Tensor<T> g_;
};

// [ORTH-EXP-DEF] The matrix exponential of the skew A = tril(X, -1) - tril(X, -1)^T of a square X
// (n, n), as torch.nn.utils.parametrizations.orthogonal(orthogonal_map="matrix_exp") forms it.
template <class T>
class SkewProblem {
 public:
  explicit SkewProblem(Tensor<T> x) : a_(std::move(x)) { problem_detail::make_skew(a_); }
  const Tensor<T>& a() const { return a_; }
  Index n() const { return a_.extent(0); }
  template <class U>
  SkewProblem<U> cast() const {
    return SkewProblem<U>(a_.template cast<U>());
  }

 private:
  Tensor<T> a_;
};

// [ORTH-EXP-VJP] The backward problem of orthogonal.matrix_exp: X and the cotangent dQ (n, n).
template <class T>
class ExpBackwardProblem {
 public:
  ExpBackwardProblem(SkewProblem<T> forward, Tensor<T> g) : f_(std::move(forward)), g_(std::move(g)) {
    if (g_.rank() != 2 || g_.extent(0) != f_.n() || g_.extent(1) != f_.n())
      throw InvalidInput("dQ", "expected Q's shape (" + std::to_string(f_.n()) + ", " + std::to_string(f_.n()) +
                                   "), got " + g_.shape().str());
    problem_detail::require_finite(g_, "dQ");
  }
  const SkewProblem<T>& forward() const { return f_; }
  const Tensor<T>& a() const { return f_.a(); }
  const Tensor<T>& g() const { return g_; }
  Index n() const { return f_.n(); }
  template <class U>
  ExpBackwardProblem<U> cast() const {
    return ExpBackwardProblem<U>(f_.template cast<U>(), g_.template cast<U>());
  }

 private:
  SkewProblem<T> f_;
  Tensor<T> g_;
};

// [ORTH-QR-DEF] A full-column-rank matrix Y (m, n), m >= n, finite, whose thin QR factor Q (R's
// diagonal positive) is asked for: the QR retraction qf(X + xi) with Y = X + xi formed by the caller.
template <class T>
class QfProblem {
 public:
  explicit QfProblem(Tensor<T> y) : y_(std::move(y)) {
    problem_detail::require_matrix(y_, "Y", "(m, n) with m >= n");
    if (y_.extent(0) < y_.extent(1))
      throw InvalidInput("Y", "expected (m, n) with m >= n (a thin QR), got shape " + y_.shape().str());
    problem_detail::require_finite(y_, "Y");
    for (Index j = 0; j < y_.extent(1); ++j) {
      bool zero = true;
      for (Index k = 0; k < y_.extent(0) && zero; ++k) zero = y_(k, j) == T(0);
      if (zero)
        throw InvalidInput("Y", "column " + std::to_string(j) + " is zero: Y has no QR factor with R's diagonal "
                                "positive; spec/orthogonal.md [ORTH-QR-DEF]");
    }
  }
  const Tensor<T>& y() const { return y_; }
  Index m() const { return y_.extent(0); }
  Index n() const { return y_.extent(1); }
  template <class U>
  QfProblem<U> cast() const {
    return QfProblem<U>(y_.template cast<U>());
  }

 private:
  Tensor<T> y_;
};

// [ORTH-POLAR-DEF] The orthogonal polar factor Q = A (A^T A)^-1/2 of a full-rank A (n, m), n >= m
// (geotorch's and geoopt's polar retraction: U V^T of the thin SVD A = U S V^T).
template <class T>
class PolarProblem {
 public:
  explicit PolarProblem(Tensor<T> a) : a_(std::move(a)) {
    problem_detail::require_matrix(a_, "A", "(n, m) with n >= m");
    if (a_.extent(0) < a_.extent(1))
      throw InvalidInput("A", "expected (n, m) with n >= m (a tall polar factor), got shape " + a_.shape().str());
    problem_detail::require_finite(a_, "A");
  }
  const Tensor<T>& a() const { return a_; }
  Index n() const { return a_.extent(0); }
  Index m() const { return a_.extent(1); }
  template <class U>
  PolarProblem<U> cast() const {
    return PolarProblem<U>(a_.template cast<U>());
  }

 private:
  Tensor<T> a_;
};

// [ORTH-POLAR-VJP-DEF] The polar factor's VJP: A as PolarProblem and the cotangent dQ of Q (n, m).
template <class T>
class PolarBackwardProblem {
 public:
  PolarBackwardProblem(PolarProblem<T> forward, Tensor<T> g) : f_(std::move(forward)), g_(std::move(g)) {
    if (g_.rank() != 2 || g_.extent(0) != f_.n() || g_.extent(1) != f_.m())
      throw InvalidInput("dQ", "expected Q's shape (" + std::to_string(f_.n()) + ", " + std::to_string(f_.m()) + "), got " +
                                   g_.shape().str());
    problem_detail::require_finite(g_, "dQ");
  }
  const PolarProblem<T>& forward() const { return f_; }
  const Tensor<T>& a() const { return f_.a(); }
  const Tensor<T>& g() const { return g_; }
  Index n() const { return f_.n(); }
  Index m() const { return f_.m(); }
  template <class U>
  PolarBackwardProblem<U> cast() const {
    return PolarBackwardProblem<U>(f_.template cast<U>(), g_.template cast<U>());
  }

 private:
  PolarProblem<T> f_;
  Tensor<T> g_;
};

// [ORTH-HH-DEF] L nonzero Householder vectors in R^N, the rows of V (L, N).
template <class T>
class ReflectorProblem {
 public:
  explicit ReflectorProblem(Tensor<T> v) : v_(std::move(v)) {
    problem_detail::require_matrix(v_, "V", "(L, N): the vectors v_1..v_L as rows");
    problem_detail::require_finite(v_, "V");
    problem_detail::require_nonzero_rows(v_);
    if (v_.extent(1) * v_.extent(1) > kMaxElements) throw InvalidInput("V", "Q (N x N) would have more than 2^31 elements");
  }
  const Tensor<T>& v() const { return v_; }
  Index L() const { return v_.extent(0); }
  Index N() const { return v_.extent(1); }
  template <class U>
  ReflectorProblem<U> cast() const {
    return ReflectorProblem<U>(v_.template cast<U>());
  }

 private:
  Tensor<T> v_;
};

// [ORTH-CWY-APPLY-DEF] Q h (or Q^T h) for each row h of H (B, N), Q the product of V's reflections.
template <class T>
class ApplyProblem {
 public:
  ApplyProblem(ReflectorProblem<T> reflectors, Tensor<T> h, bool transpose)
      : r_(std::move(reflectors)), h_(std::move(h)), transpose_(transpose) {
    problem_detail::require_matrix(h_, "h", "(B, N): the vectors to apply Q to, as rows");
    if (h_.extent(1) != r_.N())
      throw InvalidInput("h", "expected (B, N) with N = " + std::to_string(r_.N()) + " (V's width), got shape " +
                                  h_.shape().str());
    problem_detail::require_finite(h_, "h");
  }
  const ReflectorProblem<T>& reflectors() const { return r_; }
  const Tensor<T>& v() const { return r_.v(); }
  const Tensor<T>& h() const { return h_; }
  bool transpose() const { return transpose_; }
  Index L() const { return r_.L(); }
  Index N() const { return r_.N(); }
  Index B() const { return h_.extent(0); }
  template <class U>
  ApplyProblem<U> cast() const {
    return ApplyProblem<U>(r_.template cast<U>(), h_.template cast<U>(), transpose_);
  }

 private:
  ReflectorProblem<T> r_;
  Tensor<T> h_;
  bool transpose_;
};

// [ORTH-TCWY-DEF] M <= N nonzero vectors (the rows of V (M, N)) for the Stiefel map N x M.
template <class T>
class StiefelProblem {
 public:
  explicit StiefelProblem(ReflectorProblem<T> reflectors) : r_(std::move(reflectors)) {
    if (r_.L() > r_.N())
      throw InvalidInput("V", "T-CWY takes M <= N vectors (V is (M, N)), got shape " + r_.v().shape().str());
  }
  const ReflectorProblem<T>& reflectors() const { return r_; }
  const Tensor<T>& v() const { return r_.v(); }
  Index M() const { return r_.L(); }
  Index N() const { return r_.N(); }
  template <class U>
  StiefelProblem<U> cast() const {
    return StiefelProblem<U>(r_.template cast<U>());
  }

 private:
  ReflectorProblem<T> r_;
};

// [ORTH-CWY-VJP] [ORTH-TCWY-VJP] The backward problem of CWY (cotangent dQ (N, N)) or of T-CWY
// (`stiefel`: M = L <= N vectors, cotangent dOmega (N, M)): the reflectors and the cotangent.
template <class T>
class CwyBackwardProblem {
 public:
  CwyBackwardProblem(ReflectorProblem<T> reflectors, Tensor<T> g, bool stiefel)
      : r_(std::move(reflectors)), g_(std::move(g)), stiefel_(stiefel) {
    const char* name = stiefel_ ? "dOmega" : "dQ";
    if (stiefel_ && r_.L() > r_.N())
      throw InvalidInput("V", "T-CWY takes M <= N vectors (V is (M, N)), got shape " + r_.v().shape().str());
    const Index C = columns();
    if (g_.rank() != 2 || g_.extent(0) != r_.N() || g_.extent(1) != C)
      throw InvalidInput(name, std::string("expected the output's shape (") + std::to_string(r_.N()) + ", " +
                                   std::to_string(C) + "), got " + g_.shape().str());
    problem_detail::require_finite(g_, name);
  }
  const ReflectorProblem<T>& reflectors() const { return r_; }
  const Tensor<T>& v() const { return r_.v(); }
  const Tensor<T>& g() const { return g_; }
  bool stiefel() const { return stiefel_; }
  Index L() const { return r_.L(); }
  Index N() const { return r_.N(); }
  // The output's columns: N (CWY) or M = L (T-CWY).
  Index columns() const { return stiefel_ ? r_.L() : r_.N(); }
  template <class U>
  CwyBackwardProblem<U> cast() const {
    return CwyBackwardProblem<U>(r_.template cast<U>(), g_.template cast<U>(), stiefel_);
  }

 private:
  ReflectorProblem<T> r_;
  Tensor<T> g_;
  bool stiefel_;
};

// [ORTH-LAPACK-DEF] The LAPACK / PyTorch convention (geqrf's output, torch.linalg.householder_product):
// A (m, n) holds v_i below its diagonal (v_i = (0, .., 0, 1, A[i+1:, i]), the diagonal and above
// ignored), tau (k) the scalars, k <= n <= m; H_i = I - tau_i v_i v_i^T, any finite tau_i.
template <class T>
class LapackProblem {
 public:
  LapackProblem(Tensor<T> a, Tensor<T> tau) : a_(std::move(a)), tau_(std::move(tau)) {
    problem_detail::require_matrix(a_, "A", "(m, n) with m >= n: the reflectors below the diagonal, as geqrf");
    if (a_.extent(0) < a_.extent(1))
      throw InvalidInput("A", "expected (m, n) with m >= n (the first n columns of an m x m product), got shape " +
                                  a_.shape().str());
    if (tau_.rank() != 1 || tau_.extent(0) < 1 || tau_.extent(0) > a_.extent(1))
      throw InvalidInput("tau", "expected (k) with 1 <= k <= n = " + std::to_string(a_.extent(1)) + ", got shape " +
                                    tau_.shape().str());
    problem_detail::require_finite(a_, "A");
    problem_detail::require_finite(tau_, "tau");
  }
  const Tensor<T>& a() const { return a_; }
  const Tensor<T>& tau() const { return tau_; }
  Index m() const { return a_.extent(0); }
  Index n() const { return a_.extent(1); }
  Index k() const { return tau_.extent(0); }
  template <class U>
  LapackProblem<U> cast() const {
    return LapackProblem<U>(a_.template cast<U>(), tau_.template cast<U>());
  }

 private:
  Tensor<T> a_, tau_;
};

// [ORTH-QR-VJP] The backward problem of orthogonal.qf: Y (m, n) and the cotangent dQ (m, n).
template <class T>
class QfBackwardProblem {
 public:
  QfBackwardProblem(QfProblem<T> forward, Tensor<T> g) : f_(std::move(forward)), g_(std::move(g)) {
    if (g_.rank() != 2 || g_.extent(0) != f_.m() || g_.extent(1) != f_.n())
      throw InvalidInput("dQ", "expected Q's shape (" + std::to_string(f_.m()) + ", " + std::to_string(f_.n()) + "), got " +
                                   g_.shape().str());
    problem_detail::require_finite(g_, "dQ");
  }
  const QfProblem<T>& forward() const { return f_; }
  const Tensor<T>& y() const { return f_.y(); }
  const Tensor<T>& g() const { return g_; }
  Index m() const { return f_.m(); }
  Index n() const { return f_.n(); }
  template <class U>
  QfBackwardProblem<U> cast() const {
    return QfBackwardProblem<U>(f_.template cast<U>(), g_.template cast<U>());
  }

 private:
  QfProblem<T> f_;
  Tensor<T> g_;
};

// [ORTH-RGRAD-DEF] A point X (N, M) of the Stiefel manifold St(N, M) (O(d) when N = M = d), N >= M,
// and the Euclidean gradient G = df/dX (N, M) there, both finite. X is taken as given: a matrix
// rounded to a format is orthonormal only to its rounding, and the maps are defined for any X.
template <class T>
class RiemannianProblem {
 public:
  RiemannianProblem(Tensor<T> x, Tensor<T> g) : x_(std::move(x)), g_(std::move(g)) {
    problem_detail::require_matrix(x_, "X", "(N, M) with N >= M: a point of St(N, M) (O(d): N = M = d)");
    if (x_.extent(0) < x_.extent(1))
      throw InvalidInput("X", "expected (N, M) with N >= M (orthonormal columns), got shape " + x_.shape().str());
    if (g_.rank() != 2 || g_.extent(0) != x_.extent(0) || g_.extent(1) != x_.extent(1))
      throw InvalidInput("G", "expected X's shape " + x_.shape().str() + ", got " + g_.shape().str());
    problem_detail::require_finite(x_, "X");
    problem_detail::require_finite(g_, "G");
  }
  const Tensor<T>& x() const { return x_; }
  const Tensor<T>& g() const { return g_; }
  Index N() const { return x_.extent(0); }
  Index M() const { return x_.extent(1); }
  template <class U>
  RiemannianProblem<U> cast() const {
    return RiemannianProblem<U>(x_.template cast<U>(), g_.template cast<U>());
  }

 private:
  Tensor<T> x_, g_;
};

// [ORTH-RGD-EXP-DEF] [ORTH-RGD-CAYLEY-DEF] One Riemannian gradient step X+ = X R(-eta Omega) with
// Omega = (X^T G - G^T X) / 2 and R the exponential or PyTorch's Cayley map; eta finite (any sign).
enum class Retraction { exp, cayley };

template <class T>
class RgdStepProblem {
 public:
  RgdStepProblem(RiemannianProblem<T> base, T eta, Retraction r) : b_(std::move(base)), eta_(eta), r_(r) {
    if (!std::isfinite(static_cast<double>(eta_)))
      throw InvalidInput("eta", "the step size must be finite, got " + std::to_string(static_cast<double>(eta_)));
  }
  const RiemannianProblem<T>& base() const { return b_; }
  const Tensor<T>& x() const { return b_.x(); }
  const Tensor<T>& g() const { return b_.g(); }
  T eta() const { return eta_; }
  Retraction retraction() const { return r_; }
  Index N() const { return b_.N(); }
  Index M() const { return b_.M(); }
  template <class U>
  RgdStepProblem<U> cast() const {
    return RgdStepProblem<U>(b_.template cast<U>(), static_cast<U>(eta_), r_);
  }

 private:
  RiemannianProblem<T> b_;
  T eta_;
  Retraction r_;
};

// [ORTH-MATCH-SCHEDULE] The round-robin (circle-method) schedule on d indices: for even d, d - 1
// rounds, round s pairing (s, d - 1) and ((s + k) mod (d - 1), (s - k) mod (d - 1)) for k = 1 ..
// d/2 - 1; every round a perfect matching, every pair in exactly one round. For odd d, the schedule
// of d + 1 with the dummy index d dropped: d rounds, each leaving one index idle. Pairs (i, j) with
// i < j, in the order above. d = 1 has one empty round.
inline Index matching_rounds(Index d) { return d <= 1 ? 1 : (d % 2 == 0 ? d - 1 : d); }

inline std::vector<std::pair<Index, Index>> round_robin_matching(Index d, Index s) {
  std::vector<std::pair<Index, Index>> pairs;
  if (d <= 1) return pairs;
  const Index n = d % 2 == 0 ? d : d + 1, m = n - 1;  // n even; index n - 1 is the dummy when d is odd
  const auto add = [&](Index i, Index j) {
    if (i >= d || j >= d) return;
    pairs.emplace_back(std::min(i, j), std::max(i, j));
  };
  add(s, n - 1);
  for (Index k = 1; k < n / 2; ++k) add((s + k) % m, (s - k + m) % m);
  return pairs;
}

// [ORTH-MATCH-STEP-DEF] One step of the stochastic matching flow: X+ = X exp(-eta R Omega|_M), Omega =
// (X^T G - G^T X) / 2 restricted to the pairs of round `round` of the schedule of M columns, R =
// matching_rounds(M) (the unbiased estimator's factor, [ORTH-MATCH-UNBIASED]).
template <class T>
class MatchingStepProblem {
 public:
  MatchingStepProblem(RiemannianProblem<T> base, T eta, Index round) : b_(std::move(base)), eta_(eta), round_(round) {
    if (!std::isfinite(static_cast<double>(eta_)))
      throw InvalidInput("eta", "the step size must be finite, got " + std::to_string(static_cast<double>(eta_)));
    if (round_ < 0 || round_ >= matching_rounds(b_.M()))
      throw InvalidInput("round", "expected a round in [0, " + std::to_string(matching_rounds(b_.M()) - 1) + "] for M = " +
                                      std::to_string(b_.M()) + ", got " + std::to_string(round_));
  }
  const RiemannianProblem<T>& base() const { return b_; }
  const Tensor<T>& x() const { return b_.x(); }
  const Tensor<T>& g() const { return b_.g(); }
  T eta() const { return eta_; }
  Index round() const { return round_; }
  Index N() const { return b_.N(); }
  Index M() const { return b_.M(); }
  template <class U>
  MatchingStepProblem<U> cast() const {
    return MatchingStepProblem<U>(b_.template cast<U>(), static_cast<U>(eta_), round_);
  }

 private:
  RiemannianProblem<T> b_;
  T eta_;
  Index round_;
};

// [ORTH-FLOW-DEF] T steps of the matching flow on f(X) = |A X - Y|_F^2 / 2 (G = A^T (A X - Y)) from
// X0 (N, M), A (K, N), Y (K, M); the round of step t is [ORTH-FLOW-ROUNDS]'s draw from `seed`; every
// `reproject` steps (0: never) X is replaced by qf(X) ([ORTH-QR-DEF]).
inline constexpr Index kMaxFlowSteps = Index{1} << 20;

inline Index flow_round(std::uint64_t seed, Index t, Index rounds) {
  const PhiloxStream r(seed, "orthogonal.matching_flow/round");
  const auto b = r.block(static_cast<std::uint64_t>(t));
  const std::uint64_t w = (static_cast<std::uint64_t>(b[1]) << 32) | b[0];
  return static_cast<Index>(w % static_cast<std::uint64_t>(rounds));
}

template <class T>
class FlowProblem {
 public:
  FlowProblem(Tensor<T> x0, Tensor<T> a, Tensor<T> y, T eta, Index steps, std::uint64_t seed, Index reproject)
      : x0_(std::move(x0)), a_(std::move(a)), y_(std::move(y)), eta_(eta), steps_(steps), seed_(seed), reproject_(reproject) {
    problem_detail::require_matrix(x0_, "X0", "(N, M) with N >= M");
    if (x0_.extent(0) < x0_.extent(1))
      throw InvalidInput("X0", "expected (N, M) with N >= M, got shape " + x0_.shape().str());
    problem_detail::require_matrix(a_, "A", "(K, N)");
    if (a_.extent(1) != x0_.extent(0))
      throw InvalidInput("A", "expected (K, N) with X0's N = " + std::to_string(x0_.extent(0)) + ", got " + a_.shape().str());
    if (y_.rank() != 2 || y_.extent(0) != a_.extent(0) || y_.extent(1) != x0_.extent(1))
      throw InvalidInput("Y", "expected (K, M) = (" + std::to_string(a_.extent(0)) + ", " + std::to_string(x0_.extent(1)) +
                                  "), got " + y_.shape().str());
    problem_detail::require_finite(x0_, "X0");
    problem_detail::require_finite(a_, "A");
    problem_detail::require_finite(y_, "Y");
    if (!std::isfinite(static_cast<double>(eta_)))
      throw InvalidInput("eta", "the step size must be finite, got " + std::to_string(static_cast<double>(eta_)));
    if (steps_ < 0 || steps_ > kMaxFlowSteps)
      throw InvalidInput("steps", "expected 0 <= steps <= 2^20, got " + std::to_string(steps_));
    if (reproject_ < 0) throw InvalidInput("reproject", "expected >= 0 (0: never), got " + std::to_string(reproject_));
  }
  const Tensor<T>& x0() const { return x0_; }
  const Tensor<T>& a() const { return a_; }
  const Tensor<T>& y() const { return y_; }
  T eta() const { return eta_; }
  Index steps() const { return steps_; }
  std::uint64_t seed() const { return seed_; }
  Index reproject() const { return reproject_; }
  Index N() const { return x0_.extent(0); }
  Index M() const { return x0_.extent(1); }
  Index K() const { return a_.extent(0); }
  template <class U>
  FlowProblem<U> cast() const {
    return FlowProblem<U>(x0_.template cast<U>(), a_.template cast<U>(), y_.template cast<U>(), static_cast<U>(eta_), steps_,
                          seed_, reproject_);
  }

 private:
  Tensor<T> x0_, a_, y_;
  T eta_;
  Index steps_;
  std::uint64_t seed_;
  Index reproject_;
};

}  // namespace touchstone::orthogonal
