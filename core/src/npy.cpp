#include "touchstone/core/npy.hpp"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "touchstone/core/errors.hpp"

namespace touchstone {
namespace {

double half_to_double(std::uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  double v;
  if (exp == 0) v = std::ldexp(frac, -24);
  else if (exp == 31) v = frac ? NAN : INFINITY;
  else v = std::ldexp(1024 + frac, exp - 25);
  return sign ? -v : v;
}

// Minimal parser for the header's Python dict literal:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  void parse(std::string& descr, bool& fortran, std::vector<Index>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') { ++i_; break; }
      const std::string key = quoted();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") { descr = quoted(); have_descr = true; }
      else if (key == "fortran_order") { fortran = boolean(); have_order = true; }
      else if (key == "shape") { shape = tuple(); have_shape = true; }
      else fail("unknown header key '" + key + "'");
      skip_ws();
      if (peek() == ',') { ++i_; continue; }
      skip_ws();
      expect('}');
      break;
    }
    if (!have_descr || !have_order || !have_shape)
      fail("header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw InvalidInput(name_, "malformed .npy header: " + why);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() { while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++i_;
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) ++i_;
    if (i_ >= s_.size()) fail("unterminated string");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") { i_ += 4; return true; }
    if (s_.substr(i_, 5) == "False") { i_ += 5; return false; }
    fail("expected True or False");
  }
  std::vector<Index> tuple() {
    expect('(');
    std::vector<Index> dims;
    for (;;) {
      skip_ws();
      if (peek() == ')') { ++i_; break; }
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer extent");
      Index v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (kMaxElements - 9) / 10) fail("extent too large");
        v = v * 10 + (s_[i_++] - '0');
      }
      // numpy writes 'L' suffixes in Python 2 era files.
      if (peek() == 'L') ++i_;
      dims.push_back(v);
      if (dims.size() > 32) fail("more than 32 dimensions");
      skip_ws();
      if (peek() == ',') { ++i_; continue; }
      skip_ws();
      expect(')');
      break;
    }
    return dims;
  }

  std::string_view s_;
  const std::string& name_;
  std::size_t i_ = 0;
};

std::uint64_t load_unsigned(const std::uint8_t* p, int n, bool big) {
  std::uint64_t v = 0;
  for (int k = 0; k < n; ++k) {
    const int idx = big ? k : n - 1 - k;
    v = (v << 8) | p[idx];
  }
  return v;
}

}  // namespace

std::string NpyHeader::dtype_name() const {
  NpyArray a;
  a.kind = kind;
  a.item_bytes = item_bytes;
  a.complex = complex;
  return a.dtype_name();
}

std::uint64_t NpyHeader::count() const {
  std::uint64_t n = 1;
  for (Index e : shape) n *= static_cast<std::uint64_t>(e);
  return n;
}

std::string NpyArray::dtype_name() const {
  switch (kind) {
    case NpyKind::boolean: return "bool";
    case NpyKind::signed_int: return "int" + std::to_string(8 * item_bytes);
    case NpyKind::unsigned_int: return "uint" + std::to_string(8 * item_bytes);
    case NpyKind::floating:
      return (complex ? "complex" + std::to_string(16 * item_bytes) : "float" + std::to_string(8 * item_bytes));
  }
  return "?";
}

