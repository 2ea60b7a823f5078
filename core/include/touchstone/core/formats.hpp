// Binary floating-point formats a backend or a user's kernel computes or stores in
// (spec/core.md [CORE-FORMATS]).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace touchstone {

enum class Format { float16, bfloat16, float32, float64 };

struct FormatInfo {
  std::string_view name;
  int precision;   // p: significand bits including the implicit bit
  int emin;        // exponent of the smallest normal number, 2^emin
  int emax;        // exponent of the largest finite number's leading bit
  double u;        // unit roundoff of round-to-nearest, 2^-p
  double eta;      // half the smallest positive subnormal, 2^(emin-p): the underflow term
  double max_finite;
};

const FormatInfo& format_info(Format f);

// The "format" of MPFR arithmetic at `bits` of precision, for bounding the oracle's own rounding
// error: u = 2^-bits; MPFR's exponent range is so wide that neither underflow (eta = 0) nor
// overflow (max_finite = +inf) can occur at the magnitudes a double can describe.
FormatInfo mpfr_format_info(unsigned bits);
Format parse_format(std::string_view name);  // InvalidInput("format", ...) on unknown names
std::string_view format_name(Format f);

// Round a double to the nearest value of `f` (ties to even, overflow to +-inf, gradual
// underflow), returned as a double. Exact for float32 and float64 by the hardware; for float16
// and bfloat16 by rescaling, which is exact because every such value is a double.
double round_to_format(double x, Format f);

// True when x is a value of format f (NaN and infinities count as representable).
inline bool representable_in(double x, Format f) {
  return std::isnan(x) || round_to_format(x, f) == x;
}

// The narrowest format holding every value of every array exactly: float16 if all are float16
// values, else bfloat16 if all are bfloat16 values, else float32, else float64 (NaN fits any).
// What a problem read from a file "is", so a backend of that format can run on it unchanged.
Format narrowest_format(const std::vector<std::span<const double>>& arrays);

}  // namespace touchstone
