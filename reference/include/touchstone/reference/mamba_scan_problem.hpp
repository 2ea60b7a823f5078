// The selective scan problem, real or complex state (spec/mamba.md [MAMBA-SCAN-SHAPES],
// [MAMBA-SCAN-NONFINITE], [MAMBA-BWD-SHAPES]; spec/mamba_complex.md [MAMBA-CSCAN-SHAPES],
// [MAMBA-CSCAN-NONFINITE], [MAMBA-CSCAN-NAN], [MAMBA-CSCAN-BWD-SHAPES]).
//
// One class template, ScanProblem<T, S>, on the value type T and the state kind S (RealState or
// ComplexState), feeds the reference, every backend, the generators, the fuzzers, the npz reader
// and the CLI; mamba_problem.hpp and mamba_complex_problem.hpp name its two kinds
// (SelectiveScanProblem<T>, ComplexScanProblem<T>). Constructing it validates everything; an
// invalid problem throws InvalidInput naming the array, and nothing downstream re-checks.
//
// Complex arrays (A, B, C, the state) are real tensors with a trailing axis of extent 2 holding
// (re, im): the layout numpy's `.view(float)` and torch's `view_as_real` show, the layout the
// npz reader returns for a complex64/complex128 array, and, for a variable B or C, the peer's
// own layout: its real (batch, G, N, 2L) tensor with interleaved (re, im) pairs along the last
// axis is the same memory as (batch, G, N, L, 2). One real tensor per complex array (rather than
// separate re and im tensors) keeps each array one named input that validates, casts and dumps
// like every other, and makes the peer's interleaved layout a reshape.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::mamba {

// The inputs in mamba_ssm's names and layouts, real A. B and C are each either constant,
// (dim, dstate), or variable, (batch, groups, dstate, seqlen); the peer's 3-d variable form
// (batch, dstate, seqlen) is accepted as groups = 1 and stored reshaped to 4-d. Optional arrays
// are absent when empty.
template <class T>
struct SelectiveScanInputs {
  Tensor<T> u;                          // (batch, dim, seqlen)
  Tensor<T> delta;                      // (batch, dim, seqlen)
  Tensor<T> A;                          // (dim, dstate), real
  Tensor<T> B;                          // (dim, dstate) | (batch, groups, dstate, seqlen)
  Tensor<T> C;                          // (dim, dstate) | (batch, groups, dstate, seqlen)
  std::optional<Tensor<T>> D;           // (dim,)
  std::optional<Tensor<T>> z;           // (batch, dim, seqlen)
  std::optional<Tensor<T>> delta_bias;  // (dim,)
  std::optional<Tensor<T>> h0;          // (batch, dim, dstate): initial state, zero if absent
  bool delta_softplus = false;
};

// The inputs for complex A. A is complex (dim, dstate); B and C are each complex, either
// constant (dim, dstate) or variable (batch, groups, dstate, seqlen); u, delta, z, D and
// delta_bias are real. Every complex array carries a trailing (re, im) axis. The peer has no
// initial state, and neither does this problem (h starts at 0).
template <class T>
struct ComplexScanInputs {
  Tensor<T> u;                          // (batch, dim, seqlen)
  Tensor<T> delta;                      // (batch, dim, seqlen)
  Tensor<T> A;                          // (dim, dstate, 2)
  Tensor<T> B;                          // (dim, dstate, 2) | (batch, groups, dstate, seqlen, 2)
  Tensor<T> C;                          // (dim, dstate, 2) | (batch, groups, dstate, seqlen, 2)
  std::optional<Tensor<T>> D;           // (dim,)
  std::optional<Tensor<T>> z;           // (batch, dim, seqlen)
  std::optional<Tensor<T>> delta_bias;  // (dim,)
  bool delta_softplus = false;
};

