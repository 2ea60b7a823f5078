// Dense row-major tensors with validated shapes (spec/core.md [CORE-TENSOR]).
//
// Extents are 64-bit. Every shape is checked when a tensor is made: extents are non-negative and
// the element count fits in kMaxElements, so no flat index computed from in-range coordinates can
// overflow int64 (the peer's 32-bit index overflows are the failure this prevents).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "touchstone/core/errors.hpp"

namespace touchstone {

using Index = std::int64_t;

// 2^48 elements: far beyond any memory, and small enough that a flat index times an element
// size of up to 2^14 bytes still fits in int64.
inline constexpr Index kMaxElements = Index{1} << 48;

// Product of extents, or InvalidInput naming `argument` when an extent is negative or the product
// exceeds kMaxElements. Never overflows: each step checks against the limit before multiplying.
Index checked_element_count(const std::vector<Index>& extents, const std::string& argument);

std::string shape_string(const std::vector<Index>& extents);

class Shape;
// Coordinates of a flat row-major index, "(b, d, t)".
std::string index_string(const Shape& shape, Index flat);

class Shape {
 public:
  Shape() = default;  // a 0-d scalar: one element
  Shape(std::initializer_list<Index> extents) : Shape(std::vector<Index>(extents)) {}
  explicit Shape(std::vector<Index> extents, const std::string& argument = "shape")
      : extents_(std::move(extents)), count_(checked_element_count(extents_, argument)) {}

  Index rank() const { return static_cast<Index>(extents_.size()); }
  Index operator[](Index axis) const { return extents_.at(static_cast<std::size_t>(axis)); }
  Index count() const { return count_; }
  const std::vector<Index>& extents() const { return extents_; }
  std::string str() const { return shape_string(extents_); }
  friend bool operator==(const Shape& a, const Shape& b) { return a.extents_ == b.extents_; }

 private:
  std::vector<Index> extents_;
  Index count_ = 1;
};

template <class T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;
  explicit Tensor(Shape shape, const T& fill = T{})
      : shape_(std::move(shape)), data_(static_cast<std::size_t>(shape_.count()), fill) {}
  Tensor(Shape shape, std::vector<T> data, const std::string& argument = "tensor")
      : shape_(std::move(shape)), data_(std::move(data)) {
    if (static_cast<Index>(data_.size()) != shape_.count())
      throw InvalidInput(argument, "shape " + shape_.str() + " needs " +
                                       std::to_string(shape_.count()) + " values, got " +
                                       std::to_string(data_.size()));
  }

  const Shape& shape() const { return shape_; }
  Index rank() const { return shape_.rank(); }
  Index extent(Index axis) const { return shape_[axis]; }
  Index count() const { return shape_.count(); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  std::vector<T>& values() { return data_; }
  const std::vector<T>& values() const { return data_; }

  T& operator[](Index flat) { return data_[static_cast<std::size_t>(flat)]; }
  const T& operator[](Index flat) const { return data_[static_cast<std::size_t>(flat)]; }

  // Row-major element access; the number of coordinates must equal the rank.
  template <class... I>
  T& operator()(I... coords) { return data_[static_cast<std::size_t>(offset(coords...))]; }
  template <class... I>
  const T& operator()(I... coords) const {
    return data_[static_cast<std::size_t>(offset(coords...))];
  }

  template <class... I>
  Index offset(I... coords) const {
    // A wrong coordinate count would read past the extents: a programming error, caught always.
    if (static_cast<Index>(sizeof...(I)) != rank())
      throw std::logic_error("tensor of rank " + std::to_string(rank()) + " indexed with " +
                             std::to_string(sizeof...(I)) + " coordinates");
    const Index c[] = {static_cast<Index>(coords)...};
    Index flat = 0;
    for (std::size_t axis = 0; axis < sizeof...(I); ++axis)
      flat = flat * shape_.extents()[axis] + c[axis];
    return flat;
  }

  // The same values with another shape of the same element count.
  Tensor reshaped(Shape shape, const std::string& argument = "tensor") const& {
    return Tensor(std::move(shape), data_, argument);
  }

  // Element-wise conversion (exact when U holds every value of T, e.g. float -> double -> MPFR).
  template <class U>
  Tensor<U> cast() const {
    std::vector<U> out;
    out.reserve(data_.size());
    for (const T& v : data_) out.push_back(static_cast<U>(v));
    return Tensor<U>(shape_, std::move(out));
  }

 private:
  Shape shape_;
  std::vector<T> data_;
};

}  // namespace touchstone
