// The checks every entry's inputs get before the entry reads them ([CORE-INPUT-CHECK]), from the
// entry's own declarations (ArraySpec shape strings, OptionSpec names): unknown arrays and
// options, missing required arrays, dtypes, complex layouts, and the dimensions of all arrays
// inferred together, so that a shape error names the array that disagrees with the others (a
// (batch, seqlen, dim) `u` is blamed on u, not on A). Header-only; Algorithm::from_arrays calls it.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"
#include "touchstone/core/registry.hpp"
#include "touchstone/core/shape_spec.hpp"

namespace touchstone {

namespace input_check_detail {

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

inline std::string shape_text(const std::vector<Index>& e) {
  std::string s = "(";
  for (std::size_t i = 0; i < e.size(); ++i) s += (i ? ", " : "") + std::to_string(e[i]);
  return s + (e.size() == 1 ? ",)" : ")");
}

inline std::string dims_text(const ShapeSpec& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.dims.size(); ++i) t += (i ? ", " : "") + s.dims[i];
  return (s.complex ? "complex " : "") + t + (s.dims.size() == 1 ? ",)" : ")");
}

// The extents an alternative describes, after its complex (re, im) axis is taken off: nullopt
// when `a` cannot have this alternative's rank or layout.
inline const std::vector<Index>& array_extents(const NpyArray& a) { return a.values.shape().extents(); }
inline const std::vector<Index>& array_extents(const NpyHeader& h) { return h.shape; }

template <class Array>
std::optional<std::vector<Index>> extents_for(const ShapeSpec& alt, const Array& a) {
  std::vector<Index> e = array_extents(a);
  if (alt.complex) {
    if (e.empty() || e.back() != 2) return std::nullopt;
    e.pop_back();
  } else if (a.complex) {
    return std::nullopt;
  }
  if (e.size() != alt.dims.size()) return std::nullopt;
  return e;
}

}  // namespace input_check_detail

