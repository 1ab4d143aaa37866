# Activation helpers, broadcasting, Dropout training and light-op shape
# inference errors (engine/ops/{activation,binary,shape,softmax,dropout}.c).
nk_add_test(test-act SOURCES ${NK_TEST_DIR}/test-act.c LABELS unit)
