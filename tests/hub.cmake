# Hub: SHA-256, cache keys, safe extraction, index and manifest parsing
# (unit), and end-to-end `nnkit hub` scenarios against a fake GitHub on
# 127.0.0.1 with injected faults and a test CA (net).
nk_add_test(test-hub SOURCES ${NK_TEST_DIR}/test-hub.c LABELS unit
            TIMEOUT 120)
target_link_libraries(test-hub PRIVATE PkgConfig::NK_HUB_DEPS)
nk_add_script_test(test-hub-net
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/hub/test_hub.py
  LABELS net TIMEOUT 900)
