# glue.cmake — the exporters' shape glue in the engine (tests/test-glue.c):
# symbolic-batch inference, plan-time evaluation, constant folding.
nk_add_test(test-glue SOURCES ${NK_TEST_DIR}/test-glue.c LABELS unit)
