# SPDX-License-Identifier: GPL-2.0-only
# Writes the git revision into a C++ file at build time, not at configure time,
# so that `mxwatch version`, mxwatch_build_info and recordings name the commit
# that was built. The file is rewritten only when the revision changed: an
# unchanged tree recompiles nothing.
#
#   cmake -DSOURCE_DIR=<repo> -DOUTPUT=<file.cpp> -P GitRevision.cmake
execute_process(COMMAND git -C "${SOURCE_DIR}" describe --always --dirty
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT revision)
  set(revision unknown)
endif()
set(content "// Generated at build time by cmake/GitRevision.cmake.\n#include \"mxwatch/version.hpp\"\n\nnamespace mxwatch {\nconst char *const kGitRevision = \"${revision}\";\n} // namespace mxwatch\n")
set(old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUTPUT}" "${content}")
endif()
