// The random features of the Performer family drawn from named Philox streams (spec/performer.md
// [PERF-RF-IID], [PERF-RF-ORTHO]): the projection matrices W (nb_features, dim) whose rows are the
// w_j of the feature maps, as google-research's GaussianUnstructuredRandomMatrix and
// GaussianOrthogonalRandomMatrix build them. A draw is a pure function of (seed, stream, m, d,
// kind, scaling); the statistics tests and the error-versus-m table use it, and a user can build
// the same matrix to judge features made from it.
#pragma once

#include <cstdint>
#include <string>

#include "touchstone/core/tensor.hpp"

namespace touchstone::performer {

enum class ProjectionKind { iid, orthogonal };

// scaling = 0: the rows' norms as drawn (iid), or chi(d) norms of fresh Gaussian vectors
// (orthogonal), so that every row is marginally N(0, I_d); scaling = 1: every row rescaled to norm
// sqrt(d) (the paper's SMREG, D = Unif(sqrt(d) S^(d-1))). InvalidInput names m ("nb_features"),
// d ("dim") or "scaling" when out of range.
Tensor<double> random_projection(Index nb_features, Index dim, std::uint64_t seed, const std::string& stream,
                                 ProjectionKind kind, int scaling);

}  // namespace touchstone::performer
