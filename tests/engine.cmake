# Engine: IR, inference, planner, passes.
nk_add_test(test-engine SOURCES ${NK_TEST_DIR}/test-engine.c LABELS unit TIMEOUT 600)
target_link_options(test-engine PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc
  -Wl,--wrap=realloc -Wl,--wrap=posix_memalign)
nk_add_test(test-layout SOURCES ${NK_TEST_DIR}/test-layout.c LABELS unit)
# NCHW8c depthwise Conv, pools and element-wise kernels vs the reference.
nk_add_test(test-blkops SOURCES ${NK_TEST_DIR}/test-blkops.c LABELS unit TIMEOUT 600)
nk_add_test(test-convblk SOURCES ${NK_TEST_DIR}/test-convblk.c LABELS unit)
nk_add_test(test-winoblk SOURCES ${NK_TEST_DIR}/test-winoblk.c LABELS unit)
# Fused depthwise chains vs the same steps one by one and the reference.
nk_add_test(test-dwchain SOURCES ${NK_TEST_DIR}/test-dwchain.c LABELS unit)
