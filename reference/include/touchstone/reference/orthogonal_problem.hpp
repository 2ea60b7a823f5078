// The orthogonal family's problems (spec/orthogonal.md [ORTH-SHAPES], [ORTH-INVALID]): a set of
// Householder vectors V (L, N), its rows v_1..v_L; the same with a batch of vectors h (B, N) to
// apply Q or Q^T to; and a Stiefel problem (M vectors, M <= N). Each is validated in its
// constructor (InvalidInput names the argument; nothing is computed on invalid input) and converts
// with cast<U>().
#pragma once

#include <cmath>
#include <string>
#include <utility>

#include "touchstone/core/errors.hpp"
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

}  // namespace touchstone::orthogonal