// The state kinds: what differs between the real and the complex scan's problems.
struct RealState {
  static constexpr bool kComplex = false;
  template <class T>
  using Inputs = SelectiveScanInputs<T>;
  static constexpr const char* kNonfinite =
      "the selective scan accepts finite values and NaN only (spec/mamba.md "
      "[MAMBA-SCAN-NONFINITE])";
  static constexpr const char* kCotangentNonfinite =
      "cotangents must be finite or NaN (spec/mamba.md [MAMBA-BWD-NONFINITE])";
};
struct ComplexState {
  static constexpr bool kComplex = true;
  template <class T>
  using Inputs = ComplexScanInputs<T>;
  static constexpr const char* kNonfinite =
      "the complex selective scan accepts finite values and NaN only (spec/mamba_complex.md "
      "[MAMBA-CSCAN-NONFINITE])";
  static constexpr const char* kCotangentNonfinite =
      "cotangents must be finite or NaN (spec/mamba_complex.md [MAMBA-CSCAN-BWD-NONFINITE])";
};

// Where a variable B or C is read: channel d uses group d / (dim / groups)
// ([MAMBA-SCAN-GROUPS]).
struct GroupedOperand {
  bool variable = false;
  Index groups = 1;  // 1 when constant
  Index channels_per_group = 0;
  Index group_of(Index d) const { return variable ? d / channels_per_group : 0; }
};

namespace scan_problem_detail {

inline void expect_shape(const std::vector<Index>& extents, const std::string& str,
                         const std::string& name, const std::vector<Index>& shape,
                         const std::string& named) {
  if (extents != shape)
    throw InvalidInput(name, "expected shape " + named + " = " + shape_string(shape) + ", got " +
                                 str);
}

// Infinities are rejected (the value of the recurrence with an infinite operand depends on
// association order and format); NaN is accepted and propagates.
template <class T>
void reject_infinities(const Tensor<T>& t, const std::string& name, const char* why) {
  for (Index i = 0; i < t.count(); ++i)
    if (std::isinf(static_cast<double>(t[i])))
      throw InvalidInput(name, "element " + index_string(t.shape(), i) + " is infinite; " + why);
}

// [MAMBA-CSCAN-NAN] A complex element with a NaN part is a complex NaN: both parts become NaN,
// as complex arithmetic in MPC and torch treats it. Otherwise the one real operation that keeps
// the parts apart (dt u scaling B) would leave the other part finite in one order of evaluation
// and not in another.
template <class T>
void complex_nan(Tensor<T>& X) {
  for (Index i = 0; i + 1 < X.count(); i += 2)
    if (std::isnan(static_cast<double>(X[i])) || std::isnan(static_cast<double>(X[i + 1])))
      X[i] = X[i + 1] = std::numeric_limits<T>::quiet_NaN();
}

// `shape` with the complex (re, im) axis appended when `complex`.
inline std::vector<Index> with_parts(std::vector<Index> shape, bool complex) {
  if (complex) shape.push_back(2);
  return shape;
}

}  // namespace scan_problem_detail

template <class T, class S>
class ScanProblem {
 public:
  using State = S;
  using Inputs = typename S::template Inputs<T>;
  static constexpr bool kComplex = S::kComplex;

  explicit ScanProblem(Inputs in) : in_(std::move(in)) { validate(); }

  const Inputs& in() const { return in_; }
  Index batch() const { return batch_; }
  Index dim() const { return dim_; }
  Index dstate() const { return dstate_; }
  Index seqlen() const { return seqlen_; }
  const GroupedOperand& B_layout() const { return B_; }
  const GroupedOperand& C_layout() const { return C_; }

  // B or C at (b, d, n, t), whichever layout; for the complex scan, its real (part = 0) or
  // imaginary (part = 1) part, and that of A[d,n].
  const T& B_at(Index b, Index d, Index n, Index t) const
    requires(!kComplex)
  {
    return operand(in_.B, B_, b, d, n, t);
  }
  const T& C_at(Index b, Index d, Index n, Index t) const
    requires(!kComplex)
  {
    return operand(in_.C, C_, b, d, n, t);
  }
  const T& A_at(Index d, Index n, int part) const
    requires(kComplex)
  {
    return in_.A(d, n, Index{part});
  }
  const T& B_at(Index b, Index d, Index n, Index t, int part) const
    requires(kComplex)
  {
    return operand(in_.B, B_, b, d, n, t, Index{part});
  }
  const T& C_at(Index b, Index d, Index n, Index t, int part) const
    requires(kComplex)
  {
    return operand(in_.C, C_, b, d, n, t, Index{part});
  }

