# Finds cJSON by header and library (not by its CMake package, whose paths are
# absolute and break when the Debian package was unpacked with dpkg -x elsewhere).
# Defines the imported target cJSON::cJSON.
find_path(CJSON_INCLUDE_DIR cjson/cJSON.h)
find_library(CJSON_LIBRARY NAMES cjson)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(cJSONLib
  REQUIRED_VARS CJSON_LIBRARY CJSON_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install libcjson-dev (apt-get install libcjson-dev), or run scripts/install-deps.sh")
if(cJSONLib_FOUND AND NOT TARGET cJSON::cJSON)
  add_library(cJSON::cJSON UNKNOWN IMPORTED)
  set_target_properties(cJSON::cJSON PROPERTIES
    IMPORTED_LOCATION "${CJSON_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CJSON_INCLUDE_DIR}")
endif()
