# Extra registrations of the OpenCL suite (tests/test_opencl.c; the glob in
# tests/CMakeLists.txt already runs it as-is and with QKERN_DISABLE=all).
if(TARGET test_opencl AND NOT CMAKE_CROSSCOMPILING)
  # PoCL compiles each program variant once per build tree (its cache is POCL_CACHE_DIR).
  set_tests_properties(test_opencl test_opencl_fallback PROPERTIES TIMEOUT 300)
  # No OpenCL platform at all: an empty ICD vendors directory. The backend must report
  # itself unavailable with the reason, and everything else must still pass.
  add_test(NAME test_opencl_noplatform COMMAND test_opencl)
  set_tests_properties(test_opencl_noplatform PROPERTIES
    ENVIRONMENT "${QK_TEST_ENV};OCL_ICD_VENDORS=${CMAKE_BINARY_DIR}/empty-icd;OCL_ICD_FILENAMES="
    PASS_REGULAR_EXPRESSION "opencl: skipped, no OpenCL platform \\(clGetPlatformIDs: CL_PLATFORM_NOT_FOUND_KHR\\)[^\n]*\n(.*\n)*100%: Checks: [1-9]"
    FAIL_REGULAR_EXPRESSION "Checks: 0,;Failures: [1-9];Errors: [1-9]")
endif()
