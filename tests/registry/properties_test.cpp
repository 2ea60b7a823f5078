// Registry-driven RapidCheck properties for every entry (a new entry gets them by being
// registered; nothing here names an entry). For each entry, problems are generated from the
// entry's own input specs (core/shape_spec.hpp): dimension names shared across arrays with small
// extents (1..4; L, Lk, seqlen 1..12), optional arrays present or absent and shape alternatives
// (as in the entry's default problem three times in four, else drawn), scalar counts and flags set
// to the extent they name (L) or to the default problem's value or its 0/1 complement, float32
// values that reach the edges (+-0, subnormals, 1 +- ulps, 1e4, 1e30, tiny normals, mixed signs,
// NaN and Inf in one problem in eight), following the sign the default problem's values all have
// (dt > 0, Re Lambda < 0) nine arrays in ten. A problem `from_arrays` rejects is discarded
// (counted and printed, about 5% over all entries). Properties:
//   WithinOwnBound     every backend that runs here is within its own bound of the verified
//                      oracle, element by element, by `judge` ([CORE-METRIC-VERDICT]); unjudged
//                      elements (no finite bound) are allowed, counted and tagged
//   WithinDiffBound    the cpu backends are within the bound `diff` uses (diff_bound, the
//                      any-order bound at the backend's format): their order is one it covers
//   OraclePrecision    every value the raw oracle returns at b bits carries at least b bits; at
//                      128 and 256 bits it agrees to 2^-60 (relative, or absolute against the
//                      output's largest modulus), NaN/Inf identical, unless the verified reference
//                      needed more than 256 bits (tagged)
//   Deterministic      a cpu backend run twice, and on one thread, gives the same bits
//   JudgingCatchesAWrongOutput (plain gtest) the judging code above finds one element times 1.5,
//                      or NaN, outside, on each entry's default problem
// One kind of `outside` element is not asserted by default but counted, tagged and printed with
// an example: a NaN or infinity computed where the backend's own bound is +inf or NaN (the entry
// declared the element outside its bound's domain: an intermediate overflows or underflows), see
// Tally::escapes. [CORE-METRIC-VERDICT] calls it outside (FAIL) whatever the bound, the family
// specs allow it ([MAMBA-SCAN-NONFINITE]); TOUCHSTONE_PROPERTIES_STRICT=1 asserts it too.
// RC_PARAMS="reproduce=..." (printed on failure) reproduces a failure; RC_PARAMS="max_success=N"
// overrides the number of cases per property (kCases below otherwise).
// covers: CORE-REGISTRY-PROPERTIES
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "registry/registry_cases.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/core/shape_spec.hpp"
#include "touchstone/core/verdict.hpp"

using namespace touchstone;
using touchstone::testing_registry::Case;

