// FFTW plans, cached per (length, direction, precision, placement) (see fft.hpp).
#include "fft.hpp"

#include <fftw3.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "touchstone/core/errors.hpp"

namespace touchstone::fft {
namespace {

// Deterministic plans for arrays of any alignment; out-of-place plans leave their input intact.
constexpr unsigned kFlags = FFTW_ESTIMATE | FFTW_UNALIGNED | FFTW_PRESERVE_INPUT;

struct DoublePlan {
  fftw_plan plan = nullptr;
  ~DoublePlan() {
    if (plan) fftw_destroy_plan(plan);
  }
};
struct FloatPlan {
  fftwf_plan plan = nullptr;
  ~FloatPlan() {
    if (plan) fftwf_destroy_plan(plan);
  }
};

using Key = std::tuple<std::int64_t, int, bool>;  // (n, sign, in place)

struct Cache {
  std::mutex mutex;  // FFTW's planner (and plan destruction) is not thread-safe
  std::map<Key, std::unique_ptr<DoublePlan>> doubles;
  std::map<Key, std::unique_ptr<FloatPlan>> floats;
};

Cache& cache() {
  static Cache c;
  return c;
}

void check_length(std::int64_t n) {
  if (n < 1 || n > kMaxLength)
    throw InvalidInput("n", "FFT length must be in [1, 2^30], got " + std::to_string(n));
}

int sign_of(Direction dir) { return dir == Direction::forward ? FFTW_FORWARD : FFTW_BACKWARD; }

fftw_plan double_plan(std::int64_t n, Direction dir, bool in_place) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const Key key{n, sign_of(dir), in_place};
  auto it = c.doubles.find(key);
  if (it != c.doubles.end()) return it->second->plan;
  // FFTW_ESTIMATE does not touch the arrays; they only tell the planner the placement.
  fftw_complex* a = fftw_alloc_complex(static_cast<std::size_t>(n));
  fftw_complex* b = in_place ? a : fftw_alloc_complex(static_cast<std::size_t>(n));
  auto p = std::make_unique<DoublePlan>();
  p->plan = fftw_plan_dft_1d(static_cast<int>(n), a, b, sign_of(dir), kFlags);
  if (b != a) fftw_free(b);
  fftw_free(a);
  if (!p->plan) throw std::runtime_error("fftw_plan_dft_1d failed for n = " + std::to_string(n));
  fftw_plan plan = p->plan;
  c.doubles.emplace(key, std::move(p));
  return plan;
}

fftwf_plan float_plan(std::int64_t n, Direction dir, bool in_place) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const Key key{n, sign_of(dir), in_place};
  auto it = c.floats.find(key);
  if (it != c.floats.end()) return it->second->plan;
  fftwf_complex* a = fftwf_alloc_complex(static_cast<std::size_t>(n));
  fftwf_complex* b = in_place ? a : fftwf_alloc_complex(static_cast<std::size_t>(n));
  auto p = std::make_unique<FloatPlan>();
  p->plan = fftwf_plan_dft_1d(static_cast<int>(n), a, b, sign_of(dir), kFlags);
  if (b != a) fftwf_free(b);
  fftwf_free(a);
  if (!p->plan) throw std::runtime_error("fftwf_plan_dft_1d failed for n = " + std::to_string(n));
  fftwf_plan plan = p->plan;
  c.floats.emplace(key, std::move(p));
  return plan;
}

}  // namespace

void dft(const std::complex<double>* in, std::complex<double>* out, std::int64_t n, Direction dir) {
  check_length(n);
  const bool in_place = in == out;
  fftw_plan plan = double_plan(n, dir, in_place);
  // std::complex<double> and fftw_complex share their layout (FFTW manual, 4.1.1). The
  // out-of-place plans preserve their input (FFTW_PRESERVE_INPUT), so the cast drops no promise.
  fftw_execute_dft(plan, reinterpret_cast<fftw_complex*>(const_cast<std::complex<double>*>(in)),
                   reinterpret_cast<fftw_complex*>(out));
}

void dft(const std::complex<float>* in, std::complex<float>* out, std::int64_t n, Direction dir) {
  check_length(n);
  const bool in_place = in == out;
  fftwf_plan plan = float_plan(n, dir, in_place);
  fftwf_execute_dft(plan, reinterpret_cast<fftwf_complex*>(const_cast<std::complex<float>*>(in)),
                    reinterpret_cast<fftwf_complex*>(out));
}

std::int64_t next_power_of_two(std::int64_t m) {
  if (m < 1 || m > kMaxLength)
    throw InvalidInput("n", "length must be in [1, 2^30], got " + std::to_string(m));
  std::int64_t n = 1;
  while (n < m) n *= 2;
  return n;
}

std::size_t cached_plans() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.doubles.size() + c.floats.size();
}

}  // namespace touchstone::fft
