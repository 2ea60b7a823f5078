// The declarative registry entry (spec/core.md [CORE-ENTRY]).
//
// An algorithm is declared, not subclassed: an Entry<P> names the algorithm, its spec ID, its
// inputs and outputs (structured shape strings: symbolic dims, optional, complex), options, sizes,
// how to generate a default problem and how to read one from a user's arrays, the oracle, the
// backends {name, format, order, run, bound} and the any-order bound. P is the family's Problem at
// double (validated in its constructor, with cast<float>() giving the float32 problem);
// make_entry turns the declaration into an Algorithm, and core does the rest once for every
// entry: the input checks ([CORE-INPUT-CHECK]), the problem handle, the float32 copy, the input
// format, the working precision of the oracle, its verification ([CORE-ORACLE-VERIFIED]) and the
// output checks ([CORE-REGISTRY-BOUNDS]). ARCHITECTURE.md walks through adding one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/input_check.hpp"
#include "touchstone/core/mp.hpp"
#include "touchstone/core/registry.hpp"

namespace touchstone {

class PhiloxStream;  // core/random.hpp

// A user's arrays and options after check_inputs ([CORE-INPUT-CHECK]): every array present is
// declared, has its declared dtype and layout (complex ones as (..., 2)) and agrees with the
// others on every named dimension, which `dim` returns. What the declarations cannot say (value
// ranges, words, cross-argument rules) the entry's `read` checks, or the Problem's constructor.
class InputReader {
 public:
  InputReader(std::string algorithm, const NpyMap& arrays, const OptionMap& options,
              std::map<std::string, Index> dims);
  bool has(const std::string& name) const { return arrays_->count(name) > 0; }
  // Whether the file stored the array as complex (complex64/128), not as reals with a trailing
  // (re, im) axis: the values are the same, the layout rules may differ (a complex array is never
  // an interleaved one).
  bool stored_complex(const std::string& name) const {
    auto it = arrays_->find(name);
    return it != arrays_->end() && it->second.complex;
  }
  // A required array; InvalidInput(name) when absent.
  const Tensor<double>& array(const std::string& name) const;
  std::optional<Tensor<double>> optional_array(const std::string& name) const;
  // A dimension inferred from the arrays (InvalidInput(name) when no array gave it).
  Index dim(const std::string& name) const;
  std::optional<Index> find_dim(const std::string& name) const;
  // [CORE-FILE-OPTION] A scalar that may come as a 0-d array in the file (what `generate` writes,
  // so that a file is the whole problem) or as --option name=...; given both ways they must agree.
  // An integer in [lo, hi]; nullopt when given neither way.
  std::optional<Index> integer(const std::string& name, Index lo, Index hi) const;
  Index integer(const std::string& name, Index lo, Index hi, Index fallback) const;
  Index required_integer(const std::string& name, Index lo, Index hi) const;
  // A real number: the option as a decimal (strtod's syntax, finite), or the file's 0-d array;
  // `fallback` when given neither way. Range checks are the Problem's.
  double real(const std::string& name, double fallback) const;
  // One of `words`: the option as a word, or the file's 0-d array as its index in `words`.
  std::string choice(const std::string& name, const std::vector<std::string>& words,
                     const std::string& fallback) const;
  // A flag: the option as true/false/1/0 (True/False too, as Python prints them), or the file's
  // 0-d bool or 0/1 array.
  bool flag(const std::string& name, bool fallback) const;
  // An array declared "(X, ...) | (...)" that may omit its leading axis (one value shared by
  // every X): the array with the leading axis of extent `leading` restored.
  Tensor<double> with_leading_axis(const std::string& name, Index leading, int full_rank) const;