  // Every value converted to U (exact for float -> double).
  template <class U>
  ScanProblem<U, S> cast() const {
    typename S::template Inputs<U> out;
    out.u = in_.u.template cast<U>();
    out.delta = in_.delta.template cast<U>();
    out.A = in_.A.template cast<U>();
    out.B = in_.B.template cast<U>();
    out.C = in_.C.template cast<U>();
    auto opt = [](const std::optional<Tensor<T>>& t) -> std::optional<Tensor<U>> {
      if (!t) return std::nullopt;
      return t->template cast<U>();
    };
    out.D = opt(in_.D);
    out.z = opt(in_.z);
    out.delta_bias = opt(in_.delta_bias);
    if constexpr (!kComplex) out.h0 = opt(in_.h0);
    out.delta_softplus = in_.delta_softplus;
    return ScanProblem<U, S>(std::move(out));
  }

 private:
  template <class... Part>
  static const T& operand(const Tensor<T>& X, const GroupedOperand& g, Index b, Index d, Index n,
                          Index t, Part... part) {
    return g.variable ? X(b, g.group_of(d), n, t, part...) : X(d, n, part...);
  }

  static void expect_shape(const Tensor<T>& t, const std::string& name,
                           const std::vector<Index>& shape, const std::string& named) {
    scan_problem_detail::expect_shape(t.shape().extents(), t.shape().str(), name, shape, named);
  }

  // Validates X's layout; a real 3-d variable X becomes the equivalent 4-d one with one group,
  // so every consumer sees (batch, groups, dstate, seqlen) (with (re, im) for the complex scan).
  GroupedOperand layout_of(Tensor<T>& X, const std::string& name) const {
    using scan_problem_detail::with_parts;
    const Index parts = kComplex ? 1 : 0;  // the trailing (re, im) axis
    const std::string tail = kComplex ? ", 2)" : ")";
    GroupedOperand g;
    if (X.rank() == 2 + parts) {
      expect_shape(X, name, with_parts({dim_, dstate_}, kComplex), "(dim, dstate" + tail);
      return g;
    }
    g.variable = true;
    if (!kComplex && X.rank() == 3) {
      expect_shape(X, name, {batch_, dstate_, seqlen_}, "(batch, dstate, seqlen)");
      g.groups = 1;
      X = X.reshaped(Shape{batch_, 1, dstate_, seqlen_}, name);  // the same values, one group
    } else if (X.rank() == 4 + parts) {
      g.groups = X.extent(1);
      expect_shape(X, name, with_parts({batch_, g.groups, dstate_, seqlen_}, kComplex),
                   "(batch, groups, dstate, seqlen" + tail);
      if (g.groups < 1 || dim_ % g.groups != 0)
        throw InvalidInput(name, "groups = " + std::to_string(g.groups) +
                                     " must be positive and divide dim = " + std::to_string(dim_));
    } else if (kComplex) {
      throw InvalidInput(name, "expected a complex array as (re, im) pairs: constant (dim, dstate, "
                               "2) or variable (batch, groups, dstate, seqlen, 2), got shape " +
                                   X.shape().str() + " (the peer's interleaved (batch, [groups,] "
                                   "dstate, 2 seqlen) converts with complex_from_interleaved)");
    } else {
      throw InvalidInput(name, "expected rank 2 (dim, dstate), 3 (batch, dstate, seqlen) or 4 "
                               "(batch, groups, dstate, seqlen), got shape " + X.shape().str());
    }
    g.channels_per_group = dim_ / g.groups;
    return g;
  }

