// The shared CPU FFT of the S4 family: FFTW 3 wrapped (spec/s4_conv.md [S4CONV-ASSUME-FFTW]).
//
// Complex discrete Fourier transforms of length n, unnormalized:
//   forward  X_k = sum_{j<n} x_j exp(-2 pi i j k / n),
//   inverse  x_j = sum_{k<n} X_k exp(+2 pi i j k / n)     (so inverse(forward(x)) = n x),
// in float (fftwf) and double (fftw). Their rounding error is what
// bounds/include/touchstone/bounds/fft_bound.hpp bounds ([S4CONV-FFT-BOUND]).
//
// Plans are made once per (n, direction, precision, in-place or not) and cached for the life of
// the process behind a mutex: FFTW's planner is not thread-safe, while executing a finished plan
// on new arrays (fftw_execute_dft) is, so any number of threads may transform at once. Plans use
// FFTW_ESTIMATE (no timing measurements: the same plan, hence the same association order and the
// same rounded results, on every run and machine with the same FFTW build) and FFTW_UNALIGNED
// (any array alignment is accepted, so callers may pass std::vector storage). The cache owns its
// plans (RAII): they are destroyed at exit.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>

namespace touchstone::fft {

enum class Direction { forward, inverse };

// out[k] = sum_j in[j] exp(-+2 pi i j k / n) for k < n; `in` and `out` hold n values each and may
// be the same array (an in-place plan is used then: another algorithm, so not the same bits as
// out of place, but the same bound) and must not otherwise overlap. `in` is not
// modified unless it is `out`. n >= 1; n = 1 copies.
void dft(const std::complex<float>* in, std::complex<float>* out, std::int64_t n, Direction dir);
void dft(const std::complex<double>* in, std::complex<double>* out, std::int64_t n, Direction dir);

// The largest length the wrapper accepts (FFTW takes int lengths).
inline constexpr std::int64_t kMaxLength = std::int64_t{1} << 30;

// The smallest n >= m whose prime factors are 2 only (the convolution's padded length).
std::int64_t next_power_of_two(std::int64_t m);

// How many plans are cached now (for tests of the cache).
std::size_t cached_plans();

}  // namespace touchstone::fft
