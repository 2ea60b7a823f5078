// NumPy .npy and .npz files (spec/core.md [CORE-NPY]).
//
// Reading accepts what numpy.save / numpy.savez / numpy.savez_compressed write: format versions
// 1.0, 2.0 and 3.0; little- or big-endian float16/32/64, complex64/128, signed and unsigned
// integers of 1-8 bytes, bool; C or Fortran order; any rank including 0-d. Every value is
// converted to double exactly (an integer beyond 2^53 in magnitude is rejected). A complex array
// of shape S is read as the real array of shape S + (2,) holding (re, im) pairs, the layout
// numpy's `.view(float)` and torch's `view_as_real` show, so consumers of float arrays see its
// components as float32/float64 values. Malformed input of any kind is an
// InvalidInput naming the array (or the file) and what was wrong; the parser is fuzzed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "touchstone/core/tensor.hpp"

namespace touchstone {

enum class NpyKind { boolean, signed_int, unsigned_int, floating };

struct NpyArray {
  NpyKind kind = NpyKind::floating;
  int item_bytes = 8;         // bytes per real number in the file (a complex element holds two)
  Tensor<double> values;      // C order
  bool complex = false;       // complex64/128: kind floating, values with a trailing axis (re, im)
  std::string dtype_name() const;  // "float32", "complex64", "int64", "bool", ...
};

using NpyMap = std::map<std::string, NpyArray>;

// What a .npy header declares, before any data is read.
struct NpyHeader {
  NpyKind kind = NpyKind::floating;
  int item_bytes = 8;
  bool complex = false;
  bool big_endian = false, fortran_order = false;
  std::vector<Index> shape;  // as NpyArray::values will have it (complex: a trailing 2)
  std::size_t data_offset = 0;
  std::string dtype_name() const;
  std::uint64_t count() const;  // values (a complex element counts two)
};
using NpyHeaders = std::map<std::string, NpyHeader>;

NpyHeader parse_npy_header(std::span<const std::uint8_t> bytes, const std::string& name);

// `name` is used in error messages.
NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& name);

// Serialize as float64 ('<f8') or float32 ('<f4', values rounded to nearest), format 1.0.
std::vector<std::uint8_t> serialize_npy(const Tensor<double>& t, bool as_float32 = false);

// [CORE-NPZ-BUDGET] Reading an archive costs, at its peak, the decoded values of every array (8
// bytes each) plus the largest array's raw bytes. Every entry's header is read first (from the
// first bytes of its stream, without inflating the rest); the archive is refused (InvalidInput
// naming it, with the numbers) when that cost exceeds `max_bytes`, or an entry's size disagrees
// with its header, before any array is decompressed; `check_headers`, when given, may refuse the
// declared shapes and dtypes too (an entry's declarations: core/input_check.hpp
// check_input_headers). A small archive can claim, and deflate can really produce, gigabytes.
// The default budget is memory_budget().
std::uint64_t memory_budget();  // TOUCHSTONE_MAX_MEMORY (bytes) if set, else half the physical memory
inline constexpr std::uint64_t kDefaultMaxNpzBytes = 0;  // 0: memory_budget()
NpyMap read_npz(const std::string& path, std::uint64_t max_bytes = kDefaultMaxNpzBytes,
                const std::function<void(const NpyHeaders&)>& check_headers = {});
NpyMap read_npz_bytes(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::uint64_t max_bytes = kDefaultMaxNpzBytes,
                      const std::function<void(const NpyHeaders&)>& check_headers = {});

// Every array as float64, or as float32 (rounded to nearest) with `as_float32`.
void write_npz(const std::string& path, const std::map<std::string, Tensor<double>>& arrays,
               bool as_float32 = false);

}  // namespace touchstone
