// The scan operator's algebra in exact arithmetic (dyadic inputs at 256 bits: every operation
// below is exact, so equalities are exact). Proved in proofs/theories/MambaScanAlgebra.v.
// covers: MAMBA-SCAN-OP-ASSOC MAMBA-SCAN-CHUNKED
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <vector>

#include "touchstone/core/mp.hpp"

using namespace touchstone;

namespace {
struct Op {
  mp_real a, b;
};
// (a1, b1) o (a2, b2) = (a2 a1, a2 b1 + b2): first (a1, b1), then (a2, b2).
Op combine(const Op& x, const Op& y) { return {y.a * x.a, y.a * x.b + y.b}; }
mp_real apply(const Op& o, const mp_real& h) { return o.a * h + o.b; }

// Small dyadic rationals: sums and products of a few stay exact at 256 bits.
mp_real dyadic() { return mp_real(*rc::gen::inRange(-64, 65)) / 16; }
Op op() { return {dyadic(), dyadic()}; }
}  // namespace

RC_GTEST_PROP(ScanAlgebra, OperatorIsAssociativeWithIdentity, ()) {
  const WorkingPrecision precision(256);
  const Op x = op(), y = op(), z = op(), id{mp_real(1), mp_real(0)};
  const Op l = combine(combine(x, y), z), r = combine(x, combine(y, z));
  RC_ASSERT(l.a == r.a && l.b == r.b);
  RC_ASSERT(combine(id, x).a == x.a && combine(id, x).b == x.b);
  RC_ASSERT(combine(x, id).a == x.a && combine(x, id).b == x.b);
}

RC_GTEST_PROP(ScanAlgebra, ChunkedEvaluationEqualsTheSequentialRecurrence, ()) {
  const WorkingPrecision precision(256);
  const int L = *rc::gen::inRange(1, 24);
  std::vector<Op> xs;
  for (int i = 0; i < L; ++i) xs.push_back(op());
  const mp_real h0 = dyadic();
  std::vector<mp_real> sequential;
  mp_real h = h0;
  for (const Op& x : xs) sequential.push_back(h = apply(x, h));
  // Any chunk sizes (empty chunks included): each chunk's states are its prefix summaries
  // applied to the carried state; the carry is the chunk summary applied to it.
  std::vector<mp_real> chunked;
  mp_real carry = h0;
  int start = 0, chunks = 0;
  while (start < L) {
    // Chunks may be empty, but not forever.
    const int size = ++chunks > 2 * L ? L - start : *rc::gen::inRange(0, L - start + 1);
    Op prefix{mp_real(1), mp_real(0)};
    for (int i = start; i < start + size; ++i) {
      prefix = combine(prefix, xs[static_cast<std::size_t>(i)]);
      chunked.push_back(apply(prefix, carry));
    }
    carry = apply(prefix, carry);
    start += size;
  }
  RC_ASSERT(chunked.size() == sequential.size());
  for (std::size_t i = 0; i < chunked.size(); ++i) RC_ASSERT(chunked[i] == sequential[i]);
  RC_ASSERT(carry == sequential.back());
}
