// [CORE-PRODUCT-SUMS] Which instruction set the bounds' array loops run in: the widest this CPU
// has, checked once, or the baseline where a test asks for it. Only those loops are compiled for
// the wider sets (TOUCHSTONE_TARGET_AVX512 / TOUCHSTONE_TARGET_AVX2 on a copy of each), not the
// bounds library: with -march=native gcc 12 contracts complex products into fused multiply-adds
// despite -ffp-contract=off, which changed other bounds' bits. Every operation in the loops is the
// same IEEE operation in each set, so their results are the same.
#pragma once

namespace touchstone::bounds {

enum class VectorIsa { baseline, avx2, avx512 };

// Set by tests to run the baseline copies on a CPU that has wider ones.
inline bool& vector_isa_force_baseline() {
  static bool force = false;
  return force;
}

inline VectorIsa vector_isa() {
  static const VectorIsa best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
                                    ? VectorIsa::avx512
                                    : (__builtin_cpu_supports("avx2") ? VectorIsa::avx2 : VectorIsa::baseline);
  return vector_isa_force_baseline() ? VectorIsa::baseline : best;
}

inline const char* vector_isa_name(VectorIsa isa) {
  return isa == VectorIsa::avx512 ? "AVX-512" : isa == VectorIsa::avx2 ? "AVX2" : "baseline";
}

}  // namespace touchstone::bounds

#define TOUCHSTONE_TARGET_AVX512 [[gnu::target("avx512f,avx512dq,avx512vl,avx512bw")]]
#define TOUCHSTONE_TARGET_AVX2 [[gnu::target("avx2")]]
