#include "touchstone/core/mp.hpp"

#include <cmath>

#include "touchstone/core/errors.hpp"

namespace touchstone {

unsigned digits10_for_bits(unsigned bits) {
  // Boost 1.74 maps d decimal digits to d*1000/301 (+1 or +2) bits; search upward from the
  // inverse so the result is exact for that map and never below `bits`.
  unsigned d = static_cast<unsigned>(std::floor(bits * 0.30102999566398120)) ;
  if (d == 0) d = 1;
  while (bmp::detail::digits10_2_2(d) < bits) ++d;
  while (d > 1 && bmp::detail::digits10_2_2(d - 1) >= bits) --d;
  return d;
}

unsigned precision_bits(const mp_real& x) {
  return static_cast<unsigned>(mpfr_get_prec(x.backend().data()));
}
unsigned precision_bits(const mp_interval& x) {
  return static_cast<unsigned>(mpfi_get_prec(x.backend().data()));
}

WorkingPrecision::WorkingPrecision(unsigned bits)
    : saved_real_(mp_real::default_precision()),
      saved_complex_(mp_complex::default_precision()),
      saved_interval_(mp_interval::default_precision()) {
  if (bits < kMinPrecisionBits || bits > kMaxPrecisionBits)
    throw InvalidInput("precision", "expected between " + std::to_string(kMinPrecisionBits) +
                                        " and " + std::to_string(kMaxPrecisionBits) +
                                        " bits, got " + std::to_string(bits));
  const unsigned d = digits10_for_bits(bits);
  // Already set (by a caller that then started threads, [CORE-THREADS]): nothing is written, so
  // that threads computing at one precision may each hold a WorkingPrecision of it.
  changed_ = saved_real_ != d || saved_complex_ != d || saved_interval_ != d;
  if (changed_) {
    mp_real::default_precision(d);
    mp_complex::default_precision(d);
    mp_interval::default_precision(d);
  }
  actual_bits_ = precision_bits(mp_real(0));
}

WorkingPrecision::~WorkingPrecision() {
  if (!changed_) return;
  mp_real::default_precision(saved_real_);
  mp_complex::default_precision(saved_complex_);
  mp_interval::default_precision(saved_interval_);
}

double to_double(const mp_real& x) { return mpfr_get_d(x.backend().data(), MPFR_RNDN); }

std::string to_decimal_string(const mp_real& x) {
  if (isnan(x)) return "nan";
  if (isinf(x)) return x > 0 ? "inf" : "-inf";
  // ceil(p*log10(2)) + 1 significant digits round-trip a p-bit binary value.
  const unsigned digits =
      static_cast<unsigned>(std::ceil(precision_bits(x) * 0.30102999566398120)) + 1;
  return x.str(static_cast<std::streamsize>(digits), std::ios_base::scientific);
}

}  // namespace touchstone
