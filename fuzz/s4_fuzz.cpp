// libFuzzer harness over the S4 family, driven by the registry: bytes -> one entry whose name
// starts with "s4.", "s4d." or "dss." (whatever is registered when it runs) -> arrays shaped by
// the entry's own input specs (dimension names shared across arrays, sometimes one extent off,
// optional arrays present or not, options from a small vocabulary) with float32 values drawn
// from nice ranges, zeros, subnormals, huge values, NaN and Inf -> from_arrays (InvalidInput is a
// fine outcome, and the only acceptable exception) -> the oracle at 192 bits -> every CPU backend
// (and any other that runs here) judged against the oracle with its own bound (`judge`). Aborts on
// a violated bound, a NaN where the oracle has a number (or the reverse), an exception other than
// InvalidInput, or a crash (sanitizers).
// covers: S4CONV-FUZZ
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "builtin.hpp"
#include "touchstone/core/errors.hpp"

using namespace touchstone;

namespace {

// One alternative of a shape string: "(H, N)", "(batch, H, L)", "()", "(N,)", "(H, N, 2)".
struct ShapeSpec {
  bool complex = false;
  std::vector<std::string> dims;  // names or integer literals
};

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// "complex (H, N) | (N,)": a leading "complex" applies to every alternative, except one whose
// last extent is the literal 2 (the real (re, im) view of the same array).
std::vector<ShapeSpec> parse_shapes(const std::string& text) {
  std::vector<ShapeSpec> out;
  const bool all_complex = trim(text).rfind("complex", 0) == 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t bar = text.find('|', start);
    if (bar == std::string::npos) bar = text.size();
    std::string alt = trim(text.substr(start, bar - start));
    ShapeSpec s;
    if (alt.rfind("complex", 0) == 0) {
      s.complex = true;
      alt = trim(alt.substr(7));
    }
    const auto open = alt.find('('), close = alt.find(')');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      std::string inner = alt.substr(open + 1, close - open - 1);
      std::size_t p = 0;
      while (p <= inner.size()) {
        std::size_t comma = inner.find(',', p);
        if (comma == std::string::npos) comma = inner.size();
        const std::string tok = trim(inner.substr(p, comma - p));
        if (!tok.empty()) s.dims.push_back(tok);
        p = comma + 1;
      }
      if (all_complex) s.complex = !(!s.dims.empty() && s.dims.back() == "2");
      out.push_back(s);
    }
    start = bar + 1;
  }
  return out;
}

bool is_integer(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

float fuzz_value(FuzzedDataProvider& in, int mode) {
  switch (mode) {
    case 0:
    case 1:
      return static_cast<float>(in.ConsumeIntegralInRange<int>(-1000, 1000)) / 1000.0f;
    case 2:
      return static_cast<float>(in.ConsumeIntegralInRange<int>(1, 1000)) / 1000.0f;  // positive
    case 3: {
      static constexpr float kSpecial[] = {0.0f, -0.0f, 1e-40f, -1e-45f, 1.17549435e-38f, 1e30f, -3e38f,
                                           INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 0.5f};
      return kSpecial[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kSpecial) - 1)];
    }
    default:
      return std::bit_cast<float>(in.ConsumeIntegral<std::uint32_t>());
  }
}

