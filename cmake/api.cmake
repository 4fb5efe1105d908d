# api.cmake -- the core's public API installed for other programs: the
# headers of include/dcv, libdcvcore.a and a pkg-config file (component
# dcv-dev). The library is static: its dependencies are listed as private,
# so link with `pkg-config --static --libs dcv`.
install(TARGETS dcvcore ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dcv-dev)
install(DIRECTORY include/dcv DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dcv-dev
	FILES_MATCHING PATTERN "*.h")
configure_file(cmake/dcv.pc.in ${PROJECT_BINARY_DIR}/dcv.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dcv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
	COMPONENT dcv-dev)

if(DCV_TESTS)
	add_test(NAME api COMMAND ${PROJECT_SOURCE_DIR}/tests/api/api.sh ${PROJECT_BINARY_DIR})
	set_tests_properties(api PROPERTIES FIXTURES_REQUIRED csrs
		ENVIRONMENT "DCV_TEST_DATA=${PROJECT_BINARY_DIR}/tests/data")
endif()
