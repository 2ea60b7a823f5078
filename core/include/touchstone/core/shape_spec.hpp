// Structured reading of an entry's shape strings (ArraySpec::shape, spec/core.md [CORE-REGISTRY]),
// for the registry-driven generators: the fuzzer (fuzz/registry_fuzz.cpp) and the RapidCheck
// properties (tests/registry/properties_test.cpp). Header-only.
//
// A shape string is one or more alternatives separated by '|', each a parenthesised list of
// extents: "(batch, dim, seqlen)", "(N,)", "()", "(H, N, 2)". An extent is a dimension name
// ("dstate", "N'"), an integer literal, or a sum of such terms with integer coefficients
// ("2 d_inner", "dt_rank + 2 d_state"). A leading "complex" makes every alternative complex (stored
// as a complex array, or as its real view with a trailing extent 2), except an alternative whose
// last extent is the literal 2, which is already that real view: "complex (H, N) | (H, N, 2)", or
// twice an extent, the real layout with (re, im) interleaved along the last axis:
// "complex (dim, dstate) | (batch, dstate, 2 seqlen)".
// Text after an alternative's closing parenthesis is commentary ("complex (H, L) as (H, L, 2)",
// "() or (1,)"). An output may instead be described by another array's shape ("B's shape",
// "A's layout"): shape_reference names that array.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace touchstone {

// One alternative of a shape string.
struct ShapeSpec {
  bool complex = false;           // complex: the real view has a trailing extent 2 for (re, im)
  std::vector<std::string> dims;  // names, integer literals or sums ("dt_rank + 2 d_state")
};

namespace shape_spec_detail {

inline std::string trim(std::string_view s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string_view::npos) return "";
  const auto b = s.find_last_not_of(" \t");
  return std::string(s.substr(a, b - a + 1));
}

inline bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '\''; }

}  // namespace shape_spec_detail

// "0", "12": a non-empty string of decimal digits.
inline bool is_integer_literal(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "2 seqlen": twice one extent, the real layout with (re, im) interleaved along that axis.
inline bool interleaved(std::string_view dim) {
  const std::string t = shape_spec_detail::trim(dim);
  if (t.size() < 3 || t[0] != '2' || (t[1] != ' ' && t[1] != '\t')) return false;
  const std::string name = shape_spec_detail::trim(std::string_view(t).substr(1));
  if (name.empty() || !shape_spec_detail::name_start(name[0])) return false;
  for (char c : name)
    if (!shape_spec_detail::name_char(c)) return false;
  return true;
}

// Every alternative of `text`, in order; none when `text` holds no "(...)" (e.g. "B's shape").
inline std::vector<ShapeSpec> parse_shapes(std::string_view text) {
  using shape_spec_detail::trim;
  std::vector<ShapeSpec> out;
  const bool all_complex = trim(text).rfind("complex", 0) == 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t bar = text.find('|', start);
    if (bar == std::string_view::npos) bar = text.size();
    std::string alt = trim(text.substr(start, bar - start));
    ShapeSpec s;
    if (alt.rfind("complex", 0) == 0) {
      s.complex = true;
      alt = trim(std::string_view(alt).substr(7));
    }
    const auto open = alt.find('('), close = alt.find(')');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      const std::string inner = alt.substr(open + 1, close - open - 1);
      std::size_t p = 0;
      while (p <= inner.size()) {
        std::size_t comma = inner.find(',', p);
        if (comma == std::string::npos) comma = inner.size();
        std::string tok = trim(std::string_view(inner).substr(p, comma - p));
        if (!tok.empty()) s.dims.push_back(std::move(tok));
        p = comma + 1;
      }
      if (all_complex) s.complex = !(!s.dims.empty() && (s.dims.back() == "2" || interleaved(s.dims.back())));
      out.push_back(std::move(s));
    }
    start = bar + 1;
  }
  return out;
}

// "B's shape" -> "B", "Lambda's shape, complex as (..., 2)" -> "Lambda", "A's layout" -> "A":
// the array whose shape this one has. Empty when `text` is not of that form.
inline std::string shape_reference(std::string_view text) {
  using namespace shape_spec_detail;
  const std::string t = trim(text);
  std::size_t i = 0;
  if (t.empty() || !name_start(t[0])) return "";
  while (i < t.size() && (name_char(t[i]) && t.compare(i, 2, "'s") != 0)) ++i;
  if (t.compare(i, 3, "'s ") != 0) return "";
  const std::string rest = trim(std::string_view(t).substr(i + 3));
  if (rest.rfind("shape", 0) != 0 && rest.rfind("layout", 0) != 0) return "";
  return t.substr(0, i);
}

// One term of an extent: coefficient * the extent of `name`, or the constant `coefficient` when
// `name` is empty.
struct DimTerm {
  std::int64_t coefficient = 1;
  std::string name;
};

// "dt_rank + 2 d_state" -> {1 dt_rank, 2 d_state}; "7" -> {7}; "N'" -> {1 N'}. nullopt when the
// text is not a sum of terms "k", "name" or "k name" ("...", "2 *", "").
inline std::optional<std::vector<DimTerm>> parse_dim(std::string_view dim) {
  using namespace shape_spec_detail;
  std::vector<DimTerm> terms;
  std::size_t start = 0;
  while (start <= dim.size()) {
    std::size_t plus = dim.find('+', start);
    if (plus == std::string_view::npos) plus = dim.size();
    const std::string term = trim(dim.substr(start, plus - start));
    if (term.empty()) return std::nullopt;
    DimTerm t;
    std::size_t i = 0;
    while (i < term.size() && term[i] >= '0' && term[i] <= '9') ++i;
    if (i > 0) {
      if (i > 12) return std::nullopt;
      t.coefficient = std::stoll(term.substr(0, i));
    }
    const std::string name = trim(std::string_view(term).substr(i));
    if (i > 0 && i < term.size() && term[i] != ' ' && term[i] != '\t') return std::nullopt;  // "2x"
    if (!name.empty()) {
      if (!name_start(name[0])) return std::nullopt;
      for (char c : name)
        if (!name_char(c)) return std::nullopt;
      t.name = name;
    } else if (i == 0) {
      return std::nullopt;
    }
    terms.push_back(std::move(t));
    start = plus + 1;
  }
  return terms;
}

// The names an extent mentions, in order ("dt_rank + 2 d_state" -> {dt_rank, d_state}).
inline std::vector<std::string> dim_names(std::string_view dim) {
  std::vector<std::string> v;
  if (const auto terms = parse_dim(dim))
    for (const DimTerm& t : *terms)
      if (!t.name.empty()) v.push_back(t.name);
  return v;
}

// The value of an extent, given the extent of each name (`extent_of` returns nullopt for an
// unknown name). nullopt when the text is not an extent or mentions an unknown name.
inline std::optional<std::int64_t> dim_extent(
    std::string_view dim, const std::function<std::optional<std::int64_t>(const std::string&)>& extent_of) {
  const auto terms = parse_dim(dim);
  if (!terms) return std::nullopt;
  std::int64_t v = 0;
  for (const DimTerm& t : *terms) {
    if (t.name.empty()) {
      v += t.coefficient;
      continue;
    }
    const auto e = extent_of(t.name);
    if (!e) return std::nullopt;
    v += t.coefficient * *e;
  }
  return v;
}

}  // namespace touchstone