// InvalidInput naming the offending array or option. `inputs` and `options` are the entry's
// declarations; arrays whose shape string has no "(...)" are not shape-checked here. Returns the
// dimensions inferred (name -> extent), for the entry to read.
// Works on the arrays or on their headers alone (NpyHeaders, before any data is read:
// read_npz's check_headers), with the same messages.
template <class Array>
std::map<std::string, Index> check_inputs(const std::string& algorithm, const std::vector<ArraySpec>& inputs,
                                          const std::vector<OptionSpec>& options,
                                          const std::map<std::string, Array>& arrays,
                                          const std::map<std::string, std::string>& given_options) {
  using namespace input_check_detail;
  std::vector<std::string> input_names, option_names;
  for (const auto& s : inputs) input_names.push_back(s.name);
  for (const auto& o : options) option_names.push_back(o.name);
  for (const auto& [name, a] : arrays)
    if (std::find(input_names.begin(), input_names.end(), name) == input_names.end())
      throw InvalidInput(name, "not an input of " + algorithm + " (inputs: " + join(input_names) + ")");
  for (const auto& [name, v] : given_options)
    if (std::find(option_names.begin(), option_names.end(), name) == option_names.end())
      throw InvalidInput(name, "unknown option for " + algorithm +
                                   (option_names.empty() ? " (it has none)" : " (options: " + join(option_names) + ")"));
  // Presence and dtype, in declaration order.
  struct Present {
    const ArraySpec* spec;
    const Array* array;
    std::vector<ShapeSpec> alts;
  };
  std::vector<Present> present;
  for (const auto& s : inputs) {
    auto it = arrays.find(s.name);
    if (it == arrays.end()) {
      // An input that may come as an option instead (a file scalar such as L) is not required here.
      const bool as_option = given_options.count(s.name) > 0;
      if (!s.optional && !as_option)
        throw InvalidInput(s.name, "missing (required input of " + algorithm + ")");
      continue;
    }
    std::vector<ShapeSpec> alts = parse_shapes(s.shape);
    bool scalar_only = !alts.empty();
    for (const auto& alt : alts) scalar_only = scalar_only && !alt.complex && alt.dims.size() <= 1 &&
                                               (alt.dims.empty() || alt.dims[0] == "1");
    // Flags and counts given as 0-d arrays may be bool or integer (np.array(True)); the rest float.
    if (it->second.kind != NpyKind::floating && !scalar_only)
      throw InvalidInput(s.name, "expected a float array, got " + it->second.dtype_name());
    present.push_back({&s, &it->second, std::move(alts)});
  }
  // Dimensions: every single-name extent of an array with one matching alternative is an
  // observation; a name whose observations disagree takes the majority's value, and the first
  // array in the minority is blamed.
  struct Obs {
    std::string array;
    Index extent;
  };
  std::map<std::string, std::vector<Obs>> seen;
  auto no_alternative = [](const Present& p) {
    std::string want;
    for (const auto& alt : p.alts) want += (want.empty() ? "" : " | ") + input_check_detail::dims_text(alt);
    return InvalidInput(p.spec->name, "expected shape " + want + ", got " +
                                          (p.array->complex ? p.array->dtype_name() + " " : "") +
                                          input_check_detail::shape_text(input_check_detail::array_extents(*p.array)));
  };
  for (const Present& p : present) {
    if (p.alts.empty()) continue;
    std::vector<const ShapeSpec*> match;
    for (const auto& alt : p.alts)
      if (extents_for(alt, *p.array)) match.push_back(&alt);
    if (match.empty()) throw no_alternative(p);
    if (match.size() > 1) continue;  // ambiguous: checked against the inferred dims below
    const auto e = *extents_for(*match[0], *p.array);
    for (std::size_t i = 0; i < e.size(); ++i) {
      const auto terms = parse_dim(match[0]->dims[i]);
      if (terms && terms->size() == 1 && (*terms)[0].coefficient == 1 && !(*terms)[0].name.empty())
        seen[(*terms)[0].name].push_back({p.spec->name, e[i]});
    }
  }
  std::map<std::string, Index> value;
  std::map<std::string, std::vector<std::string>> source;  // the arrays that agree on a name
  for (const auto& [name, obs] : seen) {
    std::map<Index, int> votes;
    for (const auto& o : obs) ++votes[o.extent];
    Index best = obs.front().extent;
    for (const auto& [v, n] : votes)
      if (n > votes[best]) best = v;
    value[name] = best;
    for (const auto& o : obs)
      if (o.extent == best) source[name].push_back(o.array);
  }
  auto known = [&](const std::string& n) -> std::optional<std::int64_t> {
    auto it = value.find(n);
    if (it == value.end()) return std::nullopt;
    return it->second;
  };
  // Every array against the inferred dimensions: the first that disagrees is named, with what
  // the others say.
  auto check_alt = [&](const ShapeSpec& alt, const std::vector<Index>& e, std::string* why) {
    for (std::size_t i = 0; i < e.size(); ++i) {
      const auto want = dim_extent(alt.dims[i], known);
      if (want && *want != e[i]) {
        if (why) {
          *why = alt.dims[i] + " = " + std::to_string(*want);
          const auto names = dim_names(alt.dims[i]);
          if (names.size() == 1 && alt.dims[i] == names[0] && source.count(names[0]))
            *why += " from " + join(source[names[0]]);
        }
        return false;
      }
    }
    return true;
  };
  for (const Present& p : present) {
    if (p.alts.empty()) continue;
    std::string why;
    bool ok = false;
    const ShapeSpec* first = nullptr;
    for (const auto& alt : p.alts) {
      const auto e = extents_for(alt, *p.array);
      if (!e) continue;
      if (!first) first = &alt;
      std::string w;
      if (check_alt(alt, *e, &w)) {
        ok = true;
        break;
      }
      if (why.empty()) why = w;
    }
    if (!ok) {
      std::string expected = dims_text(*first);
      std::vector<Index> ev;
      for (const auto& d : first->dims)
        if (const auto v = dim_extent(d, known)) ev.push_back(*v);
      if (ev.size() == first->dims.size()) expected += " = " + shape_text(ev);
      throw InvalidInput(p.spec->name, "expected shape " + expected + ", got " +
                                           shape_text(array_extents(*p.array)) +
                                           (why.empty() ? "" : " (" + why + ")"));
    }
  }
  return value;
}

}  // namespace touchstone
