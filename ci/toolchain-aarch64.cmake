# Cross-compiling qkern for AArch64 Linux with Debian's gcc-aarch64-linux-gnu; tests run
# through qemu-aarch64 (user mode). ci/arm64.sh uses it:
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=ci/toolchain-aarch64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# No C++ cross compiler is assumed (Debian: g++-aarch64-linux-gnu). Without one, CXX is
# marked NOTFOUND so check_language(CXX) says "no C++" instead of picking the host c++,
# which would then fail to link against the aarch64 library.
find_program(QK_AARCH64_CXX aarch64-linux-gnu-g++)
if(QK_AARCH64_CXX)
  set(CMAKE_CXX_COMPILER ${QK_AARCH64_CXX})
else()
  set(CMAKE_CXX_COMPILER CMAKE_CXX_COMPILER-NOTFOUND)
endif()

# With the multiarch libc6:arm64 (pulled in by check:arm64) the guest's own loader is at
# /lib/ld-linux-aarch64.so.1, and qemu must NOT be given -L: the cross sysroot's ld.so
# with the multiarch libc makes every guest fork() spin forever (Check forks per test).
# The CPU model is left to the QEMU_CPU environment variable (an explicit -cpu would
# override it), so one build runs as cortex-a57, neoverse-n1 or max.
if(EXISTS /lib/ld-linux-aarch64.so.1)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
endif()

# "/" as a root too, so find_library() sees the multiarch /usr/lib/aarch64-linux-gnu
# (libcheck_pic.a, libsubunit) instead of degrading to a bare -lcheck_pic.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# There is no aarch64-linux-gnu-pkg-config wrapper: aim the host pkg-config at the arm64 .pc files.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
