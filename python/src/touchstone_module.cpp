// touchstone._touchstone: the C++ core seen from Python (spec/core.md [CORE-PYTHON-API]). The
// package (python/touchstone/__init__.py) turns numpy / torch / JAX arrays into the
// (kind, item bytes, complex, float64 values) that a .npy file gives, so that inputs are checked
// by the same Algorithm::from_arrays as `touchstone diff`'s, and renders reports; everything
// judged here is core's run_diff, and the text is core's diff_text.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "builtin.hpp"
#include "touchstone/core/errors.hpp"
#include "touchstone/core/report.hpp"
#include "touchstone/core/verdict.hpp"

namespace py = pybind11;
using namespace touchstone;

namespace {

using Values = py::array_t<double, py::array::c_style | py::array::forcecast>;

// One array as the package hands it over: its dtype described as a .npy header would, and its
// values converted exactly to float64 (complex ones with a trailing (re, im) axis).
NpyArray to_npy(const std::string& name, const py::tuple& t) {
  if (t.size() != 4) throw std::logic_error("to_npy: expected (kind, item_bytes, complex, values)");
  const auto kind = t[0].cast<std::string>();
  NpyArray a;
  a.kind = kind == "f" ? NpyKind::floating
           : kind == "i" ? NpyKind::signed_int
           : kind == "u" ? NpyKind::unsigned_int
           : kind == "b" ? NpyKind::boolean
                         : throw InvalidInput(name, "unsupported dtype kind '" + kind + "'");
  a.item_bytes = t[1].cast<int>();
  a.complex = t[2].cast<bool>();
  const Values v = t[3].cast<Values>();
  std::vector<Index> extents(v.shape(), v.shape() + v.ndim());
  a.values = Tensor<double>(Shape(extents, name), std::vector<double>(v.data(), v.data() + v.size()),
                            name);
  return a;
}

NpyMap to_npy_map(const py::dict& arrays) {
  NpyMap m;
  for (const auto& [k, v] : arrays) {
    const auto name = k.cast<std::string>();
    m[name] = to_npy(name, v.cast<py::tuple>());
  }
  return m;
}

OptionMap to_options(const py::dict& options) {
  OptionMap m;
  for (const auto& [k, v] : options) m[k.cast<std::string>()] = py::str(v).cast<std::string>();
  return m;
}

py::array_t<double> to_numpy(const Tensor<double>& t) {
  std::vector<py::ssize_t> shape(t.shape().extents().begin(), t.shape().extents().end());
  py::array_t<double> a(shape);
  std::copy(t.data(), t.data() + t.count(), a.mutable_data());
  return a;
}

py::dict to_numpy_map(const Arrays& arrays) {
  py::dict d;
  for (const auto& [name, t] : arrays) d[py::str(name)] = to_numpy(t);
  return d;
}

py::tuple index_tuple(const Shape& shape, Index flat) {
  if (flat < 0) return py::tuple();
  const auto& e = shape.extents();
  py::tuple t(e.size());
  for (std::size_t i = e.size(); i-- > 0;) {
    t[i] = py::int_(flat % e[i]);
    flat /= e[i];
  }
  return t;
}

py::dict summary_dict(const ErrorSummary& s, const Shape& shape) {
  py::dict d;
  d["verdict"] = verdict_name(s.verdict());
  d["count"] = s.count;
  d["within"] = s.within;
  d["outside"] = s.outside;
  d["unjudged"] = s.unjudged;
  d["nan_expected"] = s.nan_expected;
  d["max_abs"] = s.max_abs;
  d["max_rel"] = s.max_rel;
  d["max_ulps"] = s.max_ulps;
  d["max_err_over_bound"] = s.max_ratio;
  d["median_err_over_bound"] = s.median_ratio;
  d["worst_index"] = s.worst >= 0 ? py::object(index_tuple(shape, s.worst)) : py::none();
  d["worst_theirs"] = s.worst >= 0 ? py::object(py::float_(s.worst_computed)) : py::none();
  d["worst_exact"] = s.worst >= 0 ? py::object(py::float_(s.worst_exact)) : py::none();
  d["worst_bound"] = s.worst >= 0 ? py::object(py::float_(s.worst_bound)) : py::none();
  d["first_unjudged_index"] =
      s.first_unjudged >= 0 ? py::object(index_tuple(shape, s.first_unjudged)) : py::none();
  py::list failures;
  for (const auto& f : s.first_failures)
    failures.append(py::make_tuple(index_tuple(shape, f.index), f.computed, f.exact, f.bound));
  d["first_failures"] = failures;
  d["shape"] = py::tuple(py::cast(shape.extents()));
  return d;
}

// The one adapter between core's DiffReport and the package's Report: fields the lead adds to
// DiffReport are added here (and appear in "json" without any change).
py::dict report_dict(const DiffReport& r) {
  py::dict d;
  d["algorithm"] = r.algorithm;
  d["problem"] = r.problem;
  d["format"] = std::string(format_name(r.format));
  d["compute"] = std::string(format_name(r.compute));
  d["elementary_ulps"] = r.elementary_ulps;
  d["precision"] = r.precision;
  d["order_assumed"] = r.order_assumed;
  d["verdict"] = verdict_name(r.verdict);
  d["exit_code"] = exit_code(r.verdict);
  d["suspect"] = r.suspect();  // [CORE-DIFF-SUSPECT]; the per-output statistics are in "json"
  d["notes"] = r.notes;
  d["baseline_backend"] = r.baseline_backend;
  d["baseline_note"] = r.baseline_note;
  py::dict outputs;
  for (const auto& j : r.outputs) {
    py::dict o = summary_dict(j.summary, j.shape);
    o["baseline"] = py::none();
    for (const auto& b : r.baseline)
      if (b.output == j.output) o["baseline"] = summary_dict(b.summary, b.shape);
    outputs[py::str(j.output)] = o;
  }
  d["outputs"] = outputs;
  d["text"] = diff_text(r);
  d["json"] = diff_json(r).dump(2);
  return d;
}

DiffRequest diff_request(double elementary_ulps, unsigned precision, const std::string& oracle) {
  DiffRequest q;
  q.elementary_ulps = elementary_ulps;
  q.precision = precision;
  if (oracle == "fast") q.oracle = OracleTier::fast;
  else if (oracle == "mpfr") q.oracle = OracleTier::mpfr;
  else if (!oracle.empty()) throw InvalidInput("oracle", "expected fast or mpfr, got '" + oracle + "'");
  return q;
}

py::list algorithm_list() {
  py::list out;
  for (const Algorithm* a : builtin_registry().all()) {
    py::dict d;
    d["name"] = a->name();
    d["summary"] = a->summary();
    d["spec_ref"] = a->spec_ref();
    auto arrays = [](const std::vector<ArraySpec>& specs) {
      py::list l;
      for (const auto& s : specs) {
        py::dict e;
        e["name"] = s.name;
        e["shape"] = s.shape;
        e["meaning"] = s.meaning;
        e["optional"] = s.optional;
        l.append(e);
      }
      return l;
    };
    d["inputs"] = arrays(a->inputs());
    d["outputs"] = arrays(a->outputs());
    py::list options;
    for (const auto& o : a->options()) {
      py::dict e;
      e["name"] = o.name;
      e["meaning"] = o.meaning;
      e["default"] = o.default_value;
      options.append(e);
    }
    d["options"] = options;
    d["sizes"] = a->sizes();
    py::list backends;
    for (const auto& b : a->backends()) backends.append(b.name);
    d["backends"] = backends;
    out.append(d);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_touchstone, m) {
  m.doc() = "touchstone's C++ core (use the touchstone package, not this module)";
  auto invalid = py::register_exception<InvalidInput>(m, "InvalidInput", PyExc_ValueError);
  (void)invalid;

  m.def("algorithms", &algorithm_list);
  m.def("generate", [](const std::string& algorithm, const std::string& size,
                       const std::string& format, std::uint64_t seed) {
    const Format f = parse_format(format);
    if (f != Format::float32 && f != Format::float64)
      throw InvalidInput("format", "default problems are generated in float32 or float64");
    const auto problem = builtin_registry().get(algorithm).generate(size, f, seed);
    return py::make_tuple(to_numpy_map(problem->inputs()), problem->describe());
  });
  m.def("eval", [](const std::string& algorithm, const py::dict& inputs, const py::dict& options,
                   unsigned precision) {
    const Algorithm& a = builtin_registry().get(algorithm);
    const NpyMap arrays = to_npy_map(inputs);
    const OptionMap opts = to_options(options);
    Arrays out;
    {
      py::gil_scoped_release release;
      const auto problem = a.from_arrays(arrays, opts);
      for (const auto& [name, t] : a.reference(*problem, precision)) {
        Tensor<double> d(t.shape());
        for (Index i = 0; i < t.count(); ++i) d[i] = to_double(t[i]);
        out[name] = std::move(d);
      }
    }
    return to_numpy_map(out);
  });
  m.def("diff", [](const std::string& algorithm, const py::dict& inputs, const py::dict& outputs,
                   const std::string& format, const py::dict& options, double elementary_ulps,
                   unsigned precision, const std::string& oracle) {
    const Algorithm& a = builtin_registry().get(algorithm);
    const NpyMap in = to_npy_map(inputs);
    const NpyMap out = to_npy_map(outputs);
    const OptionMap opts = to_options(options);
    DiffRequest q = diff_request(elementary_ulps, precision, oracle);
    DiffReport r;
    {
      py::gil_scoped_release release;
      const auto problem = a.from_arrays(in, opts);
      const TheirOutputs theirs = their_outputs(out);
      try {
        set_formats(q, format, theirs);  // "" or "bfloat16" or "out=bfloat16,..." ([CORE-DIFF-FORMATS])
      } catch (const InvalidInput& e) {  // the keyword argument is `format`, not the CLI's flag
        if (e.argument() != "--format") throw;
        throw InvalidInput("format", std::string(e.what()).substr(e.argument().size() + 2));
      }
      r = run_diff(a, *problem, theirs.arrays, q);
    }
    return report_dict(r);
  });
  m.attr("ORACLE_TIERS") = py::make_tuple("fast", "mpfr");
}
