# man.cmake -- the manual pages in man/ (mdoc): each man/NAME.N is installed
# to ${CMAKE_INSTALL_MANDIR}/manN (component man), and the test `man` keeps
# them `mandoc -Tlint` clean and checks that an install puts them where
# man(1) finds them. Included from CMakeLists.txt after enable_testing().
file(GLOB DCV_MAN_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/*.[1-9])
foreach(page ${DCV_MAN_PAGES})
	string(REGEX MATCH "[1-9]$" section ${page})
	install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT man)
endforeach()

if(DCV_TESTS)
	add_test(NAME man COMMAND ${PROJECT_SOURCE_DIR}/tests/man/man.sh ${PROJECT_BINARY_DIR})
endif()
