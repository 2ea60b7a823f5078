# S4D and DSS kernels (spec/s4d.md, spec/dss.md).
touchstone_test(s4d_unit_tests unit s4d/s4d_test.cpp)
touchstone_test(dss_unit_tests unit dss/dss_test.cpp)
