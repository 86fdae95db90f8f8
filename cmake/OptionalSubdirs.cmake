# certfleet_add_subdirs(dir ...): add_subdirectory for each listed folder that has a
# CMakeLists.txt, so modules can land one at a time.
macro(certfleet_add_subdirs)
  foreach(dir ${ARGN})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endmacro()
