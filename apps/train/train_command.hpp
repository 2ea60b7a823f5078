// `touchstone train` and `touchstone probe-delta` (README "Training on the synthetic tasks";
// spec/mamba_train.md).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace touchstone::cli {

// Adds the subcommands to `app`. The returned function runs the one that was parsed and returns
// its exit status, or -1 when neither was.
std::function<int()> add_train_commands(CLI::App& app);

}  // namespace touchstone::cli
