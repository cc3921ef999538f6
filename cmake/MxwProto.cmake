# SPDX-License-Identifier: GPL-2.0-only
# mxw_proto_library(NAME PROTO file.proto [GRPC] [IMPORT_DIRS dir...] [PUBLIC dep...])
#
# A static library of the C++ that protoc (and, with GRPC, grpc_cpp_plugin)
# generates from one .proto: Debian's protobuf-compiler and protobuf-compiler-grpc,
# linked through pkg-config (protobuf, grpc++; Debian ships no protobuf CMake
# config). The headers land in ${MXW_GENERATED_DIR}/proto, included as "<stem>.pb.h".
# Used by the product (proto/) and by the fuzz project.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_program(MXW_PROTOC protoc REQUIRED)
find_program(MXW_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(mxw_proto_library name)
  cmake_parse_arguments(arg "GRPC" "PROTO" "IMPORT_DIRS;PUBLIC" ${ARGN})
  get_filename_component(proto ${arg_PROTO} ABSOLUTE)
  get_filename_component(proto_dir ${proto} DIRECTORY)
  get_filename_component(stem ${proto} NAME_WE)
  set(out ${MXW_GENERATED_DIR}/proto)
  file(MAKE_DIRECTORY ${out})
  set(sources ${out}/${stem}.pb.cc)
  set(outputs ${out}/${stem}.pb.cc ${out}/${stem}.pb.h)
  set(args --cpp_out=${out})
  if(arg_GRPC)
    list(APPEND sources ${out}/${stem}.grpc.pb.cc)
    list(APPEND outputs ${out}/${stem}.grpc.pb.cc ${out}/${stem}.grpc.pb.h)
    list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=${MXW_GRPC_CPP_PLUGIN})
  endif()
  set(includes -I ${proto_dir})
  foreach(dir ${arg_IMPORT_DIRS})
    list(APPEND includes -I ${dir})
  endforeach()
  add_custom_command(OUTPUT ${outputs}
    COMMAND ${MXW_PROTOC} ${includes} ${args} ${proto}
    DEPENDS ${proto} ${MXW_PROTOC} COMMENT "protoc ${stem}.proto" VERBATIM)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} SYSTEM PUBLIC ${out})
  target_link_libraries(${name} PUBLIC PkgConfig::PROTOBUF ${arg_PUBLIC})
  if(arg_GRPC)
    target_link_libraries(${name} PUBLIC PkgConfig::GRPCPP)
  endif()
endfunction()
