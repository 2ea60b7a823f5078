// Arbitrary-precision scalar types for the oracle (spec/core.md [CORE-MP]).
//
// All three use expression templates off (et_off): an `auto` of an expression then holds a value,
// not a reference to temporaries, and Eigen sees ordinary value types. Precision is a run-time
// setting (backend<0>). In Boost 1.74 the default precision is one process-wide value per type,
// not per thread: set it with WorkingPrecision before starting threads that compute with these
// types, and never change it while they run.
#pragma once

#include <boost/multiprecision/mpc.hpp>
#include <boost/multiprecision/mpfi.hpp>
#include <boost/multiprecision/mpfr.hpp>
#include <string>

namespace touchstone {

namespace bmp = boost::multiprecision;

using mp_real = bmp::number<bmp::mpfr_float_backend<0>, bmp::et_off>;
using mp_complex = bmp::number<bmp::mpc_complex_backend<0>, bmp::et_off>;
using mp_interval = bmp::number<bmp::mpfi_float_backend<0>, bmp::et_off>;

inline constexpr unsigned kDefaultPrecisionBits = 256;
inline constexpr unsigned kMinPrecisionBits = 64;  // >= 53, so doubles convert exactly
inline constexpr unsigned kMaxPrecisionBits = 1u << 16;

// Boost sets precision in decimal digits; this is the smallest digit count whose binary precision
// (Boost's digits10 -> bits map) is at least `bits`.
unsigned digits10_for_bits(unsigned bits);

// Binary precision of a value (MPFR's own count).
unsigned precision_bits(const mp_real& x);
unsigned precision_bits(const mp_interval& x);

// Sets the default precision of mp_real, mp_complex and mp_interval to at least `bits` for its
// lifetime, restoring the previous setting after. InvalidInput("precision") outside
// [kMinPrecisionBits, kMaxPrecisionBits]. Not thread-safe (see above), except that it writes
// nothing when the precision is already the one asked for: threads started after a
// WorkingPrecision(b) may each construct WorkingPrecision(b).
class WorkingPrecision {
 public:
  explicit WorkingPrecision(unsigned bits);
  ~WorkingPrecision();
  WorkingPrecision(const WorkingPrecision&) = delete;
  WorkingPrecision& operator=(const WorkingPrecision&) = delete;
  unsigned bits() const { return actual_bits_; }  // the precision actually set (>= requested)

 private:
  unsigned saved_real_, saved_complex_, saved_interval_;
  unsigned actual_bits_;
  bool changed_ = true;
};

// Nearest double (ties to even); NaN and infinities map to themselves.
double to_double(const mp_real& x);

// Scientific decimal with enough digits to round-trip x at its precision.
std::string to_decimal_string(const mp_real& x);

}  // namespace touchstone