 private:
  std::optional<double> file_scalar(const std::string& name) const;
  std::string algorithm_;
  const NpyMap* arrays_;
  const OptionMap* options_;
  std::map<std::string, Index> dims_;
};

// A problem in its two precisions: what a backend runs on. The float32 copy is made on first use,
// after require_inputs_in(float32) (a float32 backend must not round its inputs).
template <class P>
class EntryProblem final : public ProblemHandle {
 public:
  using P32 = decltype(std::declval<const P&>().template cast<float>());
  EntryProblem(P problem, const std::function<Arrays(const P&)>& arrays,
               const std::function<std::string(const P&)>& describe)
      : p_(std::move(problem)), arrays_(arrays), describe_(describe) {}
  const P& f64() const { return p_; }
  const P32& f32() const { return f32_.get(*this, p_); }
  std::string describe() const override { return describe_(p_); }
  Format input_format() const override {
    const Arrays a = inputs();
    std::vector<std::span<const double>> v;
    for (const auto& [name, t] : a) v.push_back(t.values());
    return narrowest_format(v);
  }
  Arrays inputs() const override { return arrays_(p_); }

 private:
  P p_;
  std::function<Arrays(const P&)> arrays_;
  std::function<std::string(const P&)> describe_;
  Float32Copy<P32> f32_;
};

template <class P>
struct EntryBackend {
  std::string name;   // "cpu-f32"
  Format format;      // compute and output format
  std::string order;  // the association order in one line (the bound is for it)
  std::function<Arrays(const EntryProblem<P>&)> run;
  std::function<Arrays(const P&)> bound;  // per-element absolute bound, every output
  std::function<std::string()> unavailable_reason = [] { return std::string(); };
};

template <class P>
struct Entry {
  std::string name;      // "dss.kernel_softmax"
  std::string spec_ref;  // "spec/dss.md [DSS-SOFTMAX-DEF]"
  std::string summary;
  std::vector<ArraySpec> inputs, outputs;
  std::vector<OptionSpec> options;
  std::vector<std::string> sizes;  // default problem sizes for `check`
  // Sizes `generate` also makes that `check` does not run (`touchstone bench`'s "bench").
  std::vector<std::string> extra_sizes;
  std::function<P(const std::string& size, Format format, std::uint64_t seed)> generate;
  std::function<P(const InputReader&)> read;
  std::function<Arrays(const P&)> arrays;  // the problem as its input arrays (fixtures, input format)
  // "H=3 N=8 L=100"; when empty, the dims inferred from `arrays` in declaration order.
  std::function<std::string(const P&)> describe;
  std::function<ExactArrays(const P&)> oracle;  // run at the working precision core sets
  std::vector<EntryBackend<P>> backends;
  std::function<Arrays(const P&, Format storage, double elementary_ulps)> any_order_bound;
  std::string any_order_assumption;  // empty: a genuine any-order bound ([CORE-DIFF-ORDER])
  // [CORE-DIFF-JOINT-BOUND] Optional: {any_order_bound(p, compute, ulps), the "cpu-f64" backend's
  // bound(p)} from one evaluation, each half bit for bit the separate call's.
  std::function<AnyOrderAndCpuF64Bound(const P&, Format compute, double elementary_ulps)>
      any_order_and_cpu_f64_bound;
  // [CORE-DIFF-PROBABILISTIC] Optional: the probabilistic bound at a compute format, with
  // family-wise probability alpha.
  std::function<ProbabilisticBound(const P&, Format compute, double elementary_ulps, double alpha)>
      probabilistic_bound;
  // [CORE-SLICES] Dimensions along which the problem falls apart (core/slices.hpp), e.g.
  // {"batch", "dim"}: every output must carry each of them.
  std::vector<std::string> independent_axes;
};

namespace entry_detail {
// "name=value ..." of the dims the declared inputs give `arrays`, in declaration order.
std::string describe_dims(const std::vector<ArraySpec>& inputs, const Arrays& arrays);
std::map<std::string, Index> inferred_dims(const std::string& algorithm, const std::vector<ArraySpec>& inputs,
                                           const std::vector<OptionSpec>& options, const NpyMap& arrays,
                                           const OptionMap& given);
}  // namespace entry_detail

template <class P>
class DeclaredAlgorithm final : public Algorithm {
 public:
  explicit DeclaredAlgorithm(Entry<P> e) : e_(std::move(e)) {
    if (!e_.describe) {
      const std::vector<ArraySpec> inputs = e_.inputs;
      const auto arrays = e_.arrays;
      e_.describe = [inputs, arrays](const P& p) { return entry_detail::describe_dims(inputs, arrays(p)); };
    }
    for (const auto& b : e_.backends) {
      BackendSpec s{b.name, b.format, b.order, b.unavailable_reason, {}, {}};
      s.run = [run = b.run](const ProblemHandle& h) { return run(of(h)); };
      s.bound = [bound = b.bound](const ProblemHandle& h) { return bound(of(h).f64()); };
      backends_.push_back(std::move(s));
    }
  }
  std::string name() const override { return e_.name; }
  std::string summary() const override { return e_.summary; }
  std::string spec_ref() const override { return e_.spec_ref; }
  std::vector<ArraySpec> inputs() const override { return e_.inputs; }
  std::vector<ArraySpec> outputs() const override { return e_.outputs; }
  std::vector<OptionSpec> options() const override { return e_.options; }
  std::vector<std::string> sizes() const override { return e_.sizes; }
  std::unique_ptr<ProblemHandle> generate(const std::string& size, Format format,
                                          std::uint64_t seed) const override {
    bool known = false;
    std::string list;
    for (const auto& s : e_.sizes) {
      known = known || s == size;
      list += (list.empty() ? "" : ", ") + s;
    }
    for (const auto& s : e_.extra_sizes) known = known || s == size;
    if (!known) throw InvalidInput("size", "unknown size '" + size + "' for " + e_.name + " (sizes: " + list + ")");
    return wrap(e_.generate(size, format, seed));
  }
  std::unique_ptr<ProblemHandle> problem_from_arrays(const NpyMap& arrays, const OptionMap& options) const override {
    InputReader reader(e_.name, arrays, options,
                       entry_detail::inferred_dims(e_.name, e_.inputs, e_.options, arrays, options));
    return wrap(e_.read(reader));
  }
  ExactArrays oracle(const ProblemHandle& h, unsigned bits) const override {
    const WorkingPrecision precision(bits);
    return e_.oracle(of(h).f64());
  }
  const std::vector<BackendSpec>& backends() const override { return backends_; }
  Arrays any_order_bound(const ProblemHandle& h, Format storage, double elementary_ulps) const override {
    return e_.any_order_bound(of(h).f64(), storage, elementary_ulps);
  }
  std::optional<AnyOrderAndCpuF64Bound> any_order_and_cpu_f64_bound(const ProblemHandle& h, Format compute,
                                                                    double elementary_ulps) const override {
    if (!e_.any_order_and_cpu_f64_bound) return std::nullopt;
    return e_.any_order_and_cpu_f64_bound(of(h).f64(), compute, elementary_ulps);
  }
  std::string any_order_assumption() const override { return e_.any_order_assumption; }
  std::optional<ProbabilisticBound> probabilistic_bound(const ProblemHandle& h, Format compute,
                                                        double elementary_ulps, double alpha) const override {
    if (!e_.probabilistic_bound) return std::nullopt;
    return e_.probabilistic_bound(of(h).f64(), compute, elementary_ulps, alpha);
  }
  std::vector<std::string> independent_axes() const override { return e_.independent_axes; }

