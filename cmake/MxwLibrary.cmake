# SPDX-License-Identifier: GPL-2.0-only
# mxw_library(NAME SOURCES src... [PUBLIC dep...] [PRIVATE dep...])
#
# One static library per stage folder of src/ (src/<stage>/CMakeLists.txt). The
# dependencies are the arrows of the data flow: a stage links only the stages it
# calls, so the build refuses an arrow the wrong way (detect links no I/O and no
# libbpf). Used by the product's build and by the fuzz project (fuzz/), which
# builds the pure stages with its sanitizers.
#
# Expects MXW_ROOT (the source tree), MXW_GENERATED_DIR (generated headers) and
# MXW_WARNINGS to be set by the including project.
function(mxw_library name)
  cmake_parse_arguments(arg "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(${name} STATIC ${arg_SOURCES})
  target_include_directories(${name} PUBLIC ${MXW_ROOT}/include ${MXW_ROOT}/bpf ${MXW_GENERATED_DIR})
  target_compile_options(${name} PRIVATE ${MXW_WARNINGS})
  target_link_libraries(${name} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE})
endfunction()
