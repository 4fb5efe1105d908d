# package.cmake -- the Debian package: `cpack -G DEB` in a build folder makes
# dcvd_<version>_<arch>.deb (README, "Install"). Included from
# CMakeLists.txt after the targets dcv and dcvd and after man.cmake (its
# DCV_MAN_PAGES); the test `package` (tests/package/package.sh) is here too.
#
# The package has Debian's layout whatever the build's CMAKE_INSTALL_PREFIX:
# its files are installed by rules of their own, in the component `deb`,
# at paths relative to / (CPACK_PACKAGING_INSTALL_PREFIX). They are
# EXCLUDE_FROM_ALL, so `cmake --install` never installs them (it would put
# a second unit and a conffile under /usr/local, or replace the operator's
# /etc/dcvd/dcvd.yaml). The programs embed no path, so the same build serves
# both routes; only the unit names one, and the package gets its own copy
# of it (made from systemd/dcvd.service.in for /usr/sbin/dcvd).
#
# What is in the package: dcv in /usr/bin, dcvd in /usr/sbin, the man pages
# (gzipped), the unit in /lib/systemd/system (Debian 12's place for units;
# sysusers.d and tmpfiles.d are under /usr/lib), /etc/dcvd/dcvd.yaml as a
# conffile (conf/dcvd.yaml.deb: valid, with no key and no zone), the
# examples in /usr/share/doc/dcvd/examples (not executable), the copyright
# file made from LICENSE and a changelog. Not in it: the core's library,
# headers and dcv.pc (component dcv-dev): a daemon package carries no
# development files, and nothing consumes them as a package yet
# (docs/decisions.md, "The Debian package").
set(DCV_DEB_DIR ${PROJECT_BINARY_DIR}/deb)
set(DCV_DEB_DOCDIR usr/share/doc/dcvd)

install(TARGETS dcv RUNTIME DESTINATION usr/bin COMPONENT deb EXCLUDE_FROM_ALL)
install(TARGETS dcvd RUNTIME DESTINATION usr/sbin COMPONENT deb EXCLUDE_FROM_ALL)

# The unit for the package's paths: a function, so that the variables set
# here stay here.
function(dcv_deb_unit)
	set(CMAKE_INSTALL_FULL_SBINDIR /usr/sbin)
	set(CMAKE_INSTALL_FULL_SYSCONFDIR /etc)
	set(DCV_EXAMPLE_CONF /${DCV_DEB_DOCDIR}/examples/dcvd.yaml)
	configure_file(${PROJECT_SOURCE_DIR}/systemd/dcvd.service.in ${DCV_DEB_DIR}/dcvd.service
		@ONLY)
endfunction()
dcv_deb_unit()
install(FILES ${DCV_DEB_DIR}/dcvd.service DESTINATION lib/systemd/system
	COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES systemd/dcvd.sysusers DESTINATION usr/lib/sysusers.d RENAME dcvd.conf
	COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES systemd/dcvd.tmpfiles DESTINATION usr/lib/tmpfiles.d RENAME dcvd.conf
	COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES conf/dcvd.yaml.deb DESTINATION etc/dcvd RENAME dcvd.yaml
	COMPONENT deb EXCLUDE_FROM_ALL)

install(FILES conf/dcvd.yaml conf/dcvd-hook.example conf/dcv.key.example-bind
	conf/dcv.key.example-knot conf/bind-update-policy.example conf/knot-acl.example
	DESTINATION ${DCV_DEB_DOCDIR}/examples COMPONENT deb EXCLUDE_FROM_ALL)

# Debian wants manual pages and changelogs gzipped, with no name or time in
# the gzip header (-n: the same input makes the same package).
set(DCV_DEB_GZ)
foreach(page ${DCV_MAN_PAGES})
	get_filename_component(name ${page} NAME)
	string(REGEX MATCH "[1-9]$" section ${name})
	add_custom_command(OUTPUT ${DCV_DEB_DIR}/man/${name}.gz
		COMMAND ${CMAKE_COMMAND} -E make_directory ${DCV_DEB_DIR}/man
		COMMAND gzip -9nc ${page} > ${DCV_DEB_DIR}/man/${name}.gz
		DEPENDS ${page} VERBATIM)
	list(APPEND DCV_DEB_GZ ${DCV_DEB_DIR}/man/${name}.gz)
	install(FILES ${DCV_DEB_DIR}/man/${name}.gz DESTINATION usr/share/man/man${section}
		COMPONENT deb EXCLUDE_FROM_ALL)
endforeach()

# The changelog of a native package, in Debian's format. The project's
# history is its git log; this says which version the package is. Its date
# is the configure time, or SOURCE_DATE_EPOCH when set (reproducible builds).
set(DCV_DEB_MAINTAINER "The dcvd authors <dcvd@example.org>" CACHE STRING
	"Maintainer field (and changelog signature) of the Debian package")
