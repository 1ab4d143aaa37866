# engine/module.cmake — per-file ISA flags for the x86 fast kernels. Never
# -march for the whole build: these files are only called after cpuid says
# the CPU has the instructions, so the binary runs on any x86-64.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set_source_files_properties(
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/gemm-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/dw-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/rowdot-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/eltwise-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/dwconv-blocked-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/eltwise-blocked-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/conv-blocked-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/dwchain-avx2.c
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/winograd-blocked-avx2.c
    PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(
    ${CMAKE_SOURCE_DIR}/engine/kernels/x86/gemm-avx512.c
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mfma")
endif()
