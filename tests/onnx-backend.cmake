# onnx-backend.cmake — the ONNX backend node tests from Debian's
# libonnx-testdata, run through nnkit's ONNX reader and engine with the
# reference and the default kernels (tests/test-onnx-backend.c). Skipped
# (exit 77) when the package is not installed.
nk_add_test(test-onnx-backend
  SOURCES ${NK_TEST_DIR}/test-onnx-backend.c
  LABELS interop
  ARGS /usr/share/libonnx-testdata/data/node
  TIMEOUT 600)
set_tests_properties(test-onnx-backend PROPERTIES SKIP_RETURN_CODE 77)

# The glue torch.onnx.export writes (opsets 11, 13, 17, dynamic batch),
# run by `nnkit run` at batch 1 and 3 against PyTorch.
nk_add_script_test(onnx-glue-export
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/onnx_glue_export.py
  LABELS interop
  TIMEOUT 600)