[[noreturn]] void fail(const Algorithm& a, const std::string& backend, const OutputJudgement& j,
                       const ProblemHandle& h) {
  const ErrorSummary& s = j.summary;
  std::fprintf(stderr,
               "s4_fuzz: %s %s output %s: %lld failure(s); worst element %lld computed %.17g exact "
               "%.17g bound %.17g\n  problem: %s\n",
               a.name().c_str(), backend.c_str(), j.output.c_str(), static_cast<long long>(s.failures),
               static_cast<long long>(s.worst), s.worst_computed, s.worst_exact, s.worst_bound,
               h.describe().c_str());
  for (const auto& [name, t] : h.inputs()) {
    std::fprintf(stderr, "  %s %s:", name.c_str(), t.shape().str().c_str());
    for (Index i = 0; i < t.count() && i < 64; ++i) std::fprintf(stderr, " %a", t[i]);
    std::fputs("\n", stderr);
  }
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  static const std::vector<const Algorithm*> entries = [] {
    std::vector<const Algorithm*> v;
    for (const Algorithm* a : builtin_registry().all()) {
      const std::string n = a->name();
      if (!(n.rfind("s4.", 0) == 0 || n.rfind("s4d.", 0) == 0 || n.rfind("dss.", 0) == 0)) continue;
      // Triage: TOUCHSTONE_FUZZ_ENTRIES="s4.causal_conv,s4.ssm_scan" restricts the choice.
      if (const char* only = std::getenv("TOUCHSTONE_FUZZ_ENTRIES"))
        if (("," + std::string(only) + ",").find("," + n + ",") == std::string::npos) continue;
      v.push_back(a);
    }
    return v;
  }();
  if (entries.empty()) return 0;
  const Algorithm& a = *entries[in.ConsumeIntegralInRange<std::size_t>(0, entries.size() - 1)];

  // Extents per dimension name, drawn when first met: small, so that the oracle is fast.
  std::map<std::string, Index> extent;
  auto dim = [&](const std::string& name) -> Index {
    if (is_integer(name)) return std::stoll(name);
    auto it = extent.find(name);
    if (it != extent.end()) return it->second;
    const Index v = name == "L" || name == "Lk" || name == "seqlen" ? in.ConsumeIntegralInRange<Index>(1, 12)
                                                                     : in.ConsumeIntegralInRange<Index>(1, 4);
    extent[name] = v;
    return v;
  };
  const int mistake = in.ConsumeIntegralInRange<int>(0, 24);  // which array gets a wrong extent (most: none)
  NpyMap arrays;
  int index = 0;
  for (const ArraySpec& spec : a.inputs()) {
    ++index;
    if (spec.optional && in.ConsumeBool()) continue;
    const std::vector<ShapeSpec> shapes = parse_shapes(spec.shape);
    if (shapes.empty()) continue;
    const ShapeSpec& s = shapes[in.ConsumeIntegralInRange<std::size_t>(0, shapes.size() - 1)];
    std::vector<Index> ext;
    for (const std::string& d : s.dims) ext.push_back(dim(d));
    if (mistake == index && !ext.empty()) ext[ext.size() - 1] += 1;
    NpyArray arr;
    arr.item_bytes = 4;
    arr.complex = s.complex;
    if (s.complex) ext.push_back(2);
    arr.values = Tensor<double>(Shape(ext));
    const int mode = in.ConsumeIntegralInRange<int>(0, 6);  // 0-2 nice, 3 special, 4+ a few specials
    for (Index i = 0; i < arr.values.count(); ++i) {
      const int m = mode < 3 ? mode : (mode == 3 ? 3 : (in.ConsumeIntegralInRange<int>(0, 9) == 0 ? 3 : 0));
      arr.values[i] = fuzz_value(in, m);
    }
    // A 0-d array is a count (L) or a flag: a small non-negative integer most of the time.
    if (s.dims.empty() && mode != 3) arr.values[0] = static_cast<double>(in.ConsumeIntegralInRange<int>(0, 12));
    arrays[spec.name] = std::move(arr);
  }
  OptionMap options;
  for (const OptionSpec& o : a.options()) {
    // Mostly absent or the default; sometimes a small integer (for counts such as L) or a word of
    // the family's vocabulary, valid for this option or not.
    static const char* kVocabulary[] = {"halves", "full", "zoh", "bilinear", "0", "-1", "x"};
    const int pick = in.ConsumeIntegralInRange<int>(0, 15);
    if (pick < 6) continue;
    if (pick < 10) {
      if (!o.default_value.empty()) options[o.name] = o.default_value;
    } else if (pick < 13) {
      options[o.name] = std::to_string(in.ConsumeIntegralInRange<int>(1, 12));
    } else {
      options[o.name] = kVocabulary[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kVocabulary) - 1)];
    }
  }

  std::unique_ptr<ProblemHandle> h;
  try {
    h = a.from_arrays(arrays, options);
  } catch (const InvalidInput& e) {
    if (std::getenv("TOUCHSTONE_FUZZ_DUMP")) std::fprintf(stderr, "%s: invalid: %s\n", a.name().c_str(), e.what());
    return 0;  // the only acceptable failure
  }
  if (std::getenv("TOUCHSTONE_FUZZ_DUMP")) std::fprintf(stderr, "%s: %s\n", a.name().c_str(), h->describe().c_str());
  // The oracle may refuse, with InvalidInput, a problem it cannot answer to its own verified
  // accuracy (s4.cauchy raises its precision up to a limit near a pole); that is a typed answer.
  ExactArrays exact;
  try {
    exact = a.reference(*h, 192);
  } catch (const InvalidInput& e) {
    if (std::getenv("TOUCHSTONE_FUZZ_DUMP")) std::fprintf(stderr, "%s: oracle refused: %s\n", a.name().c_str(), e.what());
    return 0;
  }
  for (const BackendSpec& b : a.backends()) {
    if (!b.unavailable_reason().empty()) continue;
    Arrays out, bound;
    try {
      out = b.run(*h);
      bound = b.bound(*h);
    } catch (const InvalidInput&) {
      continue;  // e.g. a float32 backend on values that are not float32 (not generated here)
    }
    for (const OutputJudgement& j : judge(out, exact, &bound, b.format))
      if (j.summary.failures > 0) fail(a, b.name, j, *h);
  }
  return 0;
}
