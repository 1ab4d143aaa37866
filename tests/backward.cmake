# Backward passes and optimisers: finite-difference checks of every
# backward kernel, freezing, optimisers vs PyTorch (unit), and gradient
# parity of resnet18 / mobilenet_v2 / mobilenet_v3_small with PyTorch
# (model).
nk_add_test(test-backward SOURCES ${NK_TEST_DIR}/test-backward.c
            LABELS unit TIMEOUT 300)
nk_add_script_test(test-grad-parity
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/parity/grad_parity.py
          $<TARGET_FILE:test-backward>
  LABELS model TIMEOUT 900)