  void validate() {
    if (in_.u.rank() != 3)
      throw InvalidInput("u", "expected shape (batch, dim, seqlen), got " + in_.u.shape().str());
    batch_ = in_.u.extent(0);
    dim_ = in_.u.extent(1);
    seqlen_ = in_.u.extent(2);
    if (batch_ < 1 || dim_ < 1 || seqlen_ < 1)
      throw InvalidInput("u", "batch, dim and seqlen must be positive, got shape " +
                                  in_.u.shape().str());
    if constexpr (kComplex) {
      if (in_.A.rank() != 3 || in_.A.extent(0) != dim_ || in_.A.extent(1) < 1 ||
          in_.A.extent(2) != 2)
        throw InvalidInput("A", "expected complex (dim, dstate) as (re, im) pairs, shape (dim, "
                                "dstate, 2) with dim = " + std::to_string(dim_) +
                                    " and dstate >= 1, got " + in_.A.shape().str());
    } else {
      if (in_.A.rank() != 2 || in_.A.extent(0) != dim_ || in_.A.extent(1) < 1)
        throw InvalidInput("A", "expected shape (dim, dstate) with dim = " + std::to_string(dim_) +
                                    " and dstate >= 1, got " + in_.A.shape().str());
    }
    dstate_ = in_.A.extent(1);
    expect_shape(in_.delta, "delta", {batch_, dim_, seqlen_}, "(batch, dim, seqlen)");
    B_ = layout_of(in_.B, "B");
    C_ = layout_of(in_.C, "C");
    if (in_.D) expect_shape(*in_.D, "D", {dim_}, "(dim,)");
    if (in_.z) expect_shape(*in_.z, "z", {batch_, dim_, seqlen_}, "(batch, dim, seqlen)");
    if (in_.delta_bias) expect_shape(*in_.delta_bias, "delta_bias", {dim_}, "(dim,)");
    if constexpr (!kComplex)
      if (in_.h0) expect_shape(*in_.h0, "h0", {batch_, dim_, dstate_}, "(batch, dim, dstate)");
    auto finite = [](const Tensor<T>& t, const std::string& name) {
      scan_problem_detail::reject_infinities(t, name, S::kNonfinite);
    };
    finite(in_.u, "u");
    finite(in_.delta, "delta");
    finite(in_.A, "A");
    finite(in_.B, "B");
    finite(in_.C, "C");
    if (in_.D) finite(*in_.D, "D");
    if (in_.z) finite(*in_.z, "z");
    if (in_.delta_bias) finite(*in_.delta_bias, "delta_bias");
    if constexpr (kComplex) {
      scan_problem_detail::complex_nan(in_.A);
      scan_problem_detail::complex_nan(in_.B);
      scan_problem_detail::complex_nan(in_.C);
    } else {
      if (in_.h0) finite(*in_.h0, "h0");
    }
  }

  Inputs in_;
  Index batch_ = 0, dim_ = 0, dstate_ = 0, seqlen_ = 0;
  GroupedOperand B_, C_;
};

// The backward problem ([MAMBA-BWD-SHAPES], [MAMBA-CSCAN-BWD-SHAPES]): a forward problem and the
// cotangents of its outputs, dout (batch, dim, seqlen), real, and optionally dlast_state, the
// state's shape (batch, dim, dstate) (complex: (batch, dim, dstate, 2)); absent, it is zero.
// Cotangents must be finite or NaN ([MAMBA-BWD-NONFINITE], [MAMBA-CSCAN-BWD-NONFINITE]); a
// complex cotangent element with a NaN part is a complex NaN, as for the inputs
// ([MAMBA-CSCAN-NAN]).
template <class T, class S>
class ScanBackwardProblem {
 public:
  ScanBackwardProblem(ScanProblem<T, S> forward, Tensor<T> dout,
                      std::optional<Tensor<T>> dlast_state = std::nullopt)
      : forward_(std::move(forward)), dout_(std::move(dout)), dlast_(std::move(dlast_state)) {
    const Index b = forward_.batch(), d = forward_.dim(), L = forward_.seqlen(),
                N = forward_.dstate();
    if (dout_.shape().extents() != std::vector<Index>{b, d, L})
      throw InvalidInput("dout", "expected shape (batch, dim, seqlen) = " +
                                     shape_string({b, d, L}) + ", got " + dout_.shape().str());
    const std::vector<Index> state = scan_problem_detail::with_parts({b, d, N}, S::kComplex);
    if (dlast_ && dlast_->shape().extents() != state)
      throw InvalidInput("dlast_state",
                         std::string(S::kComplex ? "expected complex (batch, dim, dstate) as (re, "
                                                   "im) pairs, shape "
                                                 : "expected shape (batch, dim, dstate) = ") +
                             shape_string(state) + ", got " + dlast_->shape().str());
    scan_problem_detail::reject_infinities(dout_, "dout", S::kCotangentNonfinite);
    if (dlast_) {
      scan_problem_detail::reject_infinities(*dlast_, "dlast_state", S::kCotangentNonfinite);
      if constexpr (S::kComplex) scan_problem_detail::complex_nan(*dlast_);
    }
  }