namespace {

// Cases per property and entry: the oracles are MPFR, and every entry's four properties together
// must stay within about two minutes on two cores (RC_PARAMS="max_success=N" overrides).
constexpr int kCases = 100;

// ---- the problem generator ----

bool sequence_like(const std::string& name) { return name == "L" || name == "Lk" || name == "seqlen"; }

// One float32 value. `kind` picks the class (shrinks towards 0: a nice value), `k` the value in it.
double edge_value(int kind, int k, bool positive, bool nonfinite) {
  const double v = static_cast<double>(k) / 1000000.0;  // [-1, 1]
  double x;
  switch (kind) {
    case 20: x = 0.0; break;
    case 21: x = -0.0; break;
    case 22: x = std::ldexp(static_cast<double>(k % 4096), -149); break;  // subnormal (or 0)
    case 23: x = (k < 0 ? -1.0 : 1.0) * (1.0 + std::ldexp(static_cast<double>(k % 8), -23)); break;
    case 24: x = (k < 0 ? -1.0 : 1.0) * (1.0 - std::ldexp(static_cast<double>(k % 8), -24)); break;
    case 25: x = 1e4 * v; break;
    case 26: x = 1e30 * v; break;
    case 27: x = 1e-30 * v; break;  // tiny normal
    case 28: x = k < 0 ? -1.0 : 1.0; break;
    case 29: x = static_cast<double>(k % 5); break;
    case 30: x = nonfinite ? std::numeric_limits<double>::quiet_NaN() : v; break;
    case 31: x = nonfinite ? (k < 0 ? -1.0 : 1.0) * std::numeric_limits<double>::infinity() : v; break;
    default: x = v;
  }
  if (positive) x = std::fabs(x);
  return static_cast<double>(static_cast<float>(x));
}

// How an array's values are drawn.
enum class Mode { nice, nice_positive, edges, edges_positive, special };

// The sign every default value of an array has, per component (re and im of a complex array):
// +1 all > 0, -1 all < 0, 0 mixed or unknown.
struct SignRule {
  int components = 1;
  std::vector<int> sign{0};
};

// `follow`: give each component the sign of the default problem's values (dt > 0, Re Lambda < 0,
// A < 0: domains the entry may check), so that most problems are valid.
Tensor<double> values(const Shape& shape, Mode mode, bool nonfinite, const SignRule& rule, bool follow) {
  const auto n = static_cast<std::size_t>(shape.count());
  std::vector<double> v;
  v.reserve(n);
  const bool positive = mode == Mode::nice_positive || mode == Mode::edges_positive;
  for (std::size_t i = 0; i < n; ++i) {
    int kind = 0;
    if (mode == Mode::edges || mode == Mode::edges_positive)
      kind = *rc::gen::weightedOneOf<int>({{6, rc::gen::just(0)}, {1, rc::gen::inRange(20, 32)}});
    else if (mode == Mode::special)
      kind = *rc::gen::inRange(20, 32);
    const int k = *rc::gen::inRange(-1000000, 1000001);
    double x = edge_value(kind, k, positive, nonfinite);
    const int sign = rule.sign[i % static_cast<std::size_t>(rule.components)];
    if (follow && sign != 0 && !std::isnan(x)) x = x == 0 ? sign * std::ldexp(1.0, -149) : sign * std::fabs(x);
    v.push_back(x);
  }
  return Tensor<double>(shape, std::move(v));
}

// What the generator knows of an entry besides its specs: its default problem's inputs (the
// values and presence of its 0-d arrays and optional arrays) and every dimension name it uses.
struct EntryFacts {
  Arrays defaults;
  std::set<std::string> dim_names;
  std::map<std::string, SignRule> signs;
};

const EntryFacts& facts_of(const Case& c) {
  static std::map<std::string, EntryFacts> cache;
  auto it = cache.find(c.algorithm->name());
  if (it != cache.end()) return it->second;
  EntryFacts f;
  f.defaults = c.algorithm->generate(c.size, Format::float32, 1)->inputs();
  std::vector<ArraySpec> specs = c.algorithm->inputs();
  for (const ArraySpec& s : c.algorithm->outputs()) specs.push_back(s);
  for (const ArraySpec& s : specs)
    for (const ShapeSpec& alt : parse_shapes(s.shape))
      for (const std::string& d : alt.dims)
        for (const std::string& n : dim_names(d)) f.dim_names.insert(n);
  for (const ArraySpec& s : c.algorithm->inputs()) {
    auto d = f.defaults.find(s.name);
    if (d == f.defaults.end() || d->second.count() == 0) continue;
    bool pairs = false;  // complex, or its real view: (re, im) alternate
    for (const ShapeSpec& alt : parse_shapes(s.shape))
      pairs = pairs || alt.complex || (!alt.dims.empty() && (alt.dims.back() == "2" || interleaved(alt.dims.back())));
    SignRule r;
    r.components = pairs && d->second.count() % 2 == 0 ? 2 : 1;
    r.sign.assign(static_cast<std::size_t>(r.components), 0);
    for (int k = 0; k < r.components; ++k) {
      bool pos = true, neg = true;
      for (Index i = k; i < d->second.count(); i += r.components) {
        pos = pos && d->second[i] > 0;
        neg = neg && d->second[i] < 0;
      }
      r.sign[static_cast<std::size_t>(k)] = pos ? 1 : neg ? -1 : 0;
    }
    f.signs[s.name] = r;
  }
  return cache.emplace(c.algorithm->name(), std::move(f)).first->second;
}

struct Counters {
  long generated = 0, rejected = 0, oracle_refused = 0;
  long elements = 0, unjudged = 0, cases_with_unjudged = 0, judged_runs = 0;
  long escalated = 0, backend_refused = 0, escapes = 0, cases_with_escapes = 0;
  std::string escape_example;
  std::map<std::string, long> escapes_by_backend;
  std::map<std::string, long> reasons;  // rejection messages, first words
};
std::map<std::string, Counters>& counters() {
  static std::map<std::string, Counters> c;
  return c;
}

// Whether an input is a count or a flag rather than data: it may be given as a scalar ("()"), and
// it names a dimension (L), or the default problem holds one integer for it, or, absent there, an
// option of that name has an integer default.
bool is_flag(const Algorithm& a, const EntryFacts& facts, const ArraySpec& spec, const std::vector<ShapeSpec>& alts) {
  bool scalar = false;
  for (const ShapeSpec& alt : alts) scalar = scalar || alt.dims.empty();
  if (!scalar) return false;
  if (facts.dim_names.count(spec.name)) return true;
  auto d = facts.defaults.find(spec.name);
  if (d != facts.defaults.end()) return d->second.count() == 1 && d->second[0] == std::floor(d->second[0]);
  for (const OptionSpec& o : a.options())
    if (o.name == spec.name && is_integer_literal(o.default_value)) return true;
  return false;
}

struct Generated {
  std::unique_ptr<ProblemHandle> problem;
  bool nonfinite = false;  // NaN or Inf is among the inputs
};

// A problem of entry `c.algorithm` built through from_arrays; RC_DISCARD when it is rejected.
Generated generate_problem(const Case& c, Counters& count) {
  const Algorithm& a = *c.algorithm;
  const EntryFacts& facts = facts_of(c);
  std::map<std::string, Index> extent;
  auto draw = [&](const std::string& name) -> std::optional<std::int64_t> {
    auto it = extent.find(name);
    if (it != extent.end()) return it->second;
    const Index v = sequence_like(name) ? *rc::gen::inRange<Index>(1, 13) : *rc::gen::inRange<Index>(1, 5);
    extent[name] = v;
    return v;
  };
  Generated g;
  const bool allow_nonfinite = *rc::gen::weightedOneOf<bool>({{7, rc::gen::just(false)}, {1, rc::gen::just(true)}});
  // The layout (which optional arrays are present, which shape alternative each array takes) is
  // the default problem's three times in four, else drawn for each array.
  const bool as_default = *rc::gen::weightedOneOf<bool>({{3, rc::gen::just(true)}, {1, rc::gen::just(false)}});
  NpyMap arrays;
  for (const ArraySpec& spec : a.inputs()) {
    const std::vector<ShapeSpec> alts = parse_shapes(spec.shape);
    if (alts.empty()) continue;
    const auto d = facts.defaults.find(spec.name);
    const bool in_default = d != facts.defaults.end();
    if (spec.optional) {
      const bool present = as_default ? in_default : *rc::gen::arbitrary<bool>();
      if (!present) continue;
    }
    std::size_t pick = alts.size();
    if (as_default && in_default)
      for (std::size_t i = 0; i < alts.size() && pick == alts.size(); ++i)
        if (static_cast<Index>(alts[i].dims.size() + (alts[i].complex ? 1 : 0)) == d->second.rank()) pick = i;
    if (pick == alts.size()) pick = *rc::gen::inRange<std::size_t>(0, alts.size());
    const ShapeSpec& s = alts[pick];
    std::vector<Index> ext;
    for (const std::string& dim : s.dims) {
      const auto e = dim_extent(dim, draw);
      if (!e) RC_FAIL(a.name() + ": input " + spec.name + " has extent \"" + dim + "\" that core/shape_spec.hpp cannot read");
      ext.push_back(*e);
    }
    if (s.complex) ext.push_back(2);
    NpyArray arr;
    arr.item_bytes = 4;
    arr.complex = s.complex;
    Index n = 1;
    for (Index e : ext) n *= e;
    if (n == 1 && !s.complex && is_flag(a, facts, spec, alts)) {
      // A count or flag given as a scalar: the extent it names (a kernel length L), else the value
      // the default problem gives it (a 0/1 flag takes either value), else the option's default.
      std::vector<double> choices;
      if (facts.dim_names.count(spec.name)) {
        choices.push_back(static_cast<double>(*draw(spec.name)));
      } else {
        if (in_default) choices.push_back(d->second[0]);
        for (const OptionSpec& o : a.options())
          if (choices.empty() && o.name == spec.name && is_integer_literal(o.default_value))
            choices.push_back(std::stod(o.default_value));
        if (choices.size() == 1 && (choices[0] == 0 || choices[0] == 1)) choices.push_back(1 - choices[0]);
      }
      if (choices.empty()) {
        if (spec.optional) continue;
        choices = {0, 1};
      }
      arr.values = Tensor<double>(Shape(ext), {*rc::gen::elementOf(choices)});
    } else {
      const Mode mode = *rc::gen::weightedOneOf<Mode>({{4, rc::gen::just(Mode::nice)},
                                                       {2, rc::gen::just(Mode::nice_positive)},
                                                       {3, rc::gen::just(Mode::edges)},
                                                       {2, rc::gen::just(Mode::edges_positive)},
                                                       {1, rc::gen::just(Mode::special)}});
      auto rule = facts.signs.find(spec.name);
      const bool follow = *rc::gen::weightedOneOf<bool>({{9, rc::gen::just(true)}, {1, rc::gen::just(false)}});
      arr.values = values(Shape(ext), mode, allow_nonfinite, rule == facts.signs.end() ? SignRule{} : rule->second, follow);
    }
    arrays[spec.name] = std::move(arr);
  }
  // Options: the defaults, except one naming a dimension (a kernel length L) that no array gives.
  OptionMap options;
  for (const OptionSpec& o : a.options())
    if (!arrays.count(o.name) && facts.dim_names.count(o.name)) options[o.name] = std::to_string(*draw(o.name));
  ++count.generated;
  try {
    g.problem = a.from_arrays(arrays, options);
  } catch (const InvalidInput& e) {
    ++count.rejected;
    const std::string what = e.what();
    ++count.reasons[what.substr(0, std::min<std::size_t>(what.size(), 70))];
    RC_DISCARD("from_arrays rejected the problem");
  }
  for (const auto& [name, t] : g.problem->inputs())
    for (Index i = 0; i < t.count(); ++i)
      if (!std::isfinite(t[i])) g.nonfinite = true;
  return g;
}

std::string dump(const ProblemHandle& p) {
  std::ostringstream os;
  os << "  problem: " << p.describe() << "\n";
  for (const auto& [name, t] : p.inputs()) {
    os << "  " << name << " " << t.shape().str() << ":";
    char buf[40];
    for (Index i = 0; i < t.count() && i < 96; ++i) {
      std::snprintf(buf, sizeof buf, " %a", t[i]);
      os << buf;
    }
    if (t.count() > 96) os << " ...";
    os << "\n";
  }
  return os.str();
}

// ---- judging: what the properties and JudgingCatchesAWrongOutput share ----

struct Tally {
  Index elements = 0, unjudged = 0;
  Index outside = 0;  // outside where the bound is finite: what the properties assert is 0
  // Outside only by [CORE-METRIC-VERDICT]'s non-finite rule, on an element with no finite bound: a
  // NaN or infinity computed where the entry's bound declared the element outside its domain (an
  // intermediate may overflow or underflow; [MAMBA-SCAN-NONFINITE] allows a NaN or infinity
  // there), and the exact value is finite or infinite, or NaN with every input finite (then the
  // oracle itself overflowed MPFR's exponent range: e^(1e30)). Counted and tagged; asserted 0
  // only under TOUCHSTONE_PROPERTIES_STRICT=1. A finite value where the exact one is NaN or
  // infinite, or a non-NaN where the exact one is NaN from a NaN input, is always `outside`.
  Index escapes = 0;
  std::string report, escape_report;  // the worst element of each output, for messages
};

std::string describe(const std::string& who, const OutputJudgement& j) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%s: output %s: %lld of %lld element(s) outside; worst %s computed %.17g exact %.17g bound %.17g\n",
                who.c_str(), j.output.c_str(), static_cast<long long>(j.summary.outside),
                static_cast<long long>(j.summary.count), index_string(j.shape, j.summary.worst).c_str(),
                j.summary.worst_computed, j.summary.worst_exact, j.summary.worst_bound);
  return buf;
}

