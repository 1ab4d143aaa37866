# formats/module.cmake — build-time dependencies of the formats module.
# ONNX: C code for onnx.proto is generated at build time with protoc-c from
# the schema Debian's libonnx-dev installs (nothing vendored), compiled into
# nk_formats, and libprotobuf-c is linked into libnnkit.
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
find_program(NK_PROTOC_C protoc-c REQUIRED)
find_file(NK_ONNX_PROTO onnx.proto PATHS /usr/include/onnx
          PATH_SUFFIXES onnx NO_DEFAULT_PATH REQUIRED
          DOC "onnx.proto from libonnx-dev")
get_filename_component(nk_onnx_proto_dir ${NK_ONNX_PROTO} DIRECTORY)
set(nk_onnx_gen_dir ${CMAKE_BINARY_DIR}/formats/onnx)
file(MAKE_DIRECTORY ${nk_onnx_gen_dir})
add_custom_command(
  OUTPUT ${nk_onnx_gen_dir}/onnx.pb-c.c ${nk_onnx_gen_dir}/onnx.pb-c.h
  COMMAND ${NK_PROTOC_C} --c_out=${nk_onnx_gen_dir}
          --proto_path=${nk_onnx_proto_dir} ${NK_ONNX_PROTO}
  DEPENDS ${NK_ONNX_PROTO}
  COMMENT "protoc-c: generating C code for ${NK_ONNX_PROTO}"
  VERBATIM)
# Generated code: compiled without our warning flags (it is not ours).
set_source_files_properties(${nk_onnx_gen_dir}/onnx.pb-c.c PROPERTIES
  GENERATED TRUE COMPILE_OPTIONS "-w")
target_sources(nk_formats PRIVATE ${nk_onnx_gen_dir}/onnx.pb-c.c)
target_include_directories(nk_formats PRIVATE ${nk_onnx_gen_dir}
                           ${PROTOBUF_C_INCLUDE_DIRS})
list(APPEND NK_EXTRA_LIBS PkgConfig::PROTOBUF_C)
