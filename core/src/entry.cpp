// The non-template half of the declarative entry (core/entry.hpp, spec/core.md [CORE-ENTRY]):
// the input reader's file-or-option scalars and the dims-derived problem description.
#include "touchstone/core/entry.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

#include "touchstone/core/random.hpp"

namespace touchstone {

InputReader::InputReader(std::string algorithm, const NpyMap& arrays, const OptionMap& options,
                         std::map<std::string, Index> dims)
    : algorithm_(std::move(algorithm)), arrays_(&arrays), options_(&options), dims_(std::move(dims)) {}

const Tensor<double>& InputReader::array(const std::string& name) const {
  auto it = arrays_->find(name);
  if (it == arrays_->end()) throw InvalidInput(name, "missing (required input of " + algorithm_ + ")");
  return it->second.values;
}

std::optional<Tensor<double>> InputReader::optional_array(const std::string& name) const {
  auto it = arrays_->find(name);
  if (it == arrays_->end()) return std::nullopt;
  return it->second.values;
}

std::optional<Index> InputReader::find_dim(const std::string& name) const {
  auto it = dims_.find(name);
  if (it == dims_.end()) return std::nullopt;
  return it->second;
}

Index InputReader::dim(const std::string& name) const {
  if (auto d = find_dim(name)) return *d;
  throw InvalidInput(name, "no input array gives this dimension");
}

std::optional<double> InputReader::file_scalar(const std::string& name) const {
  auto it = arrays_->find(name);
  if (it == arrays_->end()) return std::nullopt;
  const NpyArray& a = it->second;
  if (a.complex || a.values.count() != 1) throw InvalidInput(name, "expected one value (a 0-d array)");
  return a.values[0];
}

std::optional<Index> InputReader::integer(const std::string& name, Index lo, Index hi) const {
  const std::string range = std::to_string(lo) + " <= " + name + " <= " + std::to_string(hi);
  std::optional<double> v = file_scalar(name);
  if (v && !(*v == std::floor(*v) && *v >= static_cast<double>(lo) && *v <= static_cast<double>(hi)))
    throw InvalidInput(name, "expected an integer " + range + " in the file");
  if (auto it = options_->find(name); it != options_->end()) {
    long long o = 0;
    try {
      std::size_t pos = 0;
      o = std::stoll(it->second, &pos);
      if (pos != it->second.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::logic_error&) {
      throw InvalidInput(name, "expected an integer, got '" + it->second + "'");
    }
    if (o < lo || o > hi) throw InvalidInput(name, "expected an integer " + range + ", got " + it->second);
    if (v && *v != static_cast<double>(o)) throw InvalidInput(name, "the .npz array and --option disagree");
    return static_cast<Index>(o);
  }
  if (v) return static_cast<Index>(*v);
  return std::nullopt;
}

Index InputReader::integer(const std::string& name, Index lo, Index hi, Index fallback) const {
  return integer(name, lo, hi).value_or(fallback);
}

Index InputReader::required_integer(const std::string& name, Index lo, Index hi) const {
  if (auto v = integer(name, lo, hi)) return *v;
  throw InvalidInput(name, "missing: give --option " + name + "=... or a 0-d array " + name);
}

std::string InputReader::choice(const std::string& name, const std::vector<std::string>& words,
                                const std::string& fallback) const {
  std::string list;
  for (std::size_t i = 0; i < words.size(); ++i)
    list += (i ? ", " : "") + words[i] + " (" + std::to_string(i) + " in the file)";
  std::optional<std::string> from_file;
  if (auto v = file_scalar(name)) {
    if (!(*v == std::floor(*v) && *v >= 0 && *v < static_cast<double>(words.size())))
      throw InvalidInput(name, "expected one of " + list);
    from_file = words[static_cast<std::size_t>(*v)];
  }
  if (auto it = options_->find(name); it != options_->end()) {
    bool known = false;
    for (const auto& w : words) known = known || w == it->second;
    if (!known) throw InvalidInput(name, "expected one of " + list + ", got '" + it->second + "'");
    if (from_file && *from_file != it->second) throw InvalidInput(name, "the .npz array and --option disagree");
    return it->second;
  }
  return from_file.value_or(fallback);
}

double InputReader::real(const std::string& name, double fallback) const {
  const std::optional<double> from_file = file_scalar(name);
  if (auto it = options_->find(name); it != options_->end()) {
    const std::string& w = it->second;
    char* end = nullptr;
    const double o = std::strtod(w.c_str(), &end);
    if (w.empty() || end != w.c_str() + w.size() || !std::isfinite(o))
      throw InvalidInput(name, "expected a finite real number, got '" + w + "'");
    if (from_file && *from_file != o) throw InvalidInput(name, "the .npz array and --option disagree");
    return o;
  }
  return from_file.value_or(fallback);
}

bool InputReader::flag(const std::string& name, bool fallback) const {
  std::optional<bool> from_file;
  if (auto v = file_scalar(name)) {
    if (*v != 0 && *v != 1) throw InvalidInput(name, "expected a flag (0 or 1, or a bool) in the file");
    from_file = *v == 1;
  }
  if (auto it = options_->find(name); it != options_->end()) {
    const std::string& w = it->second;
    const bool on = w == "true" || w == "True" || w == "1", off = w == "false" || w == "False" || w == "0";
    if (!on && !off) throw InvalidInput(name, "expected true, false, 1 or 0, got '" + w + "'");
    if (from_file && *from_file != on) throw InvalidInput(name, "the .npz array and --option disagree");
    return on;
  }
  return from_file.value_or(fallback);
}

Tensor<double> InputReader::with_leading_axis(const std::string& name, Index leading, int full_rank) const {
  const Tensor<double>& a = array(name);
  if (a.rank() == full_rank) return a;
  if (a.rank() + 1 != full_rank) throw InvalidInput(name, "expected rank " + std::to_string(full_rank));
  std::vector<Index> e = a.shape().extents();
  e.insert(e.begin(), leading);
  Tensor<double> t{Shape(e)};
  for (Index h = 0; h < leading; ++h)
    for (Index i = 0; i < a.count(); ++i) t[h * a.count() + i] = a[i];
  return t;
}

Tensor<double> drawn_array(std::uint64_t seed, const std::string& stream, Shape shape, Format format,
                           const std::function<double(PhiloxStream&)>& draw) {
  PhiloxStream rng(seed, stream);
  Tensor<double> t(std::move(shape));
  for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(draw(rng), format);
  return t;
}

Tensor<double> uniform_array(std::uint64_t seed, const std::string& stream, Shape shape, double lo, double hi,
                             Format format) {
  return drawn_array(seed, stream, std::move(shape), format, [lo, hi](PhiloxStream& r) { return r.next_uniform(lo, hi); });
}

Tensor<double> normal_array(std::uint64_t seed, const std::string& stream, Shape shape, Format format, double scale) {
  return drawn_array(seed, stream, std::move(shape), format, [scale](PhiloxStream& r) { return scale * r.next_normal(); });
}

namespace entry_detail {

std::map<std::string, Index> inferred_dims(const std::string& algorithm, const std::vector<ArraySpec>& inputs,
                                           const std::vector<OptionSpec>& options, const NpyMap& arrays,
                                           const OptionMap& given) {
  return check_inputs(algorithm, inputs, options, arrays, given);
}

std::string describe_dims(const std::vector<ArraySpec>& inputs, const Arrays& arrays) {
  NpyMap npy;
  for (const auto& [name, t] : arrays) {
    NpyArray a;
    a.values = t;
    npy[name] = std::move(a);
  }
  std::map<std::string, Index> dims;
  try {
    dims = check_inputs("describe", inputs, {}, npy, {});
  } catch (const InvalidInput&) {
  }
  std::string s;
  std::vector<std::string> done;
  for (const auto& in : inputs)
    for (const auto& alt : parse_shapes(in.shape))
      for (const auto& d : alt.dims)
        for (const auto& n : dim_names(d))
          if (dims.count(n) && std::find(done.begin(), done.end(), n) == done.end()) {
            s += (s.empty() ? "" : " ") + n + "=" + std::to_string(dims[n]);
            done.push_back(n);
          }
  return s;
}

}  // namespace entry_detail
}  // namespace touchstone