bool strict() {
  const char* e = std::getenv("TOUCHSTONE_PROPERTIES_STRICT");
  return e && std::string(e) == "1";
}

// Judges `out` with `judge` (core/registry.hpp) against the exact outputs and `bound`; then, when
// some element is outside, judges again with every escape (above) replaced by the exact value:
// what is still outside is `outside`, the difference `escapes`.
Tally judge_all(const Arrays& out, const ExactArrays& exact, const Arrays& bound, Format f,
                const std::string& who, bool nonfinite_inputs) {
  Tally t;
  Index all_outside = 0;
  for (const OutputJudgement& j : judge(out, exact, &bound, f)) {
    t.elements += j.summary.count;
    t.unjudged += j.summary.unjudged;
    all_outside += j.summary.outside;
    if (j.summary.outside > 0) t.escape_report += describe(who, j);
  }
  if (all_outside == 0) return t;
  Arrays masked = out;
  for (auto& [name, c] : masked) {
    const Tensor<double>& b = bound.at(name);
    const Tensor<mp_real>& x = exact.at(name);
    for (Index i = 0; i < c.count(); ++i)
      if (!std::isfinite(b[i]) && !std::isfinite(c[i]) && (!isnan(x[i]) || !nonfinite_inputs)) {
        double v = to_double(x[i]);
        if (isfinite(x[i]) && !std::isfinite(v)) v = std::copysign(std::numeric_limits<double>::max(), v);
        c[i] = v;
      }
  }
  for (const OutputJudgement& j : judge(masked, exact, &bound, f)) {
    t.outside += j.summary.outside;
    if (j.summary.outside > 0) t.report += describe(who, j);
  }
  t.escapes = all_outside - t.outside;
  if (strict()) {
    t.outside = all_outside;
    t.report = t.escape_report;
  }
  return t;
}

