// The elementary functions' error constants every family's bounds use: the measured maximum errors
// of touchstone's float32 functions (optimized/common/elementary.hpp; spec/mamba.md
// [MAMBA-SCAN-ELEMENTARY], measured exhaustively by tests/mamba/elementary_exhaustive.cpp) and the
// assumed ones of glibc's binary64 functions ([CORE-ASSUME-LIBM-F64]), in ulps of the format.
#pragma once

namespace touchstone {

inline constexpr double kExpF32Ulps = 0.939;
inline constexpr double kSoftplusF32Ulps = 0.50001;
inline constexpr double kSiluF32Ulps = 0.50001;
inline constexpr double kExpF64Ulps = 1.0;
inline constexpr double kSoftplusF64Ulps = 2.01;
inline constexpr double kSiluF64Ulps = 2.01;
// cos and sin: float32 as glibc's binary64 result rounded to float32 (cpu::cos_f32, cpu::sin_f32,
// [MAMBA-CSCAN-ELEMENTARY]: 0.5 ulp of float32 plus 1 ulp of binary64), binary64 glibc's (assumed,
// [MAMBA-CSCAN-ASSUME-LIBM-SINCOS]).
inline constexpr double kSinCosF32Ulps = 0.50001;
inline constexpr double kSinCosF64Ulps = 1.0;

}  // namespace touchstone
