#include "touchstone/core/slices.hpp"

#include <stdexcept>

#include "touchstone/core/errors.hpp"
#include "touchstone/core/input_check.hpp"
#include "touchstone/core/shape_spec.hpp"

namespace touchstone {
namespace {

NpyArray as_npy(const Tensor<double>& t) {
  NpyArray a;
  a.kind = NpyKind::floating;
  a.item_bytes = 8;
  a.values = t;
  return a;
}

// The alternative of `spec` an array of shape `extents` has (rank, complex view, and every
// single-name extent equal to the inferred dimension); nullptr when none.
const ShapeSpec* matching_alternative(const std::vector<ShapeSpec>& alts, const std::vector<Index>& extents,
                                      const std::map<std::string, Index>& dims) {
  NpyHeader h;
  h.shape = extents;
  for (const auto& alt : alts) {
    const auto e = input_check_detail::extents_for(alt, h);  // rank and complex view
    if (!e) continue;
    bool ok = true;
    for (std::size_t k = 0; k < e->size() && ok; ++k) {
      auto d = dims.find(alt.dims[k]);
      if (d != dims.end()) ok = d->second == (*e)[k];
      else if (is_integer_literal(alt.dims[k])) ok = std::stoll(alt.dims[k]) == (*e)[k];
    }
    if (ok) return &alt;
  }
  return nullptr;
}

// Position of each axis in the alternative (-1 where absent).
std::vector<int> positions(const ShapeSpec& alt, const std::vector<std::string>& axes) {
  std::vector<int> p;
  for (const auto& name : axes) {
    int at = -1;
    for (std::size_t k = 0; k < alt.dims.size(); ++k)
      if (alt.dims[k] == name) at = static_cast<int>(k);
    p.push_back(at);
  }
  return p;
}

// The elements of `t` whose index along axis positions[k] is at[k] (every k with positions >= 0),
// keeping those axes with extent 1.
Tensor<double> restrict(const Tensor<double>& t, const std::vector<int>& positions, const std::vector<Index>& at) {
  const auto& ext = t.shape().extents();
  std::vector<Index> sub = ext;
  for (std::size_t k = 0; k < positions.size(); ++k)
    if (positions[k] >= 0) sub[positions[k]] = 1;
  Tensor<double> out{Shape(sub)};
  std::vector<Index> idx(ext.size(), 0);
  for (Index j = 0; j < out.count(); ++j) {
    Index rem = j;
    for (std::size_t d = ext.size(); d-- > 0;) {
      idx[d] = rem % sub[d];
      rem /= sub[d];
    }
    for (std::size_t k = 0; k < positions.size(); ++k)
      if (positions[k] >= 0) idx[positions[k]] = at[k];
    Index flat = 0;
    for (std::size_t d = 0; d < ext.size(); ++d) flat = flat * ext[d] + idx[d];
    out[j] = t[flat];
  }
  return out;
}

}  // namespace

ProblemSlicer::ProblemSlicer(const Algorithm& a, const ProblemHandle& p) : a_(&a) {
  std::vector<std::string> axes = a.independent_axes();
  if (axes.empty()) return;
  inputs_ = p.inputs();
  // The dimensions from the arrays' shapes alone (no second copy of the values).
  NpyHeaders headers;
  for (const auto& [name, t] : inputs_) headers[name].shape = t.shape().extents();
  dims_ = check_inputs(a.name(), a.inputs(), a.options(), headers, {});
  // A problem may not allow every declared axis (grouped B and C cannot be cut by channel): the
  // axes are dropped from the last until a slice reads as a problem of its own.
  while (!axes.empty()) {
    axes_.clear();
    extents_.clear();
    input_axes_.clear();
    count_ = 1;
    for (const auto& name : axes) {
      auto d = dims_.find(name);
      if (d == dims_.end())
        throw std::logic_error(a.name() + ": independent axis '" + name + "' is not a dimension of its inputs");
      axes_.push_back(name);
      extents_.push_back(d->second);
      count_ *= d->second;
    }
    for (const auto& spec : a.inputs()) {
      auto it = inputs_.find(spec.name);
      if (it == inputs_.end()) continue;
      const std::vector<ShapeSpec> alts = parse_shapes(spec.shape);  // outlives `alt`
      const ShapeSpec* alt = matching_alternative(alts, it->second.shape().extents(), dims_);
      input_axes_[spec.name] = alt ? positions(*alt, axes_) : std::vector<int>(axes_.size(), -1);
    }
    try {
      slice(0);
      return;
    } catch (const InvalidInput&) {
      axes.pop_back();
    }
  }
  axes_.clear();
  extents_.clear();
  input_axes_.clear();
  count_ = 1;
}

std::vector<Index> ProblemSlicer::coordinates(Index s) const {
  std::vector<Index> c(axes_.size());
  for (std::size_t k = axes_.size(); k-- > 0;) {
    c[k] = s % extents_[k];
    s /= extents_[k];
  }
  return c;
}

std::unique_ptr<ProblemHandle> ProblemSlicer::slice(Index s) const {
  if (axes_.empty()) throw std::logic_error("ProblemSlicer::slice: the problem has no slices");
  const std::vector<Index> at = coordinates(s);
  NpyMap npy;
  for (const auto& [name, t] : inputs_) {
    auto pos = input_axes_.find(name);
    npy[name] = as_npy(pos == input_axes_.end() ? t : restrict(t, pos->second, at));
  }
  return a_->from_arrays(npy, {});
}

const std::vector<int>& ProblemSlicer::output_axes(const std::string& output, const Shape& shape) const {
  auto hit = output_axes_.find(output);
  if (hit != output_axes_.end()) return hit->second;
  const std::vector<ArraySpec> outputs = a_->outputs(), inputs = a_->inputs();  // by value
  const ArraySpec* spec = nullptr;
  for (const auto& o : outputs)
    if (o.name == output) spec = &o;
  if (!spec) throw InvalidInput(output, "not an output of " + a_->name());
  std::vector<ShapeSpec> alts = parse_shapes(spec->shape);
  if (alts.empty()) {  // "B's shape": the input's alternative
    const std::string ref = shape_reference(spec->shape);
    for (const auto& in : inputs)
      if (in.name == ref) alts = parse_shapes(in.shape);
  }
  const ShapeSpec* alt = matching_alternative(alts, shape.extents(), dims_);
  std::vector<int> p = alt ? positions(*alt, axes_) : std::vector<int>(axes_.size(), -1);
  for (std::size_t k = 0; k < p.size(); ++k)
    if (p[k] < 0)
      throw std::logic_error(a_->name() + ": output '" + output + "' of shape " + shape.str() +
                             " does not carry the independent axis '" + axes_[k] + "'");
  return output_axes_[output] = p;
}

ProblemSlicer::Place ProblemSlicer::locate(const std::string& output, const Shape& shape, Index i) const {
  if (axes_.empty()) return {0, i};
  const auto& p = output_axes(output, shape);
  const auto& ext = shape.extents();
  std::vector<Index> idx(ext.size());
  for (std::size_t d = ext.size(); d-- > 0;) {
    idx[d] = i % ext[d];
    i /= ext[d];
  }
  Index s = 0;
  for (std::size_t k = 0; k < axes_.size(); ++k) {
    s = s * extents_[k] + idx[p[k]];
    idx[p[k]] = 0;
  }
  Index local = 0;
  for (std::size_t d = 0; d < ext.size(); ++d) {
    bool sliced = false;
    for (int q : p) sliced = sliced || q == static_cast<int>(d);
    local = local * (sliced ? 1 : ext[d]) + idx[d];
  }
  return {s, local};
}

Index ProblemSlicer::global_index(const std::string& output, const Shape& shape, Index s, Index j) const {
  if (axes_.empty()) return j;
  const auto& p = output_axes(output, shape);
  const std::vector<Index> at = coordinates(s);
  const auto& ext = shape.extents();
  std::vector<Index> sub = ext;
  for (std::size_t k = 0; k < p.size(); ++k) sub[p[k]] = 1;
  std::vector<Index> idx(ext.size());
  for (std::size_t d = ext.size(); d-- > 0;) {
    idx[d] = j % sub[d];
    j /= sub[d];
  }
  for (std::size_t k = 0; k < p.size(); ++k) idx[p[k]] = at[k];
  Index flat = 0;
  for (std::size_t d = 0; d < ext.size(); ++d) flat = flat * ext[d] + idx[d];
  return flat;
}

}  // namespace touchstone
