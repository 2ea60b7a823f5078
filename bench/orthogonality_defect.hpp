// The orthogonality defect Q^T Q - I of a computed Q (R x C), the measure of [ORTH-ORTH-TABLE] and
// [ORTH-SPEED-ACCURACY]: shared by bench/orthogonal_defect.cpp, bench/orthogonal_speed.hpp and
// tests/orthogonal/orthogonality_anchor_test.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "touchstone/core/tensor.hpp"

namespace touchstone::orthogonal {

struct OrthogonalityDefect {
  long double max = 0, frob = 0;  // max |Q^T Q - I| and ||Q^T Q - I||_F; NaN when any entry is NaN
};

// Over Q's C columns, every dot product accumulated in long double (about 1.1e-16 relative at
// R = 1024, far below the float64 defects measured).
template <class T>
OrthogonalityDefect orthogonality_defect(const Tensor<T>& q) {
  const Index R = q.extent(0), C = q.extent(1);
  OrthogonalityDefect d;
  long double f = 0;
  for (Index i = 0; i < C; ++i)
    for (Index j = i; j < C; ++j) {
      long double s = 0;
      for (Index r = 0; r < R; ++r) s += static_cast<long double>(q(r, i)) * static_cast<long double>(q(r, j));
      const long double e = std::fabs(s - (i == j ? 1.0L : 0.0L));
      d.max = std::isnan(e) || std::isnan(d.max) ? std::numeric_limits<long double>::quiet_NaN() : std::max(d.max, e);
      f += (i == j ? 1 : 2) * e * e;
    }
  d.frob = std::sqrt(f);
  return d;
}

}  // namespace touchstone::orthogonal
