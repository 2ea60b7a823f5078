// The problems of the convolution chapter (spec/s4_conv.md): the causal convolution
// y = K * u + D u ([S4CONV-CONV-SHAPES]) and the diagonal recurrent scan ([S4CONV-SCAN-SHAPES]).
//
// One type per algorithm feeds the oracle, every backend, the bound, the registry and the fuzzer;
// constructing it validates shapes and options and throws InvalidInput naming the array, so
// nothing downstream re-checks. NaN and Inf are inputs like any other for the convolution
// ([S4CONV-CONV-NONFINITE]); the scan accepts NaN and rejects infinities ([S4CONV-SCAN-NONFINITE]). Complex arrays carry a trailing (re, im)
// axis of extent 2.
#pragma once

#include "touchstone/reference/s4_conj.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/tensor.hpp"

namespace touchstone::s4 {

// The largest L + taps - 1 the FFT convolution pads to (FFTW takes int lengths).
inline constexpr Index kMaxConvLength = Index{1} << 29;

// [S4CONV-CONV-SHAPES] state-spaces/s4 FFTConv's names: u (batch, H, L), k (H, Lk), D (H,).
template <class T>
struct ConvInputs {
  Tensor<T> u;                 // (batch, H, L)
  Tensor<T> k;                 // (H, Lk); Lk may differ from L
  std::optional<Tensor<T>> D;  // (H,): absent means no skip term (not D = 0: 0 * Inf is NaN)
};

template <class T>
class ConvProblem {
 public:
  explicit ConvProblem(ConvInputs<T> in) : in_(std::move(in)) {
    if (in_.u.rank() != 3 || in_.u.count() == 0)
      throw InvalidInput("u", "expected shape (batch, H, L) with positive extents, got " + in_.u.shape().str());
    if (in_.k.rank() != 2 || in_.k.count() == 0)
      throw InvalidInput("k", "expected shape (H, Lk) with positive extents, got " + in_.k.shape().str());
    if (in_.k.extent(0) != channels())
      throw InvalidInput("k", "expected " + std::to_string(channels()) + " channels (u is " +
                                  in_.u.shape().str() + "), got shape " + in_.k.shape().str());
    if (in_.D && !(in_.D->rank() == 1 && in_.D->extent(0) == channels()))
      throw InvalidInput("D", "expected shape (" + std::to_string(channels()) + ",), got " +
                                  in_.D->shape().str());
    if (length() + taps() - 1 > kMaxConvLength)
      throw InvalidInput("u", "L + min(Lk, L) - 1 must be at most 2^29 (the FFT's padded length)");
  }

  const ConvInputs<T>& in() const { return in_; }
  Index batch() const { return in_.u.extent(0); }
  Index channels() const { return in_.u.extent(1); }
  Index length() const { return in_.u.extent(2); }
  Index kernel_length() const { return in_.k.extent(1); }
  // Taps that reach an output: K_s with s < min(Lk, L) (later ones only reach t >= L).
  Index taps() const { return std::min(kernel_length(), length()); }
  // [S4CONV-CONV-FFT] The FFT backends' padded length: the smallest power of two n >= L + taps - 1,
  // so that the length-n circular convolution equals the linear one on t < L.
  Index fft_length() const {
    Index n = 1;
    while (n < length() + taps() - 1) n *= 2;
    return n;
  }

  template <class U>
  ConvProblem<U> cast() const {
    ConvInputs<U> c{in_.u.template cast<U>(), in_.k.template cast<U>(), std::nullopt};
    if (in_.D) c.D = in_.D->template cast<U>();
    return ConvProblem<U>(std::move(c));
  }

 private:
  ConvInputs<T> in_;
};

// [S4CONV-SCAN-CONJ] Conjugate-pair convention of the scan's output ([S4-CONJ]): `halves`
// (state-spaces/s4: each stored mode stands for itself and its conjugate, y = 2 Re(...)) or `full`
// (annotated-s4: every mode stored, y = Re(...)).

// [S4CONV-SCAN-SHAPES] state-spaces/s4's diagonal step names: dA, dB, dC complex (H, N) each as
// (H, N, 2); u (batch, H, L); D (H,) optional.
template <class T>
struct ScanInputs {
  Tensor<T> dA, dB, dC;        // (H, N, 2)
  Tensor<T> u;                 // (batch, H, L)
  std::optional<Tensor<T>> D;  // (H,)
  Conj conj = Conj::halves;
};

template <class T>
class ScanProblem {
 public:
  explicit ScanProblem(ScanInputs<T> in) : in_(std::move(in)) {
    if (in_.u.rank() != 3 || in_.u.count() == 0)
      throw InvalidInput("u", "expected shape (batch, H, L) with positive extents, got " + in_.u.shape().str());
    const Index H = channels();
    auto check = [&](const Tensor<T>& X, const char* name) {
      if (X.rank() != 3 || X.extent(0) != H || X.extent(1) < 1 || X.extent(2) != 2)
        throw InvalidInput(name, "expected complex (H, N) = (" + std::to_string(H) +
                                     ", N) as (H, N, 2) with N >= 1, got shape " + X.shape().str());
    };
    check(in_.dA, "dA");
    check(in_.dB, "dB");
    check(in_.dC, "dC");
    if (in_.dB.extent(1) != modes())
      throw InvalidInput("dB", "expected " + std::to_string(modes()) + " modes (dA has shape " +
                                   in_.dA.shape().str() + "), got " + in_.dB.shape().str());
    if (in_.dC.extent(1) != modes())
      throw InvalidInput("dC", "expected " + std::to_string(modes()) + " modes (dA has shape " +
                                   in_.dA.shape().str() + "), got " + in_.dC.shape().str());
    if (in_.D && !(in_.D->rank() == 1 && in_.D->extent(0) == H))
      throw InvalidInput("D", "expected shape (" + std::to_string(H) + ",), got " + in_.D->shape().str());
    // [S4CONV-SCAN-NONFINITE] NaN propagates; infinities are rejected.
    auto no_inf = [](const Tensor<T>& X, const char* name) {
      for (Index i = 0; i < X.count(); ++i)
        if (std::isinf(static_cast<double>(X[i])))
          throw InvalidInput(name, "element " + std::to_string(i) + " is infinite (NaN propagates, infinities are "
                                   "rejected: an infinite coefficient times a state whose exact value is 0 but "
                                   "computed value is not would make NaN depend on rounding)");
    };
    no_inf(in_.dA, "dA");
    no_inf(in_.dB, "dB");
    no_inf(in_.dC, "dC");
    no_inf(in_.u, "u");
    if (in_.D) no_inf(*in_.D, "D");
  }

  const ScanInputs<T>& in() const { return in_; }
  Index batch() const { return in_.u.extent(0); }
  Index channels() const { return in_.u.extent(1); }
  Index length() const { return in_.u.extent(2); }
  Index modes() const { return in_.dA.extent(1); }
  Conj conj() const { return in_.conj; }

  template <class U>
  ScanProblem<U> cast() const {
    ScanInputs<U> c{in_.dA.template cast<U>(), in_.dB.template cast<U>(), in_.dC.template cast<U>(),
                    in_.u.template cast<U>(), std::nullopt, in_.conj};
    if (in_.D) c.D = in_.D->template cast<U>();
    return ScanProblem<U>(std::move(c));
  }

 private:
  ScanInputs<T> in_;
};

// Outputs of the scan: y (batch, H, L) and the state after the last step, complex (batch, H, N)
// as (batch, H, N, 2).
template <class T>
struct ScanResult {
  Tensor<T> y;
  Tensor<T> last_state;
};

}  // namespace touchstone::s4
