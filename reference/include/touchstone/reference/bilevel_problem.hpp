// The bilevel family's problems (spec/bilevel.md [BILEVEL-SHAPES], [BILEVEL-NONFINITE]):
// approximate bilevel optimization (ABLO). The quadratic class: inner loss
// L_in(phi) = 1/2 (phi - c)^T A (phi - c) with A symmetric, the same outer loss, r inner steps of
// gradient descent from phi_0 = theta with step alpha; M(theta) = L_out(phi_r). UFOM adds the coin
// xi (given, or drawn from Philox) and its probability q. The ridge class: per-feature
// regularizers exp(theta) as the hyperparameters. Hessian-vector products of either. Validated in
// the constructors (InvalidInput names the argument; nothing is computed on invalid input);
// cast<U>() converts.
#pragma once

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include <cstdint>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/random.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::bilevel {

// [BILEVEL-SHAPES] dim in [1, 2^12] (A is dense, dim^2 elements); r in [0, 2^20] (recomputation
// takes r(r+1)/2 inner steps: keep r moderate).
inline constexpr Index kMaxDim = Index{1} << 12;
inline constexpr Index kMaxSteps = Index{1} << 20;
inline constexpr Index kMaxSamples = Index{1} << 20;

namespace problem_detail {
template <class T>
void require_finite(const Tensor<T>& x, const char* name) {
  for (Index i = 0; i < x.count(); ++i)
    if (!std::isfinite(static_cast<double>(x[i])))
      throw InvalidInput(name, "element " + std::to_string(i) + " is not finite (" +
                                   std::to_string(static_cast<double>(x[i])) + "); spec/bilevel.md [BILEVEL-NONFINITE]");
}
template <class T>
void require_finite_scalar(T x, const char* name) {
  if (!std::isfinite(static_cast<double>(x)))
    throw InvalidInput(name, "must be finite, got " + std::to_string(static_cast<double>(x)) +
                                 "; spec/bilevel.md [BILEVEL-NONFINITE]");
}
}  // namespace problem_detail

// [BILEVEL-QUAD-DEF] The quadratic class: A (dim, dim) symmetric, c (dim,), theta (dim,), the
// step alpha and the number of inner steps r.
template <class T>
struct QuadraticInputs {
  Tensor<T> A, c, theta;
  T alpha = T(0);
  Index r = 0;
};

template <class T>
class QuadraticProblem {
 public:
  explicit QuadraticProblem(QuadraticInputs<T> in) : in_(std::move(in)) {
    using problem_detail::require_finite;
    const Tensor<T>& A = in_.A;
    if (A.rank() != 2 || A.extent(0) != A.extent(1) || A.extent(0) < 1 || A.extent(0) > kMaxDim)
      throw InvalidInput("A", "expected a square (dim, dim) matrix with dim in [1, 2^12], got shape " + A.shape().str());
    const Index d = A.extent(0);
    if (in_.c.rank() != 1 || in_.c.extent(0) != d)
      throw InvalidInput("c", "expected (dim,) with dim = " + std::to_string(d) + ", got shape " + in_.c.shape().str());
    if (in_.theta.rank() != 1 || in_.theta.extent(0) != d)
      throw InvalidInput("theta",
                         "expected (dim,) with dim = " + std::to_string(d) + ", got shape " + in_.theta.shape().str());
    require_finite(A, "A");
    require_finite(in_.c, "c");
    require_finite(in_.theta, "theta");
    problem_detail::require_finite_scalar(in_.alpha, "alpha");
    if (in_.r < 0 || in_.r > kMaxSteps)
      throw InvalidInput("r", "expected 0 <= r <= 2^20, got " + std::to_string(in_.r));
    // [BILEVEL-QUAD-DEF] A is the Hessian of the inner loss: exactly symmetric.
    for (Index i = 0; i < d; ++i)
      for (Index k = 0; k < i; ++k)
        if (!(A(i, k) == A(k, i)))
          throw InvalidInput("A", "must be symmetric: A[" + std::to_string(i) + "," + std::to_string(k) +
                                      "] = " + std::to_string(static_cast<double>(A(i, k))) + " but A[" +
                                      std::to_string(k) + "," + std::to_string(i) + "] = " +
                                      std::to_string(static_cast<double>(A(k, i))));
  }
  const QuadraticInputs<T>& in() const { return in_; }
  Index dim() const { return in_.A.extent(0); }
  Index steps() const { return in_.r; }
  T alpha() const { return in_.alpha; }
  template <class U>
  QuadraticProblem<U> cast() const {
    return QuadraticProblem<U>({in_.A.template cast<U>(), in_.c.template cast<U>(), in_.theta.template cast<U>(),
                                static_cast<U>(in_.alpha), in_.r});
  }

 private:
  QuadraticInputs<T> in_;
};

// [BILEVEL-UFOM-DEF] UFOM with the coin given: xi in {0, 1} and its probability q in (0, 1].
template <class T>
class UfomProblem {
 public:
  UfomProblem(QuadraticProblem<T> quad, T q, int xi) : quad_(std::move(quad)), q_(q), xi_(xi) {
    if (!(static_cast<double>(q_) > 0 && static_cast<double>(q_) <= 1))
      throw InvalidInput("q", "expected 0 < q <= 1, got " + std::to_string(static_cast<double>(q_)));
    if (xi_ != 0 && xi_ != 1) throw InvalidInput("xi", "expected 0 or 1, got " + std::to_string(xi_));
  }
  const QuadraticProblem<T>& quad() const { return quad_; }
  T q() const { return q_; }
  int xi() const { return xi_; }
  template <class U>
  UfomProblem<U> cast() const {
    return UfomProblem<U>(quad_.template cast<U>(), static_cast<U>(q_), xi_);
  }

 private:
  QuadraticProblem<T> quad_;
  T q_;
  int xi_;
};

// [BILEVEL-UFOM-ADAPTIVE] Adaptive UFOM, one step of the authors' rule (reptile.py, exact_prob < 0):
// the UFOM problem (q the probability this step uses, xi its coin) plus the adaptive state before
// the step: the EMAs of |E|^2 and |g - E|^2 (both >= 0) and the number of exact branches so far.
template <class T>
class AdaptiveUfomProblem {
 public:
  AdaptiveUfomProblem(UfomProblem<T> ufom, T ema_v2, T ema_d2, Index exact_steps)
      : ufom_(std::move(ufom)), ema_v2_(ema_v2), ema_d2_(ema_d2), exact_steps_(exact_steps) {
    if (!(static_cast<double>(ema_v2_) >= 0) || !std::isfinite(static_cast<double>(ema_v2_)))
      throw InvalidInput("ema_v2", "expected a finite value >= 0, got " + std::to_string(static_cast<double>(ema_v2_)));
    if (!(static_cast<double>(ema_d2_) >= 0) || !std::isfinite(static_cast<double>(ema_d2_)))
      throw InvalidInput("ema_d2", "expected a finite value >= 0, got " + std::to_string(static_cast<double>(ema_d2_)));
    if (exact_steps_ < 0 || exact_steps_ > kMaxSteps)
      throw InvalidInput("exact_steps", "expected 0 <= exact_steps <= 2^20, got " + std::to_string(exact_steps_));
  }
  const UfomProblem<T>& ufom() const { return ufom_; }
  const QuadraticProblem<T>& quad() const { return ufom_.quad(); }
  T ema_v2() const { return ema_v2_; }
  T ema_d2() const { return ema_d2_; }
  Index exact_steps() const { return exact_steps_; }
  template <class U>
  AdaptiveUfomProblem<U> cast() const {
    return AdaptiveUfomProblem<U>(ufom_.template cast<U>(), static_cast<U>(ema_v2_), static_cast<U>(ema_d2_),
                                  exact_steps_);
  }

 private:
  UfomProblem<T> ufom_;
  T ema_v2_, ema_d2_;
  Index exact_steps_;
};

// What one adaptive UFOM step returns: the estimate g, the state after it (q, the two EMAs) and
// the bias-corrected estimates V2 = ema_v2 / (1 - beta^n), D2 = ema_d2 / (1 - beta^n) after it
// (n the exact branches so far, this one included; 0 while n = 0).
template <class T>
struct AdaptiveUfomResult {
  Tensor<T> grad;
  T q_next{}, ema_v2_next{}, ema_d2_next{}, v2{}, d2{};
};

// [BILEVEL-RIDGE-DEF] Ridge regression with one regularizer per feature, the hyperparameters
// theta = log lambda: training data X (n, dim), y (n), validation data X_val (m, dim), y_val (m),
// the initial weights w0 (dim), theta (dim), the step alpha and the number of steps r.
template <class T>
struct RidgeInputs {
  Tensor<T> X, y, X_val, y_val, w0, theta;
  T alpha = T(0);
  Index r = 0;
};

template <class T>
class RidgeProblem {
 public:
  explicit RidgeProblem(RidgeInputs<T> in) : in_(std::move(in)) {
    using problem_detail::require_finite;
    auto matrix = [](const Tensor<T>& x, const char* name, Index dim) {
      if (x.rank() != 2 || x.extent(0) < 1 || x.extent(0) > kMaxSamples || x.extent(1) < 1 || x.extent(1) > kMaxDim ||
          (dim > 0 && x.extent(1) != dim))
        throw InvalidInput(name, "expected (samples, dim) with samples in [1, 2^20] and dim in [1, 2^12]" +
                                     (dim > 0 ? " and dim = " + std::to_string(dim) : std::string()) + ", got shape " +
                                     x.shape().str());
    };
    auto vector = [](const Tensor<T>& x, const char* name, Index n) {
      if (x.rank() != 1 || x.extent(0) != n)
        throw InvalidInput(name, "expected (" + std::to_string(n) + ",), got shape " + x.shape().str());
    };
    matrix(in_.X, "X", 0);
    const Index d = in_.X.extent(1);
    vector(in_.y, "y", in_.X.extent(0));
    matrix(in_.X_val, "X_val", d);
    vector(in_.y_val, "y_val", in_.X_val.extent(0));
    vector(in_.w0, "w0", d);
    vector(in_.theta, "theta", d);
    require_finite(in_.X, "X");
    require_finite(in_.y, "y");
    require_finite(in_.X_val, "X_val");
    require_finite(in_.y_val, "y_val");
    require_finite(in_.w0, "w0");
    require_finite(in_.theta, "theta");
    problem_detail::require_finite_scalar(in_.alpha, "alpha");
    if (in_.r < 0 || in_.r > kMaxSteps) throw InvalidInput("r", "expected 0 <= r <= 2^20, got " + std::to_string(in_.r));
  }
  const RidgeInputs<T>& in() const { return in_; }
  Index dim() const { return in_.X.extent(1); }
  Index samples() const { return in_.X.extent(0); }
  Index val_samples() const { return in_.X_val.extent(0); }
  Index steps() const { return in_.r; }
  template <class U>
  RidgeProblem<U> cast() const {
    return RidgeProblem<U>({in_.X.template cast<U>(), in_.y.template cast<U>(), in_.X_val.template cast<U>(),
                            in_.y_val.template cast<U>(), in_.w0.template cast<U>(), in_.theta.template cast<U>(),
                            static_cast<U>(in_.alpha), in_.r});
  }

 private:
  RidgeInputs<T> in_;
};

// [BILEVEL-LOGISTIC-DEF] Logistic regression with one L2 regularizer per feature, the
// hyperparameters theta = log lambda: the ridge class's arrays (X, y, X_val, y_val, w0, theta,
// alpha, r) with labels y, y_val in [0, 1] (the cross-entropy's targets; 0/1 labels or soft ones).
template <class T>
class LogisticProblem : public RidgeProblem<T> {
 public:
  explicit LogisticProblem(RidgeInputs<T> in) : RidgeProblem<T>(std::move(in)) {
    labels(this->in().y, "y");
    labels(this->in().y_val, "y_val");
  }
  template <class U>
  LogisticProblem<U> cast() const {
    const RidgeProblem<U> base = RidgeProblem<T>::template cast<U>();
    return LogisticProblem<U>(base.in());
  }

 private:
  static void labels(const Tensor<T>& y, const char* name) {
    for (Index i = 0; i < y.count(); ++i)
      if (!(static_cast<double>(y[i]) >= 0 && static_cast<double>(y[i]) <= 1))
        throw InvalidInput(name, "element " + std::to_string(i) + " is " + std::to_string(static_cast<double>(y[i])) +
                                     ", expected a label in [0, 1]; spec/bilevel.md [BILEVEL-LOGISTIC-DEF]");
  }
};

// [BILEVEL-LOGISTIC-UFOM] UFOM on the logistic class with the coin given: xi in {0, 1}, q in (0, 1].
template <class T>
class LogisticUfomProblem {
 public:
  LogisticUfomProblem(LogisticProblem<T> p, T q, int xi) : p_(std::move(p)), q_(q), xi_(xi) {
    if (!(static_cast<double>(q_) > 0 && static_cast<double>(q_) <= 1))
      throw InvalidInput("q", "expected 0 < q <= 1, got " + std::to_string(static_cast<double>(q_)));
    if (xi_ != 0 && xi_ != 1) throw InvalidInput("xi", "expected 0 or 1, got " + std::to_string(xi_));
  }
  const LogisticProblem<T>& problem() const { return p_; }
  T q() const { return q_; }
  int xi() const { return xi_; }
  template <class U>
  LogisticUfomProblem<U> cast() const {
    return LogisticUfomProblem<U>(p_.template cast<U>(), static_cast<U>(q_), xi_);
  }

 private:
  LogisticProblem<T> p_;
  T q_;
  int xi_;
};

// [BILEVEL-MAML-DEF] MAML sinusoid regression with the MLP 1-h-h-1 (ReLU): the task's support
// points (x_support, y_support) (K), query points (x_query, y_query) (Kq), the initial weights
// theta flattened as W1 (h, 1), b1 (h), W2 (h, h), b2 (h), W3 (1, h), b3 (1) (row-major, PyTorch's
// Linear(out, in) layout; h^2 + 4h + 1 numbers), the step alpha and the number of steps r.
inline constexpr Index kMaxHidden = 256;
inline constexpr Index kMaxPoints = Index{1} << 16;

inline Index mlp_parameter_count(Index hidden) { return hidden * hidden + 4 * hidden + 1; }

template <class T>
struct MamlInputs {
  Tensor<T> x_support, y_support, x_query, y_query, theta;
  T alpha = T(0);
  Index r = 0;
};

template <class T>
class MamlProblem {
 public:
  explicit MamlProblem(MamlInputs<T> in) : in_(std::move(in)) {
    using problem_detail::require_finite;
    auto points = [](const Tensor<T>& x, const char* name, Index n) {
      if (x.rank() != 1 || x.extent(0) < 1 || x.extent(0) > kMaxPoints || (n > 0 && x.extent(0) != n))
        throw InvalidInput(name, "expected (K,) with K in [1, 2^16]" +
                                     (n > 0 ? " and K = " + std::to_string(n) : std::string()) + ", got shape " +
                                     x.shape().str());
    };
    points(in_.x_support, "x_support", 0);
    points(in_.y_support, "y_support", in_.x_support.extent(0));
    points(in_.x_query, "x_query", 0);
    points(in_.y_query, "y_query", in_.x_query.extent(0));
    if (in_.theta.rank() != 1)
      throw InvalidInput("theta", "expected a flat (h^2 + 4h + 1,) vector, got shape " + in_.theta.shape().str());
    hidden_ = 0;
    for (Index h = 1; h <= kMaxHidden; ++h)
      if (mlp_parameter_count(h) == in_.theta.extent(0)) hidden_ = h;
    if (hidden_ == 0)
      throw InvalidInput("theta", "expected h^2 + 4h + 1 elements for a hidden width h in [1, 256] (1761 for h = 40), got " +
                                      std::to_string(in_.theta.extent(0)));
    require_finite(in_.x_support, "x_support");
    require_finite(in_.y_support, "y_support");
    require_finite(in_.x_query, "x_query");
    require_finite(in_.y_query, "y_query");
    require_finite(in_.theta, "theta");
    problem_detail::require_finite_scalar(in_.alpha, "alpha");
    if (in_.r < 0 || in_.r > kMaxSteps) throw InvalidInput("r", "expected 0 <= r <= 2^20, got " + std::to_string(in_.r));
  }
  const MamlInputs<T>& in() const { return in_; }
  Index hidden() const { return hidden_; }
  Index dim() const { return in_.theta.extent(0); }
  Index steps() const { return in_.r; }
  template <class U>
  MamlProblem<U> cast() const {
    return MamlProblem<U>({in_.x_support.template cast<U>(), in_.y_support.template cast<U>(),
                           in_.x_query.template cast<U>(), in_.y_query.template cast<U>(), in_.theta.template cast<U>(),
                           static_cast<U>(in_.alpha), in_.r});
  }

 private:
  MamlInputs<T> in_;
  Index hidden_ = 0;
};

// [BILEVEL-HVP-DEF] A Hessian-vector product H v of one class's inner loss: the quadratic's
// H = A (given as a QuadraticProblem, of which only A is read), or the ridge's
// H = X^T X / n + diag(exp(theta)) (a RidgeProblem, of which X and theta are read); v (dim).
template <class Problem>
class HvpProblem {
 public:
  using T = typename std::remove_cvref_t<decltype(std::declval<const Problem&>().in().alpha)>;
  HvpProblem(Problem problem, Tensor<T> v) : p_(std::move(problem)), v_(std::move(v)) {
    if (v_.rank() != 1 || v_.extent(0) != p_.dim())
      throw InvalidInput("v", "expected (dim,) with dim = " + std::to_string(p_.dim()) + ", got shape " + v_.shape().str());
    problem_detail::require_finite(v_, "v");
  }
  const Problem& problem() const { return p_; }
  const Tensor<T>& v() const { return v_; }
  template <class U>
  auto cast() const {
    auto q = p_.template cast<U>();
    return HvpProblem<decltype(q)>(std::move(q), v_.template cast<U>());
  }

 private:
  Problem p_;
  Tensor<T> v_;
};

// [BILEVEL-UFOM-DRAWN] UFOM with the coin drawn: xi = 1 when the Philox uniform number `draw` of
// the stream named "bilevel.ufom/xi" keyed by `seed` is below q ([CORE-RNG-UNIFORM]: u in (0, 1),
// exact in double), else 0. seed in [0, 2^53] (exact in a double array), draw in [0, 2^53].
inline constexpr std::uint64_t kMaxSeed = std::uint64_t{1} << 53;

inline int ufom_coin(std::uint64_t seed, std::uint64_t draw, double q) {
  return PhiloxStream(seed, "bilevel.ufom/xi").uniform(draw) < q ? 1 : 0;
}

template <class T>
class UfomDrawProblem {
 public:
  UfomDrawProblem(QuadraticProblem<T> quad, T q, std::uint64_t seed, std::uint64_t draw)
      : given_(std::move(quad), q, 0), seed_(seed), draw_(draw) {
    if (seed_ > kMaxSeed) throw InvalidInput("seed", "expected 0 <= seed <= 2^53, got " + std::to_string(seed_));
    if (draw_ > kMaxSeed) throw InvalidInput("draw", "expected 0 <= draw <= 2^53, got " + std::to_string(draw_));
    given_ = UfomProblem<T>(given_.quad(), q, ufom_coin(seed_, draw_, static_cast<double>(q)));
  }
  // The problem with its coin drawn: what the oracle and the backends compute.
  const UfomProblem<T>& given() const { return given_; }
  std::uint64_t seed() const { return seed_; }
  std::uint64_t draw() const { return draw_; }
  template <class U>
  UfomDrawProblem<U> cast() const {
    return UfomDrawProblem<U>(given_.quad().template cast<U>(), static_cast<U>(given_.q()), seed_, draw_);
  }

 private:
  UfomProblem<T> given_;
  std::uint64_t seed_, draw_;
};

}  // namespace touchstone::bilevel