 private:
  static const EntryProblem<P>& of(const ProblemHandle& h) { return dynamic_cast<const EntryProblem<P>&>(h); }
  std::unique_ptr<ProblemHandle> wrap(P p) const {
    return std::make_unique<EntryProblem<P>>(std::move(p), e_.arrays, e_.describe);
  }
  Entry<P> e_;
  std::vector<BackendSpec> backends_;
};

template <class P>
std::unique_ptr<Algorithm> make_entry(Entry<P> e) {
  return std::make_unique<DeclaredAlgorithm<P>>(std::move(e));
}

// An entry's table of default sizes (rows with a `name`): the names for Entry::sizes, and the row
// `generate` was asked for (core has checked the name, so a miss is a defect of the entry).
template <class Table>
std::vector<std::string> size_names(const Table& table) {
  std::vector<std::string> v;
  for (const auto& s : table) v.push_back(s.name);
  return v;
}
template <class Table>
const auto& size_row(const Table& table, const std::string& size) {
  for (const auto& s : table)
    if (size == s.name) return s;
  throw std::logic_error("size '" + size + "' is not in the entry's table");
}
// The same, where the entry also has a row outside the table (its `extra_sizes` "bench" row, not
// in `check`).
template <class Table, class Row>
const Row& size_row(const Table& table, const Row& extra, const std::string& size) {
  return size == extra.name ? extra : size_row(table, size);
}

// Converts a result tensor of any scalar to the Arrays value type.
template <class T>
Tensor<double> as_double(const Tensor<T>& t) {
  if constexpr (std::is_same_v<T, double>) return t;
  else return t.template cast<double>();
}

// The forward problem of a backward entry's problem (its forward()), or the problem itself.
template <class P>
const auto& forward_of(const P& p) {
  if constexpr (requires { p.forward(); }) return p.forward();
  else return p;
}

// A default problem's array: element i is the value `draw` takes from the Philox stream `stream`
// under `seed` (elements in order, each drawing what it needs), rounded to `format`.
Tensor<double> drawn_array(std::uint64_t seed, const std::string& stream, Shape shape, Format format,
                           const std::function<double(PhiloxStream&)>& draw);
// The same, uniform on [lo, hi) (PhiloxStream::next_uniform(lo, hi)).
Tensor<double> uniform_array(std::uint64_t seed, const std::string& stream, Shape shape, double lo, double hi,
                             Format format);
// The same, scale * N(0, 1) (scale times PhiloxStream::next_normal, then rounded).
Tensor<double> normal_array(std::uint64_t seed, const std::string& stream, Shape shape, Format format,
                            double scale = 1);
// A file-or-option scalar as `arrays` writes it ([CORE-FILE-OPTION]): a 0-d array.
inline Tensor<double> scalar_array(double x) { return Tensor<double>(Shape{}, x); }

// The cpu-f32 and cpu-f64 backends of an entry whose backends share one order: `run` on the
// float32 or the float64 problem (EntryProblem's f32() or f64()), and `bound(problem, m)` with
// the arithmetic `f32` or `f64` of that order; both return the entry's Arrays.
template <class P, class Run, class Bound, class Arithmetic>
std::vector<EntryBackend<P>> cpu_backends(const std::string& order, Run run, Bound bound, Arithmetic f32,
                                          Arithmetic f64) {
  const std::function<std::string()> available = [] { return std::string(); };  // (all: g++ 12 ICEs on the default)
  return {{"cpu-f32", Format::float32, order, [run](const EntryProblem<P>& h) { return run(h.f32()); },
           [bound, f32](const P& p) { return bound(p, f32); }, available},
          {"cpu-f64", Format::float64, order, [run](const EntryProblem<P>& h) { return run(h.f64()); },
           [bound, f64](const P& p) { return bound(p, f64); }, available}};
}

// Both cpu backends as above, and the any-order bound as `bound` with the arithmetic
// `any_order(problem, storage, elementary_ulps)`: the entries whose bound is one model of the order
// evaluated in several arithmetics.
template <class P, class Run, class Bound, class Arithmetic, class AnyOrder>
void cpu_backends_and_any_order(Entry<P>& e, const std::string& order, Run run, Bound bound, Arithmetic f32,
                                Arithmetic f64, AnyOrder any_order) {
  e.backends = cpu_backends<P>(order, run, bound, f32, f64);
  e.any_order_bound = [bound, any_order](const P& p, Format storage, double elementary_ulps) {
    return bound(p, any_order(p, storage, elementary_ulps));
  };
}

}  // namespace touchstone
