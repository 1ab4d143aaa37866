# End-to-end checks of the nnkit command through the real binary.
nk_add_script_test(test-cli COMMAND sh ${NK_TEST_DIR}/test-cli.sh
                   LABELS unit TIMEOUT 120)
