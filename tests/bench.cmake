# The benchmark script in CI (short mode: mobilenet_v3_small, batch 1, one
# thread, two runs) so it cannot rot: it asserts that nnkit and ONNX Runtime
# both ran and agreed on the outputs, never a timing. onnxruntime-node is
# installed from npm into the build tree by the bench-ort fixture.
set(NK_BENCH_NPM ${CMAKE_CURRENT_BINARY_DIR}/npm)
nk_add_script_test(bench-ort-install
  COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/bench/install-ort.sh ${NK_BENCH_NPM}
  LABELS interop TIMEOUT 600)
set_tests_properties(bench-ort-install PROPERTIES FIXTURES_SETUP bench-ort)
nk_add_script_test(bench-short
  COMMAND ${NK_PYTHON} ${CMAKE_SOURCE_DIR}/bench/bench.py --short
          --nnkit $<TARGET_FILE:nnkit> --ort-dir ${NK_BENCH_NPM}
          --work ${CMAKE_CURRENT_BINARY_DIR}/tmp/bench
  LABELS interop TIMEOUT 900)
set_tests_properties(bench-short PROPERTIES FIXTURES_REQUIRED bench-ort)
