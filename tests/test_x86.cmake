# test_x86 on a CPU without AVX-512 (qemu-x86_64 emulates AVX2 only, through the real
# CPUID/XGETBV path): the suite must say "x86: skipped, no AVX-512 VNNI on this CPU" and pass.
if(TARGET test_x86 AND QEMU_X86 AND NOT QKERN_SANITIZE AND NOT CMAKE_CROSSCOMPILING)
  add_test(NAME test_x86_qemu_noavx512 COMMAND ${QEMU_X86} -cpu Skylake-Client $<TARGET_FILE:test_x86>)
  set_tests_properties(test_x86_qemu_noavx512 PROPERTIES
    ENVIRONMENT "${QK_TEST_ENV};QKERN_EXPECT_BACKEND=scalar;CK_FORK=no"
    PASS_REGULAR_EXPRESSION "x86: skipped, no AVX-512 VNNI on this CPU"
    FAIL_REGULAR_EXPRESSION "Checks: 0,|Failures: [1-9]|Errors: [1-9]")
endif()
# FP8 × FP8 on the f32 FMA kernel of CPUs without AVX512_BF16, here by masking it.
if(TARGET test_x86 AND NOT CMAKE_CROSSCOMPILING)
  add_test(NAME test_x86_nobf16 COMMAND test_x86)
  set_tests_properties(test_x86_nobf16 PROPERTIES ENVIRONMENT "${QK_TEST_ENV};QKERN_DISABLE=avx512bf16"
    FAIL_REGULAR_EXPRESSION "Checks: 0,|Failures: [1-9]|Errors: [1-9]")
endif()
