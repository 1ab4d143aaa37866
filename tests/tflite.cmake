# tflite.cmake — the TFLite format: unit tests (FlatBuffer builder/reader,
# round trips, hostile files) and interop tests against the real TFLite
# interpreter (npm @litertjs/core, installed into the build tree by the
# fixture tflite-npm-setup) and PyTorch's logits (tests/parity data).
nk_add_test(test-tflite SOURCES ${NK_TEST_DIR}/test-tflite.c LABELS unit
            TIMEOUT 300)

set(NK_TFLITE_NPM ${CMAKE_CURRENT_BINARY_DIR}/npm)
set(NK_TFLITE_WORK ${CMAKE_CURRENT_BINARY_DIR}/tmp/tflite)
nk_add_script_test(tflite-npm-setup
  COMMAND sh ${NK_TEST_DIR}/tflite-npm-setup.sh ${NK_TFLITE_NPM}
  LABELS interop TIMEOUT 600)
set_tests_properties(tflite-npm-setup PROPERTIES FIXTURES_SETUP tflite-npm)

# Reference data: the parity tests' fixtures (tests/parity.cmake, included
# before this file) when they exist; else NNKIT_TFLITE_PARITY_GEN, a
# directory gen_parity.py already wrote.
set(NNKIT_TFLITE_PARITY_GEN "" CACHE PATH
    "pre-generated parity data for the TFLite interop tests (when the parity tests are absent)")
set(NK_TFLITE_MODELS resnet18 resnet50 mobilenet_v2 mobilenet_v3_small vgg16)
foreach(model ${NK_TFLITE_MODELS})
  set(gen "")
  set(fixtures tflite-npm)
  if(DEFINED NK_PARITY_GEN AND TEST parity-gen-${model})
    set(gen ${NK_PARITY_GEN})
    list(APPEND fixtures parity-data-${model})
  elseif(NNKIT_TFLITE_PARITY_GEN)
    set(gen ${NNKIT_TFLITE_PARITY_GEN})
  endif()
  if(gen STREQUAL "")
    continue()
  endif()
  # --keep-nchw-io and --fp16-weights on the smaller models only (CI time)
  set(full "")
  if(NOT model STREQUAL "vgg16" AND NOT model STREQUAL "resnet50")
    set(full --full)
  endif()
  nk_add_script_test(tflite-interop-${model}
    COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/tflite_interop.py --model ${model}
            --gen ${gen} --npm ${NK_TFLITE_NPM} --work ${NK_TFLITE_WORK} ${full}
    LABELS interop model TIMEOUT 900)
  set_tests_properties(tflite-interop-${model} PROPERTIES
    FIXTURES_REQUIRED "${fixtures}")
endforeach()

# MobileNet v1 has no torchvision twin: LiteRT against nnkit's own run.
nk_add_script_test(tflite-interop-mobilenet_v1
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/tflite_interop.py --model mobilenet_v1
          --seed 11 --npm ${NK_TFLITE_NPM} --work ${NK_TFLITE_WORK} --full
  LABELS interop model TIMEOUT 900)
set_tests_properties(tflite-interop-mobilenet_v1 PROPERTIES
  FIXTURES_REQUIRED tflite-npm)

# A .tflite written by someone else (MediaPipe's BlazeFace, float16
# weights), read and run by nnkit, against the interpreter.
nk_add_script_test(tflite-interop-foreign
  COMMAND ${NK_PYTHON} ${NK_TEST_DIR}/tflite_interop.py
          --foreign ${NK_TFLITE_NPM}/node_modules/@mediapipe/face_detection/face_detection_short_range.tflite
          --npm ${NK_TFLITE_NPM} --work ${NK_TFLITE_WORK}
  LABELS interop TIMEOUT 300)
set_tests_properties(tflite-interop-foreign PROPERTIES
  FIXTURES_REQUIRED tflite-npm)