// Whether backend `b` runs here on problem `p` (a float32 backend needs float32 inputs).
bool runs_on(const BackendSpec& b, const ProblemHandle& p) {
  if (!b.unavailable_reason().empty()) return false;
  return format_info(b.format).precision >= format_info(p.input_format()).precision;
}

bool is_cpu(const BackendSpec& b) { return b.name.rfind("cpu-", 0) == 0; }

bool same_bits(const Arrays& x, const Arrays& y, std::string* where) {
  if (x.size() != y.size()) return *where = "different outputs", false;
  for (const auto& [name, t] : x) {
    auto it = y.find(name);
    if (it == y.end() || !(it->second.shape() == t.shape())) return *where = name + ": shape", false;
    for (Index i = 0; i < t.count(); ++i) {
      const double a = t[i], b = it->second[i];
      if (!((std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b))) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s at %s: %a vs %a", name.c_str(), index_string(t.shape(), i).c_str(), a, b);
        return *where = buf, false;
      }
    }
  }
  return true;
}

// The verified oracle, or nullopt (tagged) when it refuses the problem with InvalidInput
// ("precision": it cannot answer to its own verified accuracy below 16384 bits).
std::optional<ExactArrays> verified(const Algorithm& a, const ProblemHandle& p, Counters& count) {
  try {
    return a.reference(p, 128);
  } catch (const InvalidInput& e) {
    ++count.oracle_refused;
    RC_TAG("oracle refused");
    return std::nullopt;
  }
}

