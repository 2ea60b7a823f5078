#include "touchstone/core/tensor.hpp"

namespace touchstone {

Index checked_element_count(const std::vector<Index>& extents, const std::string& argument) {
  Index count = 1;
  for (Index e : extents) {
    if (e < 0) throw InvalidInput(argument, "negative extent in shape " + shape_string(extents));
    if (e != 0 && count > kMaxElements / e)
      throw InvalidInput(argument, "shape " + shape_string(extents) + " has more than 2^48 elements");
    count *= e;
  }
  return count;
}

std::string shape_string(const std::vector<Index>& extents) {
  std::string s = "(";
  for (std::size_t i = 0; i < extents.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(extents[i]);
  }
  if (extents.size() == 1) s += ",";
  return s + ")";
}

std::string index_string(const Shape& shape, Index flat) {
  std::vector<Index> coords(static_cast<std::size_t>(shape.rank()));
  for (Index axis = shape.rank() - 1; axis >= 0; --axis) {
    const Index e = shape[axis];
    coords[static_cast<std::size_t>(axis)] = e ? flat % e : 0;
    flat = e ? flat / e : 0;
  }
  std::string s = "(";
  for (std::size_t i = 0; i < coords.size(); ++i) s += (i ? ", " : "") + std::to_string(coords[i]);
  return s + ")";
}

}  // namespace touchstone
