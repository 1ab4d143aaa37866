# parity.cmake — model-parity tests: torchvision models with seeded random
# weights, run through `nnkit zoo create --weights` + `nnkit run`, compared
# with PyTorch's logits (tests/parity/gen_parity.py, check_parity.py).
#
# Per model: fixture test parity-gen-<name> writes the reference data into
# the build tree (skipped when up to date), then parity-<name> checks it, so
# `ctest -R parity-resnet18` generates only what resnet18 needs.
# -DNNKIT_PARITY_MODELS="resnet18;mobilenet_v2" restricts the set.

set(NNKIT_PARITY_MODELS
    resnet18 resnet50 mobilenet_v2 mobilenet_v3_small vgg16
    CACHE STRING "torchvision models checked by the parity tests")

set(NK_PARITY_SRC ${NK_TEST_DIR}/parity)
set(NK_PARITY_GEN ${CMAKE_CURRENT_BINARY_DIR}/parity)
set(NK_PARITY_WORK ${CMAKE_CURRENT_BINARY_DIR}/tmp/parity)

foreach(model ${NNKIT_PARITY_MODELS})
  nk_add_script_test(parity-gen-${model}
    COMMAND ${NK_PYTHON} ${NK_PARITY_SRC}/gen_parity.py
            --threads 2 --out ${NK_PARITY_GEN} ${model}
    LABELS model
    TIMEOUT 900)
  set_tests_properties(parity-gen-${model} PROPERTIES
    FIXTURES_SETUP parity-data-${model})

  nk_add_script_test(parity-${model}
    COMMAND ${NK_PYTHON} ${NK_PARITY_SRC}/check_parity.py
            --model ${model} --gen ${NK_PARITY_GEN} --work ${NK_PARITY_WORK}
    LABELS model
    TIMEOUT 900)
  set_tests_properties(parity-${model} PROPERTIES
    FIXTURES_REQUIRED parity-data-${model})
endforeach()
