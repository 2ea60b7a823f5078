#include "s4_options.hpp"

#include <cmath>

#include "touchstone/core/errors.hpp"

namespace touchstone::s4 {

std::optional<Index> scalar_array(const NpyMap& arrays, const std::string& name) {
  auto it = arrays.find(name);
  if (it == arrays.end()) return std::nullopt;
  const Tensor<double>& v = it->second.values;
  if (it->second.complex || v.count() != 1 || !(v[0] == std::floor(v[0])) || !(std::fabs(v[0]) < 1e15))
    throw InvalidInput(name, "expected one integer value (a 0-d array)");
  return static_cast<Index>(v[0]);
}

Conj conj_of(const NpyMap& arrays, const OptionMap& options) {
  std::optional<Conj> c;
  if (auto f = scalar_array(arrays, "conj")) {
    if (*f != 0 && *f != 1) throw InvalidInput("conj", "expected 0 (halves) or 1 (full) in the file");
    c = *f ? Conj::full : Conj::halves;
  }
  if (auto it = options.find("conj"); it != options.end()) {
    const Conj o = parse_conj(it->second);
    if (c && *c != o) throw InvalidInput("conj", "the option and the file's conj disagree");
    c = o;
  }
  return c.value_or(Conj::halves);
}

Tensor<double> conj_array(Conj c) { return Tensor<double>(Shape{}, c == Conj::full ? 1.0 : 0.0); }

}  // namespace touchstone::s4
