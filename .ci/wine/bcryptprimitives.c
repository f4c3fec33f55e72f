/*
 * The one function of bcryptprimitives.dll that Rust's standard library
 * needs (ProcessPrng, for its hash map keys and random seeds), which the
 * Wine packaged by Debian (8.0) lacks: without it every Rust program stops
 * before `main` under Wine. It answers with RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has.
 *
 * Built by .ci/run with x86_64-w64-mingw32-gcc and copied into the Wine
 * prefix's system32. Only for running the test suite under Wine in CI.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
