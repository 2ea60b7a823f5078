// [CORE-PRODUCT-SUMS] The sums of products that the order headers form as matrix products: for
// every row i < rows and column j in [first(i), cols) (or in the range first(i) returns), one reduction
//   acc = ar.acc(); for l = 0 .. inner - 1: ar.accumulate(acc, ar.mul(x(i, l), y(l, j)));
// delivered as out(i, j, ar.total(acc)), rows in order and each row's columns in order. The
// elements of z do not depend on one another, so a policy may compute them in another order: one
// that provides a member product_sums(rows, cols, inner, first, lead, x, y, out) is called instead (the
// tracked policies, bounds/tracked_products.hpp, which form a row's columns together in arrays, every
// element by the same operations as this loop). The backends' policies have none and run the loop.
#pragma once

#include <type_traits>

#include "touchstone/core/tensor.hpp"

namespace touchstone::shared_order {

// No leading term: the sums are of products only.
struct NoLead {};

// The columns of a row: `first(i)` returns the first column (the row runs to `cols`) or a range.
struct ColumnRange {
  Index begin, end;
};
inline ColumnRange column_range(Index first, Index) { return {first, -1}; }
inline ColumnRange column_range(ColumnRange r, Index) { return r; }
template <class First>
ColumnRange row_columns(const First& first, Index i, Index cols) {
  const ColumnRange r = column_range(first(i), cols);
  return {r.begin, r.end < 0 ? cols : r.end};
}

// The same, each sum starting with a term lead(i, j) accumulated before the products (a
// right-hand side the products are subtracted from, with x negated).
template <class Ar, class First, class Lead, class X, class Y, class Out>
void lead_and_product_sums(Ar& ar, Index rows, Index cols, Index inner, const First& first, const Lead& lead,
                           const X& x, const Y& y, Out&& out) {
  if constexpr (requires { ar.product_sums(rows, cols, inner, first, lead, x, y, out); }) {
    ar.product_sums(rows, cols, inner, first, lead, x, y, out);
  } else {
    for (Index i = 0; i < rows; ++i)
      for (Index j = row_columns(first, i, cols).begin, end = row_columns(first, i, cols).end; j < end; ++j) {
        auto acc = ar.acc();
        if constexpr (!std::is_same_v<Lead, NoLead>) ar.accumulate(acc, lead(i, j));
        for (Index l = 0; l < inner; ++l) ar.accumulate(acc, ar.mul(x(i, l), y(l, j)));
        out(i, j, ar.total(acc));
      }
  }
}

template <class Ar, class First, class X, class Y, class Out>
void product_sums(Ar& ar, Index rows, Index cols, Index inner, const First& first, const X& x, const Y& y,
                  Out&& out) {
  lead_and_product_sums(ar, rows, cols, inner, first, NoLead{}, x, y, out);
}

// Every column of every row.
inline constexpr auto kAllColumns = [](Index) -> Index { return 0; };

}  // namespace touchstone::shared_order
