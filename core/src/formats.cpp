#include "touchstone/core/formats.hpp"

#include <cmath>
#include <limits>

#include "touchstone/core/errors.hpp"

namespace touchstone {
namespace {
FormatInfo make(std::string_view name, int p, int emin, int emax) {
  return FormatInfo{name,
                    p,
                    emin,
                    emax,
                    std::ldexp(1.0, -p),
                    std::ldexp(1.0, emin - p),
                    std::ldexp(2.0 - std::ldexp(1.0, 1 - p), emax)};
}
const FormatInfo kFloat16 = make("float16", 11, -14, 15);
const FormatInfo kBfloat16 = make("bfloat16", 8, -126, 127);
const FormatInfo kFloat32 = make("float32", 24, -126, 127);
const FormatInfo kFloat64 = make("float64", 53, -1022, 1023);
}  // namespace

const FormatInfo& format_info(Format f) {
  switch (f) {
    case Format::float16: return kFloat16;
    case Format::bfloat16: return kBfloat16;
    case Format::float32: return kFloat32;
    case Format::float64: return kFloat64;
  }
  return kFloat64;
}

FormatInfo mpfr_format_info(unsigned bits) {
  const int p = static_cast<int>(bits);
  return FormatInfo{"mpfr", p, std::numeric_limits<int>::min() / 2, std::numeric_limits<int>::max() / 2,
                    std::ldexp(1.0, -p), 0.0, std::numeric_limits<double>::infinity()};
}

std::string_view format_name(Format f) { return format_info(f).name; }

Format parse_format(std::string_view name) {
  for (Format f : {Format::float16, Format::bfloat16, Format::float32, Format::float64})
    if (format_info(f).name == name) return f;
  throw InvalidInput("format", "expected one of float32, float64, bfloat16, float16; got '" +
                                   std::string(name) + "'");
}

double round_to_format(double x, Format f) {
  if (f == Format::float64 || !std::isfinite(x) || x == 0.0) return x;
  if (f == Format::float32) return static_cast<double>(static_cast<float>(x));
  const FormatInfo& info = format_info(f);
  // Quantum of the binade of x, clamped at the subnormal quantum.
  const int e = std::max(std::ilogb(x), info.emin);
  const double quantum = std::ldexp(1.0, e - info.precision + 1);
  // x / quantum is exact (power-of-two scaling within double's range); nearbyint rounds
  // half to even in the default rounding mode.
  const double r = std::nearbyint(x / quantum) * quantum;
  if (std::fabs(r) > info.max_finite) return std::copysign(INFINITY, x);
  return r;
}

Format narrowest_format(const std::vector<std::span<const double>>& arrays) {
  bool f16 = true, bf16 = true, f32 = true;
  for (const auto& values : arrays)
    for (const double x : values) {
      if (!f32) return Format::float64;
      f16 = f16 && representable_in(x, Format::float16);
      bf16 = bf16 && representable_in(x, Format::bfloat16);
      f32 = f32 && representable_in(x, Format::float32);
    }
  return f16 ? Format::float16 : bf16 ? Format::bfloat16 : f32 ? Format::float32 : Format::float64;
}

}  // namespace touchstone
