# SPDX-License-Identifier: GPL-2.0-only
# The Debian package: `cpack -G DEB` in the build directory makes mxwatch_VERSION_ARCH.deb with
#   /usr/sbin/mxwatch                       (install(TARGETS) in CMakeLists.txt)
#   /lib/systemd/system/mxwatch.service     systemd/mxwatch.service
#   /etc/mxwatch/mxwatch.toml               packaging/mxwatch.toml, a conffile
#   /usr/share/man/man8/mxwatch.8.gz        packaging/mxwatch.8 (roff)
#   /usr/share/doc/mxwatch/copyright, changelog.gz (changelog.Debian.gz for a -revision)
#   /usr/share/mxwatch/prometheus/mxwatch-rules.yml   packaging/prometheus/ (alerting rules)
# and the maintainer scripts in packaging/debian/. Depends comes from dpkg-shlibdeps.
# The version is the project's unless -DMXWATCH_PACKAGE_VERSION=... says otherwise; a
# one-off package of another version (tests/package/lifecycle.sh) needs no reconfigure:
#   cpack -G DEB -D CPACK_DEBIAN_PACKAGE_VERSION=0.1.1 -D CPACK_PACKAGE_FILE_NAME=x -B DIR
include_guard(GLOBAL)

set(MXWATCH_PACKAGE_VERSION "${PROJECT_VERSION}" CACHE STRING
    "Version of the Debian package (upstream[-revision]); default: the project version")
set(MXWATCH_PACKAGE_MAINTAINER "mxwatch maintainers <mxwatch@example.org>" CACHE STRING
    "Maintainer field of the Debian package")
# Absolute on purpose: Debian 12 ships units in /lib/systemd/system and configuration in /etc,
# whatever CMAKE_INSTALL_PREFIX is (DESTDIR still applies).
set(MXWATCH_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where mxwatch.service is installed")
set(MXWATCH_CONFIG_DIR "/etc/mxwatch" CACHE PATH "Where mxwatch.toml is installed")

set(_mxw_pkg_src ${CMAKE_CURRENT_SOURCE_DIR}/packaging)
set(_mxw_pkg_bin ${CMAKE_CURRENT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_mxw_pkg_bin})

# Compressed at build time, -n for reproducible bytes (no name or time stamp in the header).
find_program(MXWATCH_GZIP gzip REQUIRED)
# Policy 12.7: a native version (no -revision) has changelog.gz, a non-native one
# changelog.Debian.gz.
if(MXWATCH_PACKAGE_VERSION MATCHES "-")
  set(_mxw_changelog changelog.Debian)
else()
  set(_mxw_changelog changelog)
endif()
string(TIMESTAMP _mxw_changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC) # honours SOURCE_DATE_EPOCH
file(WRITE ${_mxw_pkg_bin}/${_mxw_changelog}.in
     "mxwatch (${MXWATCH_PACKAGE_VERSION}) unstable; urgency=medium\n\n"
     "  * Built from git ${MXWATCH_GIT_REVISION}; see the project's git history.\n\n"
     " -- ${MXWATCH_PACKAGE_MAINTAINER}  ${_mxw_changelog_date}\n")
configure_file(${_mxw_pkg_bin}/${_mxw_changelog}.in ${_mxw_pkg_bin}/${_mxw_changelog} COPYONLY)
add_custom_command(
  OUTPUT ${_mxw_pkg_bin}/mxwatch.8.gz
  COMMAND ${CMAKE_COMMAND} -E copy ${_mxw_pkg_src}/mxwatch.8 ${_mxw_pkg_bin}/mxwatch.8
  COMMAND ${MXWATCH_GZIP} -9nf ${_mxw_pkg_bin}/mxwatch.8
  DEPENDS ${_mxw_pkg_src}/mxwatch.8
  COMMENT "Compressing the man page mxwatch.8"
  VERBATIM)
add_custom_command(
  OUTPUT ${_mxw_pkg_bin}/${_mxw_changelog}.gz
  COMMAND ${MXWATCH_GZIP} -9nkf ${_mxw_pkg_bin}/${_mxw_changelog}
  DEPENDS ${_mxw_pkg_bin}/${_mxw_changelog}
  VERBATIM)
add_custom_target(mxwatch_package_files ALL
  DEPENDS ${_mxw_pkg_bin}/mxwatch.8.gz ${_mxw_pkg_bin}/${_mxw_changelog}.gz)

install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/systemd/mxwatch.service
        DESTINATION ${MXWATCH_SYSTEMD_UNIT_DIR} COMPONENT mxwatch)
install(FILES ${_mxw_pkg_src}/mxwatch.toml DESTINATION ${MXWATCH_CONFIG_DIR} COMPONENT mxwatch)
install(FILES ${_mxw_pkg_bin}/mxwatch.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT mxwatch)
install(FILES ${_mxw_pkg_src}/copyright ${_mxw_pkg_bin}/${_mxw_changelog}.gz
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/mxwatch COMPONENT mxwatch)
install(FILES ${_mxw_pkg_src}/prometheus/mxwatch-rules.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mxwatch/prometheus COMPONENT mxwatch)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mxwatch)
set(CPACK_PACKAGE_VENDOR "mxwatch")
set(CPACK_PACKAGE_VERSION ${MXWATCH_PACKAGE_VERSION})
set(CPACK_PACKAGE_CONTACT ${MXWATCH_PACKAGE_MAINTAINER})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "RandomX (Monero) cryptominer detector using eBPF")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "mxwatch finds RandomX cryptominers on x86-64 Linux hosts by the rounding
modes that RandomX's CFROUND instruction leaves in the SSE register MXCSR.
An eBPF program samples MXCSR at FPU context switches; a daemon keeps
per-thread and per-process statistics and sends ECS- or OCSF-shaped JSON
alerts to stdout, files, syslog or journald.
.
Needs a kernel with BTF (5.10 or newer).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # mxwatch_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_VERSION ${MXWATCH_PACKAGE_VERSION})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # libraries; appended to the list below
# procps: /usr/bin/kill for the unit's ExecReload (systemd 252 has no ReloadSignal=).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_mxw_pkg_src}/debian/conffiles
    ${_mxw_pkg_src}/debian/postinst
    ${_mxw_pkg_src}/debian/prerm
    ${_mxw_pkg_src}/debian/postrm)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
