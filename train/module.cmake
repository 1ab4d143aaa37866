# train/module.cmake — the TensorBoard event writer's protobuf-c code:
# train/tfevents.proto (Event/Summary with TensorFlow's field numbers) is
# compiled with protoc-c at build time into the build tree.
find_program(NK_PROTOC_C protoc-c REQUIRED)
pkg_check_modules(NK_PROTOBUF_C REQUIRED libprotobuf-c)
set(NK_TFEVENTS_OUT ${CMAKE_BINARY_DIR}/train)
set(NK_TFEVENTS_GEN ${NK_TFEVENTS_OUT}/tfevents.pb-c.c
                    ${NK_TFEVENTS_OUT}/tfevents.pb-c.h)
add_custom_command(
  OUTPUT ${NK_TFEVENTS_GEN}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${NK_TFEVENTS_OUT}
  COMMAND ${NK_PROTOC_C} --c_out=${NK_TFEVENTS_OUT}
          -I${CMAKE_SOURCE_DIR}/train ${CMAKE_SOURCE_DIR}/train/tfevents.proto
  DEPENDS ${CMAKE_SOURCE_DIR}/train/tfevents.proto
  COMMENT "protoc-c train/tfevents.proto")
target_sources(nk_train PRIVATE ${NK_TFEVENTS_GEN})
set_source_files_properties(${NK_TFEVENTS_OUT}/tfevents.pb-c.c PROPERTIES
  COMPILE_OPTIONS "-Wno-error")
target_include_directories(nk_train PRIVATE ${NK_PROTOBUF_C_INCLUDE_DIRS}
                           ${NK_TFEVENTS_OUT})
list(APPEND NK_EXTRA_LIBS ${NK_PROTOBUF_C_LDFLAGS})
