// Typed errors shared by every face of touchstone (spec/core.md [CORE-ERRORS]).
#pragma once

#include <stdexcept>
#include <string>

namespace touchstone {

// Invalid problem, file, array or option. The message always starts with the name of the
// offending argument ("u: expected shape (batch, dim, seqlen) ..."), so a user can fix it without
// reading code. Thrown before anything is computed.
class InvalidInput : public std::invalid_argument {
 public:
  InvalidInput(std::string argument, const std::string& problem)
      : std::invalid_argument(argument + ": " + problem), argument_(std::move(argument)) {}
  const std::string& argument() const noexcept { return argument_; }

 private:
  std::string argument_;
};

// A backend that exists but cannot run on this machine (no GPU, built without CUDA). Tests turn
// it into a skip that states the reason.
class BackendUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace touchstone
