# Model zoo: graph structure and parameter counts (unit), and state_dict
# keys/shapes/dtypes/init statistics against torchvision (model).
nk_add_test(test-zoo SOURCES ${NK_TEST_DIR}/test-zoo.c LABELS unit
            TIMEOUT 300)
nk_add_script_test(test-zoo-keys
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/zoo_keys.py $<TARGET_FILE:test-zoo>
  LABELS model TIMEOUT 900)
