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
# Weights over 2 GB: written as external data and read back (heavy).
add_test(NAME test-onnx-2gb COMMAND test-onnx t_external_2gb)
set_tests_properties(test-onnx-2gb PROPERTIES LABELS model TIMEOUT 900
  ENVIRONMENT "NNKIT_TEST_BIG=1;NNKIT_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp")

# The nnkit command on ONNX files: convert (--verify, --opset, --arch for
# .pth) for every pair of .nnk/.onnx, info and run, onnx.checker on what it
# writes, errors that leave no file behind.
nk_add_script_test(test-onnx-cli
  COMMAND sh ${NK_TEST_DIR}/test-onnx-cli.sh LABELS unit TIMEOUT 600)

# Exporter parity: torch.onnx.export at opsets 11/13/17, dynamic batch,
# run by nnkit at batch 1 and 8 against torch's logits.
nk_add_script_test(onnx-exporter-parity
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/parity/export_onnx.py
          $<TARGET_FILE:nnkit> ${CMAKE_CURRENT_BINARY_DIR}/tmp/onnx-exporter
  LABELS model TIMEOUT 3600)

# Writer parity: .pth -> zoo create -> convert -> onnx.checker -> ONNX
# Runtime (npm onnxruntime-node, installed into the build tree by the
# fixture below) against PyTorch's logits.
set(nk_npm_dir ${CMAKE_BINARY_DIR}/npm)
nk_add_script_test(onnx-ort-setup
  COMMAND sh -c "mkdir -p '${nk_npm_dir}' && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefix '${nk_npm_dir}' onnxruntime-node@1.30.0"
  LABELS interop TIMEOUT 900)
set_tests_properties(onnx-ort-setup PROPERTIES FIXTURES_SETUP onnx-ort)
nk_add_script_test(onnx-writer-parity
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/parity/writer_onnx.py
          $<TARGET_FILE:nnkit> ${CMAKE_CURRENT_BINARY_DIR}/tmp/onnx-writer
          ${nk_npm_dir} ${NK_TEST_DIR}/onnx-ort-run.mjs
  LABELS interop TIMEOUT 1800)
set_tests_properties(onnx-writer-parity PROPERTIES FIXTURES_REQUIRED onnx-ort)
