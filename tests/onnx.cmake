# ONNX: tests/gen-onnx-cases.py writes models with the `onnx` package's
# helper API (every storage form, opset variants, external data, damaged
# and unsupported files) and numpy references; test-onnx reads them, and
# round-trips zoo graphs bit-exactly through .nnk -> .onnx -> .nnk.
set(nk_onnx_cases_dir ${CMAKE_CURRENT_BINARY_DIR}/onnx-cases)
nk_add_script_test(onnx-gen
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/gen-onnx-cases.py ${nk_onnx_cases_dir}
  LABELS unit TIMEOUT 300)
set_tests_properties(onnx-gen PROPERTIES FIXTURES_SETUP onnx-data)

nk_add_test(test-onnx SOURCES ${NK_TEST_DIR}/test-onnx.c LABELS unit
            TIMEOUT 600)
target_compile_definitions(test-onnx PRIVATE
  NK_ONNX_CASES="${nk_onnx_cases_dir}")
set_tests_properties(test-onnx PROPERTIES FIXTURES_REQUIRED onnx-data)
