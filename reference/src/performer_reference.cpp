// The one translation unit that instantiates the Performer oracles (reference/performer.hpp).
#include "touchstone/reference/performer.hpp"

#include "touchstone/core/errors.hpp"

namespace touchstone::performer {

Guard parse_guard(const std::string& word) {
  if (word == "none") return Guard::none;
  if (word == "gr") return Guard::gr;
  if (word == "lr") return Guard::lr;
  throw InvalidInput("guard", "expected none, gr or lr, got '" + word + "'");
}

std::string guard_name(Guard g) {
  switch (g) {
    case Guard::none: return "none";
    case Guard::gr: return "gr";
    case Guard::lr: return "lr";
  }
  return "none";
}

const std::vector<std::string>& kernel_names() {
  static const std::vector<std::string> names{"relu", "elu1", "abs", "sqr", "exp", "identity"};
  return names;
}

Kernel parse_kernel(const std::string& word) {
  const auto& names = kernel_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (word == names[i]) return static_cast<Kernel>(i);
  throw InvalidInput("kernel", "expected relu, elu1, abs, sqr, exp or identity, got '" + word + "'");
}

namespace reference {
template Tensor<mp_real> softmax_attention<mp_real>(const AttentionProblem<double>&);
template Tensor<double> softmax_attention<double>(const AttentionProblem<double>&);
template AttentionGrads<mp_real> softmax_attention_vjp<mp_real>(const AttentionBackwardProblem<double>&);
template AttentionGrads<double> softmax_attention_vjp<double>(const AttentionBackwardProblem<double>&);
template Tensor<mp_real> favor_plus_features<mp_real>(const FeatureProblem<double>&);
template Tensor<double> favor_plus_features<double>(const FeatureProblem<double>&);
template Tensor<mp_real> favor_plus_features_vjp<mp_real>(const FeatureBackwardProblem<double>&);
template Tensor<double> favor_plus_features_vjp<double>(const FeatureBackwardProblem<double>&);
template Tensor<mp_real> generalized_features<mp_real>(const GeneralizedFeatureProblem<double>&);
template Tensor<double> generalized_features<double>(const GeneralizedFeatureProblem<double>&);
template Tensor<mp_real> generalized_features_vjp<mp_real>(const GeneralizedFeatureBackwardProblem<double>&);
template Tensor<double> generalized_features_vjp<double>(const GeneralizedFeatureBackwardProblem<double>&);
template Tensor<mp_real> linear_attention<mp_real>(const LinearProblem<double>&);
template Tensor<double> linear_attention<double>(const LinearProblem<double>&);
template AttentionGrads<mp_real> linear_attention_vjp<mp_real>(const LinearBackwardProblem<double>&);
template AttentionGrads<double> linear_attention_vjp<double>(const LinearBackwardProblem<double>&);
}  // namespace reference

}  // namespace touchstone::performer
