// The Performer family's problems (spec/performer.md [PERF-SHAPES], [PERF-NONFINITE]): exact
// softmax attention, the FAVOR+ positive random features, and linear attention given features.
// Each is validated in its constructor (InvalidInput names the argument; nothing is computed on
// invalid input) and converts with cast<U>(). Arrays use the peers' layout
// (batch, heads, seqlen, dim).
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::performer {

// [PERF-SHAPES] Extents are at least 1; seqlen and the feature and head dimensions are at most
// 2^20, and every array at most 2^31 elements (the same limit as the other families).
inline constexpr Index kMaxExtent = Index{1} << 20;
inline constexpr Index kMaxElements = Index{1} << 31;

namespace problem_detail {
template <class T>
void require_rank4(const Tensor<T>& x, const char* name) {
  if (x.rank() != 4)
    throw InvalidInput(name, "expected (batch, heads, seqlen, dim), got shape " + x.shape().str());
  for (Index a = 0; a < 4; ++a)
    if (x.extent(a) < 1 || x.extent(a) > kMaxExtent)
      throw InvalidInput(name, "every extent must be in [1, 2^20], got shape " + x.shape().str());
  if (x.count() > kMaxElements) throw InvalidInput(name, "more than 2^31 elements: " + x.shape().str());
}
// (batch, heads, seqlen) of a and b agree.
template <class T>
void require_same_rows(const Tensor<T>& a, const char* an, const Tensor<T>& b, const char* bn) {
  for (Index axis = 0; axis < 3; ++axis)
    if (a.extent(axis) != b.extent(axis))
      throw InvalidInput(bn, std::string("expected (batch, heads, seqlen) of ") + an + " " + a.shape().str() +
                                 ", got " + b.shape().str());
}
// [PERF-NONFINITE] Every input finite.
template <class T>
void require_finite(const Tensor<T>& x, const char* name) {
  for (Index i = 0; i < x.count(); ++i)
    if (!std::isfinite(static_cast<double>(x[i])))
      throw InvalidInput(name, "element " + std::to_string(i) + " is not finite (" +
                                   std::to_string(static_cast<double>(x[i])) + "); spec/performer.md [PERF-NONFINITE]");
}
// q and k (batch, heads, seqlen, width) of one shape, v agreeing on (batch, heads, seqlen), all
// finite: the inputs of both attentions.
template <class T>
void require_qkv(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) {
  require_rank4(q, "q");
  require_rank4(k, "k");
  require_rank4(v, "v");
  if (!(k.shape() == q.shape()))
    throw InvalidInput("k", "expected the shape of q " + q.shape().str() + ", got " + k.shape().str());
  require_same_rows(q, "q", v, "v");
  require_finite(q, "q");
  require_finite(k, "k");
  require_finite(v, "v");
}
// A cotangent: the shape of the output it belongs to, finite.
template <class T>
void require_cotangent(const Tensor<T>& g, const Shape& output, const char* name) {
  if (!(g.shape() == output))
    throw InvalidInput(name, "expected the output's shape " + output.str() + ", got " + g.shape().str());
  require_finite(g, name);
}
// The data x (batch, heads, seqlen, dim) and a projection (nb_features, dim) when there is one,
// finite, the features fitting 2^31 elements.
template <class T>
void require_data_and_projection(const Tensor<T>& x, const Tensor<T>* w) {
  require_rank4(x, "x");
  require_finite(x, "x");
  if (!w) return;
  const Index dim = x.extent(3);
  if (w->rank() != 2 || w->extent(0) < 1 || w->extent(0) > kMaxExtent || w->extent(1) != dim)
    throw InvalidInput("projection_matrix", "expected (nb_features, dim) with dim = " + std::to_string(dim) +
                                                ", got shape " + w->shape().str());
  if (x.count() / dim > kMaxElements / w->extent(0))
    throw InvalidInput("projection_matrix", "the features would have more than 2^31 elements");
  require_finite(*w, "projection_matrix");
}
}  // namespace problem_detail

// [PERF-SOFTMAX-DEF] Exact softmax attention of q, k (batch, heads, seqlen, dim) and
// v (batch, heads, seqlen, dim_v), bidirectional or causal.
template <class T>
struct AttentionInputs {
  Tensor<T> q, k, v;
  bool causal = false;
};

template <class T>
class AttentionProblem {
 public:
  explicit AttentionProblem(AttentionInputs<T> in) : in_(std::move(in)) {
    problem_detail::require_qkv(in_.q, in_.k, in_.v);
  }
  const AttentionInputs<T>& in() const { return in_; }
  Index batch() const { return in_.q.extent(0); }
  Index heads() const { return in_.q.extent(1); }
  Index seqlen() const { return in_.q.extent(2); }
  Index dim() const { return in_.q.extent(3); }
  Index dim_v() const { return in_.v.extent(3); }
  bool causal() const { return in_.causal; }
  template <class U>
  AttentionProblem<U> cast() const {
    return AttentionProblem<U>(
        {in_.q.template cast<U>(), in_.k.template cast<U>(), in_.v.template cast<U>(), in_.causal});
  }

 private:
  AttentionInputs<T> in_;
};

// [PERF-SOFTMAX-VJP] The backward problem of softmax attention: the forward problem and the
// output's cotangent dout (batch, heads, seqlen, dim_v).
template <class T>
struct AttentionBackwardInputs {
  AttentionInputs<T> fwd;
  Tensor<T> dout;
};

template <class T>
class AttentionBackwardProblem {
 public:
  explicit AttentionBackwardProblem(AttentionBackwardInputs<T> in) : fwd_(std::move(in.fwd)), dout_(std::move(in.dout)) {
    problem_detail::require_cotangent(dout_, fwd_.in().v.shape(), "dout");
  }
  const AttentionProblem<T>& fwd() const { return fwd_; }
  const Tensor<T>& dout() const { return dout_; }
  template <class U>
  AttentionBackwardProblem<U> cast() const {
    return AttentionBackwardProblem<U>({fwd_.template cast<U>().in(), dout_.template cast<U>()});
  }

 private:
  AttentionProblem<T> fwd_;
  Tensor<T> dout_;
};

// [PERF-FEATURES-DEF] The positive random features of FAVOR+ for x (batch, heads, seqlen, dim) and a
// projection (m, dim): phi = m^-1/2 (exp(w.x~ - |x~|^2/2 - shift) + eps), x~ = d^-1/4 x, with the
// query shift (each row's max over features) or the key shift (the max over features and positions
// of each (batch, head)).
//
// The same inputs serve the other random-feature maps of the paper's section 2.3, each its own
// entry ([PERF-HYPERBOLIC-DEF], [PERF-TRIG-DEF]): `map` says which, and both give 2m features.
enum class FeatureMap { positive, hyperbolic, trig };

template <class T>
struct FeatureInputs {
  Tensor<T> x, projection;
  bool is_query = true;
  double eps = 1e-4;  // performer-pytorch's default; google-research's attention passes 1e-6
  FeatureMap map = FeatureMap::positive;
};

template <class T>
class FeatureProblem {
 public:
  explicit FeatureProblem(FeatureInputs<T> in) : in_(std::move(in)) {
    problem_detail::require_data_and_projection(in_.x, &in_.projection);
    if (!(in_.eps >= 0) || !std::isfinite(in_.eps))
      throw InvalidInput("eps", "expected a finite eps >= 0, got " + std::to_string(in_.eps));
    if (in_.map == FeatureMap::trig && in_.eps != 0)
      throw InvalidInput("eps", "the trigonometric features take no eps (google-research's sin/cos map has none)");
    if (in_.map != FeatureMap::positive && in_.x.count() / dim() > kMaxElements / (2 * features()))
      throw InvalidInput("projection_matrix", "the 2 nb_features features would have more than 2^31 elements");
  }
  const FeatureInputs<T>& in() const { return in_; }
  Index batch() const { return in_.x.extent(0); }
  Index heads() const { return in_.x.extent(1); }
  Index seqlen() const { return in_.x.extent(2); }
  Index dim() const { return in_.x.extent(3); }
  Index features() const { return in_.projection.extent(0); }  // m, the projection's rows
  // The output's width: m for the positive map, 2m for the hyperbolic and trigonometric ones.
  Index outputs() const { return in_.map == FeatureMap::positive ? features() : 2 * features(); }
  template <class U>
  FeatureProblem<U> cast() const {
    return FeatureProblem<U>(
        {in_.x.template cast<U>(), in_.projection.template cast<U>(), in_.is_query, in_.eps, in_.map});
  }

 private:
  FeatureInputs<T> in_;
};

// [PERF-FEATURES-VJP] The backward problem of the FAVOR+ features: the forward problem and the
// features' cotangent dfeatures (batch, heads, seqlen, nb_features). The shift is held constant
// (performer-pytorch detaches it); the projection is not differentiated (a fixed random draw).
template <class T>
struct FeatureBackwardInputs {
  FeatureInputs<T> fwd;
  Tensor<T> dfeatures;
};

template <class T>
class FeatureBackwardProblem {
 public:
  explicit FeatureBackwardProblem(FeatureBackwardInputs<T> in) : fwd_(std::move(in.fwd)), dphi_(std::move(in.dfeatures)) {
    problem_detail::require_cotangent(dphi_, Shape{fwd_.batch(), fwd_.heads(), fwd_.seqlen(), fwd_.outputs()},
                                      "dfeatures");
  }
  const FeatureProblem<T>& fwd() const { return fwd_; }
  const Tensor<T>& dfeatures() const { return dphi_; }
  template <class U>
  FeatureBackwardProblem<U> cast() const {
    return FeatureBackwardProblem<U>({fwd_.template cast<U>().in(), dphi_.template cast<U>()});
  }

 private:
  FeatureProblem<T> fwd_;
  Tensor<T> dphi_;
};

// [PERF-GENERALIZED-DEF] Generalized kernel features (performer-pytorch generalized_kernel,
// google-research's generalized_kernel_feature_creator): phi = f(x~ W^T) + kernel_eps with a
// projection, f(x~) + kernel_eps without; x~ = d^-1/4 x when normalize_data, else x. f is one of
// relu, elu1 (e^t for t <= 0, t + 1 above: Katharopoulos et al.'s elu + 1), abs, sqr (t^2), exp,
// identity.
enum class Kernel { relu, elu1, abs, sqr, exp, identity };
Kernel parse_kernel(const std::string& word);  // InvalidInput("kernel") for another word
const std::vector<std::string>& kernel_names();  // in enum order

template <class T>
struct GeneralizedFeatureInputs {
  Tensor<T> x;
  std::optional<Tensor<T>> projection;
  Kernel kernel = Kernel::relu;
  bool normalize_data = true;
  double kernel_eps = 1e-3;
};

template <class T>
class GeneralizedFeatureProblem {
 public:
  explicit GeneralizedFeatureProblem(GeneralizedFeatureInputs<T> in) : in_(std::move(in)) {
    problem_detail::require_data_and_projection(in_.x, in_.projection ? &*in_.projection : nullptr);
    if (!std::isfinite(in_.kernel_eps))
      throw InvalidInput("kernel_eps", "expected a finite kernel_eps, got " + std::to_string(in_.kernel_eps));
  }
  const GeneralizedFeatureInputs<T>& in() const { return in_; }
  Index batch() const { return in_.x.extent(0); }
  Index heads() const { return in_.x.extent(1); }
  Index seqlen() const { return in_.x.extent(2); }
  Index dim() const { return in_.x.extent(3); }
  // The features' width: nb_features with a projection, dim without.
  Index features() const { return in_.projection ? in_.projection->extent(0) : dim(); }
  template <class U>
  GeneralizedFeatureProblem<U> cast() const {
    std::optional<Tensor<U>> w;
    if (in_.projection) w = in_.projection->template cast<U>();
    return GeneralizedFeatureProblem<U>(
        {in_.x.template cast<U>(), std::move(w), in_.kernel, in_.normalize_data, in_.kernel_eps});
  }

 private:
  GeneralizedFeatureInputs<T> in_;
};

// [PERF-GENERALIZED-VJP] The backward problem of the generalized features: the forward problem and
// the features' cotangent dfeatures; the projection is not differentiated.
template <class T>
struct GeneralizedFeatureBackwardInputs {
  GeneralizedFeatureInputs<T> fwd;
  Tensor<T> dfeatures;
};

template <class T>
class GeneralizedFeatureBackwardProblem {
 public:
  explicit GeneralizedFeatureBackwardProblem(GeneralizedFeatureBackwardInputs<T> in)
      : fwd_(std::move(in.fwd)), dphi_(std::move(in.dfeatures)) {
    problem_detail::require_cotangent(dphi_, Shape{fwd_.batch(), fwd_.heads(), fwd_.seqlen(), fwd_.features()},
                                      "dfeatures");
  }
  const GeneralizedFeatureProblem<T>& fwd() const { return fwd_; }
  const Tensor<T>& dfeatures() const { return dphi_; }
  template <class U>
  GeneralizedFeatureBackwardProblem<U> cast() const {
    return GeneralizedFeatureBackwardProblem<U>({fwd_.template cast<U>().in(), dphi_.template cast<U>()});
  }

 private:
  GeneralizedFeatureProblem<T> fwd_;
  Tensor<T> dphi_;
};

// [PERF-LINEAR-DEF] Linear attention given features q', k' (batch, heads, seqlen, m) and values
// v (batch, heads, seqlen, dim_v): out_i = W_i / R_i with W_i = q'_i^T sum_j k'_j v_j^T and
// R_i = q'_i . sum_j k'_j over all j (bidirectional) or j <= i (causal), and the renormalizer
// guard of [PERF-LINEAR-GUARD].
enum class Guard { none, gr, lr };
Guard parse_guard(const std::string& word);  // InvalidInput("guard") for another word
std::string guard_name(Guard g);

template <class T>
struct LinearInputs {
  Tensor<T> q, k, v;  // q', k' (features), v
  bool causal = false;
  Guard guard = Guard::none;
  double guard_eps = 1e-6;
};

template <class T>
class LinearProblem {
 public:
  explicit LinearProblem(LinearInputs<T> in) : in_(std::move(in)) {
    problem_detail::require_qkv(in_.q, in_.k, in_.v);
    if (!(in_.guard_eps > 0) || !std::isfinite(in_.guard_eps))
      throw InvalidInput("guard_eps", "expected a finite guard_eps > 0, got " + std::to_string(in_.guard_eps));
  }
  const LinearInputs<T>& in() const { return in_; }
  Index batch() const { return in_.q.extent(0); }
  Index heads() const { return in_.q.extent(1); }
  Index seqlen() const { return in_.q.extent(2); }
  Index features() const { return in_.q.extent(3); }
  Index dim_v() const { return in_.v.extent(3); }
  bool causal() const { return in_.causal; }
  template <class U>
  LinearProblem<U> cast() const {
    return LinearProblem<U>({in_.q.template cast<U>(), in_.k.template cast<U>(), in_.v.template cast<U>(),
                             in_.causal, in_.guard, in_.guard_eps});
  }

 private:
  LinearInputs<T> in_;
};

// [PERF-LINEAR-VJP] The backward problem of linear attention: the forward problem, the output's
// cotangent dout (batch, heads, seqlen, dim_v), and, for causal attention, how an implementation
// gets its prefix states in the backward pass ([PERF-LINEAR-VJP-CPU]): stored from the forward
// pass, or recovered by subtraction from the final state (google-research, SLiM). The exact
// gradients do not depend on it; the bounds do. `slice` > 0 ([PERF-SLICES]): only the states at
// slice boundaries (every `slice` positions) are kept from the forward pass, and each slice's
// states are recomputed from its boundary in the backward pass (SLiM's memory scheme).
template <class T>
struct LinearBackwardInputs {
  LinearInputs<T> fwd;
  Tensor<T> dout;
  bool subtraction = false;
  Index slice = 0;
};

template <class T>
class LinearBackwardProblem {
 public:
  explicit LinearBackwardProblem(LinearBackwardInputs<T> in) : fwd_(std::move(in.fwd)), in_(std::move(in)) {
    problem_detail::require_cotangent(in_.dout, fwd_.in().v.shape(), "dout");
    if (in_.slice < 0 || in_.slice > kMaxExtent)
      throw InvalidInput("slice", "expected 0 (no slices) or a slice size in [1, 2^20], got " + std::to_string(in_.slice));
    if (in_.slice > 0 && in_.subtraction)
      throw InvalidInput("slice", "slices recompute the prefix states from stored boundaries; they do not combine with "
                                  "state=subtraction");
  }
  const LinearProblem<T>& fwd() const { return fwd_; }
  const Tensor<T>& dout() const { return in_.dout; }
  bool subtraction() const { return in_.subtraction; }
  Index slice() const { return in_.slice; }
  template <class U>
  LinearBackwardProblem<U> cast() const {
    const LinearProblem<U> f = fwd_.template cast<U>();
    return LinearBackwardProblem<U>({f.in(), in_.dout.template cast<U>(), in_.subtraction, in_.slice});
  }

 private:
  LinearProblem<T> fwd_;  // validated first: its errors name the forward arrays
  LinearBackwardInputs<T> in_;
};

// Gradients of a scalar loss with respect to q, k and v, each in its input's shape.
template <class T>
struct AttentionGrads {
  Tensor<T> dq, dk, dv;
};

}  // namespace touchstone::performer
