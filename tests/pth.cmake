# PyTorch checkpoints: tests/gen-pth-cases.py writes real torch.save files
# (and damaged / malicious ones) into the build tree; test-pth loads them
# into a hand-built graph and compares values with torch's bit-exactly.
set(nk_pth_cases_dir ${CMAKE_CURRENT_BINARY_DIR}/pth-cases)
nk_add_script_test(pth-gen
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/gen-pth-cases.py ${nk_pth_cases_dir}
  LABELS unit TIMEOUT 300)
set_tests_properties(pth-gen PROPERTIES FIXTURES_SETUP pth-data)

nk_add_test(test-pth SOURCES ${NK_TEST_DIR}/test-pth.c LABELS unit
  TIMEOUT 300)
target_compile_definitions(test-pth PRIVATE
  NK_PTH_CASES="${nk_pth_cases_dir}")
set_tests_properties(test-pth PROPERTIES FIXTURES_REQUIRED pth-data)
