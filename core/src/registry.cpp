#include "touchstone/core/registry.hpp"

#include <mpfr.h>

#include <algorithm>
#include <stdexcept>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/input_check.hpp"

namespace touchstone {

void Registry::add(std::unique_ptr<Algorithm> algorithm) {
  for (const auto& a : algorithms_)
    if (a->name() == algorithm->name())
      throw std::logic_error("algorithm registered twice: " + a->name());
  algorithms_.push_back(std::move(algorithm));
  std::sort(algorithms_.begin(), algorithms_.end(),
            [](const auto& x, const auto& y) { return x->name() < y->name(); });
}

const Algorithm& Registry::get(std::string_view name) const {
  std::string known;
  for (const auto& a : algorithms_) {
    if (a->name() == name) return *a;
    known += (known.empty() ? "" : ", ") + a->name();
  }
  throw InvalidInput("algorithm", "unknown algorithm '" + std::string(name) + "'; known: " + known);
}

std::vector<const Algorithm*> Registry::all() const {
  std::vector<const Algorithm*> out;
  for (const auto& a : algorithms_) out.push_back(a.get());
  return out;
}

const BackendSpec& Registry::backend(const Algorithm& a, std::string_view name) const {
  std::string known;
  for (const auto& b : a.backends()) {
    if (b.name == name) return b;
    known += (known.empty() ? "" : ", ") + b.name;
  }
  throw InvalidInput("backend", "'" + std::string(name) + "' is not a backend of " + a.name() +
                                    "; known: " + known);
}

void ProblemHandle::require_inputs_in(Format format) const {
  const Format have = input_format();
  // float16 and bfloat16 values are float32 values; float32's are float64's; not the reverse.
  const bool fits = have == format || format == Format::float64 ||
                    (format == Format::float32 && have != Format::float64);
  if (!fits)
    throw InvalidInput("inputs", "values are not all " + std::string(format_name(format)) +
                                     "; a " + std::string(format_name(format)) +
                                     " backend would round them and answer a different problem");
}

namespace {

// Whether two evaluations of one output agree to 2^-(b/2) ([CORE-ORACLE-VERIFIED]).
bool oracle_outputs_agree(const Tensor<mp_real>& lo, const Tensor<mp_real>& hi, unsigned b) {
  const WorkingPrecision wp(2 * b);
  if (!(lo.shape() == hi.shape())) return false;
  mp_real maxabs = 0;
  for (Index i = 0; i < hi.count(); ++i)
    if (isfinite(hi[i])) maxabs = std::max(maxabs, mp_real(abs(hi[i])));
  const mp_real tol = ldexp(mp_real(1), -static_cast<int>(b / 2));
  for (Index i = 0; i < hi.count(); ++i) {
    const mp_real &x = lo[i], &y = hi[i];
    if (!isfinite(x) || !isfinite(y)) {
      if (isnan(x) || isnan(y)) {
        if (!(isnan(x) && isnan(y))) return false;
      } else if (x != y) {
        return false;
      }
      continue;
    }
    const mp_real scale = std::max(mp_real(abs(y)), mp_real(tol * maxabs));
    if (abs(y - x) > tol * scale) return false;
  }
  return true;
}

}  // namespace

bool oracle_agrees(const ExactArrays& lo, const ExactArrays& hi, unsigned b) {
  if (lo.size() != hi.size()) return false;
  for (const auto& [out, t] : hi) {
    auto it = lo.find(out);
    if (it == lo.end() || !oracle_outputs_agree(it->second, t, b)) return false;
  }
  return true;
}

// [CORE-ORACLE-RANGE] MPFR's exponent range is finite (|x| up to about 2^(2^30)): past it a value
// becomes inf or 0, and inf * 0, inf - inf or 0 / 0 then give a NaN where the exact value is a
// number (registry properties: delta = -1.9e99 made e^(dt A) inf in the oracle and dB NaN, while
// the float32 backend's -inf was judged against it). A NaN output after MPFR's overflow or
// underflow flag was raised is not an exact value: the call is refused. Without a NaN, overflow
// gives infinities where the exact value is beyond every format (and so rounds to them), and
// underflow errs by less than 2^(-2^30): both are kept.
ExactArrays Algorithm::oracle_in_range(const ProblemHandle& p, unsigned bits) const {
  mpfr_clear_flags();
  ExactArrays r = oracle(p, bits);
  if (mpfr_overflow_p() || mpfr_underflow_p())
    for (const auto& [out, t] : r)
      for (Index i = 0; i < t.count(); ++i)
        if (isnan(t[i]))
          throw InvalidInput("precision", name() + ": the oracle left MPFR's exponent range (|x| beyond 2^(+-2^30)) "
                                                   "and output " + out + " has a NaN there; its exact value is not known");
  return r;
}

ExactArrays Algorithm::reference(const ProblemHandle& p, unsigned precision_bits) const {
  { const WorkingPrecision valid(precision_bits); }  // InvalidInput("precision") outside the range
  if (precision_bits > kMaxPrecisionBits / 2)
    throw InvalidInput("precision", "expected at most " + std::to_string(kMaxPrecisionBits / 2) +
                                        " bits: every oracle answer is checked at twice its precision");
  // Doubling stops at 16384 bits (or twice the request): past that an oracle that has not agreed
  // with itself is refused rather than run at ever larger precision.
  const unsigned kMaxBits = std::max(16384u, 2 * precision_bits);
  unsigned b = precision_bits;
  ExactArrays prev = oracle_in_range(p, b);
  for (;;) {
    if (2 * b > kMaxBits)
      throw InvalidInput("precision", name() + ": the oracle's results at " + std::to_string(b / 2) +
                                          " and " + std::to_string(b) + " bits disagree and " +
                                          std::to_string(kMaxBits) + " bits is the limit");
    ExactArrays cur = oracle_in_range(p, 2 * b);
    if (oracle_agrees(prev, cur, b)) return cur;
    prev = std::move(cur);
    b *= 2;
  }
}

std::unique_ptr<ProblemHandle> Algorithm::from_arrays(const NpyMap& arrays, const OptionMap& options) const {
  check_inputs(name(), inputs(), this->options(), arrays, options);
  return problem_from_arrays(arrays, options);
}

void check_entry_outputs(const Algorithm& a, const ProblemHandle& p, const ExactArrays& exact) {
  auto fail = [&](const std::string& what) {
    throw std::logic_error(a.name() + ": " + what);
  };
  std::map<std::string, bool> declared;  // name -> optional
  for (const auto& s : a.outputs()) declared[s.name] = s.optional;
  for (const auto& [name, t] : exact)
    if (!declared.count(name)) fail("the oracle returns '" + name + "', not a declared output");
  for (const auto& [name, optional] : declared)
    if (!optional && !exact.count(name)) fail("the oracle omits the output '" + name + "'");
  auto covers = [&](const std::string& who, const Arrays& bounds, const auto& outputs) {
    for (const auto& [name, t] : outputs) {
      auto it = bounds.find(name);
      if (it == bounds.end()) fail(who + " has no bound for the output '" + name + "'");
      if (!(it->second.shape() == t.shape()))
        fail(who + "'s bound for '" + name + "' has shape " + it->second.shape().str() +
             ", the output " + t.shape().str());
    }
    for (const auto& [name, t] : bounds)
      if (!outputs.count(name)) fail(who + " bounds '" + name + "', which it does not output");
  };
  for (Format f : {Format::float64, Format::float32})
    covers("any_order_bound(" + std::string(format_name(f)) + ")", a.any_order_bound(p, f, 1.0), exact);
  for (const auto& b : a.backends()) {
    if (!b.unavailable_reason().empty()) continue;
    if (format_info(b.format).precision < format_info(p.input_format()).precision) continue;
    const Arrays out = b.run(p);
    for (const auto& [name, t] : out)
      if (!exact.count(name)) fail("backend " + b.name + " returns '" + name + "', which the oracle does not");
    for (const auto& [name, t] : exact)
      if (!out.count(name)) fail("backend " + b.name + " omits the output '" + name + "'");
    covers("backend " + b.name, b.bound(p), out);
  }
}

std::vector<OutputJudgement> judge(const Arrays& computed, const ExactArrays& exact,
                                   const Arrays* bounds, Format format) {
  for (const auto& [name, t] : computed)
    if (!exact.count(name)) {
      std::string known;
      for (const auto& [k, v] : exact) known += (known.empty() ? "" : ", ") + k;
      throw InvalidInput(name, "not an output of this algorithm (outputs: " + known + ")");
    }
  std::vector<OutputJudgement> out;
  for (const auto& [name, e] : exact) {
    auto it = computed.find(name);
    if (it == computed.end()) continue;
    const Tensor<double>* b = nullptr;
    if (bounds) {
      auto bi = bounds->find(name);
      if (bi == bounds->end())
        throw std::logic_error(name + ": the bound omits this output (a defect of the entry)");
      b = &bi->second;
    }
    out.push_back({name, compare(name, it->second, e, b, format), e.shape()});
  }
  return out;
}

std::vector<OutputJudgement> judge_own_backend(const Arrays& computed, const ExactArrays& exact,
                                               const Arrays& bounds, Format format) {
  Arrays view = computed;
  for (auto& [name, t] : view) {
    const auto e = exact.find(name);
    const auto b = bounds.find(name);
    if (e != exact.end() && b != bounds.end()) t = own_domain_view(t, e->second, b->second);
  }
  return judge(view, exact, &bounds, format);
}

Verdict verdict_of(const std::vector<OutputJudgement>& judged) {
  Verdict v = Verdict::pass;
  for (const auto& j : judged) v = combine(v, j.summary.verdict());
  return v;
}

}  // namespace touchstone
