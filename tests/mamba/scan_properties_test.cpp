// Properties of the selective scan backends against the 256-bit oracle, on problems from
// scan_generators.hpp. RC_PARAMS="seed=..." reproduces a failure.
// covers: MAMBA-SCAN-BOUND-CPU-F32 MAMBA-SCAN-BOUND-CPU-F64 MAMBA-SCAN-BOUND-CUDA-F32
// covers: MAMBA-SCAN-BOUND-MODEL MAMBA-SCAN-BOUND-STATE MAMBA-SCAN-BOUND-DOT MAMBA-SCAN-BOUND-OUTPUT
// covers: MAMBA-SCAN-BOUND-DELTA MAMBA-SCAN-BOUND-DISCRETIZE MAMBA-SCAN-BOUND-EVAL MAMBA-SCAN-BOUND-ANY
// covers: MAMBA-SCAN-INV-CAUSAL MAMBA-SCAN-INV-SPLIT MAMBA-SCAN-NAN MAMBA-SCAN-CPU
// covers: MAMBA-SCAN-CPU-DETERMINISTIC MAMBA-SCAN-SHAPES CORE-THREADS
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "cuda_scan_emulation.hpp"
#include "scan_generators.hpp"
#include "scan_test_support.hpp"

using namespace touchstone;
using namespace touchstone::mamba;
using namespace touchstone::mamba::testing;

namespace {


void assert_within(const char* what, const SelectiveScanProblem<double>& p,
                   const SelectiveScanResult<double>& computed,
                   const SelectiveScanResult<mp_real>& exact, const ScanArithmetic& m, Format f) {
  const Judged j = judge(computed, exact, selective_scan_bound(p, m), f);
  if (!j.pass()) RC_FAIL(std::string(what) + " outside its bound:\n" + j.describe(p) + dump_problem(p));
}

}  // namespace

RC_GTEST_PROP(SelectiveScan, EveryBackendIsWithinItsBoundOfTheOracle, ()) {
  const auto p = draw_problem(Format::float32);
  const auto exact = oracle(p);
  const auto p32 = p.cast<float>();
  assert_within("cpu-f32", p, as_double(cpu::selective_scan(p32)), exact, arithmetic_cpu_f32(),
                Format::float32);
  assert_within("cpu-f64", p, as_double(cpu::selective_scan(p)), exact, arithmetic_cpu_f64(),
                Format::float64);
  const auto shape = mamba::cuda::selective_scan_kernel_shape();
  const ScanArithmetic cuda_bound = arithmetic_cuda_f32(shape.tree_depth, shape.chunk);
  // The kernel's association order, on the host: the tree-order bound is tested here on every
  // machine; the kernel itself below where a GPU exists.
  assert_within("cuda order model", p, as_double(cuda_scan_emulation(p32)), exact, cuda_bound,
                Format::float32);
  if (touchstone::cuda::unavailable_reason().empty())
    assert_within("cuda-f32", p, as_double(mamba::cuda::selective_scan(p32)), exact, cuda_bound,
                  Format::float32);
  // The any-order bound of `touchstone diff` holds for every one of them too.
  assert_within("cpu-f32 (any-order bound)", p, as_double(cpu::selective_scan(p32)), exact,
                arithmetic_any_order(Format::float32, p.seqlen(), 1.0), Format::float32);
}

RC_GTEST_PROP(SelectiveScan, Float64BackendIsWithinItsBoundOnFullDoubleInputs, ()) {
  const auto p = draw_problem(Format::float64);
  assert_within("cpu-f64", p, as_double(cpu::selective_scan(p)), oracle(p), arithmetic_cpu_f64(),
                Format::float64);
}

