# Training: unit tests of the data pipeline, head swap, checkpoints and
# logs (test-train), and real-data tests on Fashion-MNIST from Debian's
# dataset-fashion-mnist, written out as an image folder by
# scripts/fashion-mnist-to-png.py into the build tree (fixture).
nk_add_test(test-train SOURCES ${NK_TEST_DIR}/test-train.c LABELS unit
            TIMEOUT 300)

set(nk_fm_dir ${CMAKE_CURRENT_BINARY_DIR}/fashion-mnist)
nk_add_script_test(finetune-data
  COMMAND ${NK_PYTHON} ${CMAKE_SOURCE_DIR}/scripts/fashion-mnist-to-png.py
          splits ${nk_fm_dir}
  LABELS model TIMEOUT 600)
set_tests_properties(finetune-data PROPERTIES FIXTURES_SETUP fashion-mnist)

foreach(case lenet transfer resume errors)
  nk_add_script_test(finetune-${case}
    COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/test-finetune.py ${case} ${nk_fm_dir}
    LABELS model TIMEOUT 900)
  set_tests_properties(finetune-${case} PROPERTIES
    FIXTURES_REQUIRED fashion-mnist)
endforeach()
