// COURIER_EXPORT: what a shared courier library exports.
//
// courier is compiled with hidden visibility (-fvisibility=hidden and
// -fvisibility-inlines-hidden, see CMakeLists.txt), so a shared build
// (BUILD_SHARED_LIBS=ON) exports only the classes and functions marked with
// this: the public API and the few non-template detail classes and functions
// that its templates call (BusCore, readable_type_name, ...). Exception types
// are marked too, so that one type_info stands for them on both sides of the
// library's boundary. A static build links as it would unmarked.
#pragma once

#if defined(__GNUC__)
#define COURIER_EXPORT __attribute__((visibility("default")))
#else
#define COURIER_EXPORT
#endif