RC_GTEST_PROP(SelectiveScan, LongSequencesCrossTheCudaChunks, ()) {
  // Few channels, L across one or two chunk boundaries of the kernel.
  const Index chunk = mamba::cuda::selective_scan_kernel_shape().chunk;
  SelectiveScanInputs<double> in;
  const Index dim = *rc::gen::inRange<Index>(1, 3), N = *rc::gen::inRange<Index>(1, 5);
  const Index L = *rc::gen::inRange<Index>(chunk - 3, 2 * chunk + 70);
  auto fill = [&](Shape s, int emin, int emax, bool neg) { return draw_tensor(std::move(s), Format::float32, emin, emax, neg); };
  in.u = fill({1, dim, L}, -6, 2, true);
  in.delta = fill({1, dim, L}, -8, 1, true);
  in.A = fill({dim, N}, -6, 2, false);
  for (Index i = 0; i < in.A.count(); ++i) in.A[i] = -in.A[i];
  in.B = fill({1, 1, N, L}, -6, 2, true);
  in.C = fill({dim, N}, -6, 2, true);
  in.delta_softplus = true;
  const SelectiveScanProblem<double> p(std::move(in));
  const auto exact = oracle(p);
  const auto p32 = p.cast<float>();
  const auto shape = mamba::cuda::selective_scan_kernel_shape();
  assert_within("cpu-f32", p, as_double(cpu::selective_scan(p32)), exact, arithmetic_cpu_f32(), Format::float32);
  assert_within("cuda order model", p, as_double(cuda_scan_emulation(p32)), exact,
                arithmetic_cuda_f32(shape.tree_depth, shape.chunk), Format::float32);
}

RC_GTEST_PROP(SelectiveScan, OutputsBeforeTimeTDoNotDependOnInputsFromTOn, ()) {
  const auto p = draw_problem(Format::float32, {}, false);
  RC_PRE(p.seqlen() >= 2);
  const Index cut = *rc::gen::inRange<Index>(1, p.seqlen());
  // Change every time-indexed input at t >= cut.
  SelectiveScanInputs<double> in = p.in();
  auto perturb = [&](Tensor<double>& t, Index L) {
    for (Index i = 0; i < t.count(); ++i)
      if (i % L >= cut) t[i] = round_to_format(t[i] * 3 + 0.5, Format::float32);
  };
  perturb(in.u, p.seqlen());
  perturb(in.delta, p.seqlen());
  if (in.z) perturb(*in.z, p.seqlen());
  if (p.B_layout().variable) perturb(in.B, p.seqlen());
  if (p.C_layout().variable) perturb(in.C, p.seqlen());
  const SelectiveScanProblem<double> q(std::move(in));
  auto before_cut = [&](const Tensor<double>& a, const Tensor<double>& b) {
    for (Index i = 0; i < a.count(); ++i)
      if (i % p.seqlen() < cut && std::memcmp(&a[i], &b[i], sizeof(double)) != 0 &&
          !(std::isnan(a[i]) && std::isnan(b[i])))
        return false;
    return true;
  };
  RC_ASSERT(before_cut(as_double(cpu::selective_scan(p.cast<float>())).out,
                       as_double(cpu::selective_scan(q.cast<float>())).out));
  RC_ASSERT(before_cut(cpu::selective_scan(p).out, cpu::selective_scan(q).out));
  const auto ep = oracle(p), eq = oracle(q);
  for (Index i = 0; i < ep.out.count(); ++i)
    if (i % p.seqlen() < cut) RC_ASSERT(ep.out[i] == eq.out[i] || (isnan(ep.out[i]) && isnan(eq.out[i])));
}

namespace {
// The inputs restricted to steps [t0, t1), with h0 replaced.
SelectiveScanProblem<double> slice(const SelectiveScanProblem<double>& p, Index t0, Index t1,
                                   std::optional<Tensor<double>> h0) {
  const auto& in = p.in();
  const Index L = p.seqlen(), n = t1 - t0;
  auto cut = [&](const Tensor<double>& t) {
    std::vector<Index> ext = t.shape().extents();
    ext.back() = n;
    Tensor<double> out{Shape(ext)};
    for (Index r = 0; r < t.count() / L; ++r)
      for (Index k = 0; k < n; ++k) out[r * n + k] = t[r * L + t0 + k];
    return out;
  };
  SelectiveScanInputs<double> s = in;
  s.u = cut(in.u);
  s.delta = cut(in.delta);
  if (in.z) s.z = cut(*in.z);
  if (p.B_layout().variable) s.B = cut(in.B);
  if (p.C_layout().variable) s.C = cut(in.C);
  s.h0 = std::move(h0);
  return SelectiveScanProblem<double>(std::move(s));
}

template <class Run>
void check_split(const SelectiveScanProblem<double>& p, Index cut, Run run) {
  const auto whole = run(p);
  const auto first = run(slice(p, 0, cut, p.in().h0));
  // A state that overflowed cannot be carried: infinite h0 is invalid input by design.
  for (Index i = 0; i < first.last_state.count(); ++i) RC_PRE(std::isfinite(first.last_state[i]));
  const auto second = run(slice(p, cut, p.seqlen(), first.last_state));
  const Index L = p.seqlen();
  for (Index i = 0; i < whole.out.count(); ++i) {
    const Index r = i / L, t = i % L;
    const double expected = t < cut ? first.out[r * cut + t] : second.out[r * (L - cut) + t - cut];
    RC_ASSERT(std::memcmp(&whole.out[i], &expected, sizeof(double)) == 0 ||
              (std::isnan(expected) && std::isnan(whole.out[i])));
  }
  RC_ASSERT(same_bits(whole.last_state, second.last_state));
}
}  // namespace