// ---- running a property with a per-entry case count ----

template <class Property>
void check_property(const Property& property) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (!(env && std::strstr(env, "max_success"))) params.maxSuccess = kCases;
  const auto info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  // Each property of each entry draws its own problems (one seed per run would give the four
  // properties the same ones); the run's seed (RC_PARAMS="seed=N") still determines them.
  params.seed ^= std::hash<std::string>{}(metadata.id);
  const auto start = std::chrono::steady_clock::now();
  const auto result = rc::detail::checkTestable(property, metadata, params);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream ss;
  rc::detail::printResultMessage(result, ss);
  if (result.template is<rc::detail::SuccessResult>()) {
    std::cout << ss.str() << " (" << seconds << " s)\n";
  } else {
    FAIL() << ss.str();
  }
}

void print_counters(const std::string& entry) {
  const Counters& c = counters()[entry];
  std::printf("%s: %ld problem(s) generated, %ld rejected by from_arrays (%.0f%%)", entry.c_str(), c.generated,
              c.rejected, c.generated ? 100.0 * c.rejected / c.generated : 0.0);
  if (c.oracle_refused) std::printf(", %ld refused by the oracle", c.oracle_refused);
  if (c.judged_runs)
    std::printf("; %ld judged run(s), %ld with unjudged elements; %ld of %ld elements unjudged (%.1f%%)",
                c.judged_runs, c.cases_with_unjudged, c.unjudged, c.elements,
                c.elements ? 100.0 * c.unjudged / c.elements : 0.0);
  if (c.escalated) std::printf("; %ld needed more than 256 bits", c.escalated);
  if (c.backend_refused) std::printf("; %ld backend run(s) refused (InvalidInput)", c.backend_refused);
  if (c.escapes) {
    std::printf("; %ld case(s) with %ld non-finite output element(s) where the bound is not finite (", c.cases_with_escapes,
                c.escapes);
    for (const auto& [b, n] : c.escapes_by_backend) std::printf(" %s: %ld", b.c_str(), n);
    std::printf(" ), e.g.\n%s", c.escape_example.c_str());
  }
  std::printf("\n");
  for (const auto& [reason, n] : c.reasons) std::printf("    rejected %ld x: %s\n", n, reason.c_str());
}

