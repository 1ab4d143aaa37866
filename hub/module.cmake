# hub/module.cmake — the hub's dependencies: libcurl (fetch), OpenSSL's
# libcrypto (SHA-256), libarchive (repository archives), json-c (index,
# manifests, GitHub API). The index is installed to share/nnkit and copied
# beside the built binary so the build tree finds it too.
pkg_check_modules(NK_HUB_DEPS REQUIRED IMPORTED_TARGET
                  libcurl libcrypto libarchive json-c)
target_link_libraries(nk_hub PRIVATE PkgConfig::NK_HUB_DEPS)
target_compile_definitions(nk_hub PRIVATE
  NK_HUB_INDEX_INSTALLED="${CMAKE_INSTALL_FULL_DATADIR}/nnkit/index.json")
list(APPEND NK_EXTRA_LIBS PkgConfig::NK_HUB_DEPS)
configure_file(${CMAKE_SOURCE_DIR}/hub/index.json
               ${CMAKE_BINARY_DIR}/share/nnkit/index.json COPYONLY)
install(FILES ${CMAKE_SOURCE_DIR}/hub/index.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/nnkit)