RC_GTEST_PROP(SelectiveScan, SplittingAndContinuingFromLastStateGivesTheSameOutputs, ()) {
  const auto p = draw_problem(Format::float32, {}, false);
  RC_PRE(p.seqlen() >= 2);
  const Index cut = *rc::gen::inRange<Index>(1, p.seqlen());
  // Bitwise for the sequential backends (the carried state is exactly the state) and for the
  // reference evaluated in double; the float32 state round-trips through double exactly.
  check_split(p, cut, [](const SelectiveScanProblem<double>& q) {
    return as_double(cpu::selective_scan(q.cast<float>()));
  });
  check_split(p, cut, [](const SelectiveScanProblem<double>& q) { return cpu::selective_scan(q); });
  check_split(p, cut, [](const SelectiveScanProblem<double>& q) {
    return reference::selective_scan<double>(q);
  });
}

namespace {
// [MAMBA-SCAN-NAN] the elements that depend on input element `flat` of `array`.
SelectiveScanResult<double> nan_cone(const SelectiveScanProblem<double>& p, const std::string& array, Index flat) {
  const Index Bt = p.batch(), D = p.dim(), N = p.dstate(), L = p.seqlen();
  SelectiveScanResult<double> m{Tensor<double>(Shape{Bt, D, L}, 0.0), Tensor<double>(Shape{Bt, D, N}, 0.0)};
  auto mark = [&](Index b, Index d, Index t_from, Index t_to, Index n_only, bool state) {
    for (Index t = t_from; t < t_to; ++t) m.out(b, d, t) = 1;
    if (state)
      for (Index n = 0; n < N; ++n)
        if (n_only < 0 || n == n_only) m.last_state(b, d, n) = 1;
  };
  auto group_channels = [&](const GroupedOperand& g, Index grp, auto f) {
    for (Index d = 0; d < D; ++d)
      if (g.group_of(d) == grp) f(d);
  };
  if (array == "u" || array == "delta") {
    const Index b = flat / (D * L), d = flat / L % D, t = flat % L;
    mark(b, d, t, L, -1, true);
  } else if (array == "z") {
    const Index b = flat / (D * L), d = flat / L % D, t = flat % L;
    mark(b, d, t, t + 1, -1, false);
  } else if (array == "A" || array == "h0") {
    const Index n = flat % N, d = flat / N % D;
    for (Index b = 0; b < Bt; ++b)
      if (array == "A" || b == flat / (N * D)) mark(b, d, 0, L, n, true);
  } else if (array == "D" || array == "delta_bias") {
    for (Index b = 0; b < Bt; ++b) mark(b, flat, 0, L, -1, array == "delta_bias");
  } else if (array == "B" || array == "C") {
    const GroupedOperand& g = array == "B" ? p.B_layout() : p.C_layout();
    const bool state = array == "B";
    if (!g.variable) {
      const Index d = flat / N, n = flat % N;
      for (Index b = 0; b < Bt; ++b) mark(b, d, 0, L, n, state);
    } else {
      const Index t = flat % L, grp = flat / (N * L) % g.groups, n = flat / L % N, b = flat / (g.groups * N * L);
      group_channels(g, grp, [&](Index d) { mark(b, d, t, state ? L : t + 1, n, state); });
    }
  }
  return m;
}
}  // namespace

