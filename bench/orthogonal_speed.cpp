// [ORTH-SPEED-ACCURACY] Issue 11's speed/accuracy table (spec/orthogonal.md): CWY, sequential
// Householder, the Cayley map and exp forming Q at the same n, cpu-f32 and cpu-f64, one thread:
//   ./build/bench/orthogonal_speed [--repeats R] [--oracle-max N] [--bits B] [--skip MAP@N] N [N ...]
// One table row per (n, map, format): median (and min) wall seconds over R runs, max|Q^T Q - I|, and
// max|Q - Q_exact| against the MPFR oracle at B bits (default 128) for n <= N (default 256), with the
// oracle's self-check (its distance to the oracle at B + 64 bits) and time printed before each n.
// --skip exp@1024 leaves a row out (the cpu exponential's unblocked loops took 471 s at n = 1024 in
// float32 for [ORTH-ORTH-TABLE]). Inputs and measures: bench/orthogonal_speed.hpp.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "orthogonal_speed.hpp"

using namespace touchstone;
using namespace touchstone::orthogonal;

int main(int argc, char** argv) {
  int repeats = 3;
  Index oracle_max = 256;
  unsigned bits = 128;
  std::set<std::string> skip;
  std::vector<Index> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--oracle-max") && i + 1 < argc) oracle_max = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--bits") && i + 1 < argc) bits = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--skip") && i + 1 < argc) skip.insert(argv[++i]);
    else if (std::atoll(argv[i]) > 0) sizes.push_back(std::atoll(argv[i]));
    else {
      std::fprintf(stderr, "usage: %s [--repeats R] [--oracle-max N] [--bits B] [--skip MAP@N] N [N ...]\n", argv[0]);
      return 2;
    }
  }
  if (repeats < 1 || sizes.empty()) {
    std::fprintf(stderr, "need R >= 1 and at least one N\n");
    return 2;
  }
  setenv("TOUCHSTONE_THREADS", "1", 1);
  std::vector<speed_table::Row> rows;
  for (const Index n : sizes) {
    const speed_table::Inputs in = speed_table::make_inputs(n);
    std::map<std::string, speed_table::Oracle> oracles;
    if (n <= oracle_max) {
      for (const char* map : {"cwy", "cayley", "exp"}) {
        if (skip.count(std::string(map) + "@" + std::to_string(n))) continue;
        oracles[map] = speed_table::oracle(map, in, bits);
        std::printf("oracle n=%lld %s: %u bits, %.1f s (both precisions), max |Q_%u - Q_%u| = %.2g\n",
                    static_cast<long long>(n), map, bits, oracles[map].seconds, bits, bits + 64, oracles[map].gap);
        std::fflush(stdout);
      }
    }
    for (const char* map : speed_table::kMaps) {
      if (skip.count(std::string(map) + "@" + std::to_string(n))) continue;
      const std::string key = std::string(map) == "householder" ? "cwy" : map;
      const Tensor<mp_real>* e = oracles.count(key) ? &oracles.at(key).q : nullptr;
      rows.push_back(speed_table::run<float>(n, map, in, repeats, e));
      rows.push_back(speed_table::run<double>(n, map, in, repeats, e));
      for (std::size_t k = rows.size() - 2; k < rows.size(); ++k) {
        const auto& r = rows[k];
        std::fprintf(stderr, "n=%lld %s %s: %.4f s%s\n", static_cast<long long>(r.n), r.map.c_str(), r.format.c_str(),
                     r.median_s, speed_table::row_ok(r) ? "" : " (NOT FINITE)");
      }
    }
  }
  std::printf("\n| n | map | format | median s (min, of R) | max abs Q^T Q - I | max abs Q - Q_exact |\n");
  std::printf("|---|---|---|---|---|---|\n");
  bool ok = true;
  for (const auto& r : rows) {
    char err[32] = "-";
    if (r.error) std::snprintf(err, sizeof err, "%.2e", *r.error);
    std::printf("| %lld | %s | %s | %.4g (%.4g, %d) | %.2e | %s |\n", static_cast<long long>(r.n), r.map.c_str(),
                r.format.c_str(), r.median_s, r.min_s, r.repeats, r.defect, err);
    ok = ok && speed_table::row_ok(r);
  }
  return ok ? 0 : 1;
}