// One case per entry: the first default size names it and gives the default problem whose 0-d
// arrays and optional arrays the generator follows.
std::vector<Case> entry_cases() {
  std::vector<Case> v;
  std::set<std::string> seen;
  for (const Case& c : testing_registry::all_cases())
    if (seen.insert(c.algorithm->name()).second) v.push_back(c);
  return v;
}

class RegistryProperties : public ::testing::TestWithParam<Case> {
 protected:
  void TearDown() override {
    print_counters(GetParam().algorithm->name());
    counters().erase(GetParam().algorithm->name());
  }
};

}  // namespace

namespace {

// Properties 1 and 2: every backend `use`s, judged against the verified oracle with the bound
// `bound_of` gives it.
template <class Use, class BoundOf>
void within_bounds(const Case& c, Use use, BoundOf bound_of, const std::string& which) {
  const Algorithm& a = *c.algorithm;
  Counters& count = counters()[a.name()];
  const Generated g = generate_problem(c, count);
  RC_TAG(g.nonfinite ? "NaN/Inf inputs" : "finite inputs");
  const auto exact = verified(a, *g.problem, count);
  if (!exact) return;
  bool unjudged = false, escaped = false, refused = false;
  for (const BackendSpec& b : a.backends()) {
    if (!use(b) || !runs_on(b, *g.problem)) continue;
    Arrays out, bound;
    try {
      out = b.run(*g.problem);
      bound = bound_of(b, *g.problem, *exact);
    } catch (const InvalidInput& e) {
      // A backend may refuse a problem outside its domain (mamba.block: an intermediate that
      // overflows its format, [MAMBA-BLOCK-NONFINITE]).
      ++count.backend_refused;
      refused = true;
      continue;
    }
    const Tally t = judge_all(out, *exact, bound, b.format, a.name() + " " + b.name + which, g.nonfinite);
    ++count.judged_runs;
    count.elements += t.elements;
    count.unjudged += t.unjudged;
    count.escapes += t.escapes;
    if (t.escapes) count.escapes_by_backend[b.name] += t.escapes;
    unjudged = unjudged || t.unjudged > 0;
    if (t.escapes > 0 && !escaped) {
      escaped = true;
      ++count.cases_with_escapes;
      if (count.escape_example.empty()) count.escape_example = t.escape_report + dump(*g.problem);
    }
    if (t.outside > 0) RC_FAIL(t.report + dump(*g.problem));
  }
  if (unjudged) ++count.cases_with_unjudged;
  if (refused) RC_TAG("a backend refused the problem (InvalidInput)");
  if (escaped) RC_TAG("non-finite output where the bound is not finite");
  RC_TAG(unjudged ? "some elements unjudged (no finite bound)" : "every element judged");
}

}  // namespace

TEST_P(RegistryProperties, WithinOwnBound) {
  const Case c = GetParam();
  check_property([&] {
    within_bounds(
        c, [](const BackendSpec&) { return true; },
        [](const BackendSpec& b, const ProblemHandle& p, const ExactArrays&) { return b.bound(p); }, "");
  });
}