NpyHeader parse_npy_header(std::span<const std::uint8_t> bytes, const std::string& name) {
  static constexpr std::uint8_t magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    throw InvalidInput(name, "not a .npy array (bad magic)");
  const int major = bytes[6];
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = bytes[8] | (std::size_t{bytes[9]} << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw InvalidInput(name, "truncated .npy header");
    header_len = load_unsigned(bytes.data() + 8, 4, false);
    offset = 12;
  } else {
    throw InvalidInput(name, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > bytes.size() - offset) throw InvalidInput(name, "truncated .npy header");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  std::string descr;
  bool fortran = false;
  std::vector<Index> shape;
  HeaderParser(header, name).parse(descr, fortran, shape);

  if (descr.size() < 3) throw InvalidInput(name, "unsupported dtype '" + descr + "'");
  const char order = descr[0], code = descr[1];
  const std::string width = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=')
    throw InvalidInput(name, "unsupported dtype '" + descr + "'");
  // Complex: 'c8' is two float32, 'c16' two float64, read as real (re, im) pairs.
  const bool complex = code == 'c' && (width == "8" || width == "16");
  if (!complex && (width.size() != 1 || width[0] < '1' || width[0] > '8'))
    throw InvalidInput(name, "unsupported dtype '" + descr + "'");
  NpyHeader a;
  a.complex = complex;
  a.item_bytes = complex ? std::stoi(width) / 2 : width[0] - '0';
  a.big_endian = order == '>';
  a.fortran_order = fortran;
  switch (code) {
    case 'f': a.kind = NpyKind::floating; break;
    case 'c': a.kind = NpyKind::floating; break;
    case 'i': a.kind = NpyKind::signed_int; break;
    case 'u': a.kind = NpyKind::unsigned_int; break;
    case 'b': a.kind = NpyKind::boolean; break;
    default:
      throw InvalidInput(name, "unsupported dtype '" + descr + "' (expected float, complex, int or bool)");
  }
  const int w = a.item_bytes;
  const bool valid_width = (a.kind == NpyKind::floating) ? (w == 2 || w == 4 || w == 8)
                           : (a.kind == NpyKind::boolean) ? (w == 1)
                                                          : (w == 1 || w == 2 || w == 4 || w == 8);
  if (!valid_width) throw InvalidInput(name, "unsupported dtype '" + descr + "'");

  if (code == 'c' && !complex) throw InvalidInput(name, "unsupported dtype '" + descr + "'");
  // A complex array is read as its real view: one more axis of extent 2, (re, im), which is
  // also the order of the two numbers in the file; Fortran order reverses the other axes only.
  if (complex) shape.push_back(2);
  { const Shape checked(shape, name); }  // InvalidInput on a negative or overflowing count
  a.shape = shape;
  a.data_offset = offset + header_len;
  return a;
}

NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& name) {
  const NpyHeader h = parse_npy_header(bytes, name);
  NpyArray a;
  a.kind = h.kind;
  a.item_bytes = h.item_bytes;
  a.complex = h.complex;
  const bool big = h.big_endian, fortran = h.fortran_order, complex = h.complex;
  const int w = h.item_bytes;
  const std::string descr = h.dtype_name();
  const Shape s(h.shape, name);
  const std::size_t data_offset = h.data_offset;
  const std::uint64_t need = static_cast<std::uint64_t>(s.count()) * static_cast<std::uint64_t>(w);
  if (need > bytes.size() - data_offset)
    throw InvalidInput(name, "data truncated: shape " + s.str() + " of " + descr + " needs " +
                                 std::to_string(need) + " bytes, file has " +
                                 std::to_string(bytes.size() - data_offset));
  std::vector<double> values(static_cast<std::size_t>(s.count()));
  const std::uint8_t* p = bytes.data() + data_offset;
  for (std::size_t i = 0; i < values.size(); ++i, p += w) {
    const std::uint64_t raw = load_unsigned(p, w, big);
    double v = 0;
    switch (a.kind) {
      case NpyKind::floating:
        if (w == 2) v = half_to_double(static_cast<std::uint16_t>(raw));
        else if (w == 4) v = std::bit_cast<float>(static_cast<std::uint32_t>(raw));
        else v = std::bit_cast<double>(raw);
        break;
      case NpyKind::boolean:
        if (raw > 1) throw InvalidInput(name, "bool array holds a byte other than 0 or 1");
        v = static_cast<double>(raw);
        break;
      case NpyKind::unsigned_int:
        if (raw > (std::uint64_t{1} << 53))
          throw InvalidInput(name, "integer beyond 2^53 is not exactly a double");
        v = static_cast<double>(raw);
        break;
      case NpyKind::signed_int: {
        // Sign-extend from w bytes.
        const int shift = 64 - 8 * w;
        const std::int64_t sv = static_cast<std::int64_t>(raw << shift) >> shift;
        if (sv > (std::int64_t{1} << 53) || sv < -(std::int64_t{1} << 53))
          throw InvalidInput(name, "integer beyond 2^53 is not exactly a double");
        v = static_cast<double>(sv);
        break;
      }
    }
    values[i] = v;
  }
  if (fortran && s.rank() > (complex ? 2 : 1)) {
    // Fortran order: the first index varies fastest (a complex element's two numbers stay
    // adjacent, so its (re, im) axis is the fastest of all). Reorder into C order.
    std::vector<double> c(values.size());
    std::vector<Index> ext = s.extents();
    if (complex) {  // move the (re, im) axis first: it is the fastest-varying in the file
      ext.pop_back();
      ext.insert(ext.begin(), 2);
    }
    std::vector<Index> idx(ext.size(), 0);
    const std::size_t first = complex ? 1 : 0;  // the file's axes in C order start here
    for (std::size_t f = 0; f < values.size(); ++f) {
      Index flat_c = 0;
      for (std::size_t ax = first; ax < ext.size(); ++ax) flat_c = flat_c * ext[ax] + idx[ax];
      if (complex) flat_c = flat_c * 2 + idx[0];
      c[static_cast<std::size_t>(flat_c)] = values[f];
      for (std::size_t ax = 0; ax < ext.size(); ++ax) {
        if (++idx[ax] < ext[ax]) break;
        idx[ax] = 0;
      }
    }
    values.swap(c);
  }
  a.values = Tensor<double>(s, std::move(values), name);
  return a;
}

