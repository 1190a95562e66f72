# find_package(Berth): the headers a Berth plugin builds against (docs/plugins.md).
#
#   Berth::Plugin           an interface target: include paths, C++20, Qt6::Core and Qt6::Network
#   berth_add_plugin(NAME SOURCES...)   a loadable module libNAME.so for `call = plugin:NAME`
#
# A plugin resolves Berth's own symbols against the berthd that loads it (berthd exports them),
# so it links no Berth library; it must be built with the Qt major.minor berthd uses.
include(CMakeFindDependencyMacro)
find_dependency(Qt6 COMPONENTS Core Network)

get_filename_component(_berth_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET Berth::Plugin)
    add_library(Berth::Plugin INTERFACE IMPORTED)
    set_target_properties(Berth::Plugin PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${_berth_prefix}/include;${_berth_prefix}/include/berth"
        INTERFACE_COMPILE_FEATURES cxx_std_20
        INTERFACE_LINK_LIBRARIES "Qt6::Core;Qt6::Network")
endif()
set(Berth_INCLUDE_DIRS "${_berth_prefix}/include" "${_berth_prefix}/include/berth")
unset(_berth_prefix)

function(berth_add_plugin name)
    add_library(${name} MODULE ${ARGN})
    target_link_libraries(${name} PRIVATE Berth::Plugin)
    # Only berth_plugin_info needs to be seen by berthd.
    set_target_properties(${name} PROPERTIES PREFIX "lib" CXX_VISIBILITY_PRESET hidden
                                             VISIBILITY_INLINES_HIDDEN ON)
endfunction()