RC_GTEST_PROP(SelectiveScan, NaNPropagatesExactlyAlongItsCausalCone, ()) {
  const auto clean = draw_problem(Format::float32, {}, false);
  std::vector<std::string> names = {"u", "delta", "A", "B", "C"};
  const auto& cin = clean.in();
  if (cin.D) names.push_back("D");
  if (cin.z) names.push_back("z");
  if (cin.delta_bias) names.push_back("delta_bias");
  if (cin.h0) names.push_back("h0");
  const std::string array = *rc::gen::elementOf(names);
  SelectiveScanInputs<double> in = cin;
  Tensor<double>& t = array == "u" ? in.u : array == "delta" ? in.delta : array == "A" ? in.A
                    : array == "B" ? in.B : array == "C" ? in.C : array == "D" ? *in.D
                    : array == "z" ? *in.z : array == "delta_bias" ? *in.delta_bias : *in.h0;
  const Index flat = *rc::gen::inRange<Index>(0, t.count());
  t[flat] = NAN;
  const SelectiveScanProblem<double> p(std::move(in));
  const auto cone = nan_cone(p, array, flat);
  // The oracle: NaN exactly on the cone. A backend: NaN on the cone, and off it wherever its
  // bound is finite; where the bound is +inf an intermediate may overflow and inf - inf may give
  // NaN legitimately ([MAMBA-SCAN-NAN]).
  const auto b32 = selective_scan_bound(p, arithmetic_cpu_f32());
  const auto b64 = selective_scan_bound(p, arithmetic_cpu_f64());
  const Tensor<double> no_overflow(cone.out.shape(), 0.0), no_overflow_s(cone.last_state.shape(), 0.0);
  auto check_mask = [&](const char* who, const Tensor<double>& got, const Tensor<double>& mask,
                        const Tensor<double>& bound) {
    for (Index i = 0; i < got.count(); ++i)
      if (mask[i] != 1 && std::isinf(bound[i])) continue;
      else if (std::isnan(got[i]) != (mask[i] == 1))
        RC_FAIL(std::string(who) + ": NaN mismatch at " + index_string(got.shape(), i) + " after NaN in " +
                array + " element " + std::to_string(flat) + ": got " + std::to_string(got[i]) + "\n" +
                dump_problem(p));
  };
  const auto exact = oracle(p);
  Tensor<double> exact_nan(exact.out.shape()), exact_nan_s(exact.last_state.shape());
  for (Index i = 0; i < exact.out.count(); ++i) exact_nan[i] = isnan(exact.out[i]) ? NAN : 0.0;
  for (Index i = 0; i < exact.last_state.count(); ++i) exact_nan_s[i] = isnan(exact.last_state[i]) ? NAN : 0.0;
  check_mask("oracle out", exact_nan, cone.out, no_overflow);
  check_mask("oracle last_state", exact_nan_s, cone.last_state, no_overflow_s);
  const auto r32 = as_double(cpu::selective_scan(p.cast<float>()));
  const auto r64 = cpu::selective_scan(p);
  const auto rmodel = as_double(cuda_scan_emulation(p.cast<float>()));
  check_mask("cpu-f32 out", r32.out, cone.out, b32.out);
  check_mask("cpu-f64 out", r64.out, cone.out, b64.out);
  check_mask("cuda order model out", rmodel.out, cone.out, b32.out);
  check_mask("cpu-f32 last_state", r32.last_state, cone.last_state, b32.last_state);
  check_mask("cpu-f64 last_state", r64.last_state, cone.last_state, b64.last_state);
  check_mask("cuda order model last_state", rmodel.last_state, cone.last_state, b32.last_state);
  // Outside the cone the CPU backends are untouched, bit for bit (NaN from overflow included).
  const auto c32 = as_double(cpu::selective_scan(clean.cast<float>()));
  for (Index i = 0; i < c32.out.count(); ++i)
    if (cone.out[i] == 0)
      RC_ASSERT(std::memcmp(&c32.out[i], &r32.out[i], sizeof(double)) == 0 ||
                (std::isnan(c32.out[i]) && std::isnan(r32.out[i])));
}

RC_GTEST_PROP(SelectiveScan, CpuResultsAreBitwiseIndependentOfThreadCount, ()) {
  const auto p = draw_problem(Format::float32);
  const auto p32 = p.cast<float>();
  const auto one32 = as_double(cpu::selective_scan(p32, 1));
  const auto one64 = cpu::selective_scan(p, 1);
  for (int threads : {2, 3, 8}) {
    const auto r32 = as_double(cpu::selective_scan(p32, threads));
    RC_ASSERT(same_bits(one32.out, r32.out));
    RC_ASSERT(same_bits(one32.last_state, r32.last_state));
    const auto r64 = cpu::selective_scan(p, threads);
    RC_ASSERT(same_bits(one64.out, r64.out));
    RC_ASSERT(same_bits(one64.last_state, r64.last_state));
  }
}
