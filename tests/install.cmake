# Installation: library, header, CLI, pkg-config file.
nk_add_script_test(test-install
  COMMAND bash ${NK_TEST_DIR}/test-install.sh ${CMAKE_BINARY_DIR}
  LABELS unit TIMEOUT 300)
