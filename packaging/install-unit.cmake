# Run by `cmake --install` (install(SCRIPT)): writes the systemd unit into
# <prefix>/lib/systemd/system/lunar-nova.service (under DESTDIR when set),
# with ExecStart and Documentation naming the prefix the program is
# installed to, and records it in install_manifest.txt.
get_filename_component(ln_prefix "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
set(LN_UNIT_WHAT "the program installed in ${ln_prefix}")
set(LN_UNIT_EXEC "${ln_prefix}/bin/lunar-nova")
set(LN_UNIT_DOCS "${ln_prefix}/share/doc/lunar-nova/docs/operations")
set(ln_unit "$ENV{DESTDIR}${ln_prefix}/lib/systemd/system/lunar-nova.service")
message(STATUS "Installing: ${ln_unit}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/lunar-nova.service.in" "${ln_unit}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${ln_unit}")