std::vector<std::uint8_t> serialize_npy(const Tensor<double>& t, bool as_float32) {
  std::string header = std::string("{'descr': '") + (as_float32 ? "<f4" : "<f8") +
                       "', 'fortran_order': False, 'shape': " + t.shape().str() + ", }";
  // Pad so that data starts on a 64-byte boundary, header ends with '\n' (numpy's convention).
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  const int w = as_float32 ? 4 : 8;
  const std::string preamble = std::string("\x93NUMPY\x01\x00", 8) +
                               static_cast<char>(header.size() & 0xff) +
                               static_cast<char>(header.size() >> 8) + header;
  std::vector<std::uint8_t> out;
  out.reserve(preamble.size() + static_cast<std::size_t>(t.count()) * static_cast<std::size_t>(w));
  out.assign(preamble.begin(), preamble.end());
  for (Index i = 0; i < t.count(); ++i) {
    const std::uint64_t raw = as_float32 ? std::bit_cast<std::uint32_t>(static_cast<float>(t[i]))
                                         : std::bit_cast<std::uint64_t>(t[i]);
    for (int k = 0; k < w; ++k) out.push_back(static_cast<std::uint8_t>(raw >> (8 * k)));
  }
  return out;
}

namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};

std::string bytes_text(std::uint64_t n) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llu bytes (%.3g GiB)", static_cast<unsigned long long>(n),
                static_cast<double>(n) / (1ull << 30));
  return buf;
}

