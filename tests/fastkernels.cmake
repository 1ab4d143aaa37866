# Fast kernels vs their reference kernels (tests/test-fastkernels.c), at
# every ISA level: as detected, and capped with NNKIT_ISA=avx2 / generic
# (a level the CPU lacks is reported as skipped by the test itself).
nk_add_test(test-fastkernels SOURCES ${NK_TEST_DIR}/test-fastkernels.c
  LABELS unit TIMEOUT 600)
foreach(isa avx2 generic)
  add_test(NAME test-fastkernels-${isa} COMMAND test-fastkernels)
  set_tests_properties(test-fastkernels-${isa} PROPERTIES LABELS unit
    TIMEOUT 600 ENVIRONMENT "NNKIT_ISA=${isa}")
endforeach()
