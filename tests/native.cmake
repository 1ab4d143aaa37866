# The native .nnk format, format dispatch and .npy files.
nk_add_test(test-native SOURCES ${NK_TEST_DIR}/test-native.c LABELS unit
            TIMEOUT 300)
