# AArch64 cross builds (ci/arm64.sh): what the qemu runs need beyond tests/CMakeLists.txt.
# (Named to sort after conformance.cmake: the include() order is the glob order.)
if(NOT (CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64"))
  return()
endif()

# gcc 12's aarch64 loop vectoriser dies with an internal compiler error
# (vect_transform_reduction) on test_quant_roundtrip.c's fmin/fmax reductions, at -O2 too.
# The suite checks the library, not its own loops, so it loses nothing without it.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_C_COMPILER_VERSION VERSION_LESS 13 AND TARGET test_quant_roundtrip)
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/test_quant_roundtrip.c
    PROPERTIES COMPILE_OPTIONS -fno-tree-loop-vectorize)
endif()

# The conformance CLI on a CPU without dotprod too (the Check suites get their
# _cortex_a57 twin in tests/CMakeLists.txt); --require-cpu: neon must run, not be skipped.
if(TARGET qkern-conform)
  add_test(NAME conformance_cortex_a57 COMMAND qkern-conform --quick --require-cpu)
  set_tests_properties(conformance_cortex_a57 PROPERTIES ENVIRONMENT "${QK_TEST_ENV};QEMU_CPU=cortex-a57" TIMEOUT 900)
  if(TEST conformance)
    set_tests_properties(conformance PROPERTIES ENVIRONMENT "${QK_TEST_ENV};QEMU_CPU=max")
  endif()
endif()

# Suites of another ISA's backend have nothing to run here. test_x86.c does not yet guard
# itself with QKERN_HAVE_X86 (it names qk_backend_x86, which an aarch64 build does not
# have), so until it does it is left out of this build instead of failing it.
if(TARGET test_x86 AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_x86.c)
  file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/test_x86.c _qk_x86_guard REGEX "QKERN_HAVE_X86")
  if(NOT _qk_x86_guard)
    set_target_properties(test_x86 PROPERTIES EXCLUDE_FROM_ALL TRUE)
    foreach(_t test_x86 test_x86_fallback test_x86_cortex_a57)
      if(TEST ${_t})
        set_tests_properties(${_t} PROPERTIES DISABLED TRUE)
      endif()
    endforeach()
  endif()
endif()

