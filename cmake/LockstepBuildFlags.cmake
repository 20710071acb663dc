# Build flags as INTERFACE targets that Lockstep's own targets link, so that nothing is set
# globally: a dependency built in the same tree (or a program using the installed package)
# keeps its own flags.
#   lockstep_warnings:   the warning flags every Lockstep target compiles with.
#   lockstep_sanitizers: AddressSanitizer + UBSan with LOCKSTEP_SANITIZE, else nothing. The
#                        parts pass it on to whatever links them inside this build, so tests
#                        and programs compile and link with the same sanitizers.
add_library(lockstep_warnings INTERFACE)
target_compile_options(lockstep_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>)

add_library(lockstep_sanitizers INTERFACE)
if(LOCKSTEP_SANITIZE)
  target_compile_options(lockstep_sanitizers INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer
                              -fno-sanitize-recover=all>)
  target_link_options(lockstep_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