TEST_P(RegistryProperties, WithinDiffBound) {
  const Case c = GetParam();
  const Algorithm& a = *c.algorithm;
  check_property([&] {
    within_bounds(
        c, is_cpu,
        [&a](const BackendSpec& b, const ProblemHandle& p, const ExactArrays& exact) {
          return diff_bound(a, p, b.format, kDefaultElementaryUlps, exact);
        },
        " (diff bound)");
  });
}

namespace {

// Whether `lo` and `hi` agree to 2^-60 relative to each element or to the output's largest
// modulus, NaN and infinities identical; `where` names the first disagreement.
bool agree(const ExactArrays& lo, const ExactArrays& hi, std::string* where) {
  const WorkingPrecision wp(512);
  if (lo.size() != hi.size()) return *where = "different outputs", false;
  const mp_real tol = ldexp(mp_real(1), -60);
  for (const auto& [name, y] : hi) {
    auto it = lo.find(name);
    if (it == lo.end() || !(it->second.shape() == y.shape())) return *where = name + ": shape", false;
    const Tensor<mp_real>& x = it->second;
    mp_real maxabs = 0;
    for (Index i = 0; i < y.count(); ++i)
      if (isfinite(y[i])) maxabs = std::max(maxabs, mp_real(abs(y[i])));
    for (Index i = 0; i < y.count(); ++i) {
      bool ok;
      if (!isfinite(x[i]) || !isfinite(y[i]))
        ok = (isnan(x[i]) && isnan(y[i])) || (!isnan(x[i]) && !isnan(y[i]) && x[i] == y[i]);
      else
        ok = abs(y[i] - x[i]) <= tol * std::max(mp_real(abs(y[i])), maxabs);
      if (!ok) {
        *where = name + " at " + index_string(y.shape(), i) + ": " + to_decimal_string(x[i]) + " (128 bits) vs " +
                 to_decimal_string(y[i]) + " (256 bits)";
        return false;
      }
    }
  }
  return true;
}

// The largest precision an element of `e` carries: the precision the oracle last ran at.
unsigned carried_bits(const ExactArrays& e) {
  unsigned bits = 0;
  for (const auto& [name, t] : e)
    for (Index i = 0; i < t.count(); ++i) bits = std::max(bits, precision_bits(t[i]));
  return bits;
}

// The first element of `e` carried at fewer than `bits` bits, or empty.
std::string below_precision(const ExactArrays& e, unsigned bits) {
  for (const auto& [name, t] : e)
    for (Index i = 0; i < t.count(); ++i)
      if (precision_bits(t[i]) < bits)
        return name + " at " + index_string(t.shape(), i) + " has " + std::to_string(precision_bits(t[i])) +
               " bits";
  return "";
}

}  // namespace

TEST_P(RegistryProperties, OraclePrecision) {
  const Case c = GetParam();
  const Algorithm& a = *c.algorithm;
  check_property([&] {
    Counters& count = counters()[a.name()];
    const Generated g = generate_problem(c, count);
    RC_TAG(g.nonfinite ? "NaN/Inf inputs" : "finite inputs");
    ExactArrays lo, hi;
    try {
      lo = a.oracle(*g.problem, 128);
      hi = a.oracle(*g.problem, 256);
    } catch (const InvalidInput&) {
      ++count.oracle_refused;
      RC_TAG("oracle refused");
      return;
    }
    for (const auto& [e, bits] : {std::pair<const ExactArrays*, unsigned>{&lo, 128}, {&hi, 256}}) {
      const std::string low = below_precision(*e, bits);
      if (!low.empty()) RC_FAIL(a.name() + ": the oracle asked for " + std::to_string(bits) + " bits returns " + low + "\n" + dump(*g.problem));
    }
    std::string where;
    if (agree(lo, hi, &where)) {
      RC_TAG("128 and 256 bits agree");
      return;
    }
    // They disagree: legitimate only when the verified reference needed more than 256 bits
    // (cancellation, an ill-conditioned problem), i.e. it did not stop at the 256-bit answer.
    std::optional<ExactArrays> r;
    try {
      r = a.reference(*g.problem, 128);
    } catch (const InvalidInput&) {
    }
    // Whether it escalated shows in the precision its answer carries, not in its values: an
    // exact value is the same at 256 and 512 bits (s4.ssm_scan's 2^-149 inputs gave 0 at 128
    // bits and the exact 1.1e-134 at 256 and at 512).
    if (r && carried_bits(*r) <= carried_bits(hi))
      RC_FAIL(a.name() + ": the oracle at 128 and 256 bits disagrees beyond 2^-60, yet the verified reference "
              "stopped at 256 bits: " + where + "\n" + dump(*g.problem));
    ++count.escalated;
    RC_TAG("needed more than 256 bits");
  });
}