  const ScanProblem<T, S>& forward() const { return forward_; }
  const Tensor<T>& dout() const { return dout_; }
  const std::optional<Tensor<T>>& dlast_state() const { return dlast_; }

  template <class U>
  ScanBackwardProblem<U, S> cast() const {
    std::optional<Tensor<U>> dl;
    if (dlast_) dl = dlast_->template cast<U>();
    return ScanBackwardProblem<U, S>(forward_.template cast<U>(), dout_.template cast<U>(),
                                     std::move(dl));
  }

 private:
  ScanProblem<T, S> forward_;
  Tensor<T> dout_;
  std::optional<Tensor<T>> dlast_;
};

// Gradients with the shapes of the inputs `in` ([MAMBA-BWD-SHAPES], [MAMBA-CSCAN-BWD-SHAPES]):
// Grads is SelectiveScanGrads or ComplexScanGrads of any value type; an optional gradient is
// present when its input is.
template <class Grads, class Inputs>
Grads grads_shaped_like(const Inputs& in) {
  using G = decltype(Grads::du);
  Grads g;
  g.du = G(in.u.shape());
  g.ddelta = G(in.delta.shape());
  g.dA = G(in.A.shape());
  g.dB = G(in.B.shape());
  g.dC = G(in.C.shape());
  if (in.D) g.dD = G(in.D->shape());
  if (in.z) g.dz = G(in.z->shape());
  if (in.delta_bias) g.ddelta_bias = G(in.delta_bias->shape());
  if constexpr (requires { in.h0; })
    if (in.h0) g.dh0 = G(in.h0->shape());
  return g;
}

// Every input of a problem as text (the first `max_values` values of each array, all 17
// significant digits), for failure messages and fuzz triage.
template <class T, class S>
std::string dump_inputs(const ScanProblem<T, S>& p, Index max_values = 64) {
  const auto& in = p.in();
  std::string s = std::string(S::kComplex ? "complex problem: batch " : "problem: batch ") +
                  std::to_string(p.batch()) + " dim " + std::to_string(p.dim()) + " dstate " +
                  std::to_string(p.dstate()) + " seqlen " + std::to_string(p.seqlen()) +
                  " softplus " + (in.delta_softplus ? "1" : "0") + "\n";
  auto one = [&](const char* name, const Tensor<T>& t) {
    s += std::string("  ") + name + " " + t.shape().str() + ":";
    char buf[32];
    for (Index i = 0; i < t.count() && i < max_values; ++i) {
      std::snprintf(buf, sizeof buf, " %.17g", static_cast<double>(t[i]));
      s += buf;
    }
    s += t.count() > max_values ? " ...\n" : "\n";
  };
  one("u", in.u);
  one("delta", in.delta);
  one("A", in.A);
  one("B", in.B);
  one("C", in.C);
  if (in.D) one("D", *in.D);
  if (in.z) one("z", *in.z);
  if (in.delta_bias) one("delta_bias", *in.delta_bias);
  if constexpr (!S::kComplex)
    if (in.h0) one("h0", *in.h0);
  return s;
}

}  // namespace touchstone::mamba
