// libFuzzer harness for the .npy and .npz readers: any bytes either parse into arrays whose
// shapes and value counts agree, or throw InvalidInput; never a crash, a leak, an unbounded
// allocation or another exception. The first byte picks .npy or .npz parsing.
// covers: CORE-NPY
#include <cstdlib>
#include <span>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/npy.hpp"

using namespace touchstone;

namespace {
void check(const NpyArray& a) {
  if (static_cast<Index>(a.values.values().size()) != a.values.shape().count()) std::abort();
  // Whatever was read must serialize and read back identically.
  const NpyArray back = parse_npy(serialize_npy(a.values), "roundtrip");
  if (back.values.shape().extents() != a.values.shape().extents()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  try {
    if (data[0] & 1) {
      check(parse_npy(bytes, "fuzz.npy"));
    } else {
      // 32 MiB of decompressed data per input: a deflate bomb is rejected, not allocated.
      for (const auto& [name, a] : read_npz_bytes(bytes, "fuzz.npz", std::uint64_t{32} << 20)) check(a);
    }
  } catch (const InvalidInput&) {
  }
  return 0;
}
