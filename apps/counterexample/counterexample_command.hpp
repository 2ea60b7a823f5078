// `touchstone fom-counterexample` (spec/bilevel.md [BILEVEL-COUNTEREXAMPLE]).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace touchstone::cli {

// Adds the subcommand to `app`. The returned function runs it if it was parsed and returns its
// exit status, or -1 when it was not.
std::function<int()> add_counterexample_command(CLI::App& app);

}  // namespace touchstone::cli