string(TIMESTAMP DCV_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${DCV_DEB_DIR}/changelog
	"dcvd (${PROJECT_VERSION}) bookworm; urgency=medium\n\n"
	"  * dcvd ${PROJECT_VERSION}, packaged by cpack from its CMake build\n"
	"    (cmake/package.cmake). The changes are in the project's git log.\n\n"
	" -- ${DCV_DEB_MAINTAINER}  ${DCV_DEB_DATE}\n")
add_custom_command(OUTPUT ${DCV_DEB_DIR}/changelog.gz
	COMMAND gzip -9nc ${DCV_DEB_DIR}/changelog > ${DCV_DEB_DIR}/changelog.gz
	DEPENDS ${DCV_DEB_DIR}/changelog VERBATIM)
list(APPEND DCV_DEB_GZ ${DCV_DEB_DIR}/changelog.gz)
install(FILES ${DCV_DEB_DIR}/changelog.gz DESTINATION ${DCV_DEB_DOCDIR}
	COMPONENT deb EXCLUDE_FROM_ALL)
# Built with every build (a few milliseconds), so that cpack finds them.
add_custom_target(deb-files ALL DEPENDS ${DCV_DEB_GZ})

# The copyright file in Debian's machine-readable format, from LICENSE: its
# first line is the copyright, the rest the ISC licence text.
file(STRINGS ${PROJECT_SOURCE_DIR}/LICENSE dcv_license_lines)
list(POP_FRONT dcv_license_lines dcv_license_first)
string(REGEX REPLACE "^Copyright \\(c\\) " "" dcv_copyright "${dcv_license_first}")
set(dcv_license_text "")
set(dcv_license_started OFF)
foreach(line IN LISTS dcv_license_lines)
	if(NOT dcv_license_started AND line STREQUAL "")
		continue()
	endif()
	set(dcv_license_started ON)
	if(line STREQUAL "")
		string(APPEND dcv_license_text " .\n")
	else()
		string(APPEND dcv_license_text " ${line}\n")
	endif()
endforeach()
file(WRITE ${DCV_DEB_DIR}/copyright
	"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
	"Upstream-Name: dcvd\n\n"
	"Files: *\n"
	"Copyright: ${dcv_copyright}\n"
	"License: ISC\n\n"
	"License: ISC\n${dcv_license_text}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/LICENSE)
install(FILES ${DCV_DEB_DIR}/copyright DESTINATION ${DCV_DEB_DOCDIR}
	COMPONENT deb EXCLUDE_FROM_ALL)

# ---- CPack -------------------------------------------------------------------
# cpack packages what the build made and builds nothing itself (without
# this, its "preinstall" step builds every target first): build, then cpack.
# The test `package` relies on it, as ctest runs after the build.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dcvd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${DCV_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_STRIP_FILES ON)
# Only the component above, as one package named after the project.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_NAME dcvd)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DCV_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries' packages by dpkg-shlibdeps (dpkg-dev), and systemd: the
# maintainer scripts run systemd-sysusers and systemd-tmpfiles, and dcvd
# is meant to run under its unit.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS systemd)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Sectigo DNS CNAME domain control validation daemon")
# The long description (cpack puts the summary line above it).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
	"dcvd turns certificate signing requests dropped into its spool into the
DNS CNAME records that Sectigo's domain control validation checks for,
publishes them to the site's own BIND or Knot primaries with TSIG-signed
RFC 2136 updates, waits until every authoritative server and resolver
serves them, reports, and withdraws them later. The command dcv does the
same steps one at a time.")
# /etc/dcvd/dcvd.yaml is a conffile (cpack also lists every file under /etc
# by itself; the explicit list keeps that true if it stops doing so).
file(WRITE ${DCV_DEB_DIR}/conffiles "/etc/dcvd/dcvd.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
	${DCV_DEB_DIR}/conffiles
	${PROJECT_SOURCE_DIR}/cmake/deb/postinst
	${PROJECT_SOURCE_DIR}/cmake/deb/prerm
	${PROJECT_SOURCE_DIR}/cmake/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

if(DCV_TESTS AND NOT DCV_SANITIZE AND NOT DCV_COVERAGE AND NOT DCV_FUZZ)
	add_test(NAME package COMMAND ${PROJECT_SOURCE_DIR}/tests/package/package.sh
		${PROJECT_BINARY_DIR})
	set_tests_properties(package PROPERTIES FIXTURES_REQUIRED csrs RUN_SERIAL ON
		TIMEOUT 120 SKIP_RETURN_CODE 77
		ENVIRONMENT "DCV_TEST_DATA=${PROJECT_BINARY_DIR}/tests/data")
endif()
