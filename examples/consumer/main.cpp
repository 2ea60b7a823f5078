// Judges two answers to one selective-scan problem as `touchstone diff` would: the oracle rounded
// to float32 (must PASS) and the same answer with one element 0.1% off (must FAIL). Prints both
// reports; exits 0 only when both verdicts are the expected ones.
#include <cstdio>

#include "builtin.hpp"                     // touchstone::builtin_registry()
#include "touchstone/core/report.hpp"      // diff_text
#include "touchstone/core/verdict.hpp"     // run_diff, DiffRequest

int main() {
  using namespace touchstone;
  const Algorithm& scan = builtin_registry().get("mamba.selective_scan");
  const auto problem = scan.generate("tiny", Format::float32, 1);

  Arrays answer;
  for (const auto& [name, exact] : scan.reference(*problem, 256)) {
    Tensor<double> t(exact.shape());
    for (Index i = 0; i < t.count(); ++i) t[i] = round_to_format(to_double(exact[i]), Format::float32);
    answer[name] = std::move(t);
  }
  DiffRequest request;
  request.format = Format::float32;
  const DiffReport right = run_diff(scan, *problem, answer, request);
  std::fputs(diff_text(right).c_str(), stdout);

  answer["out"][0] = round_to_format(answer["out"][0] * 1.001, Format::float32);
  const DiffReport wrong = run_diff(scan, *problem, answer, request);
  std::fputs(diff_text(wrong).c_str(), stdout);

  const bool ok = right.verdict == Verdict::pass && wrong.verdict == Verdict::fail;
  std::printf("consumer: %s\n", ok ? "right answer PASS, wrong answer FAIL" : "UNEXPECTED VERDICTS");
  return ok ? 0 : 1;
}
