# The conformance suite: tests/conformance/*.c built into the installed CLI qkern-conform
# and run by CTest. Its float64 reference (conform_ref.c) also serves tests/test_matmul.c.
set(QK_CONFORM_DIR ${CMAKE_CURRENT_SOURCE_DIR}/conformance)
file(GLOB QK_CONFORM_SOURCES CONFIGURE_DEPENDS ${QK_CONFORM_DIR}/*.c)

add_executable(qkern-conform ${QK_CONFORM_SOURCES})
target_include_directories(qkern-conform PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(qkern-conform PRIVATE qkern_internal)
install(TARGETS qkern-conform RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(TARGET test_matmul)
  target_sources(test_matmul PRIVATE ${QK_CONFORM_DIR}/conform_ref.c)
endif()

# --require-cpu: a compiled-in CPU backend that this CPU supports must not be skipped
# (e.g. x86 on an AVX-512 VNNI machine). OpenCL is required only when an ICD is installed.
set(_qk_conform_args --quick --require-cpu)
file(GLOB _qk_icds /etc/OpenCL/vendors/*.icd)
if(QK_HAVE_OPENCL AND _qk_icds AND NOT QKERN_SANITIZE)
  list(APPEND _qk_conform_args --require opencl)
endif()
add_test(NAME conformance COMMAND qkern-conform ${_qk_conform_args})
set_tests_properties(conformance PROPERTIES ENVIRONMENT "${QK_TEST_ENV}" TIMEOUT 900)
# The x86 GEMMs that AMX takes where the CPU has it, run again on the vpdpbusd tiles, and
# FP8 × FP8 on the f32 FMA kernel of CPUs without AVX512_BF16.
add_test(NAME conformance_noamx COMMAND qkern-conform --quick --require-cpu --backend scalar,x86)
set_tests_properties(conformance_noamx PROPERTIES ENVIRONMENT "${QK_TEST_ENV};QKERN_DISABLE=amx_int8,avx512bf16"
  TIMEOUT 900)
# Every CPU feature masked: the CPU backends are then legitimately unavailable and the
# run checks scalar against the float64 reference.
add_test(NAME conformance_fallback COMMAND qkern-conform --quick --require-cpu)
set_tests_properties(conformance_fallback PROPERTIES ENVIRONMENT "${QK_TEST_ENV};QKERN_DISABLE=all" TIMEOUT 900)
# A CPU without AVX-512, through the real CPUID path: qemu-x86_64 emulates AVX2 only, so
# x86 must report itself unavailable (not fail) and scalar must still conform.
if(QEMU_X86 AND NOT CMAKE_CROSSCOMPILING AND NOT QKERN_SANITIZE AND _qk_is_x86)
  add_test(NAME conformance_qemu_noavx512 COMMAND ${QEMU_X86} -cpu Skylake-Client $<TARGET_FILE:qkern-conform>
    --quick --require-cpu --backend scalar,x86 --expect-skip x86)
  set_tests_properties(conformance_qemu_noavx512 PROPERTIES ENVIRONMENT "${QK_TEST_ENV}" TIMEOUT 900)
endif()