TEST_P(RegistryProperties, Deterministic) {
  const Case c = GetParam();
  const Algorithm& a = *c.algorithm;
  check_property([&] {
    Counters& count = counters()[a.name()];
    const Generated g = generate_problem(c, count);
    RC_TAG(g.nonfinite ? "NaN/Inf inputs" : "finite inputs");
    for (const BackendSpec& b : a.backends()) {
      if (!is_cpu(b) || !runs_on(b, *g.problem)) continue;
      Arrays first, second;
      try {
        first = b.run(*g.problem);
      } catch (const InvalidInput&) {
        RC_TAG("a backend refused the problem (InvalidInput)");
        continue;  // outside its domain (mamba.block: an intermediate overflows)
      }
      second = b.run(*g.problem);
      const char* old = std::getenv("TOUCHSTONE_THREADS");
      const std::string saved = old ? old : "";
      setenv("TOUCHSTONE_THREADS", "1", 1);
      const Arrays one = b.run(*g.problem);
      if (old)
        setenv("TOUCHSTONE_THREADS", saved.c_str(), 1);
      else
        unsetenv("TOUCHSTONE_THREADS");
      std::string where;
      if (!same_bits(first, second, &where))
        RC_FAIL(a.name() + " " + b.name + ": two runs differ: " + where + "\n" + dump(*g.problem));
      if (!same_bits(first, one, &where))
        RC_FAIL(a.name() + " " + b.name + ": default threads and one thread differ: " + where + "\n" +
                dump(*g.problem));
    }
  });
}

// The properties can fail: a wrong output, judged by the same code the properties use, is
// outside. On each entry's default problem, each cpu backend's output with its largest finite
// element times 1.5, or one element NaN, must have an element outside its own bound and outside
// the diff bound.
TEST_P(RegistryProperties, JudgingCatchesAWrongOutput) {
  const Case c = GetParam();
  const Algorithm& a = *c.algorithm;
  const auto p = a.generate(c.size, Format::float32, 1);
  const ExactArrays exact = a.reference(*p, 128);
  int tried = 0;
  for (const BackendSpec& b : a.backends()) {
    if (!is_cpu(b) || !runs_on(b, *p)) continue;
    const Arrays out = b.run(*p);
    const Arrays own = b.bound(*p);
    const Arrays any = diff_bound(a, *p, b.format, kDefaultElementaryUlps, exact);
    ASSERT_EQ(judge_all(out, exact, own, b.format, b.name, false).outside, 0);
    for (const auto& [name, t] : out) {
      Index largest = -1;
      for (Index i = 0; i < t.count(); ++i)
        if (std::isfinite(t[i]) && t[i] != 0 && (largest < 0 || std::fabs(t[i]) > std::fabs(t[largest]))) largest = i;
      if (largest < 0) continue;
      for (int wrong = 0; wrong < 2; ++wrong) {
        Arrays bad = out;
        bad.at(name)[largest] = wrong == 0 ? t[largest] * 1.5 : std::numeric_limits<double>::quiet_NaN();
        SCOPED_TRACE(b.name + " " + name + (wrong == 0 ? " times 1.5" : " NaN"));
        EXPECT_GT(judge_all(bad, exact, own, b.format, b.name, false).outside, 0);
        EXPECT_GT(judge_all(bad, exact, any, b.format, b.name, false).outside, 0);
        ++tried;
      }
    }
  }
  if (tried == 0) std::printf("%s: no cpu backend runs here, nothing to corrupt\n", a.name().c_str());
}

INSTANTIATE_TEST_SUITE_P(Entries, RegistryProperties, ::testing::ValuesIn(entry_cases()),
                         testing_registry::case_name);
