# SPDX-License-Identifier: GPL-2.0-only
# bpf_object(NAME SOURCE [HEADERS...])
#
# Compiles SOURCE with clang for the BPF target, generates its libbpf skeleton
# NAME.skel.h with bpftool, and exposes it as the INTERFACE target NAME_skel.
# The headers listed are dependencies: editing the shared record rebuilds both.
find_program(CLANG_EXE NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL_EXE NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

function(bpf_object name source)
  set(object ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skeleton ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  cmake_path(GET source PARENT_PATH source_dir)
  add_custom_command(
    OUTPUT ${object}
    COMMAND ${CLANG_EXE} -target bpf -D__TARGET_ARCH_x86 -g -O2 -Wall -Werror
            -I${source_dir} -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
            -c ${source} -o ${object}
    DEPENDS ${source} ${ARGN}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skeleton}
    COMMAND ${BPFTOOL_EXE} gen skeleton ${object} name ${name} > ${skeleton}
    DEPENDS ${object}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skeleton})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  set(${name}_BPF_OBJECT ${object} PARENT_SCOPE)
endfunction()