NpyMap read_archive(zip_t* za, const std::string& name, std::uint64_t max_bytes,
                    const std::function<void(const NpyHeaders&)>& check_headers) {
  std::unique_ptr<zip_t, ZipCloser> guard(za);
  if (max_bytes == 0) max_bytes = memory_budget();
  struct Item {
    zip_uint64_t index;
    std::string entry, key;
    std::uint64_t size;
  };
  std::vector<Item> items;
  NpyHeaders headers;
  std::uint64_t decoded = 0, largest_raw = 0;
  const zip_int64_t n = zip_get_num_entries(za, 0);
  // Pass 1: the headers, and the memory the arrays will take.
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      throw InvalidInput(name, "unreadable entry " + std::to_string(i) + " in .npz");
    std::string entry = st.name;
    if (entry.size() < 4 || entry.substr(entry.size() - 4) != ".npy")
      throw InvalidInput(name, "entry '" + entry + "' is not a .npy array");
    const std::string key = entry.substr(0, entry.size() - 4);
    // Deflate expands at most ~1032:1, so a larger claim is corrupt.
    if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > st.comp_size * 1100 + 4096)
      throw InvalidInput(name, "entry '" + entry + "' claims " + std::to_string(st.size) +
                                   " bytes from " + std::to_string(st.comp_size) + " compressed");
    zip_file_t* f = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (!f) throw InvalidInput(name, "cannot open entry '" + entry + "': " + zip_strerror(za));
    constexpr std::uint64_t kHeaderPrefix = std::uint64_t{1} << 16;
    std::vector<std::uint8_t> prefix(static_cast<std::size_t>(std::min(st.size, kHeaderPrefix)));
    std::size_t have = 0;
    while (have < prefix.size()) {
      const zip_int64_t got = zip_fread(f, prefix.data() + have, prefix.size() - have);
      if (got <= 0) break;
      have += static_cast<std::size_t>(got);
    }
    zip_fclose(f);
    prefix.resize(have);
    const NpyHeader h = parse_npy_header(prefix, key);
    const std::uint64_t need = h.count() * static_cast<std::uint64_t>(h.item_bytes);
    if (st.size < h.data_offset || st.size - h.data_offset < need)
      throw InvalidInput(key, "data truncated: the header declares " + std::to_string(need) +
                                  " bytes of data, the archive entry holds " +
                                  std::to_string(st.size > h.data_offset ? st.size - h.data_offset : 0));
    decoded += 8 * h.count();
    largest_raw = std::max<std::uint64_t>(largest_raw, st.size);
    if (decoded + largest_raw > max_bytes)
      throw InvalidInput(name, "its arrays would take " + bytes_text(decoded + largest_raw) +
                                   " of memory as float64 (through '" + key + "'), more than the budget of " +
                                   bytes_text(max_bytes) + " (TOUCHSTONE_MAX_MEMORY)");
    headers[key] = h;
    items.push_back({static_cast<zip_uint64_t>(i), entry, key, st.size});
  }
  if (check_headers) check_headers(headers);
  // Pass 2: the data.
  NpyMap arrays;
  for (const Item& it : items) {
    zip_file_t* f = zip_fopen_index(za, it.index, 0);
    if (!f) throw InvalidInput(name, "cannot open entry '" + it.entry + "': " + zip_strerror(za));
    // Read in chunks: memory follows the bytes that really arrive, not the header's claim.
    std::vector<std::uint8_t> data;
    data.reserve(static_cast<std::size_t>(it.size));
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    for (;;) {
      const std::size_t have = data.size();
      if (have >= it.size) break;
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, it.size - have));
      data.resize(have + want);
      const zip_int64_t got = zip_fread(f, data.data() + have, want);
      if (got <= 0) {
        data.resize(have);
        break;
      }
      data.resize(have + static_cast<std::size_t>(got));
    }
    zip_fclose(f);
    if (data.size() != it.size)
      throw InvalidInput(name, "entry '" + it.entry + "' is corrupt or truncated");
    arrays[it.key] = parse_npy(data, it.key);
  }
  return arrays;
}

}  // namespace

std::uint64_t memory_budget() {
  if (const char* env = std::getenv("TOUCHSTONE_MAX_MEMORY")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end != env && *end == 0 && v > 0) return v;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2;
  return std::uint64_t{1} << 34;
}

NpyMap read_npz(const std::string& path, std::uint64_t max_bytes,
                const std::function<void(const NpyHeaders&)>& check_headers) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw InvalidInput(path, "cannot read as .npz: " + msg);
  }
  return read_archive(za, path, max_bytes, check_headers);
}

NpyMap read_npz_bytes(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::uint64_t max_bytes, const std::function<void(const NpyHeaders&)>& check_headers) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &ze);
  if (!src) {
    zip_error_fini(&ze);
    throw InvalidInput(name, "cannot read as .npz");
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &ze);
  if (!za) {
    zip_source_free(src);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw InvalidInput(name, "cannot read as .npz: " + msg);
  }
  zip_error_fini(&ze);
  return read_archive(za, name, max_bytes, check_headers);
}

void write_npz(const std::string& path, const std::map<std::string, Tensor<double>>& arrays,
               bool as_float32) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!za) throw InvalidInput(path, "cannot create .npz file");
  std::vector<std::vector<std::uint8_t>> buffers;  // must outlive zip_close
  buffers.reserve(arrays.size());
  for (const auto& [key, t] : arrays) {
    buffers.push_back(serialize_npy(t, as_float32));
    zip_source_t* src = zip_source_buffer(za, buffers.back().data(), buffers.back().size(), 0);
    if (!src || zip_file_add(za, (key + ".npy").c_str(), src, ZIP_FL_OVERWRITE) < 0) {
      if (src) zip_source_free(src);
      zip_discard(za);
      throw InvalidInput(path, "cannot add '" + key + "' to .npz");
    }
  }
  if (zip_close(za) != 0) {
    std::string msg = zip_strerror(za);
    zip_discard(za);
    throw InvalidInput(path, "cannot write .npz: " + msg);
  }
}

}  // namespace touchstone
